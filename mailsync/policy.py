"""May Threadline read or send from a mailbox now, and if not, why. Every door asks here:
the sync engine and its tasks, sending, import, and the pages that offer those actions.

(Who may see a thread is candidates/policy.py; roles are accounts/policy.py.)
"""

from dataclasses import dataclass

from django.db.models import QuerySet

from accounts.models import IntegrationPermission, Organisation, User
from accounts.policy import can_manage_company_settings, can_see_sync_health, is_operator
from mailsync.models import MailboxConnection
from mailsync.providers import get_provider

CONNECT_TO_SEND = "Connect your mailbox under Settings › My account to send email."
CONNECT_TO_READ = "Connect your mailbox under Settings › My account to import email."
REAUTHORIZE = "Your mailbox needs re-authorization under Settings › My account."
OWNER_DEACTIVATED = "Its owner's account is deactivated: Threadline neither reads nor sends."
LIMITED_SYNC_NO_READING = (
    "Your organisation's email access is Send only: Threadline has no permission to read "
    "mailboxes, so replies reach profiles through your mail admin's routing rule instead."
)
VIEW_ONLY_NO_SENDING = (
    "Your organisation's email access is View only: Threadline syncs and imports your mail "
    "with candidates but does not send. Write from your own mailbox: the message reaches "
    "the profile with the next sync."
)
EMAIL_OFF = "Your organisation has turned email off: Threadline neither reads nor sends."
RAISED_TO_READ = (
    "Your organisation now lets Threadline read your mail with candidates: re-authorize "
    "your mailbox under Settings › My account to sync replies."
)
RAISED_TO_SEND = (
    "Your organisation now lets Threadline send: re-authorize your mailbox under "
    "Settings › My account to send from Threadline."
)

# What each email access level lets Threadline do with a mailbox, least to most. A level
# change that takes away anything a connection may do deauthorizes it (LinkedIn's
# "lowering"); one that only adds asks users to re-authorize and keeps what they have.
READ, SEND = "read", "send"
LEVEL_ALLOWS: dict[str, frozenset[str]] = {
    Organisation.SyncLevel.OFF: frozenset(),
    Organisation.SyncLevel.VIEW: frozenset({READ}),
    Organisation.SyncLevel.LIMITED: frozenset({SEND}),
    Organisation.SyncLevel.FULL: frozenset({READ, SEND}),
}
# Levels at which connections are synced, imported from and ingested.
READING_LEVELS = tuple(level for level, allows in LEVEL_ALLOWS.items() if READ in allows)


def level_change_deauthorizes(old: str, new: str) -> bool:
    """Lowering: Send & view to anything else, View only or Send only to Off, and the
    sideways moves between View only and Send only (each takes away what the other had)."""
    return bool(LEVEL_ALLOWS[old] - LEVEL_ALLOWS[new])


def may_label(mailbox: MailboxConnection) -> bool:
    """Our label or category needs write access to the mailbox, which only Send & view's
    tokens hold: View only reads with read-only scopes and leaves the mailbox untouched."""
    return mailbox.sync_level == Organisation.SyncLevel.FULL


@dataclass(frozen=True)
class MailboxStatus:
    """What Threadline may do with a user's mailbox; each `why_not_*` is for that user."""

    may_send: bool
    may_read: bool
    why_not_send: str = ""
    why_not_read: str = ""


def mailbox_status(mailbox: MailboxConnection | None) -> MailboxStatus:
    """A connected mailbox may do what both the level its tokens were granted at and the
    organisation's current level allow: a lowered level deauthorizes at once, and a raised
    one keeps the old tokens' rights until the user re-authorizes."""
    if (
        mailbox is None
        or mailbox.state == MailboxConnection.State.DISCONNECTED
        # Email unticked while Calendar or Contacts keep the grant: no mail at all.
        or not mailbox.uses_email
    ):
        return MailboxStatus(False, False, CONNECT_TO_SEND, CONNECT_TO_READ)
    if not mailbox.user.is_active:
        # Someone who left: their mailbox is theirs, not the organisation's to keep reading.
        return MailboxStatus(False, False, OWNER_DEACTIVATED, OWNER_DEACTIVATED)
    if mailbox.state == MailboxConnection.State.NEEDS_REAUTHORIZATION:
        return MailboxStatus(False, False, REAUTHORIZE, REAUTHORIZE)
    company = mailbox.organisation.email_sync_level
    granted = LEVEL_ALLOWS[mailbox.sync_level]
    allowed = granted & LEVEL_ALLOWS[company]
    return MailboxStatus(
        may_send=SEND in allowed,
        may_read=READ in allowed,
        why_not_send=_why_not(SEND, company, granted),
        why_not_read=_why_not(READ, company, granted),
    )


def _why_not(right: str, company: str, granted: frozenset[str]) -> str:
    if right in LEVEL_ALLOWS[company] and right in granted:
        return ""
    if company == Organisation.SyncLevel.OFF:
        return EMAIL_OFF
    if right not in LEVEL_ALLOWS[company]:
        return LIMITED_SYNC_NO_READING if right == READ else VIEW_ONLY_NO_SENDING
    return RAISED_TO_READ if right == READ else RAISED_TO_SEND


