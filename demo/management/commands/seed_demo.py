from django.apps import apps
from django.core.management.base import BaseCommand

from candidates.models import CandidateEmail
from demo.seeding import DEMO_PASSWORD, seed_demo


class Command(BaseCommand):
    help = "Create the demo organisations (Google and Microsoft), their users and candidates."

    def handle(self, *args, **options):
        results = seed_demo()
        for result in results:
            organisation = result["organisation"]
            self.stdout.write(
                f"Demo organisation: {organisation.name} on "
                f"{organisation.get_email_provider_display()} ({result['candidates']} candidates)"
            )
            for user in result["users"]:
                self.stdout.write(f"  {user.email:<26} {user.get_role_display()}")
        self.stdout.write(f"password: {DEMO_PASSWORD}")
        if apps.is_installed("sandbox"):
            self._seed_sandbox(results)

    def _seed_sandbox(self, results: list[dict]) -> None:
        from demo.sync_health import REVOKED, THROTTLED, seed_troubled_mailboxes
        from sandbox.demo import seed_calendars, seed_contacts, seed_mailboxes

        created = events = people = 0
        for result in results:
            organisation = result["organisation"]
            created += seed_mailboxes(
                provider=organisation.email_provider,
                users=[(user.email, user.get_full_name()) for user in result["users"]],
                candidates=list(
                    CandidateEmail.objects.filter(organisation=organisation).values_list(
                        "address", "candidate__full_name"
                    )
                ),
            )
            # Busy calendars and address books for the organisation's users, so scheduling
            # an interview and suggesting contacts have something real to work with.
            addresses = [user.email for user in result["users"]]
            events += seed_calendars(users=addresses, time_zone=result["time_zone"])
            people += seed_contacts(users=addresses)
        self.stdout.write(
            f"Sandbox calendars: {events} events added; sandbox contacts: {people} added "
            "(see a user's calendar and answer invitations as a candidate at /sandbox/)."
        )
        self.stdout.write(
            f"Sandbox mailboxes: {created} created; read and answer candidate mail at "
            "/sandbox/ (the demo's stand-in for Gmail and Outlook)."
        )
        if seed_troubled_mailboxes():
            self.stdout.write(
                f"Sync health: {THROTTLED}'s mailbox is throttled by the sandbox and "
                f"{REVOKED}'s access was revoked there; see Settings › Sync health as "
                "an Admin after the first sync round."
            )
