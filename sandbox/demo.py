"""Sandbox mailboxes for the demo organisation, so `make run` needs no internet."""

from sandbox import services
from sandbox.fill import mailbox_fill
from sandbox.models import Mailbox, Provider

NOISE_PER_USER_MAILBOX = 300


def seed_mailboxes(
    *,
    users: list[tuple[str, str]],
    candidates: list[tuple[str, str]],
    provider: str = Provider.GOOGLE,
) -> int:
    """Create any missing mailbox: users' ones on the organisation's provider, filled with
    a few hundred unrelated messages (newsletters, colleagues, threads started outside
    Threadline). Returns how many were created; running it again creates none."""
    created = 0
    for index, (address, name) in enumerate(users):
        if Mailbox.objects.filter(address=address).exists():
            continue
        mailbox = services.mailbox_create(address=address, display_name=name, provider=provider)
        mailbox_fill(mailbox=mailbox, count=NOISE_PER_USER_MAILBOX, seed=index)
        created += 1
    for address, name in candidates:
        if not Mailbox.objects.filter(address=address).exists():
            services.mailbox_create(address=address, display_name=name)
            created += 1
    return created
