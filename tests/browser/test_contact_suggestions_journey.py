"""Contact suggestions in a real browser: a recruiter with Contacts ticked types a name on
Add candidate, sees their (sandbox) Google contact marked as such next to the candidates
they may see, picks it with the keyboard, and the form comes back filled in from it."""

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from candidates.models import Candidate
from mailsync.models import MailboxConnection
from sandbox import contacts as sandbox_contacts
from sandbox import selectors as sandbox_selectors
from tests.browser.conftest import (
    connect_gmail,
    demo_with_mailboxes,
    point_google_at_sandbox,
    sign_in,
    text_appears,
)


def _tick_contacts(browser, wait, base_url: str) -> None:
    browser.get(f"{base_url}/settings/account/")
    browser.find_element(By.NAME, "contacts").click()
    browser.find_element(By.CSS_SELECTOR, "form button.primary").click()
    wait.until(ec.url_contains("/sandbox/google/o/oauth2/auth"))
    browser.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
    wait.until(ec.url_contains("/settings/account/"))


def test_recruiter_creates_a_candidate_from_a_contact(
    browser, live_server, transactional_db, settings, screenshot
):
    point_google_at_sandbox(settings, live_server.url)
    demo_with_mailboxes()
    sandbox_contacts.search_cache_reset()
    wait = WebDriverWait(browser, 15)
    sign_in(browser, live_server.url, "recruiter@demo.test")
    connect_gmail(browser, live_server.url)
    _tick_contacts(browser, wait, live_server.url)
    assert MailboxConnection.objects.get(user__email="recruiter@demo.test").uses_contacts
    sandbox_contacts.contact_add(
        mailbox=sandbox_selectors.mailbox_by_address("recruiter@demo.test"),
        display_name="Quentin Contact",
        emails=["quentin@contact.test", "q@home.test"],
        job_title="Staff Engineer",
        company="Acme",
    )

    browser.get(f"{live_server.url}/candidates/new/")
    name = browser.find_element(By.NAME, "full_name")
    name.send_keys("Quent")
    pick = wait.until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, "#person-suggestions button[data-suggestion]"))
    )
    entry = browser.find_element(By.CSS_SELECTOR, "#person-suggestions .person-suggestion")
    assert "Quentin Contact" in entry.text
    assert "Contact" in entry.find_element(By.CSS_SELECTOR, ".source-badge").text
    assert "Staff Engineer at Acme" in entry.text
    assert pick.text == "Create candidate from contact"
    screenshot(browser, "contact-suggestions")

    # From the field, the arrow key goes into the list; Enter picks.
    name.send_keys(Keys.ARROW_DOWN)
    assert browser.switch_to.active_element == pick
    pick.send_keys(Keys.ENTER)

    wait.until(text_appears((By.TAG_NAME, "main"), "Filled in from your contact"))
    assert browser.find_element(By.NAME, "full_name").get_attribute("value") == "Quentin Contact"
    assert (
        browser.find_element(By.NAME, "headline").get_attribute("value") == "Staff Engineer at Acme"
    )
    assert browser.find_element(By.NAME, "email").get_attribute("value") == "quentin@contact.test"
    assert browser.find_element(By.NAME, "more_emails").get_attribute("value") == "q@home.test"
    assert not Candidate.objects.filter(full_name="Quentin Contact").exists()

    browser.find_element(By.CSS_SELECTOR, "#candidate-form button.primary").click()
    wait.until(text_appears((By.TAG_NAME, "main"), "Quentin Contact was added"))
    quentin = Candidate.objects.get(full_name="Quentin Contact")
    assert set(quentin.emails.values_list("address", flat=True)) == {
        "quentin@contact.test",
        "q@home.test",
    }
