"""Limited sync in a real browser, as the demo shows it: the Super Admin switches the
organisation to limited sync and applies the routing rule (the sandbox plays the mail
admin); the recruiter connects with send-only access, emails a candidate, and the
candidate's reply arrives through the routing rule and Mailgun's webhook, with no sync."""

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from accounts.models import Organisation
from demo.seeding import seed_demo
from mailsync.models import MailboxConnection
from tests.browser.conftest import demo_with_mailboxes, point_google_at_sandbox, sign_in


def test_a_routed_reply_reaches_the_profile_under_limited_sync(
    browser, live_server, transactional_db, settings, screenshot
):
    point_google_at_sandbox(settings, live_server.url)
    settings.SANDBOX_MAILGUN_WEBHOOK_URL = f"{live_server.url}/anymail/mailgun/inbound_mime/"
    candidate, address = demo_with_mailboxes()
    wait = WebDriverWait(browser, 15)

    # The Super Admin switches to limited sync and has the routing rule applied.
    sign_in(browser, live_server.url, "superadmin@demo.test")
    browser.get(f"{live_server.url}/settings/company/")
    browser.find_element(By.CSS_SELECTOR, "input[name=level][value=limited]").click()
    browser.find_element(By.CSS_SELECTOR, "#email-sync button.primary").click()
    refusal = wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "#email-sync .has-error .error"))
    )
    assert "Tick this once your mail admin has set up the routing rule" in refusal.text
    browser.find_element(By.CSS_SELECTOR, "input[name=level][value=limited]").click()
    browser.find_element(By.NAME, "routing_confirmed").click()
    browser.execute_script("document.getElementById('email-sync').scrollIntoView()")
    screenshot(browser, "company-settings-limited-sync")
    browser.find_element(By.CSS_SELECTOR, "#email-sync button.primary").click()
    wait.until(ec.presence_of_element_located((By.ID, "inbound-summary")))
    assert "Email access is Send only" in browser.page_source
    assert "Change history" in browser.page_source
    browser.execute_script("document.getElementById('audit-log').scrollIntoView(false)")
    screenshot(browser, "company-settings-limited-sync-on")
    browser.find_element(By.LINK_TEXT, "Routing instructions for your mail admin").click()
    wait.until(ec.url_contains("/settings/company/routing/"))
    organisation = Organisation.objects.get(members__email="superadmin@demo.test")
    assert organisation.inbound_address in browser.page_source
    screenshot(browser, "routing-instructions-google")
    browser.find_element(By.LINK_TEXT, "Apply this rule in the sandbox").click()
    deliver_to = browser.find_element(By.NAME, "deliver_to").get_attribute("value")
    assert deliver_to == organisation.inbound_address
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait.until(ec.url_to_be(f"{live_server.url}/sandbox/"))

    # The recruiter connects with send-only access and writes to the candidate.
    sign_in(browser, live_server.url, "recruiter@demo.test")
    browser.get(f"{live_server.url}/settings/account/")
    browser.find_element(By.NAME, "email").click()
    browser.find_element(By.CSS_SELECTOR, "form button.primary").click()
    wait.until(ec.url_contains("/sandbox/google/o/oauth2/auth"))
    assert "Send email on your behalf" in browser.page_source
    assert "Read, compose, and send emails" not in browser.page_source
    screenshot(browser, "sandbox-consent-send-only")
    browser.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
    wait.until(ec.url_contains("/settings/account/"))
    connection = MailboxConnection.objects.get(user__email="recruiter@demo.test")
    assert connection.sync_level == "limited"

    browser.get(f"{live_server.url}/candidates/{candidate.pk}/emails/")
    import_button = browser.find_element(By.CSS_SELECTOR, "#email-import button")
    assert import_button.get_attribute("disabled") is not None
    browser.find_element(By.ID, "id_subject").send_keys("Data Scientist at Acme Robotics")
    browser.find_element(By.ID, "id_body_text").send_keys("Hi! Are you free for a call?")
    browser.find_element(By.CSS_SELECTOR, ".email-form button.primary").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".messages .message")))

    # The candidate answers in their own mailbox; the copy is routed to Threadline.
    browser.get(f"{live_server.url}/sandbox/mailboxes/{address}/")
    browser.find_element(By.LINK_TEXT, "Data Scientist at Acme Robotics").click()
    browser.find_element(By.NAME, "body").send_keys("Thursday at ten works for me.")
    message_page = browser.current_url
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait.until(ec.url_changes(message_page))  # the reply is sent: its own page

    sign_in(browser, live_server.url, "recruiter@demo.test")
    browser.get(f"{live_server.url}/candidates/{candidate.pk}/emails/")
    assert "Thursday at ten works for me." in browser.page_source
    assert "Import is unavailable" in browser.page_source
    screenshot(browser, "candidate-emails-limited-sync")


def test_a_microsoft_organisation_reads_its_exchange_rules(
    browser, live_server, transactional_db, screenshot
):
    seed_demo()
    sign_in(browser, live_server.url, "superadmin@contoso.test")

    browser.get(f"{live_server.url}/settings/company/routing/")

    powershell = browser.find_element(By.ID, "powershell").text
    organisation = Organisation.objects.get(members__email="superadmin@contoso.test")
    assert powershell.count("New-TransportRule") == 2
    assert f'-BlindCopyTo "{organisation.inbound_address}"' in powershell
    assert "Content compliance" not in browser.page_source
    browser.execute_script("document.getElementById('exchange-rule').scrollIntoView()")
    screenshot(browser, "routing-instructions-exchange")