def company_send_refusal(user: User) -> str | None:
    """Why the company's level keeps `user` from sending from Threadline at all, whatever
    their mailbox: no provider chosen or email Off (addressed by role), or View only. None
    at Send only and Send & view, where the user's mailbox decides (mailbox_status)."""
    organisation = user.organisation
    if not company_allows(organisation, IntegrationPermission.Kind.EMAIL):
        return company_off_reason(user, IntegrationPermission.Kind.EMAIL)
    assert organisation is not None  # company_allows: an organisation with a provider
    if SEND not in LEVEL_ALLOWS[organisation.email_sync_level]:
        return VIEW_ONLY_NO_SENDING
    return None


@dataclass(frozen=True)
class FeatureStatus:
    """May Threadline use a user's Calendar or Contacts now; `why_not` is for that user."""

    allowed: bool
    why_not: str = ""


FEATURE_PURPOSE = {
    IntegrationPermission.Kind.CALENDAR: "schedule interviews from your calendar",
    IntegrationPermission.Kind.CONTACTS: "get suggestions from your contacts",
}


def company_allows(organisation: Organisation | None, kind: str) -> bool:
    """The company's own settings (Settings > Company): a provider chosen, then Email's
    access level and the Calendar and Contacts switches."""
    if organisation is None or not organisation.email_provider:
        return False
    if kind == IntegrationPermission.Kind.EMAIL:
        return organisation.email_sync_level != Organisation.SyncLevel.OFF
    if kind == IntegrationPermission.Kind.CALENDAR:
        return organisation.calendar_enabled
    if kind == IntegrationPermission.Kind.CONTACTS:
        return organisation.contacts_enabled
    return True


def company_off_reason(user: User, kind: str) -> str:
    """Why the company's settings keep `user` from `kind`, addressed by role: the Super
    Admin is told what to change, everyone else who can."""
    label = IntegrationPermission.Kind(kind).label
    where = "under Settings › Company"
    if user.organisation is None or not user.organisation.email_provider:
        if can_manage_company_settings(user):
            return f"Choose your company's email provider {where} first: users authorize with it."
        return (
            "Your company has not chosen its email provider yet; your Super Admin chooses "
            f"it {where}, and then you can authorize."
        )
    if can_manage_company_settings(user):
        return f"Your company has {label} turned off: turn it on {where}."
    return f"Your company has turned {label} off {where}. Ask your Super Admin to turn it on."


def feature_status(user: User, kind: str, connection: MailboxConnection | None) -> FeatureStatus:
    """Calendar and Contacts are independent of Email (they work under limited sync and
    with Email off): each needs the company's switch on, the user's box ticked, a
    connection that holds the feature's scopes, and an active owner. `connection` is the
    user's (`selectors.mailbox_for`), passed in so that a page asks once."""
    kind = IntegrationPermission.Kind(kind)
    label = kind.label
    if not company_allows(user.organisation, kind):
        return FeatureStatus(False, company_off_reason(user, kind))
    uses = {
        IntegrationPermission.Kind.CALENDAR: connection.uses_calendar if connection else False,
        IntegrationPermission.Kind.CONTACTS: connection.uses_contacts if connection else False,
    }[kind]
    if connection is None or connection.state == MailboxConnection.State.DISCONNECTED or not uses:
        return FeatureStatus(
            False, f"Tick {label} under Settings › My account to {FEATURE_PURPOSE[kind]}."
        )
    if not connection.user.is_active:
        return FeatureStatus(False, OWNER_DEACTIVATED)
    if connection.state == MailboxConnection.State.NEEDS_REAUTHORIZATION:
        return FeatureStatus(False, REAUTHORIZE)
    wanted = get_provider(connection.provider).scopes_for_feature(kind)
    if not set(wanted) <= set(connection.granted_scopes):
        return FeatureStatus(
            False, f"{label} permission was not granted: tick {label} again under My account."
        )
    return FeatureStatus(True)


def can_purge_mailbox_data(user: User) -> bool:
    """Suspending an organisation (its mailbox data purged, Django admin's action on
    organisations) is for the installation's operators, never an organisation's members:
    it is the vendor's answer to a suspended contract, and it cannot be undone."""
    return is_operator(user)


def ingestion_allowed(mailbox: MailboxConnection | None) -> bool:
    """May automatic ingestion read this mailbox: the organisation's switch is on, its
    level reads mail (View only, Send & view) and the mailbox may be read now."""
    if mailbox is None:
        return False
    organisation = mailbox.organisation
    return (
        organisation.auto_ingestion_enabled
        and organisation.email_sync_level in READING_LEVELS
        and mailbox_status(mailbox).may_read
    )


def visible_health_mailboxes(user: User) -> QuerySet[MailboxConnection]:
    """The mailboxes whose sync health `user` watches and acts on (Sync now, Reset
    cursor): every mailbox of their own organisation, for Admins and Super Admins."""
    if not can_see_sync_health(user) or user.organisation_id is None:
        return MailboxConnection.objects.none()
    return MailboxConnection.objects.filter(organisation_id=user.organisation_id)
