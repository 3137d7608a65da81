"""Remove thread from Threadline in a real browser: through the thread's ⋯ menu and its
confirmation, without a page reload; the next sync does not bring it back and the
sandbox mailbox still holds every message."""

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from accounts.models import User
from candidates.models import EmailThread
from mailsync.models import MailboxConnection
from mailsync.sending import Draft
from mailsync.services import mailbox_sync, message_send
from sandbox import services as sandbox
from sandbox.models import Mailbox, Message, RequestLog
from tests.browser.conftest import (
    connect_gmail,
    demo_with_mailboxes,
    point_google_at_sandbox,
    sign_in,
)


def test_recruiter_removes_a_thread_through_its_menu(
    browser, live_server, transactional_db, settings, screenshot
):
    point_google_at_sandbox(settings, live_server.url)
    candidate, address = demo_with_mailboxes()
    wait = WebDriverWait(browser, 15)
    sign_in(browser, live_server.url, "recruiter@demo.test")
    connect_gmail(browser, live_server.url)
    connection = MailboxConnection.objects.get(user__email="recruiter@demo.test")
    mailbox_sync(mailbox_id=connection.pk)  # beat's first round: takes the cursor
    message_send(
        actor=User.objects.get(email="recruiter@demo.test"),
        candidate=candidate,
        draft=Draft(to=address, subject="Data Scientist at Acme", body_text="Free for a call?"),
    )
    candidate_box = Mailbox.objects.get(address=address)
    sent = Message.objects.filter(mailbox=candidate_box).latest("internal_date", "id")
    headers = {name.lower(): value for name, value in sent.headers}
    sandbox.message_send(
        mailbox=candidate_box,
        raw=(
            f"From: {address}\r\nTo: recruiter@demo.test\r\nSubject: Re: Data Scientist at Acme"
            f"\r\nIn-Reply-To: {headers['message-id']}\r\nReferences: {headers['message-id']}"
            "\r\n\r\nThursday works for me.\r\n"
        ).encode(),
    )
    assert mailbox_sync(mailbox_id=connection.pk).stored == 1
    thread = EmailThread.objects.get(candidate=candidate)
    in_mailbox = Message.objects.filter(mailbox__address="recruiter@demo.test").count()

    browser.get(f"{live_server.url}/candidates/{candidate.pk}/emails/")
    assert "Thursday works for me." in browser.page_source
    # Marks this page: a reload would lose it.
    browser.execute_script("document.body.dataset.sameDocument = 'yes';")
    article = browser.find_element(By.ID, f"thread-{thread.pk}")
    article.find_element(By.CSS_SELECTOR, ".thread-menu > summary").click()
    article.find_element(By.CSS_SELECTOR, ".remove-thread > summary").click()
    confirmation = article.find_element(By.CSS_SELECTOR, ".remove-thread form")
    wait.until(ec.visibility_of(confirmation))
    assert "Nothing changes in any mailbox" in confirmation.text
    assert "The next sync will not bring them back" in confirmation.text
    screenshot(browser, "remove-thread")
    confirmation.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    note = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".removed-note")))
    assert "The thread and its 2 emails were removed from Threadline" in note.text
    assert not browser.find_elements(By.ID, f"thread-{thread.pk}")
    assert browser.execute_script("return document.body.dataset.sameDocument") == "yes"
    assert not EmailThread.objects.filter(pk=thread.pk).exists()

    before_sync = RequestLog.objects.order_by("-id").values_list("id", flat=True).first()
    # The provider forgets the cursor: the sync re-lists the threads it knows.
    sandbox.history_expire(mailbox=Mailbox.objects.get(address="recruiter@demo.test"))
    mailbox_sync(mailbox_id=connection.pk)
    browser.get(f"{live_server.url}/candidates/{candidate.pk}/emails/")

    assert "Thursday works for me." not in browser.page_source
    assert not EmailThread.objects.filter(candidate=candidate).exists()
    assert Message.objects.filter(mailbox__address="recruiter@demo.test").count() == in_mailbox
    assert not RequestLog.objects.filter(
        id__gt=before_sync, operation__regex=r"\.(trash|delete|move|untrash)$"
    ).exists()
