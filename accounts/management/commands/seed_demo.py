from django.core.management.base import BaseCommand

from accounts.demo import DEMO_PASSWORD, seed_demo


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
