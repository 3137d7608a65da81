from django.apps import apps
from django.core.management.base import BaseCommand

from accounts.demo import DEMO_PASSWORD, seed_demo
from candidates.models import CandidateEmail


class Command(BaseCommand):
    help = "Create the demo organisation, one user per role, postings and 50 candidates."

    def handle(self, *args, **options):
        result = seed_demo()
        self.stdout.write(
            f"Demo organisation: {result['organisation'].name} ({result['candidates']} candidates)"
        )
        self.stdout.write("Logins:")
        for user in result["users"]:
            self.stdout.write(f"  {user.email:<24} {user.get_role_display()}")
        self.stdout.write(f"password: {DEMO_PASSWORD}")
        if apps.is_installed("sandbox"):
            self._seed_sandbox(result)

    def _seed_sandbox(self, result) -> None:
        from sandbox.demo import seed_mailboxes

        created = seed_mailboxes(
            users=[(user.email, user.get_full_name()) for user in result["users"]],
            candidates=list(
                CandidateEmail.objects.filter(organisation=result["organisation"]).values_list(
                    "address", "candidate__full_name"
                )
            ),
        )
        self.stdout.write(
            f"Sandbox mailboxes: {created} created; read and answer candidate mail at "
            "/sandbox/ (the demo's stand-in for Gmail)."
        )
