"""The demo's story in a real browser: connect Gmail (the sandbox), email a candidate,
answer as the candidate in their sandbox mailbox, read the reply on the profile."""

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from demo.seeding import DEMO_PASSWORD
from mailsync.models import MailboxConnection
from mailsync.services import mailbox_sync
from tests.browser.conftest import demo_with_mailboxes, point_google_at_sandbox


def test_recruiter_emails_a_candidate_and_reads_the_reply(
    browser, live_server, transactional_db, settings, screenshot
):
    point_google_at_sandbox(settings, live_server.url)
    candidate, address = demo_with_mailboxes()
    wait = WebDriverWait(browser, 15)

    browser.delete_all_cookies()
    browser.get(f"{live_server.url}/accounts/login/")
    browser.find_element(By.NAME, "login").send_keys("recruiter@demo.test")
    browser.find_element(By.NAME, "password").send_keys(DEMO_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait.until(ec.url_contains("/candidates/"))

    browser.get(f"{live_server.url}/settings/account/")
    browser.find_element(By.NAME, "email").click()
    browser.find_element(By.CSS_SELECTOR, "form button.primary").click()
    wait.until(ec.url_contains("/sandbox/google/o/oauth2/auth"))
    assert "Send email on your behalf" in browser.page_source
    screenshot(browser, "sandbox-consent")
    browser.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
    wait.until(ec.url_contains("/settings/account/"))
    assert "recruiter@demo.test is connected" in browser.page_source
    screenshot(browser, "my-account-connected")
    connection = MailboxConnection.objects.get(user__email="recruiter@demo.test")
    mailbox_sync(mailbox_id=connection.pk)  # beat's first round: takes the cursor

    browser.get(f"{live_server.url}/candidates/{candidate.pk}/emails/")
    browser.find_element(By.ID, "id_subject").send_keys("Data Scientist at Acme Robotics")
    browser.find_element(By.ID, "id_body_text").send_keys("Hi! Are you free for a call?")
    browser.find_element(By.CSS_SELECTOR, ".email-form button.primary").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".messages .message")))
    assert "Hi! Are you free for a call?" in browser.page_source

    browser.get(f"{live_server.url}/sandbox/mailboxes/{address}/")
    browser.find_element(By.LINK_TEXT, "Data Scientist at Acme Robotics").click()
    browser.find_element(By.NAME, "body").send_keys("Happy to talk on Thursday.")
    screenshot(browser, "sandbox-candidate-reply")
    message_page = browser.current_url
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait.until(ec.url_changes(message_page))  # the reply is sent: its own page

    assert mailbox_sync(mailbox_id=connection.pk).stored == 1  # beat's next round
    browser.get(f"{live_server.url}/candidates/{candidate.pk}/emails/")
    assert "Happy to talk on Thursday." in browser.page_source
    screenshot(browser, "candidate-emails-thread")
