"""A recruiter makes a thread secret from its ⋯ menu with the keyboard alone, in a real
browser: the menu opens from its summary, the arrow keys reach its actions, Escape closes
it and gives the focus back, a click elsewhere closes it, one menu is open at a time, and
the action swaps the thread in place (no page load) to show the lock."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from accounts.models import User
from candidates.models import Candidate, EmailMessage, EmailThread
from demo.seeding import seed_demo
from tests.browser.conftest import sign_in
from tests.factories import EmailMessageFactory, EmailThreadFactory


@pytest.fixture
def threads(transactional_db):
    """Two threads the demo recruiter started with one Data Scientist candidate: one
    shared with the team, one private."""
    seed_demo()
    recruiter = User.objects.get(email="recruiter@demo.test")
    candidate = Candidate.objects.filter(applications__posting__title="Data Scientist").first()
    made = {}
    for key, subject, visibility in [
        ("shared", "Compensation and start date", EmailThread.Visibility.TEAM),
        ("private", "Scheduling the on-site", EmailThread.Visibility.PRIVATE),
    ]:
        thread = EmailThreadFactory(
            candidate=candidate, owner=recruiter, subject=subject, visibility=visibility
        )
        EmailMessageFactory(
            thread=thread,
            sender=recruiter,
            direction=EmailMessage.Direction.OUTBOUND,
            status=EmailMessage.Status.SENT,
            from_header=f"{recruiter.full_name} <{recruiter.email}>",
            to_header=f"{candidate.full_name} <{candidate.emails.get().address}>",
            body_text=f"Hi {candidate.full_name.split()[0]}, about: {subject.lower()}.",
        )
        EmailMessageFactory(
            thread=thread,
            from_header=f"{candidate.full_name} <{candidate.emails.get().address}>",
            body_text="Thanks, that works for me.",
        )
        made[key] = thread
    return made


def _focused(browser):
    return browser.switch_to.active_element


def _menu(browser, thread):
    return browser.find_element(By.CSS_SELECTOR, f"#thread-{thread.pk} details.thread-menu")


def _is_open(menu) -> bool:
    return menu.get_attribute("open") is not None


def test_recruiter_makes_a_thread_secret_with_the_keyboard(
    browser, live_server, threads, screenshot
):
    shared, private = threads["shared"], threads["private"]
    wait = WebDriverWait(browser, 15)
    browser.get_log("browser")  # whatever earlier tests left
    sign_in(browser, live_server.url, "recruiter@demo.test")
    browser.get(f"{live_server.url}/candidates/{shared.candidate_id}/emails/")
    browser.execute_script("window.threadlineSamePage = true;")

    # Tab through the page until the shared thread's menu has the focus, as a keyboard
    # user would.
    summary_id = f"thread-menu-{shared.pk}"
    body = browser.find_element(By.TAG_NAME, "body")
    body.click()
    for _ in range(60):
        if _focused(browser).get_attribute("id") == summary_id:
            break
        _focused(browser).send_keys(Keys.TAB)
    else:
        pytest.fail("The thread's ⋯ menu cannot be reached with Tab")
    menu = _menu(browser, shared)

    # Enter opens it; Escape closes it and leaves the focus on its summary.
    _focused(browser).send_keys(Keys.ENTER)
    assert _is_open(menu)
    _focused(browser).send_keys(Keys.ESCAPE)
    assert not _is_open(menu)
    assert _focused(browser).get_attribute("id") == summary_id

    # Opening another menu closes this one; a click elsewhere closes any.
    _focused(browser).send_keys(Keys.ENTER)
    _menu(browser, private).find_element(By.TAG_NAME, "summary").click()
    assert _is_open(_menu(browser, private)) and not _is_open(menu)
    browser.find_element(By.CSS_SELECTOR, "#profile-tab h2").click()
    assert not _is_open(_menu(browser, private))

    # Down arrow from the summary opens the menu on its first action, and on to the next.
    browser.execute_script("arguments[0].focus()", browser.find_element(By.ID, summary_id))
    _focused(browser).send_keys(Keys.ARROW_DOWN)
    assert _is_open(menu)
    assert _focused(browser).text == "Make private"
    _focused(browser).send_keys(Keys.ARROW_DOWN)
    assert "Make secret" in _focused(browser).text
    _focused(browser).send_keys(Keys.ENTER)

    # htmx swapped the thread in place: the lock, who made it secret, focus back on the
    # menu, and the same page (no reload).
    badge = wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, f"#thread-{shared.pk} .visibility-secret"))
    )
    assert badge.text == "Secret"
    assert badge.find_element(By.TAG_NAME, "svg").is_displayed()
    head = browser.find_element(By.CSS_SELECTOR, f"#thread-{shared.pk} .thread-head").text
    assert "made secret by you" in head
    assert browser.execute_script("return window.threadlineSamePage === true")
    wait.until(lambda b: _focused(b).get_attribute("id") == summary_id)
    wait.until(
        lambda b: "Secret" in b.find_element(By.ID, "live-status").get_attribute("textContent")
    )
    shared.refresh_from_db()
    assert shared.visibility == EmailThread.Visibility.SECRET
    assert shared.visibility_before_secret == EmailThread.Visibility.TEAM
    assert shared.made_secret_by.email == "recruiter@demo.test"

    # Its menu now offers only to lift it, saying what the thread will go back to.
    browser.execute_script(
        "document.getElementById(arguments[0]).scrollIntoView({block: 'center'})",
        f"thread-{shared.pk}",
    )
    _focused(browser).send_keys(Keys.ENTER)
    items = _menu(browser, shared).find_element(By.CSS_SELECTOR, ".menu-items")
    # Removal is offered too, its button behind its own confirmation (hidden until asked).
    offered = [b.text for b in items.find_elements(By.TAG_NAME, "button") if b.is_displayed()]
    assert offered == ["Make not secret"]
    assert items.find_element(By.CSS_SELECTOR, ".remove-thread > summary").is_displayed()
    assert "Back to shared with the team" in items.text
    screenshot(browser, "thread-menu-secret")
    _focused(browser).send_keys(Keys.ESCAPE)

    # The private thread, by pointer this time.
    _menu(browser, private).find_element(By.TAG_NAME, "summary").click()
    _menu(browser, private).find_element(By.XPATH, ".//button[contains(., 'Make secret')]").click()
    wait.until(
        ec.presence_of_element_located(
            (By.CSS_SELECTOR, f"#thread-{private.pk} .visibility-secret")
        )
    )
    assert not [e for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]

    # An Admin reads who did it in the profile's History (a tab the recruiter has not).
    assert "History" not in browser.find_element(By.CSS_SELECTOR, "nav.tabs").text
    sign_in(browser, live_server.url, "admin@demo.test")
    browser.get(f"{live_server.url}/candidates/{shared.candidate_id}/")
    browser.find_element(By.LINK_TEXT, "History").click()
    wait.until(ec.url_contains("/history/"))
    entries = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".history")))
    assert "Riley Chen made a thread secret: “Compensation and start date”" in entries.text
    assert "Riley Chen made a thread secret: “Scheduling the on-site”" in entries.text
    # Loaded whole, so the tab bar marks History (htmx navigation leaves it on Overview
    # until the profile-workspace work highlights the active tab).
    browser.refresh()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".history li")))
    screenshot(browser, "candidate-history")

    # The Admin lifts the private thread's secrecy: it is its owner's alone again, so it
    # leaves the Admin's page in place.
    browser.find_element(By.LINK_TEXT, "Emails").click()
    menu = wait.until(
        ec.presence_of_element_located(
            (By.CSS_SELECTOR, f"#thread-{private.pk} details.thread-menu")
        )
    )
    menu.find_element(By.TAG_NAME, "summary").click()
    menu.find_element(By.XPATH, ".//button[contains(., 'Make not secret')]").click()
    wait.until(ec.invisibility_of_element_located((By.ID, f"thread-{private.pk}")))
    wait.until(
        lambda b: (
            "no longer shown" in b.find_element(By.ID, "live-status").get_attribute("textContent")
        )
    )
    assert browser.find_elements(By.ID, f"thread-{shared.pk}")
    private.refresh_from_db()
    assert private.visibility == EmailThread.Visibility.PRIVATE
