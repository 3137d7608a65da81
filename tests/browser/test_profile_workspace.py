"""The profile as a place to work, in a real browser: editing in place, the tab highlight
following htmx, the navigation on a phone-sized screen, and allauth's pages in our layout."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from candidates.models import Application, Candidate
from demo.seeding import seed_demo
from tests.browser.conftest import sign_in, text_appears


@pytest.fixture
def demo(transactional_db):
    return seed_demo()


def _a_demo_candidate() -> Candidate:
    candidate = (
        Candidate.objects.filter(organisation__slug="demo", applications__isnull=False)
        .order_by("full_name")
        .first()
    )
    assert candidate is not None
    return candidate


def _csp_violations(browser) -> list[str]:
    return [
        entry["message"]
        for entry in browser.get_log("browser")
        if "Content Security Policy" in entry["message"]
    ]


def test_recruiter_edits_the_profile_in_place_and_makes_another_address_primary(
    browser, live_server, demo, screenshot
):
    candidate = _a_demo_candidate()
    sign_in(browser, live_server.url, "recruiter@demo.test")
    browser.get(f"{live_server.url}/candidates/{candidate.pk}/")
    wait = WebDriverWait(browser, 10)

    browser.find_element(By.ID, "id_new_email").send_keys("Morgan.Work@Example.COM")
    browser.find_element(By.CSS_SELECTOR, "#addresses form.inline button[type=submit]").click()
    make_primary = wait.until(
        ec.element_to_be_clickable(
            (By.CSS_SELECTOR, "button[aria-label='Make morgan.work@example.com primary']")
        )
    )
    make_primary.click()
    wait.until(text_appears((By.ID, "addresses"), "morgan.work@example.com is now primary"))
    first_address = browser.find_element(By.CSS_SELECTOR, "#addresses .addresses li")
    assert "morgan.work@example.com" in first_address.text and "primary" in first_address.text

    application = candidate.applications.first()
    Select(browser.find_element(By.ID, f"stage-{application.pk}")).select_by_value("interview")
    wait.until(text_appears((By.ID, "applications"), "Now at On-site interview"))

    browser.find_element(By.ID, "edit-details").click()
    name = wait.until(ec.visibility_of_element_located((By.ID, "id_full_name")))
    name.clear()
    browser.find_element(By.ID, "id_headline").clear()
    browser.find_element(By.ID, "id_headline").send_keys("Staff Data Scientist")
    browser.find_element(By.CSS_SELECTOR, "#candidate-details button[type=submit]").click()
    error = wait.until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, "#candidate-details .error"))
    )
    assert error.text == "This field is required."
    screenshot(browser, "profile-edit")
    browser.find_element(By.ID, "id_full_name").send_keys("  Morgan Example ")
    browser.find_element(By.CSS_SELECTOR, "#candidate-details button[type=submit]").click()
    wait.until(text_appears((By.CSS_SELECTOR, "#candidate-details h1"), "Morgan Example"))
    assert "Staff Data Scientist" in browser.find_element(By.ID, "candidate-details").text

    candidate.refresh_from_db()
    assert (candidate.full_name, candidate.headline) == ("Morgan Example", "Staff Data Scientist")
    assert candidate.emails.get(is_primary=True).address == "morgan.work@example.com"
    assert Application.objects.get(pk=application.pk).stage == "interview"
    assert _csp_violations(browser) == []


def test_the_active_tab_follows_htmx_navigation(browser, live_server, demo):
    candidate = _a_demo_candidate()
    sign_in(browser, live_server.url, "recruiter@demo.test")
    browser.get(f"{live_server.url}/candidates/{candidate.pk}/")
    wait = WebDriverWait(browser, 10)

    def active_tab() -> str:
        # Read in one script: htmx may be replacing the nav between two WebDriver calls.
        return browser.execute_script(
            "const tabs = document.querySelectorAll('#profile-tabs a.active');"
            "return Array.from(tabs, tab => tab.textContent.trim()).join(',');"
        )

    assert active_tab() == "Overview"
    browser.find_element(By.LINK_TEXT, "Emails").click()
    wait.until(ec.url_contains("/emails/"))
    wait.until(lambda _: active_tab() == "Emails")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#profile-tabs a.active")) == 1

    browser.find_element(By.LINK_TEXT, "Overview").click()
    wait.until(lambda _: active_tab() == "Overview")
    assert not browser.current_url.endswith("/emails/")
    # Only one tab nav: the out-of-band swap replaced it rather than adding another.
    assert len(browser.find_elements(By.ID, "profile-tabs")) == 1


def test_the_navigation_works_on_a_phone_sized_screen(browser, live_server, demo, screenshot):
    browser.set_window_size(375, 800)
    try:
        sign_in(browser, live_server.url, "superadmin@demo.test")
        width = browser.execute_script("return window.innerWidth")
        assert width <= 400

        links = browser.find_elements(By.CSS_SELECTOR, ".mainnav a")
        assert [link.text for link in links][:2] == ["Candidates", "My account"]
        for link in links[:2]:
            assert link.is_displayed()
        sign_out = browser.find_element(By.CSS_SELECTOR, ".who button")
        assert sign_out.is_displayed()
        assert sign_out.rect["x"] + sign_out.rect["width"] <= width
        # Nothing wider than the screen: no sideways scrolling of the whole page.
        assert browser.execute_script("return document.documentElement.scrollWidth") <= width
        screenshot(browser, "narrow-nav")

        browser.find_element(By.LINK_TEXT, "My account").click()
        WebDriverWait(browser, 10).until(ec.url_contains("/settings/account/"))
        browser.find_element(By.LINK_TEXT, "Candidates").click()
        WebDriverWait(browser, 10).until(ec.url_contains("/candidates/"))

        # A profile fits too: its side card stacks above the tabs.
        browser.get(f"{live_server.url}/candidates/{_a_demo_candidate().pk}/emails/")
        assert browser.find_element(By.ID, "edit-details").is_displayed()
        assert browser.execute_script("return document.documentElement.scrollWidth") <= width
    finally:
        browser.set_window_size(1280, 900)


def test_password_reset_is_a_threadline_page(browser, live_server, demo, screenshot):
    browser.delete_all_cookies()
    browser.get(f"{live_server.url}/accounts/login/")
    browser.find_element(By.LINK_TEXT, "Forgot your password?").click()
    WebDriverWait(browser, 10).until(ec.url_contains("/accounts/password/reset/"))

    assert browser.find_element(By.CSS_SELECTOR, "header.topbar .brand").text == "Threadline"
    field = browser.find_element(By.ID, "id_email")
    assert field.find_element(By.XPATH, "..").get_attribute("class") == "field"
    screenshot(browser, "password-reset")

    field.send_keys("recruiter@demo.test")
    browser.find_element(By.CSS_SELECTOR, "main form button.primary").click()
    WebDriverWait(browser, 10).until(ec.url_contains("/password/reset/done/"))
    assert browser.find_element(By.CSS_SELECTOR, "header.topbar .brand").text == "Threadline"


def test_a_long_thread_opens_its_earlier_messages_on_request_and_for_a_link_to_one(
    browser, live_server, demo
):
    from accounts.models import User
    from tests.factories import EmailMessageFactory, EmailThreadFactory

    candidate = _a_demo_candidate()
    recruiter = User.objects.get(email="recruiter@demo.test")
    thread = EmailThreadFactory(candidate=candidate, owner=recruiter, subject="Long talk")
    messages = [
        EmailMessageFactory(thread=thread, body_text=f"Message number {n}") for n in range(1, 8)
    ]
    sign_in(browser, live_server.url, "recruiter@demo.test")
    emails_url = f"{live_server.url}/candidates/{candidate.pk}/emails/"

    browser.get(emails_url)
    summary = browser.find_element(By.CSS_SELECTOR, f"#thread-{thread.pk} details.earlier summary")
    assert summary.text == "Show 4 earlier"
    first = browser.find_element(By.ID, f"message-{messages[0].pk}")
    assert not first.is_displayed()
    assert browser.find_element(By.ID, f"message-{messages[6].pk}").is_displayed()
    summary.click()
    assert first.is_displayed()
    assert summary.text == "Hide 4 earlier"

    # A link to an earlier message (as "Load remote images" makes), on a fresh page, opens
    # the collapse.
    browser.get(f"{live_server.url}/candidates/")
    browser.get(f"{emails_url}?page=1#message-{messages[1].pk}")
    assert browser.find_element(By.CSS_SELECTOR, f"#thread-{thread.pk} details.earlier[open]")
    assert browser.find_element(By.ID, f"message-{messages[1].pk}").is_displayed()


def test_removing_the_last_address_asks_first_and_then_warns(browser, live_server, demo):
    candidate = _a_demo_candidate()
    [only] = candidate.emails.all()
    sign_in(browser, live_server.url, "recruiter@demo.test")
    browser.get(f"{live_server.url}/candidates/{candidate.pk}/")

    browser.find_element(By.CSS_SELECTOR, f"button[aria-label='Remove {only.address}']").click()
    alert = WebDriverWait(browser, 10).until(ec.alert_is_present())
    assert "only address" in alert.text
    alert.dismiss()
    assert candidate.emails.count() == 1

    browser.find_element(By.CSS_SELECTOR, f"button[aria-label='Remove {only.address}']").click()
    WebDriverWait(browser, 10).until(ec.alert_is_present()).accept()
    WebDriverWait(browser, 10).until(text_appears((By.ID, "addresses"), "can no longer be matched"))
    assert candidate.emails.count() == 0


def test_older_threads_keep_the_page_in_the_address_bar_and_the_reader_at_the_threads(
    browser, live_server, demo
):
    from accounts.models import User
    from mailsync.candidate_views import THREADS_PER_PAGE
    from tests.factories import EmailMessageFactory, EmailThreadFactory

    candidate = _a_demo_candidate()
    recruiter = User.objects.get(email="recruiter@demo.test")
    # Two full pages, so that page 2 is as long as page 1 and the browser has no reason of
    # its own to scroll.
    for n in range(2 * THREADS_PER_PAGE):
        EmailMessageFactory(
            thread=EmailThreadFactory(candidate=candidate, owner=recruiter, subject=f"Talk {n}")
        )
    sign_in(browser, live_server.url, "recruiter@demo.test")
    browser.get(f"{live_server.url}/candidates/{candidate.pk}/emails/")

    def threads_top() -> float:
        return browser.execute_script(
            "return document.getElementById('profile-tab').getBoundingClientRect().top"
        )

    older = browser.find_element(By.PARTIAL_LINK_TEXT, "Older")
    browser.execute_script("arguments[0].scrollIntoView()", older)
    assert threads_top() < 0  # the reader is down at the pager, the first thread far above
    older.click()
    WebDriverWait(browser, 10).until(ec.url_contains("?page=2"))
    WebDriverWait(browser, 10).until(text_appears((By.CSS_SELECTOR, ".pager"), "Page 2 of 2"))

    # Back up where page 2's threads start.
    WebDriverWait(browser, 5).until(lambda _: -5 <= threads_top() <= 200)
    assert browser.find_element(By.CSS_SELECTOR, "#profile-tabs a.active").text == "Emails"
    browser.refresh()
    assert "Page 2 of 2" in browser.find_element(By.CSS_SELECTOR, ".pager").text


def test_reply_loads_its_form_when_opened_and_a_draft_survives_a_reload(browser, live_server, demo):
    from accounts.models import User
    from tests.factories import EmailMessageFactory, EmailThreadFactory, MailboxConnectionFactory

    candidate = _a_demo_candidate()
    recruiter = User.objects.get(email="recruiter@demo.test")
    MailboxConnectionFactory(user=recruiter)
    thread = EmailThreadFactory(candidate=candidate, owner=recruiter, subject="Next steps")
    EmailMessageFactory(thread=thread, body_text="Could we talk on Monday?")
    sign_in(browser, live_server.url, "recruiter@demo.test")
    wait = WebDriverWait(browser, 10)
    emails_url = f"{live_server.url}/candidates/{candidate.pk}/emails/"

    browser.get(emails_url)
    reply = f"#thread-{thread.pk} details.reply"
    assert not browser.find_elements(By.CSS_SELECTOR, f"{reply} textarea[name=body_text]")
    browser.find_element(By.CSS_SELECTOR, f"{reply} summary").click()
    body = wait.until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, f"{reply} textarea[name=body_text]"))
    )
    body.send_keys("Monday at ten suits me.")

    # The page is reloaded before sending: Reply opens by itself with the text kept.
    browser.get(emails_url)
    body = wait.until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, f"{reply} textarea[name=body_text]"))
    )
    assert body.get_attribute("value") == "Monday at ten suits me."
