"""The sandbox's contacts page in a real browser: a wrong address is shown next to its
field, a good contact is added and listed, and the Google face finds it after a warm-up."""

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from sandbox import contacts, services, tokens
from sandbox.google import scopes
from tests.browser.conftest import text_appears


def test_a_person_adds_a_contact_to_a_sandbox_user(
    browser, live_server, transactional_db, screenshot
):
    mailbox = services.mailbox_create(address="rita@agency.test", display_name="Rita Recruiter")
    contacts.search_cache_reset()
    browser.get(f"{live_server.url}/sandbox/mailboxes/{mailbox.address}/")
    wait = WebDriverWait(browser, 15)
    browser.find_element(By.LINK_TEXT, "Contacts").click()
    # A click starts a navigation and returns: wait for the new page, never read the old one.
    wait.until(text_appears((By.TAG_NAME, "main"), "No contacts yet."))

    browser.find_element(By.NAME, "display_name").send_keys("Ann Lee")
    browser.find_element(By.NAME, "emails").send_keys("ann.lee@")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait.until(text_appears((By.TAG_NAME, "main"), "Enter a valid email address."))

    emails = browser.find_element(By.NAME, "emails")
    emails.clear()
    emails.send_keys("ann.lee@example.test, ann@home.test")
    browser.find_element(By.NAME, "job_title").send_keys("Staff Engineer")
    browser.find_element(By.NAME, "company").send_keys("Acme Robotics")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    row = wait.until(ec.presence_of_element_located((By.XPATH, "//td[text()='Ann Lee']/..")))
    assert "ann.lee@example.test, ann@home.test" in row.text
    assert "Acme Robotics" in row.text and "Saved contact" in row.text
    screenshot(browser, "sandbox-contacts")

    token = tokens.mailbox_grant_token(
        mailbox=mailbox, scopes=[scopes.CONTACTS_READONLY], client_id="browser-test"
    ).token
    search = f"{live_server.url}/sandbox/google/v1/people:searchContacts"
    headers = {"Authorization": f"Bearer {token}"}
    for query in ["", "acme"]:
        answer = requests.get(
            search, params={"query": query, "readMask": "names"}, headers=headers, timeout=10
        )
    assert [r["person"]["names"][0]["displayName"] for r in answer.json()["results"]] == ["Ann Lee"]
