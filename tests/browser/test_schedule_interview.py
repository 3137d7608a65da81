"""Scheduling an interview in a real browser on the Google demo: a colleague connects
their calendar, the recruiter opens a profile's Interviews tab, asks for free times with
the colleague, picks one, and sees the interview with its Meet link and attendees."""

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from interviews.models import Interview
from sandbox.models import CalendarEvent
from tests.browser.conftest import demo_with_mailboxes, point_google_at_sandbox, sign_in


def _tick_and_allow(browser, base_url: str, *boxes: str) -> None:
    wait = WebDriverWait(browser, 15)
    browser.get(f"{base_url}/settings/account/")
    for box in boxes:
        if not browser.find_element(By.NAME, box).is_selected():
            browser.find_element(By.NAME, box).click()
    browser.find_element(By.CSS_SELECTOR, "form button.primary").click()
    wait.until(ec.url_contains("/sandbox/google/o/oauth2/auth"))
    browser.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
    wait.until(ec.url_contains("/settings/account/"))


def test_a_recruiter_schedules_an_interview_from_the_profile(
    browser, live_server, transactional_db, settings, screenshot
):
    point_google_at_sandbox(settings, live_server.url)
    candidate, address = demo_with_mailboxes()
    from sandbox.demo import seed_mailboxes

    seed_mailboxes(users=[("admin@demo.test", "Alex Admin")], candidates=[])
    wait = WebDriverWait(browser, 15)

    sign_in(browser, live_server.url, "admin@demo.test")
    _tick_and_allow(browser, live_server.url, "calendar")
    sign_in(browser, live_server.url, "recruiter@demo.test")
    _tick_and_allow(browser, live_server.url, "email", "calendar")

    # The recruiter is in Tokyo: before their first interview the form takes the browser's
    # zone (the server knows none), here set through chromium's DevTools.
    browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Tokyo"})
    try:
        browser.get(f"{live_server.url}/candidates/{candidate.pk}/interviews/")
        browser.find_element(By.ID, "schedule-interview").click()
        wait.until(ec.presence_of_element_located((By.ID, "schedule-form")))
        zone = Select(browser.find_element(By.NAME, "time_zone"))
        assert zone.first_selected_option.get_attribute("value") == "Asia/Tokyo"
    finally:
        browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": ""})
    # The rest of the story in the server's zone, where the seeded meetings leave free times.
    zone.select_by_value("UTC")
    Select(browser.find_element(By.NAME, "interviewers")).select_by_index(0)
    invitation = browser.find_element(By.NAME, "invitation")
    invitation.clear()
    invitation.send_keys("A 60-minute conversation with the team.")
    browser.execute_script("window.scrollTo(0, 0)")
    screenshot(browser, "schedule-interview")
    browser.find_element(By.CSS_SELECTOR, "#schedule-form button.primary").click()

    wait.until(ec.presence_of_element_located((By.ID, "slots-form")))
    slots = browser.find_elements(By.CSS_SELECTOR, "input[name=start]")
    assert slots, browser.find_element(By.TAG_NAME, "main").text
    screenshot(browser, "interview-slots")
    slots[0].click()
    browser.find_element(By.ID, "confirm-slot").click()

    wait.until(ec.presence_of_element_located((By.ID, "interviews")))
    section = browser.find_element(By.ID, "interviews").text
    assert address in section and "admin@demo.test" in section
    interview = Interview.objects.get(candidate=candidate)
    assert interview.meeting_url and interview.meeting_url in section
    assert CalendarEvent.objects.filter(
        mailbox__address=address, ical_uid=interview.ical_uid
    ).exists()
    screenshot(browser, "interviews-section")
