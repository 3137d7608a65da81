"""The demo organisation `make run` shows: one user per role, postings and candidates."""

import random
import unicodedata

from django.db import transaction
from faker import Faker

from accounts.models import Organisation, Role, User
from candidates.models import Application, Candidate, CandidateEmail, Posting

DEMO_PASSWORD = "threadline-demo"  # noqa: S105 (a published demo login, not a secret)
DEMO_USERS = [
    ("superadmin@demo.test", "Sasha Okafor", Role.SUPER_ADMIN),
    ("admin@demo.test", "Ari Lindqvist", Role.ADMIN),
    ("recruiter@demo.test", "Riley Chen", Role.TEAM_MEMBER),
    ("limited@demo.test", "Lee Moreau", Role.LIMITED_TEAM_MEMBER),
]
DEMO_POSTINGS = [
    ("Senior Backend Engineer", "Engineering", "Berlin"),
    ("Product Designer", "Design", "Remote (EU)"),
    ("Data Scientist", "Data", "London"),
    ("Account Executive", "Sales", "New York"),
    ("Recruiting Coordinator", "People", "Lisbon"),
]
# Who is on each posting's hiring team (by email); the limited user is on one posting only.
HIRING_TEAMS = {
    "Senior Backend Engineer": ["recruiter@demo.test", "admin@demo.test"],
    "Product Designer": ["recruiter@demo.test", "limited@demo.test"],
    "Data Scientist": ["recruiter@demo.test"],
    "Account Executive": ["admin@demo.test"],
    "Recruiting Coordinator": ["superadmin@demo.test"],
}
CANDIDATE_COUNT = 50
CANDIDATE_DOMAINS = ["example.com", "example.org", "example.net"]


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum() or ch == " ").replace(" ", ".")


@transaction.atomic
def seed_demo() -> dict:
    """Create or refresh the demo data; running it again changes nothing."""
    organisation, _ = Organisation.objects.get_or_create(
        slug="demo", defaults={"name": "Acme Robotics"}
    )
    users = {}
    for email, name, role in DEMO_USERS:
        user, created = User.objects.get_or_create(
            email=email, defaults={"full_name": name, "organisation": organisation, "role": role}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        users[email] = user

    postings = []
    for title, team, location in DEMO_POSTINGS:
        posting, _ = Posting.objects.get_or_create(
            organisation=organisation, title=title, defaults={"team": team, "location": location}
        )
        posting.hiring_team.add(*(users[email] for email in HIRING_TEAMS[title]))
        postings.append(posting)

    fake = Faker(["en_US", "en_GB", "de_DE", "fr_FR", "es_ES"])
    fake.seed_instance(2026)
    rng = random.Random(2026)  # noqa: S311 (demo data, not security)
    seen: set[str] = set()
    for index in range(CANDIDATE_COUNT):
        name = fake.name()
        local = _ascii(name) or f"candidate{index}"
        address = f"{local}@{CANDIDATE_DOMAINS[index % len(CANDIDATE_DOMAINS)]}"
        while address in seen:
            address = address.replace("@", f"{index}@", 1)
        seen.add(address)
        headline = f"{fake.job()} at {fake.company()}"
        city = fake.city()
        chosen = rng.sample(postings, k=rng.choice([1, 1, 2]))
        existing = CandidateEmail.objects.filter(organisation=organisation, address=address).first()
        if existing is not None:
            continue
        candidate = Candidate.objects.create(
            organisation=organisation, full_name=name, headline=headline[:200], location=city
        )
        CandidateEmail.objects.create(
            organisation=organisation, candidate=candidate, address=address, is_primary=True
        )
        for posting in chosen:
            Application.objects.create(
                candidate=candidate, posting=posting, stage=rng.choice(Application.Stage.values)
            )
    return {
        "organisation": organisation,
        "users": list(users.values()),
        "candidates": Candidate.objects.filter(organisation=organisation).count(),
    }
