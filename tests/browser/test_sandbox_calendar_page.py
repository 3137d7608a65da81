"""The sandbox's calendar pages in a real browser: a recruiter's week shows the interview
Google's Calendar client created, and a person acting as the candidate (an address outside
the sandbox) accepts it; the organiser's Calendar client then reads the answer."""

from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from sandbox import services, tokens
from sandbox.google import scopes
from tests.browser.conftest import text_appears

CANDIDATE = "carl@people.test"


def test_a_person_sees_a_calendar_and_accepts_the_invitation_as_the_candidate(
    browser, live_server, transactional_db, screenshot
):
    recruiter = services.mailbox_create(address="rita@agency.test", display_name="Rita Recruiter")
    services.mailbox_create(address="colin@agency.test", display_name="Colin Colleague")
    token = tokens.mailbox_grant_token(
        mailbox=recruiter, scopes=[scopes.CALENDAR_EVENTS], client_id="browser-test"
    ).token
    calendar = build(
        "calendar",
        "v3",
        credentials=Credentials(token),
        static_discovery=True,
        client_options={"api_endpoint": f"{live_server.url}/sandbox/google/calendar/v3/"},
    )
    made = (
        calendar.events()
        .insert(
            calendarId="primary",
            conferenceDataVersion=1,
            sendUpdates="all",
            body={
                "summary": "Interview: Carl Candidate",
                "start": {"dateTime": "2026-12-01T14:00:00", "timeZone": "Europe/Berlin"},
                "end": {"dateTime": "2026-12-01T15:00:00", "timeZone": "Europe/Berlin"},
                "attendees": [{"email": "colin@agency.test"}, {"email": CANDIDATE}],
                "conferenceData": {
                    "createRequest": {
                        "requestId": "browser-1",
                        "conferenceSolutionKey": {"type": "hangoutsMeet"},
                    }
                },
            },
        )
        .execute()
    )
    wait = WebDriverWait(browser, 15)

    browser.get(f"{live_server.url}/sandbox/mailboxes/{recruiter.address}/")
    browser.find_element(By.LINK_TEXT, "Calendar").click()
    wait.until(text_appears((By.TAG_NAME, "h1"), "Calendar of"))
    week = browser.find_element(By.NAME, "week")
    week.clear()
    week.send_keys("2026-12-01")
    zone = browser.find_element(By.NAME, "tz")
    zone.clear()
    zone.send_keys("Europe/Berlin")
    browser.find_element(By.CSS_SELECTOR, "form.week button[type=submit]").click()
    row = wait.until(ec.presence_of_element_located((By.XPATH, "//tr[contains(@class, 'event')]")))
    assert "14:00–15:00" in row.text and "Interview: Carl Candidate" in row.text
    assert f"{CANDIDATE} — needsAction" in row.text
    assert row.find_element(By.LINK_TEXT, "Meet").get_attribute("href") == made["hangoutLink"]
    screenshot(browser, "sandbox-calendar")

    browser.find_element(By.LINK_TEXT, "Invitations").click()
    wait.until(text_appears((By.TAG_NAME, "h1"), "Invitations"))
    browser.find_element(By.NAME, "email").send_keys(CANDIDATE)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    invitation = wait.until(
        ec.presence_of_element_located((By.XPATH, "//tr[contains(@class, 'invitation')]"))
    )
    assert "needsAction" in invitation.find_element(By.CLASS_NAME, "answer").text
    invitation.find_element(By.XPATH, ".//button[text()='Accept']").click()
    wait.until(text_appears((By.CLASS_NAME, "messages"), "Accept"))
    answer = browser.find_element(By.CSS_SELECTOR, "tr.invitation td.answer")
    assert answer.text == "accepted"
    screenshot(browser, "sandbox-invitation")

    event = calendar.events().get(calendarId="primary", eventId=made["id"]).execute()
    answers = {a["email"]: a["responseStatus"] for a in event["attendees"]}
    assert answers == {"colin@agency.test": "needsAction", CANDIDATE: "accepted"}
    assert event["etag"] != made["etag"]
