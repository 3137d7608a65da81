"""Changing the company's email provider (issue 12, item 2): the Super Admin first sees
how many users it deauthorizes; once confirmed, every connection of the old provider loses
its tokens (revoked at Google), its user is told on their next page, and synced mail
stays. The copy addresses the reader by role."""

from django.urls import reverse

from accounts.models import Organisation
from mailsync.models import MailboxConnection

OTHER = {"google": "microsoft", "microsoft": "google"}


def _change(client, organisation, provider, *, confirm: bool):
    data = {
        "form": "general",
        "name": organisation.name,
        "email_provider": provider,
        "microsoft_authorization_mode": organisation.microsoft_authorization_mode,
    }
    if confirm:
        data["confirm_provider_change"] = "on"
    return client.post(reverse("inbound:company_settings"), data, follow=True)


def test_a_provider_change_asks_first_then_deauthorizes_the_old_providers_users(world, client_for):
    world.connect()
    organisation = world.team.organisation
    super_admin = client_for(world.team.super_admin)
    new = OTHER[world.kit.name]

    asked = _change(super_admin, organisation, new, confirm=False).content.decode()
    assert "deauthorizes 1 user:" in asked and "Tick to confirm." in asked
    organisation.refresh_from_db()
    assert organisation.email_provider == world.kit.name  # nothing changed yet
    mailbox = MailboxConnection.objects.get(user=world.recruiter)
    assert mailbox.state == MailboxConnection.State.CONNECTED

    done = _change(super_admin, organisation, new, confirm=True).content.decode()
    assert "1 user must authorize with the new provider." in done
    organisation.refresh_from_db()
    assert organisation.email_provider == new
    mailbox.refresh_from_db()
    assert mailbox.state == MailboxConnection.State.NEEDS_REAUTHORIZATION
    assert mailbox.credentials == "{}"
    if world.kit.name == "google":
        assert world.log(operation="oauth2.revoke", status=200).count() == 1

    # The user is told on their next page, and may authorize with the new provider.
    page = world.client.get(reverse("candidates:list")).content.decode()
    banner = page[page.index('id="reauth-banner"') :][:600]
    assert "Your company changed its email provider" in banner
    account = world.client.get(reverse("mailsync:my_account")).content.decode()
    label = Organisation.EmailProvider(new).label
    assert f"Your company changed its email provider to {label}" in account


def test_a_change_that_deauthorizes_no_one_needs_no_confirmation(team, client_for):
    organisation = team.organisation
    done = _change(client_for(team.super_admin), organisation, "microsoft", confirm=False)
    assert "Company settings were saved." in done.content.decode()
    organisation.refresh_from_db()
    assert organisation.email_provider == "microsoft"


def test_on_premise_exchange_copy_addresses_the_reader_by_role(team, client_for):
    organisation = team.organisation
    organisation.email_provider = Organisation.EmailProvider.EXCHANGE_ON_PREMISE
    organisation.save()
    for user, expected, never in [
        (
            team.team_member,
            "Ask your Super Admin about the email provider setting.",
            "Choose Google Workspace",
        ),
        (
            team.super_admin,
            "Choose Google Workspace or Microsoft 365 under Settings › Company",
            "Ask your Super Admin",
        ),
    ]:
        page = client_for(user).post(
            reverse("mailsync:my_account"),
            {"full_name": user.full_name, "email": "on"},
            follow=True,
        )
        text = page.content.decode()
        assert expected in text and never not in text
