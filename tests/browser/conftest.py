"""Headless Debian chromium, driven through Debian's chromedriver, against a live server."""

import os
import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from candidates.models import Candidate
from demo.seeding import DEMO_PASSWORD

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture(scope="session")
def browser():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("Debian's chromium and chromium-driver are required: run bin/ensure-chromium")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
        "--hide-scrollbars",
    ):
        options.add_argument(flag)
    # Console messages, Content-Security-Policy violations among them, for `driver.get_log`.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


@pytest.fixture
def screenshot(tmp_path):
    """Saves a PNG of the page: into docs/screenshots/ under `make screenshots`, else tmp."""
    folder = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)

    def take(driver, name: str) -> Path:
        path = folder / f"{name}.png"
        driver.save_screenshot(str(path))
        return path

    return take


def text_appears(locator: tuple[str, str], text: str):
    """A wait condition: `text` is in the element's text. Unlike Selenium's
    text_to_be_present_in_element, an element whose page is being replaced while it is read
    counts as "not yet": chromium answers that with a bare WebDriverException ("Node with
    given id does not belong to the document"), not a StaleElementReferenceException."""

    def present(driver) -> bool:
        try:
            return text in driver.find_element(*locator).text
        except WebDriverException:
            return False

    return present


def point_google_at_sandbox(settings, sandbox_base_url: str) -> None:
    """Every Google endpoint Threadline calls, on this live server's sandbox."""
    google = f"{sandbox_base_url}/sandbox/google/"
    settings.GOOGLE_AUTH_URI = f"{google}o/oauth2/auth"
    settings.GOOGLE_TOKEN_URI = f"{google}token"
    settings.GOOGLE_REVOKE_URI = f"{google}revoke"
    settings.GOOGLE_API_ROOT = google
    settings.GOOGLE_USERINFO_URI = f"{google}oauth2/v3/userinfo"


def sign_in(browser, base_url: str, email: str, password: str = DEMO_PASSWORD) -> None:
    """The login form, filled in as a person would; waits for the candidate list."""
    browser.delete_all_cookies()
    browser.get(f"{base_url}/accounts/login/")
    browser.find_element(By.NAME, "login").send_keys(email)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(browser, 15).until(ec.url_contains("/candidates/"))


def connect_gmail(browser, base_url: str) -> None:
    """My account: tick Email, then Allow on the sandbox's Google consent screen."""
    wait = WebDriverWait(browser, 15)
    browser.get(f"{base_url}/settings/account/")
    browser.find_element(By.NAME, "email").click()
    browser.find_element(By.CSS_SELECTOR, "form button.primary").click()
    wait.until(ec.url_contains("/sandbox/google/o/oauth2/auth"))
    browser.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
    wait.until(ec.url_contains("/settings/account/"))


def demo_with_mailboxes() -> tuple[Candidate, str]:
    """`make run`'s demo data, with sandbox mailboxes for the recruiter and for a Data
    Scientist candidate: that candidate and their address."""
    from demo.seeding import seed_demo
    from sandbox.demo import seed_mailboxes

    seed_demo()
    candidate = Candidate.objects.filter(applications__posting__title="Data Scientist").first()
    assert candidate is not None
    address = candidate.emails.get().address
    seed_mailboxes(
        users=[("recruiter@demo.test", "Riley Chen")], candidates=[(address, candidate.full_name)]
    )
    return candidate, address
