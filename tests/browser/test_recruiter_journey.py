"""A recruiter's first minutes, in a real browser: sign in, search, open a profile."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from candidates.models import Candidate
from demo.seeding import seed_demo
from tests.browser.conftest import sign_in, text_appears


@pytest.fixture
def demo(transactional_db):
    return seed_demo()


def test_super_admin_signs_in_searches_and_opens_a_profile(browser, live_server, demo, screenshot):
    browser.get(f"{live_server.url}/accounts/login/")
    assert browser.find_element(By.NAME, "login").is_displayed()
    screenshot(browser, "login")

    sign_in(browser, live_server.url, "superadmin@demo.test")
    assert "50 candidates" in browser.find_element(By.CSS_SELECTOR, ".count").text
    screenshot(browser, "candidate-list")

    target = Candidate.objects.filter(organisation__slug="demo").order_by("full_name").first()
    surname = target.full_name.split()[-1]
    browser.find_element(By.ID, "search").send_keys(surname)
    # htmx swaps the results in place; the URL follows the search.
    WebDriverWait(browser, 10).until(ec.url_contains("q="))
    WebDriverWait(browser, 10).until(
        ec.presence_of_element_located((By.LINK_TEXT, target.full_name))
    )
    assert "<html" not in browser.find_element(By.ID, "results").get_attribute("innerHTML")

    browser.find_element(By.LINK_TEXT, target.full_name).click()
    WebDriverWait(browser, 10).until(ec.title_contains(target.full_name))
    assert target.emails.first().address in browser.page_source
    screenshot(browser, "candidate-profile")

    browser.find_element(By.LINK_TEXT, "Emails").click()
    WebDriverWait(browser, 10).until(ec.presence_of_element_located((By.ID, "emails-empty")))
    assert browser.current_url.endswith("/emails/")
    screenshot(browser, "candidate-emails-empty")


def test_limited_member_sees_only_their_postings_candidates(browser, live_server, demo):
    sign_in(browser, live_server.url, "limited@demo.test")

    count_text = browser.find_element(By.CSS_SELECTOR, ".count").text
    rows = browser.find_elements(By.CSS_SELECTOR, "table.list tbody tr")

    visible = Candidate.objects.filter(applications__posting__title="Product Designer").distinct()
    assert count_text.startswith(f"{visible.count()} candidate")
    assert 0 < len(rows) <= visible.count()
    assert "Company" not in browser.find_element(By.CSS_SELECTOR, ".mainnav").text


def test_recruiter_adds_an_address_and_sees_the_field_error_inline(browser, live_server, demo):
    sign_in(browser, live_server.url, "recruiter@demo.test")
    candidate = Candidate.objects.filter(organisation__slug="demo").order_by("full_name").first()
    browser.get(f"{live_server.url}/candidates/{candidate.pk}/")

    field = browser.find_element(By.ID, "id_new_email")
    field.send_keys("not an address")
    browser.find_element(By.CSS_SELECTOR, "#addresses form.inline button[type=submit]").click()
    error = WebDriverWait(browser, 10).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "#addresses .error"))
    )
    assert error.text == "Enter a valid email address."

    field = browser.find_element(By.ID, "id_new_email")
    field.clear()
    field.send_keys("Second.Address@Example.COM")
    browser.find_element(By.CSS_SELECTOR, "#addresses form.inline button[type=submit]").click()
    WebDriverWait(browser, 10).until(
        text_appears((By.ID, "addresses"), "second.address@example.com")
    )
    assert candidate.emails.filter(address="second.address@example.com").exists()
