"""Sandbox mailboxes for the demo organisation, so `make run` needs no internet."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sandbox import calendars, contacts, services
from sandbox.fill import mailbox_fill
from sandbox.models import CalendarEvent, Contact, Mailbox, Provider

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


# --- Busy calendars and address books ----------------------------------------------------
# A realistic working week for each demo user over the next two weeks, so that scheduling
# an interview in `make run` has someone's busy time to avoid and free time to find: a
# weekly team meeting for the whole organisation, one-to-ones and hiring syncs between
# colleagues (invitations each attendee holds a copy of), and the user's own blocks.
# Each seeded event carries a private property naming its slot, so a second run on the
# same day adds nothing and a run a week later adds only the days not yet seeded.

DEMO_PROPERTY = "sandboxDemoSlot"
DEMO_DAYS = 14


@dataclass(frozen=True)
class DemoMeeting:
    weekday: int  # Monday is 0
    start: time
    minutes: int
    title: str
    # Who organises it, by position in the organisation's user list (wrapped); who else
    # comes: "all" the other users, "next" the following one, "" nobody.
    organiser: int
    invite: str = ""
    online: bool = False


DEMO_WEEK = [
    DemoMeeting(0, time(9, 30), 30, "Weekly team meeting", 0, "all", online=True),
    DemoMeeting(0, time(14, 0), 60, "Pipeline review", 1, "next", online=True),
    DemoMeeting(1, time(10, 0), 30, "1:1", 1, "next", online=True),
    DemoMeeting(1, time(13, 0), 120, "Focus time", 0),
    DemoMeeting(1, time(13, 0), 120, "Focus time", 2),
    DemoMeeting(2, time(11, 0), 45, "Hiring committee", 0, "all", online=True),
    DemoMeeting(2, time(15, 30), 60, "Sourcing session", 2, "next"),
    DemoMeeting(3, time(9, 0), 90, "Interview debriefs", 1, "next", online=True),
    DemoMeeting(3, time(16, 0), 30, "1:1", 3, "next", online=True),
    DemoMeeting(4, time(10, 30), 60, "Offer approvals", 0, "next", online=True),
    DemoMeeting(4, time(12, 0), 60, "Team lunch", 0, "all"),
]


def seed_calendars(
    *, users: list[str], time_zone: str, today: date | None = None, days: int = DEMO_DAYS
) -> int:
    """Busy calendars for `users` (their sandbox mailboxes, which must exist), the working
    days of the next `days` days from `today` (default: today in `time_zone`). Returns how
    many events were created."""
    zone = ZoneInfo(time_zone)
    today = today or datetime.now(zone).date()
    mailboxes = [Mailbox.objects.get(address=address) for address in users]
    if not mailboxes:
        return 0
    seeded = _seeded_slots(mailboxes)
    created = 0
    for offset in range(days):
        day = today + timedelta(days=offset)
        for number, meeting in enumerate(DEMO_WEEK):
            if meeting.weekday != day.weekday():
                continue
            organiser = mailboxes[meeting.organiser % len(mailboxes)]
            slot = f"{day.isoformat()}/{number}"
            if slot in seeded.get(organiser.pk, set()):
                continue
            if meeting.invite == "all":
                others = [m.address for m in mailboxes if m.pk != organiser.pk]
            elif meeting.invite == "next" and len(mailboxes) > 1:
                others = [mailboxes[(meeting.organiser + 1) % len(mailboxes)].address]
            else:
                others = []
            if meeting.organiser >= len(mailboxes) and not others:
                continue  # a small organisation has fewer personal blocks, not doubled ones
            starts = datetime.combine(day, meeting.start, zone)
            calendars.event_make(
                mailbox=organiser,
                summary=meeting.title
                if not others or meeting.title != "1:1"
                else _one_to_one(organiser, others[0]),
                start=starts,
                end=starts + timedelta(minutes=meeting.minutes),
                time_zone=time_zone,
                attendees=others,
                online_meeting=meeting.online,
                private_properties={DEMO_PROPERTY: slot},
            )
            created += 1
    return created


def _one_to_one(organiser: Mailbox, other: str) -> str:
    first = (organiser.display_name or organiser.address).split()[0]
    second = Mailbox.objects.filter(address=other).values_list("display_name", flat=True).first()
    return f"{first} / {(second or other).split()[0]} 1:1"


def _seeded_slots(mailboxes: list[Mailbox]) -> dict[int, set[str]]:
    slots: dict[int, set[str]] = {}
    rows = CalendarEvent.objects.filter(mailbox__in=mailboxes).values_list(
        "mailbox_id", "private_properties"
    )
    for mailbox_id, properties in rows:
        if isinstance(properties, dict) and DEMO_PROPERTY in properties:
            slots.setdefault(mailbox_id, set()).add(str(properties[DEMO_PROPERTY]))
    return slots


# People a recruiter has in their address book: colleagues elsewhere, and people who look
# like candidates (a job title at a company) but are not yet in Threadline, so "Create
# candidate from contact" has someone to create. (name, address, job title, company, kind)
DEMO_CONTACTS = [
    ("Priya Raman", "priya.raman@lumen-analytics.test", "Senior Data Engineer", "Lumen Analytics"),
    ("Tomás Herrera", "tomas.herrera@northwind.test", "Staff Backend Engineer", "Northwind"),
    ("Mina Sato", "mina.sato@studio-kaze.test", "Product Designer", "Studio Kaze"),
    ("Jonas Becker", "jonas.becker@fabrikam.test", "Engineering Manager", "Fabrikam"),
    ("Aisha Bello", "aisha.bello@tailspin.test", "Clinical Data Scientist", "Tailspin Health"),
    ("Olivia Grant", "olivia.grant@adatum.test", "Account Executive", "Adatum"),
]
DEMO_OTHER_CONTACTS = [
    ("Luca Romano", "luca.romano@example.org", "", ""),
    ("Hannah Schmidt", "hannah.schmidt@wingtip.test", "Recruiting Coordinator", "Wingtip Toys"),
    ("", "talent@fourthcoffee.test", "", ""),
]
CONTACTS_PER_USER = 4


def seed_contacts(*, users: list[str]) -> int:
    """A few saved and "other" contacts for each of `users` (sandbox mailboxes): a rotating
    share of DEMO_CONTACTS, every DEMO_OTHER_CONTACTS entry, and their colleagues. Returns
    how many were added; someone already in an address book is not added again."""
    added = 0
    mailboxes = [Mailbox.objects.get(address=address) for address in users]
    for index, mailbox in enumerate(mailboxes):
        known = {
            address
            for emails in Contact.objects.filter(mailbox=mailbox).values_list("emails", flat=True)
            for address in emails
        }
        share = [DEMO_CONTACTS[(index + n) % len(DEMO_CONTACTS)] for n in range(CONTACTS_PER_USER)]
        people = [(*person, Contact.Kind.CONTACT) for person in share]
        people += [(*person, Contact.Kind.OTHER) for person in DEMO_OTHER_CONTACTS]
        people += [
            (colleague.display_name, colleague.address, "", "", Contact.Kind.CONTACT)
            for colleague in mailboxes
            if colleague.pk != mailbox.pk
        ]
        for name, address, job_title, company, kind in people:
            if address in known:
                continue
            contacts.contact_add(
                mailbox=mailbox,
                display_name=name,
                emails=[address],
                job_title=job_title,
                company=company,
                kind=kind,
            )
            known.add(address)
            added += 1
    return added
