"""The candidate list's email activity in a real browser: the column, the subject on
expand, the filter swapped in by htmx with the URL following, and the unread marker gone
once the Emails tab was opened."""

import datetime as dt

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from accounts.models import User
from candidates.models import Candidate, EmailMessage, EmailThread, ThreadSeen
from demo.seeding import seed_demo
from mailsync.ingest import activity_advance
from tests.browser.conftest import sign_in, text_appears
from tests.factories import EmailMessageFactory

INBOUND = EmailMessage.Direction.INBOUND
OUTBOUND = EmailMessage.Direction.OUTBOUND


def _conversation(candidate, owner, subject, messages) -> EmailThread:
    thread = EmailThread.objects.create(
        organisation=candidate.organisation,
        candidate=candidate,
        owner=owner,
        subject=subject,
        visibility=EmailThread.Visibility.TEAM,
        last_message_at=messages[0][1],
    )
    for direction, when in messages:
        EmailMessageFactory(
            thread=thread,
            direction=direction,
            sent_at=when,
            subject=subject if direction == OUTBOUND else f"Re: {subject}",
            sender=owner if direction == OUTBOUND else None,
        )
        activity_advance(thread, when, direction=direction)
    return thread


@pytest.fixture
def demo_with_activity(transactional_db):
    """The demo, where the recruiter has written to three candidates: one replied (unread),
    one has not, one replied and was answered after the recruiter read it."""
    seed_demo()
    recruiter = User.objects.get(email="recruiter@demo.test")
    first, second, third = Candidate.objects.filter(organisation__slug="demo").order_by(
        "full_name"
    )[:3]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    _conversation(
        first,
        recruiter,
        "Platform Engineer: next steps",
        [(OUTBOUND, now - dt.timedelta(days=2)), (INBOUND, now - dt.timedelta(hours=3))],
    )
    _conversation(second, recruiter, "Quick question", [(OUTBOUND, now - dt.timedelta(days=1))])
    read_then_answered = _conversation(
        third,
        recruiter,
        "Thanks for your time",
        [(INBOUND, now - dt.timedelta(days=4)), (OUTBOUND, now - dt.timedelta(days=3))],
    )
    ThreadSeen.objects.create(
        user=recruiter, thread=read_then_answered, seen_at=now - dt.timedelta(days=4)
    )
    return first, second, third


def _row(browser, candidate):
    link = browser.find_element(By.LINK_TEXT, candidate.full_name)
    return link.find_element(By.XPATH, "./ancestor::tr")


def test_recruiter_sees_email_activity_filters_and_clears_the_unread_reply(
    browser, live_server, demo_with_activity, screenshot
):
    replied, waiting, answered = demo_with_activity
    sign_in(browser, live_server.url, "recruiter@demo.test")
    browser.get(f"{live_server.url}/candidates/?sort=activity_newest")

    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "table.list th")]
    assert "Last email" in headers
    cell = _row(browser, replied).find_element(By.CSS_SELECTOR, ".last-email")
    assert "Received" in cell.text and "New reply" in cell.text
    summary = cell.find_element(By.TAG_NAME, "summary")
    assert summary.get_attribute("title") == "Re: Platform Engineer: next steps"
    for wrote_last in (waiting, answered):
        other = _row(browser, wrote_last).find_element(By.CSS_SELECTOR, ".last-email").text
        assert "Sent" in other and "New reply" not in other
    # Expanded, the row shows the last message's subject.
    summary.click()
    subject = cell.find_element(By.CSS_SELECTOR, ".last-email-subject")
    assert subject.is_displayed() and subject.text == "Re: Platform Engineer: next steps"
    screenshot(browser, "candidate-list-activity")

    Select(browser.find_element(By.ID, "activity")).select_by_visible_text("No reply yet")
    WebDriverWait(browser, 10).until(ec.url_contains("activity=no_reply"))
    WebDriverWait(browser, 10).until(text_appears((By.ID, "results"), "1 candidate"))
    names = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#results td > a")]
    assert names == [waiting.full_name]
    assert "sort=activity_newest" in browser.current_url  # the order is kept

    browser.get(f"{live_server.url}/candidates/{replied.pk}/emails/")
    WebDriverWait(browser, 10).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".thread")))
    browser.get(f"{live_server.url}/candidates/?sort=activity_newest")
    cell = _row(browser, replied).find_element(By.CSS_SELECTOR, ".last-email")
    assert "Received" in cell.text and "New reply" not in cell.text
