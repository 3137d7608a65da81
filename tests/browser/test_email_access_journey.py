"""Email access levels in a real browser: the Super Admin lowers the level, reads how many
users it deauthorizes, confirms; the recruiter's next page says what happened."""

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


def test_lowering_to_view_only_is_confirmed_and_the_recruiter_is_told(
    browser, live_server, transactional_db, settings, screenshot
):
    point_google_at_sandbox(settings, live_server.url)
    demo_with_mailboxes()
    wait = WebDriverWait(browser, 15)
    sign_in(browser, live_server.url, "recruiter@demo.test")
    connect_gmail(browser, live_server.url)

    sign_in(browser, live_server.url, "superadmin@demo.test")
    browser.get(f"{live_server.url}/settings/company/")
    browser.find_element(By.CSS_SELECTOR, "input[name=level][value=view]").click()
    browser.find_element(By.CSS_SELECTOR, "#email-sync button.primary").click()
    wait.until(text_appears((By.ID, "email-sync"), "deauthorizes 1 user"))
    # Nothing changed yet: the consequences come first.
    assert MailboxConnection.objects.get().state == MailboxConnection.State.CONNECTED
    browser.execute_script("document.getElementById('email-sync').scrollIntoView()")
    screenshot(browser, "company-settings-email-access-confirm")
    browser.find_element(By.CSS_SELECTOR, "input[name=level][value=view]").click()
    browser.find_element(By.NAME, "confirm_level_change").click()
    browser.find_element(By.CSS_SELECTOR, "#email-sync button.primary").click()
    wait.until(text_appears((By.TAG_NAME, "main"), "1 user was deauthorized"))
    assert browser.find_element(By.ID, "email-level").text == "View only"

    sign_in(browser, live_server.url, "recruiter@demo.test")
    banner = browser.find_element(By.ID, "reauth-banner")
    assert "View only" in banner.text
    screenshot(browser, "reauthorize-after-view-only")
    browser.get(f"{live_server.url}/settings/account/")
    browser.find_element(By.CSS_SELECTOR, "#mailbox-health button.primary").click()
    wait.until(ec.url_contains("/sandbox/google/o/oauth2/auth"))
    consent = browser.find_element(By.TAG_NAME, "main").text
    # Re-authorized under View only: read-only, never send.
    assert "View your email messages and settings" in consent
    assert "Send email on your behalf" not in consent
