"""Settings > Sync health in a real browser: an Admin of the demo organisation sees each
mailbox's real state (healthy, throttled until, needs re-authorization, failing since,
flagged as stale), filters to the throttled ones, and asks for a sync now."""

from datetime import timedelta

from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from accounts.models import User
from demo.seeding import seed_demo
from mailsync.models import MailboxConnection
from tests.browser.conftest import sign_in, text_appears
from tests.factories import MailboxConnectionFactory


def test_admin_reads_each_mailboxs_state_and_filters_the_throttled(
    browser, live_server, transactional_db, screenshot
):
    seed_demo()
    now = timezone.now()
    people = {user.email: user for user in User.objects.filter(email__endswith="@demo.test")}
    MailboxConnectionFactory.create(
        user=people["recruiter@demo.test"], last_synced_at=now, messages_synced=412
    )
    MailboxConnectionFactory.create(
        user=people["limited@demo.test"],
        last_synced_at=now - timedelta(minutes=3),
        messages_synced=57,
        throttled_until=now + timedelta(minutes=8),
        last_error="The provider asked Threadline to slow down; sync resumes when it allows.",
        last_error_at=now - timedelta(minutes=1),
    )
    MailboxConnectionFactory.create(
        user=people["superadmin@demo.test"],
        state=MailboxConnection.State.NEEDS_REAUTHORIZATION,
        last_synced_at=now - timedelta(days=2),
        messages_synced=1203,
        last_error="Access was revoked or has expired: please re-authorize.",
        last_error_at=now - timedelta(days=2),
    )
    MailboxConnectionFactory.create(
        user=people["admin@demo.test"],
        last_synced_at=now - timedelta(hours=5),
        failing_since=now - timedelta(hours=5),
        messages_synced=88,
        last_error="The provider is busy; will try again next round.",
        last_error_at=now - timedelta(minutes=2),
    )
    wait = WebDriverWait(browser, 15)

    sign_in(browser, live_server.url, "admin@demo.test")
    browser.find_element(By.LINK_TEXT, "Sync health").click()
    wait.until(text_appears((By.ID, "health-counts"), "Throttled: 1"))
    table = browser.find_element(By.ID, "sync-health").text
    assert "Needs re-authorization" in table
    assert "Throttled until" in table
    assert "Failing since" in table
    assert "Healthy" in table
    # Worst first: the mailbox only its owner can mend leads.
    first = browser.find_element(By.CSS_SELECTOR, "#sync-health tbody tr")
    assert "Sasha Okafor" in first.text
    assert "flagged" in (
        browser.find_element(By.CSS_SELECTOR, "tr.row-failing").get_attribute("class")
    )
    screenshot(browser, "sync-health")

    Select(browser.find_element(By.NAME, "state")).select_by_value("throttled")
    browser.find_element(By.CSS_SELECTOR, "#health-filters button").click()
    wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#sync-health tbody tr")) == 1)
    assert "Lee Moreau" in browser.find_element(By.ID, "sync-health").text
