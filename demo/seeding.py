"""The demo organisations `make run` shows: Acme on Google Workspace with one user per
role, and Contoso on Microsoft 365; postings and candidates for both."""

import random
import unicodedata
from dataclasses import dataclass

from django.db import transaction

from accounts.models import Organisation, Role, User
from candidates.models import Application, Candidate, CandidateEmail, Posting

DEMO_PASSWORD = "threadline-demo"  # noqa: S105 (a published demo login, not a secret)
DEMO_USERS = [
    ("superadmin@demo.test", "Sasha Okafor", Role.SUPER_ADMIN),
    ("admin@demo.test", "Ari Lindqvist", Role.ADMIN),
    ("recruiter@demo.test", "Riley Chen", Role.TEAM_MEMBER),
    ("limited@demo.test", "Lee Moreau", Role.LIMITED_TEAM_MEMBER),
    # Their mailboxes show the Sync health page's hard cases (demo/sync_health.py).
    ("throttled@demo.test", "Tomás Ferreira", Role.TEAM_MEMBER),
    ("revoked@demo.test", "Rhea Kapoor", Role.TEAM_MEMBER),
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


@dataclass(frozen=True)
class DemoOrganisation:
    slug: str
    name: str
    provider: str
    users: list[tuple[str, str, Role]]
    postings: list[tuple[str, str, str]]
    hiring_teams: dict[str, list[str]]
    candidates: int
    seed: int
    # Where the organisation works: its sandbox users' demo meetings are in this zone.
    time_zone: str = "UTC"


DEMO_ORGANISATIONS = [
    DemoOrganisation(
        slug="demo",
        name="Acme Robotics",
        provider=Organisation.EmailProvider.GOOGLE,
        users=DEMO_USERS,
        postings=DEMO_POSTINGS,
        hiring_teams=HIRING_TEAMS,
        candidates=CANDIDATE_COUNT,
        seed=2026,
        time_zone="Europe/Berlin",
    ),
    # The same story on Microsoft 365, for the Outlook side of the sandbox.
    DemoOrganisation(
        slug="demo-microsoft",
        name="Contoso Pharma (Microsoft 365)",
        provider=Organisation.EmailProvider.MICROSOFT,
        users=[
            ("superadmin@contoso.test", "Morgan Adeyemi", Role.SUPER_ADMIN),
            ("recruiter@contoso.test", "Casey Novak", Role.TEAM_MEMBER),
        ],
        postings=[("Clinical Data Manager", "Research", "Basel")],
        hiring_teams={"Clinical Data Manager": ["recruiter@contoso.test"]},
        candidates=20,
        seed=365,
        time_zone="Europe/Zurich",
    ),
]


@transaction.atomic
def seed_demo() -> list[dict]:
    """Create or refresh the demo organisations; running it again changes nothing."""
    return [_seed(demo) for demo in DEMO_ORGANISATIONS]


def _seed(demo: DemoOrganisation) -> dict:
    organisation, _ = Organisation.objects.get_or_create(
        slug=demo.slug, defaults={"name": demo.name, "email_provider": demo.provider}
    )
    users = {}
    for email, name, role in demo.users:
        user, created = User.objects.get_or_create(
            email=email, defaults={"full_name": name, "organisation": organisation, "role": role}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        users[email] = user

    postings = []
    for title, team, location in demo.postings:
        posting, _ = Posting.objects.get_or_create(
            organisation=organisation, title=title, defaults={"team": team, "location": location}
        )
        posting.hiring_team.add(*(users[email] for email in demo.hiring_teams[title]))
        postings.append(posting)

    # Faker is a development requirement (`make run` installs it), not a runtime one: it is
    # imported only when the demo is seeded, so no production process ever needs it.
    from faker import Faker

    fake = Faker(["en_US", "en_GB", "de_DE", "fr_FR", "es_ES"])
    fake.seed_instance(demo.seed)
    rng = random.Random(demo.seed)  # noqa: S311 (demo data, not security)
    seen: set[str] = set()
    for index in range(demo.candidates):
        name = fake.name()
        local = _ascii(name) or f"candidate{index}"
        address = f"{local}@{CANDIDATE_DOMAINS[index % len(CANDIDATE_DOMAINS)]}"
        while address in seen or (
            CandidateEmail.objects.filter(address=address)
            .exclude(organisation=organisation)
            .exists()
        ):
            address = address.replace("@", f"{index}@", 1)
        seen.add(address)
        headline = f"{fake.job()} at {fake.company()}"
        city = fake.city()
        chosen = rng.sample(postings, k=min(len(postings), rng.choice([1, 1, 2])))
        if CandidateEmail.objects.filter(organisation=organisation, address=address).exists():
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
        "time_zone": demo.time_zone,
        "users": list(users.values()),
        "candidates": Candidate.objects.filter(organisation=organisation).count(),
    }
