"""Compose in a real browser, on Microsoft 365 (the sandbox's Graph over HTTPS): a 26 MB
file is stopped before anything is uploaded, with what was written still there (and
still there after a reload); a 20 MB file goes out through Outlook's upload sessions."""

import email
import email.policy
from urllib.parse import urlsplit

from django.test import Client
from django.urls import reverse
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from accounts.models import User
from candidates.models import Candidate, EmailMessage
from demo.seeding import seed_demo
from sandbox.demo import seed_mailboxes
from sandbox.models import Message, Provider, RequestLog
from tests.browser.conftest import sign_in
from tests.mailsync.conftest import _point_providers_at_the_sandbox

MB = 1024 * 1024
RECRUITER = "recruiter@contoso.test"


def _connect_outlook(user: User) -> None:
    """My account, Email ticked, then Accept on the sandbox's Microsoft consent page."""
    client = Client()
    client.force_login(user)
    start = client.post(
        reverse("mailsync:my_account"), {"full_name": user.full_name, "email": "on"}
    )
    consent = urlsplit(start["Location"])
    consent_path = f"{consent.path}?{consent.query}"
    back = client.post(consent_path, {"decision": "accept", "address": user.email})
    callback = urlsplit(back["Location"])
    assert client.get(f"{callback.path}?{callback.query}")["Location"] == reverse(
        "mailsync:my_account"
    )


def _file(tmp_path, name: str, size: int) -> str:
    path = tmp_path / name
    with path.open("wb") as out:
        out.truncate(size)  # sparse: the browser reads its size and bytes like any file's
    return str(path)


def test_a_26_mb_file_is_stopped_in_the_browser_and_a_20_mb_one_goes_out_through_outlook(
    browser, live_server, tls_live_server, transactional_db, settings, screenshot, tmp_path
):
    _point_providers_at_the_sandbox(settings, live_server, tls_live_server)
    # Tens of megabytes through the sandbox's SQLite; Threadline's own default is 30 s.
    settings.MAILSYNC_HTTP_TIMEOUT = 60
    seed_demo()
    candidate = Candidate.objects.filter(
        applications__posting__title="Clinical Data Manager"
    ).first()
    assert candidate is not None
    address = candidate.emails.get().address
    seed_mailboxes(
        users=[(RECRUITER, "Casey Novak")],
        candidates=[(address, candidate.full_name)],
        provider=Provider.MICROSOFT,
    )
    _connect_outlook(User.objects.get(email=RECRUITER))
    wait = WebDriverWait(browser, 30)
    sign_in(browser, live_server.url, RECRUITER)
    tab = f"{live_server.url}/candidates/{candidate.pk}/emails/"

    browser.get(tab)
    to = browser.find_element(By.ID, "id_to")
    note = browser.find_element(By.CSS_SELECTOR, ".compose [data-new-address-note]")
    assert not note.is_displayed()
    to.clear()
    to.send_keys("gareth.private@home.test")
    assert note.text == (
        "gareth.private@home.test will be added to the candidate's profile when you send."
    )
    to.clear()
    to.send_keys(address)
    assert not note.is_displayed()
    browser.find_element(By.ID, "id_cc").send_keys("hiring.manager@contoso.test")
    browser.find_element(By.ID, "id_subject").send_keys("Clinical Data Manager at Contoso")
    browser.find_element(By.ID, "id_body_text").send_keys("The study protocol is attached.")
    assert "Up to 25.0 MB in all" in browser.find_element(By.CSS_SELECTOR, ".compose").text
    picker = browser.find_element(By.ID, "id_attachments")
    picker.send_keys(_file(tmp_path, "protocol-scans.zip", 26 * MB))
    browser.find_element(By.CSS_SELECTOR, ".compose button[type=submit]").click()

    error = browser.find_element(By.CSS_SELECTOR, ".compose [data-attachments-error]")
    wait.until(ec.visibility_of(error))
    assert "These files come to 26.0 MB" in error.text
    assert "25.0 MB at most" in error.text
    assert browser.current_url == tab
    body = browser.find_element(By.ID, "id_body_text")
    assert body.get_attribute("value") == "The study protocol is attached."
    screenshot(browser, "compose")
    assert not EmailMessage.objects.exists()
    assert not RequestLog.objects.filter(operation__startswith="graph.attachments").exists()

    # The draft outlives a reload: this tab's storage keeps it until the email is sent.
    browser.get(tab)
    restored = browser.find_element(By.ID, "id_body_text")
    assert restored.get_attribute("value") == "The study protocol is attached."
    assert browser.find_element(By.ID, "id_cc").get_attribute("value") == (
        "hiring.manager@contoso.test"
    )

    browser.find_element(By.ID, "id_attachments").send_keys(
        _file(tmp_path, "protocol.pdf", 20 * MB)
    )
    send = browser.find_element(By.CSS_SELECTOR, ".compose button[type=submit]")
    send.click()
    # While it uploads: a progress bar, and a button that cannot be pressed again.
    assert send.get_attribute("disabled") == "true" and send.text == "Sending…"
    assert browser.find_element(By.CSS_SELECTOR, ".compose [data-send-progress]").is_displayed()
    # 20 MB through six upload-session PUTs: seconds alone, far more on a loaded CI machine.
    WebDriverWait(browser, 120).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, ".messages .message.success"))
    )
    assert f"Your email to {address} was sent." in browser.page_source

    delivered = Message.objects.get(mailbox__address=address)
    parsed = email.message_from_bytes(bytes(delivered.raw), policy=email.policy.default)
    [attachment] = list(parsed.iter_attachments())
    assert attachment.get_filename() == "protocol.pdf"
    assert len(attachment.get_content()) == 20 * MB
    assert parsed["Cc"] == "hiring.manager@contoso.test"
    puts = RequestLog.objects.filter(operation="outlook.attachmentSessions.put")
    assert puts.count() == 6 and all(p.request_bytes <= 4 * MB for p in puts)
    # Sent: the browser forgot the draft.
    browser.get(tab)
    assert browser.find_element(By.ID, "id_body_text").get_attribute("value") == ""
