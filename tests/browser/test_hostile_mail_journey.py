"""Hostile mail in a real browser: a reply that cannot be read is counted on My account and
in the mailbox admin, and a reply too deeply nested to clean is shown as text with its
original HTML offered as a download."""

import email.policy
from email.message import EmailMessage as Mime

from selenium.webdriver.common.by import By

from mailsync.models import MailboxConnection
from mailsync.sending import Draft
from mailsync.services import mailbox_sync, message_send
from sandbox import services as sandbox
from sandbox.models import Mailbox
from tests.browser.conftest import (
    connect_gmail,
    demo_with_mailboxes,
    point_google_at_sandbox,
    sign_in,
)


def test_unreadable_and_overly_nested_replies_are_shown_for_what_they_are(
    browser, live_server, transactional_db, settings, screenshot
):
    point_google_at_sandbox(settings, live_server.url)
    candidate, address = demo_with_mailboxes()
    sign_in(browser, live_server.url, "recruiter@demo.test")
    connect_gmail(browser, live_server.url)
    mailbox = MailboxConnection.objects.get(user__email="recruiter@demo.test")
    sent = message_send(
        actor=mailbox.user,
        candidate=candidate,
        draft=Draft(to=address, subject="Data Scientist at Acme", body_text="Shall we talk?"),
    )
    recruiter_box = Mailbox.objects.get(address="recruiter@demo.test")
    cites = sent.message_id
    # No From at all, but a valid reference: of interest, and unreadable.
    sandbox.message_deliver(
        mailbox=recruiter_box,
        raw=(
            f"To: recruiter@demo.test\r\nSubject: Re: Data Scientist at Acme\r\n"
            f"Message-ID: <broken@people.test>\r\nIn-Reply-To: {cites}\r\n\r\nHello?\r\n"
        ).encode(),
    )
    nested = Mime(policy=email.policy.SMTP)
    nested["From"] = f"{candidate.full_name} <{address}>"
    nested["To"] = "recruiter@demo.test"
    nested["Subject"] = "Re: Data Scientist at Acme"
    nested["In-Reply-To"] = cites
    nested.set_content("Thursday works for me.")
    nested.add_alternative("<div>" * 400 + "Thursday works for me." + "</div>" * 400, "html")
    sandbox.message_deliver(mailbox=recruiter_box, raw=nested.as_bytes())

    report = mailbox_sync(mailbox_id=mailbox.pk)

    assert (report.stored, report.skipped) == (1, 1)
    browser.get(f"{live_server.url}/settings/account/")
    skipped = browser.find_element(By.ID, "mailbox-skipped")
    assert "1 message could not be read" in skipped.text
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", skipped)
    screenshot(browser, "my-account-unreadable-message")
    browser.get(f"{live_server.url}/candidates/{candidate.pk}/emails/")
    note = browser.find_element(By.CSS_SELECTOR, ".html-too-complex")
    assert "too complex to show safely" in note.text
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", note)
    download = note.find_element(By.LINK_TEXT, "Download original HTML")
    assert download.get_dom_attribute("download") is not None
    assert download.get_attribute("href").endswith("/original-html/")
    assert "Thursday works for me." in browser.page_source
    screenshot(browser, "candidate-emails-complex-html")

    sign_in(browser, live_server.url, "admin@demo.test")
    browser.get(f"{live_server.url}/admin/mailsync/mailboxconnection/")
    row = browser.find_element(By.CSS_SELECTOR, "#result_list tbody tr")
    assert "recruiter@demo.test" in row.text
    assert row.find_element(By.CSS_SELECTOR, "td.field-unreadable").text == "1"
    screenshot(browser, "admin-mailbox-health")
