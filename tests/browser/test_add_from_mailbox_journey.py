"""Add a candidate from email in a real browser: a stranger wrote to the recruiter; the
recruiter finds the conversation in their (sandbox) Gmail from the candidate list,
creates the candidate from it, and lands on the new profile with the thread."""

import email.policy
import email.utils
from email.message import EmailMessage as Mime

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from candidates.models import Candidate, EmailThread
from sandbox import selectors as sandbox_selectors
from sandbox import services as sandbox
from tests.browser.conftest import demo_with_mailboxes, point_google_at_sandbox, sign_in


def _writes(box, to: str, subject: str, body: str) -> None:
    message = Mime(policy=email.policy.SMTP)
    message["From"] = email.utils.formataddr((box.display_name, box.address))
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = email.utils.make_msgid(domain=box.address.split("@")[1])
    message.set_content(body)
    sandbox.message_send(mailbox=box, raw=message.as_bytes())


def _stranger_writes(to: str) -> None:
    box = sandbox.mailbox_create(address="priya@newcomer.test", display_name="Priya Newcomer")
    _writes(
        box,
        to,
        "Interested in your Data Scientist opening",
        "Hello Riley, I would love to hear more about the role.",
    )


def _connect_gmail(browser, wait, base_url: str) -> None:
    browser.get(f"{base_url}/settings/account/")
    browser.find_element(By.NAME, "email").click()
    browser.find_element(By.CSS_SELECTOR, "form button.primary").click()
    wait.until(ec.url_contains("/sandbox/google/o/oauth2/auth"))
    browser.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
    wait.until(ec.url_contains("/settings/account/"))


def test_recruiter_adds_a_new_candidate_from_a_thread_in_their_mailbox(
    browser, live_server, transactional_db, settings, screenshot
):
    point_google_at_sandbox(settings, live_server.url)
    demo_with_mailboxes()
    wait = WebDriverWait(browser, 15)
    sign_in(browser, live_server.url, "recruiter@demo.test")
    _connect_gmail(browser, wait, live_server.url)
    _stranger_writes("recruiter@demo.test")

    browser.get(f"{live_server.url}/candidates/")
    browser.find_element(By.ID, "add-from-email").click()
    wait.until(ec.url_contains("/mailbox/threads/"))
    browser.find_element(By.NAME, "q").send_keys("priya")
    browser.find_element(By.CSS_SELECTOR, "#mailbox-search button[type=submit]").click()
    results = wait.until(ec.presence_of_element_located((By.ID, "mailbox-results")))
    assert "Interested in your Data Scientist opening" in results.text
    assert "Priya Newcomer" in results.text
    assert "love to hear more" not in browser.page_source  # headers only
    screenshot(browser, "add-from-mailbox")

    results.find_element(By.LINK_TEXT, "Attach…").click()
    wait.until(ec.presence_of_element_located((By.ID, "attach-new")))
    assert browser.find_element(By.NAME, "full_name").get_attribute("value") == "Priya Newcomer"
    assert browser.find_element(By.NAME, "email").get_attribute("value") == "priya@newcomer.test"
    screenshot(browser, "add-from-mailbox-attach")
    browser.find_element(By.CSS_SELECTOR, "#attach-new button[type=submit]").click()

    wait.until(ec.url_contains("/emails/"))
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".messages .message")))
    priya = Candidate.objects.get(full_name="Priya Newcomer")
    thread = EmailThread.objects.get(candidate=priya)
    assert f"/candidates/{priya.pk}/emails/" in browser.current_url
    article = browser.find_element(By.ID, f"thread-{thread.pk}")
    assert "I would love to hear more about the role." in article.text
    assert "Added the conversation (1 message)." in browser.page_source


def test_recruiter_attaches_a_thread_to_a_candidate_found_by_typeahead(
    browser, live_server, transactional_db, settings
):
    point_google_at_sandbox(settings, live_server.url)
    candidate, address = demo_with_mailboxes()
    wait = WebDriverWait(browser, 15)
    sign_in(browser, live_server.url, "recruiter@demo.test")
    _connect_gmail(browser, wait, live_server.url)
    box = sandbox_selectors.mailbox_by_address(address)
    _writes(box, "recruiter@demo.test", "My references", "Two referees attached below.")

    browser.get(f"{live_server.url}/candidates/{candidate.pk}/emails/")
    browser.find_element(By.ID, "add-from-mailbox").click()
    wait.until(ec.url_contains("/mailbox/threads/"))
    assert candidate.full_name in browser.find_element(By.TAG_NAME, "h1").text
    browser.find_element(By.NAME, "q").send_keys("references")
    browser.find_element(By.CSS_SELECTOR, "#mailbox-search button[type=submit]").click()
    results = wait.until(ec.presence_of_element_located((By.ID, "mailbox-results")))
    row = next(r for r in results.find_elements(By.TAG_NAME, "tr") if "My references" in r.text)
    row.find_element(By.LINK_TEXT, "Attach…").click()
    form = wait.until(ec.presence_of_element_located((By.ID, "attach-existing")))
    # The profile's candidate comes preselected; find them again by the typeahead instead.
    preselected = browser.find_element(By.CSS_SELECTOR, "#candidate-choices fieldset")
    browser.find_element(By.ID, "candidate-search").send_keys(candidate.full_name.split()[0])
    # The preselected list is replaced by the typeahead's answer: wait for that swap, or
    # the click lands on the list being removed.
    wait.until(ec.staleness_of(preselected))
    choice = wait.until(
        ec.element_to_be_clickable(
            (By.CSS_SELECTOR, f"#candidate-choices input[value='{candidate.pk}']")
        )
    )
    choice.click()
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    wait.until(ec.url_contains(f"/candidates/{candidate.pk}/emails/"))
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".messages .message")))
    thread = EmailThread.objects.get(candidate=candidate, origin=EmailThread.Origin.IMPORTED)
    assert "Two referees attached below." in browser.find_element(By.ID, f"thread-{thread.pk}").text
