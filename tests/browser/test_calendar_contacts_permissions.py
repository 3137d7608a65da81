"""The Calendar and Contacts boxes in a real browser: a recruiter with email connected
ticks Calendar and Google's consent screen asks only for the calendar (email already
allowed); the Super Admin turns Contacts off for the company and the recruiter's box shows
why it cannot be ticked."""

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from mailsync.models import MailboxConnection
from tests.browser.conftest import (
    connect_gmail,
    demo_with_mailboxes,
    point_google_at_sandbox,
    sign_in,
    text_appears,
)


def _state_of(browser, kind: str) -> str:
    return browser.find_element(By.CSS_SELECTOR, f"tr[data-kind={kind}] .state").text


def test_a_recruiter_adds_calendar_to_a_connected_mailbox(
    browser, live_server, transactional_db, settings, screenshot
):
    point_google_at_sandbox(settings, live_server.url)
    demo_with_mailboxes()
    wait = WebDriverWait(browser, 15)
    sign_in(browser, live_server.url, "recruiter@demo.test")
    connect_gmail(browser, live_server.url)
    assert _state_of(browser, "email") == "Connected"

    browser.find_element(By.NAME, "calendar").click()
    browser.find_element(By.CSS_SELECTOR, "form button.primary").click()
    wait.until(ec.url_contains("/sandbox/google/o/oauth2/auth"))
    consent = browser.find_element(By.TAG_NAME, "main").text
    assert "View and edit events on all your calendars" in consent
    # Email was allowed before: listed as such, not asked again.
    assert "You already allowed it to:" in consent
    screenshot(browser, "calendar-incremental-consent")
    browser.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
    wait.until(ec.url_contains("/settings/account/"))
    wait.until(text_appears((By.TAG_NAME, "main"), "Calendar on"))
    assert _state_of(browser, "calendar") == "Connected"
    assert _state_of(browser, "email") == "Connected"
    screenshot(browser, "my-account-calendar-connected")
    connection = MailboxConnection.objects.get(user__email="recruiter@demo.test")
    assert connection.uses_email and connection.uses_calendar

    # The Super Admin turns Contacts off for the company.
    sign_in(browser, live_server.url, "superadmin@demo.test")
    browser.get(f"{live_server.url}/settings/company/")
    browser.find_element(By.NAME, "contacts_enabled").click()
    browser.find_element(By.CSS_SELECTOR, "#integrations button.primary").click()
    wait.until(text_appears((By.TAG_NAME, "main"), "Nothing was revoked"))
    browser.execute_script("document.getElementById('integrations').scrollIntoView()")
    screenshot(browser, "company-calendar-contacts")

    sign_in(browser, live_server.url, "recruiter@demo.test")
    browser.get(f"{live_server.url}/settings/account/")
    contacts = browser.find_element(By.NAME, "contacts")
    assert not contacts.is_enabled()
    row = browser.find_element(By.CSS_SELECTOR, "tr[data-kind=contacts]").text
    assert "Your company has turned Contacts off under Settings › Company." in row
    screenshot(browser, "my-account-company-off")
