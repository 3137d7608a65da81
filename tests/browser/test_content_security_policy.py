"""Under the Content-Security-Policy, the pages still work in a real browser and the
browser reports no violation: sign in, connect a mailbox (a form post redirected to the
provider on another origin), the Emails tab by link and by htmx, compose and send, load a
message's remote images, Django admin."""

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from sandbox import services as sandbox
from tests.browser.conftest import point_google_at_sandbox, sign_in
from tests.factories import PASSWORD, EmailMessageFactory, EmailThreadFactory

REMOTE_IMAGE = "https://images.invalid/banner.png"


def _violations(browser) -> list[str]:
    """Console messages since the last call that report a refused load or script."""
    return [
        entry["message"]
        for entry in browser.get_log("browser")
        if "Content Security Policy" in entry["message"]
    ]


def test_pages_work_without_a_policy_violation(browser, live_server, team, settings):
    base = live_server.url
    # The consent screen on another origin than ours, as Google's is: the form post's
    # redirect there is held to form-action.
    point_google_at_sandbox(settings, base.replace("localhost", "127.0.0.1"))
    recruiter, candidate = team.team_member, team.candidate_on_my_posting
    sandbox.mailbox_create(address=recruiter.email, display_name=recruiter.full_name)
    sandbox.mailbox_create(address=candidate.emails.get().address)
    with_images = EmailMessageFactory(
        thread=EmailThreadFactory(candidate=candidate, owner=recruiter, subject="Our office"),
        body_html=f'<p style="color: #333">See you here</p><img src="{REMOTE_IMAGE}">',
    )
    wait = WebDriverWait(browser, 15)
    browser.get_log("browser")  # whatever earlier tests left

    sign_in(browser, base, recruiter.email, PASSWORD)
    browser.get(f"{base}/settings/account/")
    browser.find_element(By.NAME, "email").click()
    browser.find_element(By.CSS_SELECTOR, "form button.primary").click()
    wait.until(ec.url_contains("127.0.0.1"))
    browser.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
    wait.until(ec.url_contains("/settings/account/"))
    assert f"{recruiter.email} is connected" in browser.page_source
    _violations(browser)  # the sandbox's own pages are not ours

    # The Emails tab by htmx from the profile, then compose and send.
    browser.get(f"{base}/candidates/{candidate.pk}/")
    browser.find_element(By.LINK_TEXT, "Emails").click()
    wait.until(ec.url_contains("/emails/"))
    section = browser.find_element(By.ID, f"message-{with_images.pk}")
    image = section.find_element(By.TAG_NAME, "img")
    assert image.get_attribute("src") in ("", None)
    assert image.get_attribute("data-remote-src") == REMOTE_IMAGE
    browser.find_element(By.CSS_SELECTOR, "details.compose summary").click()
    browser.find_element(By.ID, "id_subject").send_keys("Data Scientist at Acme")
    browser.find_element(By.ID, "id_body_text").send_keys("Are you free for a call?")
    browser.find_element(By.CSS_SELECTOR, ".email-form button.primary").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".messages .message")))
    assert "Are you free for a call?" in browser.page_source
    assert _violations(browser) == []

    # Loading the remote images: their page admits them, and only that message's.
    browser.find_element(By.CSS_SELECTOR, f"#message-{with_images.pk} .load-images").click()
    wait.until(ec.url_contains(f"/images/{with_images.pk}/"))
    image = browser.find_element(By.CSS_SELECTOR, f"#message-{with_images.pk} img")
    wait.until(lambda _: image.get_attribute("src") == REMOTE_IMAGE)
    assert _violations(browser) == []

    # The detector itself: a web image on an ordinary page is refused, and reported.
    browser.get(f"{base}/candidates/{candidate.pk}/emails/")
    browser.execute_script(
        "const img = document.createElement('img');"
        f"img.src = '{REMOTE_IMAGE}'; document.body.appendChild(img);"
    )
    wait.until(lambda _: any("img-src" in message for message in _violations(browser)))

    # Django admin under the same policy.
    sign_in(browser, base, team.admin.email, PASSWORD)
    browser.get(f"{base}/admin/")
    assert browser.find_element(By.ID, "site-name").is_displayed()
    browser.get(f"{base}/admin/accounts/organisation/{team.organisation.pk}/change/")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#content-main form")))
    browser.get(f"{base}/admin/candidates/candidate/")
    wait.until(ec.presence_of_element_located((By.ID, "changelist")))
    assert _violations(browser) == []
