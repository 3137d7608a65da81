"""Automatic ingestion's pages in a real browser: the Super Admin turns the company switch
on, then watches their own job's progress on My account update by itself (htmx polling)
until it has finished. The job is a row moved along here: the engine is tested elsewhere."""

from datetime import UTC, datetime

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from accounts.models import User
from demo.seeding import seed_demo
from mailsync.models import IngestionJob
from tests.browser.conftest import sign_in, text_appears
from tests.factories import MailboxConnectionFactory


def test_super_admin_turns_ingestion_on_and_watches_their_job(
    browser, live_server, transactional_db, screenshot
):
    seed_demo()
    wait = WebDriverWait(browser, 15)
    sign_in(browser, live_server.url, "superadmin@demo.test")

    browser.get(f"{live_server.url}/settings/company/")
    browser.find_element(By.NAME, "auto_ingestion_enabled").click()
    browser.find_element(By.CSS_SELECTOR, "#auto-ingestion button.primary").click()
    wait.until(text_appears((By.TAG_NAME, "main"), "Automatic ingestion is on"))
    assert browser.find_element(By.NAME, "auto_ingestion_enabled").is_selected()
    browser.execute_script("document.getElementById('auto-ingestion').scrollIntoView()")
    screenshot(browser, "company-settings-ingestion")
    owner = User.objects.get(email="superadmin@demo.test")
    assert owner.organisation.auto_ingestion_enabled

    job = IngestionJob.objects.create(
        mailbox=MailboxConnectionFactory(user=owner),
        state=IngestionJob.State.RUNNING,
        since=datetime(2025, 11, 28, tzinfo=UTC),
        active_since=datetime(2026, 5, 28, tzinfo=UTC),
        started_at=datetime.now(UTC),
        found=40,
        ingested=9,
        messages_ingested=31,
        skipped_group=4,
        skipped_not_candidate=7,
    )
    browser.get(f"{live_server.url}/settings/account/")
    wait.until(text_appears((By.ID, "ingestion-panel"), "Running"))
    browser.find_element(By.CSS_SELECTOR, "#why-not-synced summary").click()
    wait.until(text_appears((By.ID, "why-not-synced"), "messages from 28 Nov 2025 on"))
    browser.execute_script("document.getElementById('auto-ingestion').scrollIntoView()")
    screenshot(browser, "my-account-ingestion-progress")

    # The worker finishes: the panel shows it without a reload, and stops polling.
    IngestionJob.objects.filter(pk=job.pk).update(
        state=IngestionJob.State.DONE, ingested=20, finished_at=datetime.now(UTC)
    )
    wait.until(text_appears((By.ID, "ingestion-panel"), "Finished"))
    panel = browser.find_element(By.ID, "ingestion-panel")
    assert panel.get_attribute("hx-trigger") is None
    assert "20" in panel.find_element(By.CSS_SELECTOR, "[data-count=ingested]").text
