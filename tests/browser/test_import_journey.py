"""Import candidate email in a real browser, run by a real Celery worker: the recruiter
clicks the button on the Emails tab, watches the progress bar fill as the worker pages
through their mailbox, and reads the summary; the imported threads are on the profile."""

import email.policy
import email.utils
import subprocess
import sys
import uuid
from email.message import EmailMessage as Mime
from pathlib import Path

from django.conf import settings as django_settings
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from candidates.models import EmailMessage
from config.celery import app
from mailsync.models import ImportJob
from sandbox import services as sandbox
from sandbox.models import Mailbox
from tests.browser.conftest import demo_with_mailboxes, point_google_at_sandbox, sign_in
from tests.mailsync.helpers import child_environment

MESSAGES = 120


def _candidate_wrote(recruiter_box: Mailbox, name: str, address: str, count: int) -> None:
    for index in range(count):
        message = Mime(policy=email.policy.SMTP)
        message["From"] = email.utils.formataddr((name, address))
        message["To"] = recruiter_box.address
        message["Subject"] = f"About the role, part {index}"
        message["Message-ID"] = email.utils.make_msgid(domain="candidate.test")
        message["Date"] = email.utils.formatdate(1_700_000_000 + index * 3600)
        message.set_content(f"Part {index} of our conversation.")
        sandbox.message_insert(mailbox=recruiter_box, raw=message.as_bytes(), labels=["INBOX"])


def test_recruiter_imports_candidate_email_and_watches_the_bar_reach_the_end(
    browser, live_server, transactional_db, settings, screenshot
):
    point_google_at_sandbox(settings, live_server.url)
    candidate, address = demo_with_mailboxes()
    recruiter_box = Mailbox.objects.get(address="recruiter@demo.test")
    _candidate_wrote(recruiter_box, candidate.full_name, address, MESSAGES)
    wait = WebDriverWait(browser, 30)
    sign_in(browser, live_server.url, "recruiter@demo.test")
    browser.get(f"{live_server.url}/settings/account/")
    browser.find_element(By.NAME, "email").click()
    browser.find_element(By.CSS_SELECTOR, "form button.primary").click()
    browser.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
    wait.until(lambda driver: "/settings/account/" in driver.current_url)

    queue = f"threadline-test-{uuid.uuid4().hex[:8]}"
    worker = subprocess.Popen(  # noqa: S603 (our own Celery app)
        [
            str(Path(sys.executable).parent / "celery"),
            # No -Q: the worker takes every queue of its default one (config/celery.py).
            *("-A", "config", "worker", "--pool", "solo", "-l", "WARNING"),
        ],
        cwd=django_settings.BASE_DIR,
        # Small batches: many progress saves for the bar to show.
        env=child_environment(CELERY_TASK_DEFAULT_QUEUE=queue, MAILSYNC_BATCH_SIZE="10"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    previous_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    progress_seen: list[int] = []
    try:
        browser.get(f"{live_server.url}/candidates/{candidate.pk}/emails/")
        browser.find_element(By.CSS_SELECTOR, "#email-import button[type=submit]").click()
        panel = browser.find_element(By.ID, "import-panel")
        assert "Cancel import" in panel.text

        def partway_or_done(driver) -> bool:
            text = driver.find_element(By.ID, "import-panel").text
            bar = driver.find_elements(By.CSS_SELECTOR, "#import-panel progress")
            if bar and "Import finished" not in text:
                value = int(bar[0].get_attribute("value") or 0)
                if 0 < value < MESSAGES and not progress_seen:
                    progress_seen.append(value)
                    screenshot(driver, "import-progress")
            return "Import finished" in text

        # The panel is swapped every second: an element read mid-swap is looked up again.
        WebDriverWait(
            browser,
            180,
            poll_frequency=0.2,
            ignored_exceptions=[StaleElementReferenceException],
        ).until(partway_or_done)
    finally:
        if not progress_seen and "Import finished" not in browser.page_source:
            browser.get("about:blank")  # a panel left polling would outlive the database
        app.conf.task_default_queue = previous_queue
        worker.terminate()
        worker.wait(timeout=30)

    panel = browser.find_element(By.ID, "import-panel")
    bar = panel.find_element(By.CSS_SELECTOR, "progress")
    assert bar.get_attribute("value") == bar.get_attribute("max") == str(MESSAGES)
    assert f"{MESSAGES} new messages in {MESSAGES} threads" in panel.text
    assert "Cancel import" not in panel.text
    if not progress_seen:
        screenshot(browser, "import-progress")
    job = ImportJob.objects.get(candidate=candidate)
    assert (job.state, job.imported) == ("finished", MESSAGES)
    assert EmailMessage.objects.filter(thread__candidate=candidate).count() == MESSAGES

    browser.get(f"{live_server.url}/candidates/{candidate.pk}/emails/")  # a reload
    assert "Import finished" in browser.find_element(By.ID, "import-panel").text
    assert f"Started by {candidate.full_name}" in browser.page_source
    screenshot(browser, "import-summary")
    browser.get("about:blank")
