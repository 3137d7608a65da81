"""Email activity on the candidate list: the last email's date, direction and subject, the
unread-reply marker, the two activity filters and the order by last email — each taken
only from threads the viewer may see — and a query count that does not grow with threads."""

import datetime as dt
import html
import re
from collections.abc import Sequence

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Role
from candidates.models import EmailMessage, EmailThread
from mailsync.ingest import activity_advance
from tests.factories import (
    CandidateFactory,
    EmailMessageFactory,
    EmailThreadFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

INBOUND = EmailMessage.Direction.INBOUND
OUTBOUND = EmailMessage.Direction.OUTBOUND
Visibility = EmailThread.Visibility
LIST = reverse("candidates:list")


def at(day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, 0, tzinfo=dt.UTC)


def write(thread: EmailThread, direction: str, when: dt.datetime, subject: str = "") -> None:
    """A message on the thread, with the activity times ingest and sending keep."""
    EmailMessageFactory(
        thread=thread,
        direction=direction,
        sent_at=when,
        subject=subject or thread.subject,
        sender=thread.owner if direction == OUTBOUND else None,
    )
    activity_advance(thread, when, direction=direction)


def conversation(
    candidate,
    *,
    owner,
    messages: Sequence[tuple[str, dt.datetime]],
    visibility: str = Visibility.TEAM,
    subject: str = "Interview plan",
) -> EmailThread:
    thread: EmailThread = EmailThreadFactory.create(
        candidate=candidate,
        owner=owner,
        visibility=visibility,
        subject=subject,
        last_message_at=messages[0][1],
    )
    for direction, when in messages:
        write(thread, direction, when)
    thread.refresh_from_db()
    return thread


def row(content: str, name: str) -> str:
    """The candidate list's table row for `name` (the page's HTML between <tr> tags)."""
    rows = [part for part in content.split("<tr>") if f">{name}</a>" in part]
    assert len(rows) == 1, f"{name} is not listed once"
    return rows[0].split("</tr>")[0]


def last_email_cell(content: str, name: str) -> str:
    match = re.search(r'<td class="last-email">(.*?)</td>', row(content, name), re.S)
    assert match is not None
    return match.group(1)


def listed_names(content: str) -> list[str]:
    return re.findall(r'<a href="/candidates/[^"]+/">([^<]+)</a>', content)


@pytest.fixture
def colleague(team):
    return UserFactory(
        organisation=team.organisation, role=Role.TEAM_MEMBER, email="colleague@acme.test"
    )


# --- The column ---------------------------------------------------------------------------


def test_team_member_sees_the_last_emails_date_direction_and_subject(team, client_for):
    ada, grace = team.candidate_on_my_posting, team.candidate_elsewhere
    conversation(
        ada,
        owner=team.team_member,
        messages=[(OUTBOUND, at(2)), (INBOUND, at(5))],
        subject="Onsite on Tuesday",
    )
    conversation(grace, owner=team.team_member, messages=[(OUTBOUND, at(4))], subject="Hello")

    content = client_for(team.team_member).get(LIST).content.decode()

    ada_cell = last_email_cell(content, "Ada Visible")
    assert '<time datetime="2026-03-05T09:00:00+00:00">5 Mar 2026</time>' in ada_cell
    assert "Received" in ada_cell and "Sent" not in ada_cell
    assert 'title="Onsite on Tuesday"' in ada_cell
    grace_cell = last_email_cell(content, "Grace Hidden")
    assert "4 Mar 2026" in grace_cell
    assert "Sent" in grace_cell and "Received" not in grace_cell


def test_the_subject_shown_is_the_last_messages_of_the_newest_thread(team, client_for):
    ada = team.candidate_on_my_posting
    conversation(ada, owner=team.team_member, messages=[(OUTBOUND, at(1))], subject="Older")
    newest = conversation(ada, owner=team.team_member, messages=[(OUTBOUND, at(2))])
    write(newest, INBOUND, at(3), subject="Re: Interview plan, with my availability")

    cell = last_email_cell(client_for(team.team_member).get(LIST).content.decode(), "Ada Visible")

    assert 'title="Re: Interview plan, with my availability"' in cell
    assert "Older" not in cell


def test_an_imported_thread_shows_its_last_messages_date_not_when_it_was_imported(team, client_for):
    # Import creates the thread at import time and then stores older mail into it.
    thread = EmailThreadFactory(
        candidate=team.candidate_on_my_posting, owner=team.team_member, visibility="team"
    )
    write(thread, OUTBOUND, at(2))
    write(thread, INBOUND, at(3))

    cell = last_email_cell(client_for(team.admin).get(LIST).content.decode(), "Ada Visible")

    assert "3 Mar 2026" in cell and "Received" in cell


def test_a_candidate_without_email_shows_a_dash(team, client_for):
    cell = last_email_cell(client_for(team.admin).get(LIST).content.decode(), "Ada Visible")

    assert "<time" not in cell and "—" in cell


def test_a_colleagues_secret_thread_does_not_leak_to_a_team_member_but_shows_to_an_admin(
    team, colleague, client_for
):
    ada = team.candidate_on_my_posting
    conversation(ada, owner=team.team_member, messages=[(OUTBOUND, at(1))], subject="Hello")
    conversation(
        ada,
        owner=colleague,
        visibility=Visibility.SECRET,
        messages=[(OUTBOUND, at(2)), (INBOUND, at(6))],
        subject="Counter-offer from a competitor",
    )

    member_cell = last_email_cell(
        client_for(team.team_member).get(LIST).content.decode(), "Ada Visible"
    )
    admin_cell = last_email_cell(client_for(team.admin).get(LIST).content.decode(), "Ada Visible")

    # The team member sees their own thread only: its date, direction and subject.
    assert "1 Mar 2026" in member_cell and "Sent" in member_cell
    assert "6 Mar" not in member_cell
    assert "Counter-offer" not in member_cell
    assert "New reply" not in member_cell
    # The Admin sees the secret thread's reply, unread by them.
    assert "6 Mar 2026" in admin_cell and "Received" in admin_cell
    assert 'title="Counter-offer from a competitor"' in admin_cell
    assert "New reply" in admin_cell


def test_a_colleagues_private_thread_does_not_leak(team, colleague, client_for):
    ada = team.candidate_on_my_posting
    conversation(
        ada,
        owner=colleague,
        visibility=Visibility.PRIVATE,
        messages=[(OUTBOUND, at(2)), (INBOUND, at(3))],
        subject="Private chat",
    )

    member_page = client_for(team.team_member).get(LIST).content.decode()
    colleague_page = client_for(colleague).get(LIST).content.decode()

    member_cell = last_email_cell(member_page, "Ada Visible")
    assert "<time" not in member_cell and "Private chat" not in member_page
    assert "New reply" not in member_page
    assert "Private chat" in last_email_cell(colleague_page, "Ada Visible")


def test_the_secret_thread_of_another_organisation_never_counts(team, other_team, client_for):
    # A thread whose candidate belongs elsewhere cannot be seen, even by a Super Admin.
    conversation(
        other_team.candidate_on_my_posting,
        owner=other_team.team_member,
        visibility=Visibility.SECRET,
        messages=[(INBOUND, at(7))],
        subject="Globex secret",
    )

    content = client_for(team.super_admin).get(LIST).content.decode()

    assert "Globex secret" not in content and "7 Mar" not in content


# --- Unread replies ----------------------------------------------------------------------


def test_a_new_reply_is_marked_until_the_viewer_opens_the_emails_tab(team, colleague, client_for):
    ada = team.candidate_on_my_posting
    thread = conversation(ada, owner=team.team_member, messages=[(OUTBOUND, at(1))])
    member, other = client_for(team.team_member), client_for(colleague)
    assert "New reply" not in last_email_cell(member.get(LIST).content.decode(), "Ada Visible")

    write(thread, INBOUND, at(2))
    assert "New reply" in last_email_cell(member.get(LIST).content.decode(), "Ada Visible")

    assert member.get(reverse("mailsync:emails", args=[ada.pk])).status_code == 200
    assert "New reply" not in last_email_cell(member.get(LIST).content.decode(), "Ada Visible")
    # Seen marks are each viewer's own: the colleague has not opened the tab.
    assert "New reply" in last_email_cell(other.get(LIST).content.decode(), "Ada Visible")

    # The candidate writes again: unread again, for the viewer too.
    write(thread, INBOUND, at(3))
    assert "New reply" in last_email_cell(member.get(LIST).content.decode(), "Ada Visible")


def test_the_tab_writes_a_seen_mark_only_when_a_thread_has_something_new(team, client_for):
    """A page seen again writes nothing (no transaction on every view of the tab); a
    reply that came in since is marked when the tab shows it, and read no more."""
    ada = team.candidate_on_my_posting
    thread = conversation(
        ada, owner=team.team_member, messages=[(OUTBOUND, at(1)), (INBOUND, at(2))]
    )
    member = client_for(team.team_member)
    tab = reverse("mailsync:emails", args=[ada.pk])

    def seen_mark_writes() -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            assert member.get(tab).status_code == 200
        return [
            query["sql"]
            for query in queries.captured_queries
            if "candidates_threadseen" in query["sql"]
            and not query["sql"].lstrip().upper().startswith("SELECT")
        ]

    assert len(seen_mark_writes()) == 1
    assert seen_mark_writes() == []

    write(thread, INBOUND, at(3))
    assert "New reply" in last_email_cell(member.get(LIST).content.decode(), "Ada Visible")
    assert len(seen_mark_writes()) == 1
    assert "New reply" not in last_email_cell(member.get(LIST).content.decode(), "Ada Visible")
    assert seen_mark_writes() == []


def test_opening_the_tab_by_htmx_marks_the_replies_seen_too(team, client_for):
    ada = team.candidate_on_my_posting
    conversation(ada, owner=team.team_member, messages=[(OUTBOUND, at(1)), (INBOUND, at(2))])
    member = client_for(team.team_member)

    member.get(
        reverse("mailsync:emails", args=[ada.pk]),
        headers={"HX-Request": "true", "HX-Target": "profile-tab"},
    )

    assert "New reply" not in last_email_cell(member.get(LIST).content.decode(), "Ada Visible")


def test_our_own_message_is_never_an_unread_reply(team, client_for):
    conversation(team.candidate_on_my_posting, owner=team.team_member, messages=[(OUTBOUND, at(1))])

    assert "New reply" not in client_for(team.team_member).get(LIST).content.decode()


# --- Filters and order -------------------------------------------------------------------


@pytest.fixture
def activity(team, colleague):
    """Candidates in every state of email activity, as the team member sees them."""
    org, member = team.organisation, team.team_member
    awaiting = CandidateFactory(organisation=org, full_name="Awaiting Answer")
    conversation(awaiting, owner=member, messages=[(OUTBOUND, at(1)), (INBOUND, at(4))])
    no_reply = CandidateFactory(organisation=org, full_name="Never Replied")
    conversation(no_reply, owner=member, messages=[(OUTBOUND, at(3))])
    answered = CandidateFactory(organisation=org, full_name="Answered Already")
    conversation(answered, owner=member, messages=[(INBOUND, at(1)), (OUTBOUND, at(2))])
    # We wrote; the candidate answered only on a colleague's secret thread: for the team
    # member there is no reply yet, for an Admin one awaits our answer.
    hidden_reply = CandidateFactory(organisation=org, full_name="Hidden Reply")
    conversation(hidden_reply, owner=member, messages=[(OUTBOUND, at(5))])
    conversation(
        hidden_reply,
        owner=colleague,
        visibility=Visibility.SECRET,
        messages=[(OUTBOUND, at(5, 10)), (INBOUND, at(6))],
    )
    return {"awaiting": awaiting, "no_reply": no_reply, "answered": answered}


def test_filter_replied_awaiting_our_answer(team, activity, client_for):
    member = client_for(team.team_member).get(LIST, {"activity": "awaiting"}).content.decode()
    admin = client_for(team.admin).get(LIST, {"activity": "awaiting"}).content.decode()

    assert listed_names(member) == ["Awaiting Answer"]
    assert sorted(listed_names(admin)) == ["Awaiting Answer", "Hidden Reply"]
    assert "1 candidate" in member


def test_filter_no_reply_yet(team, activity, client_for):
    member = client_for(team.team_member).get(LIST, {"activity": "no_reply"}).content.decode()
    admin = client_for(team.admin).get(LIST, {"activity": "no_reply"}).content.decode()

    assert sorted(listed_names(member)) == ["Hidden Reply", "Never Replied"]
    assert listed_names(admin) == ["Never Replied"]


def test_sort_by_last_email_newest_and_oldest_first(team, activity, client_for):
    client = client_for(team.team_member)

    newest = listed_names(client.get(LIST, {"sort": "activity_newest"}).content.decode())
    oldest = listed_names(client.get(LIST, {"sort": "activity_oldest"}).content.decode())

    # The secret thread's 6 March reply does not place Hidden Reply for the team member.
    with_email = ["Hidden Reply", "Awaiting Answer", "Never Replied", "Answered Already"]
    assert newest[:4] == with_email
    assert oldest[:4] == with_email[::-1]
    # Candidates without email come last either way.
    assert set(newest[4:]) == set(oldest[4:]) == {"Ada Visible", "Grace Hidden"}


def test_admin_order_counts_the_secret_reply(team, activity, client_for):
    newest = listed_names(
        client_for(team.admin).get(LIST, {"sort": "activity_newest"}).content.decode()
    )

    assert newest[:2] == ["Hidden Reply", "Awaiting Answer"]


def test_filter_and_order_are_kept_by_the_page_links_and_the_form(
    team, activity, client_for, settings
):
    settings.CANDIDATES_PER_PAGE = 1
    client = client_for(team.team_member)
    query = {"q": "e", "activity": "no_reply", "sort": "activity_oldest"}

    first = html.unescape(client.get(LIST, query).content.decode())
    second = html.unescape(
        client.get(LIST, query | {"page": 2}, headers={"HX-Request": "true"}).content.decode()
    )

    assert listed_names(first) == ["Never Replied"]
    assert 'href="?q=e&activity=no_reply&sort=activity_oldest&page=2"' in first
    assert '<option value="no_reply" selected>' in first
    assert '<option value="activity_oldest" selected>' in first
    # The htmx partial: the next page of the same filter, with links that keep it.
    assert "<html" not in second
    assert listed_names(second) == ["Hidden Reply"]
    assert 'hx-get="?q=e&activity=no_reply&sort=activity_oldest&page=1"' in second


def test_an_unknown_filter_or_order_is_ignored(team, activity, client_for):
    response = client_for(team.team_member).get(LIST, {"activity": "bogus", "sort": "nope"})

    assert response.status_code == 200
    assert len(listed_names(response.content.decode())) == 6


def test_a_filter_that_matches_no_one_says_so(team, client_for):
    content = client_for(team.team_member).get(LIST, {"activity": "awaiting"}).content.decode()

    assert "No candidates match this filter." in content


# --- Queries -----------------------------------------------------------------------------


def _threads_across_candidates(team, colleague, count: int) -> None:
    """`count` threads over up to 25 candidates, of every visibility and both directions,
    some seen by the viewer."""
    owners = [team.team_member, colleague, team.admin]
    # The first thread is the team's and awaits our answer: every role sees it, with any
    # filter, so its subject is read too.
    visibilities = [Visibility.TEAM, Visibility.PRIVATE, Visibility.SECRET]
    candidates = [
        CandidateFactory(organisation=team.organisation, postings=[team.my_posting])
        for _ in range(min(count, 25))
    ]
    for n in range(count):
        thread = conversation(
            candidates[n % len(candidates)],
            owner=owners[n % 3],
            visibility=visibilities[n % 3],
            messages=[(OUTBOUND, at(1 + n % 20)), (INBOUND, at(1 + n % 20, 12))][: 2 - n % 2],
            subject=f"Thread {n}",
        )
        if n % 4 == 0:
            thread.seen_by.create(user=team.team_member, seen_at=thread.last_message_at)


@pytest.mark.parametrize("role", ["admin", "team_member", "limited"])
@pytest.mark.parametrize("query", [{}, {"activity": "awaiting", "sort": "activity_newest"}])
def test_the_list_costs_the_same_queries_for_1_or_50_threads(
    team, colleague, client_for, django_assert_num_queries, role, query
):
    """Session, user, count, page, addresses, applications, the page's last subjects, and
    the layout's mailbox health: 8, with 1 thread as with 50."""
    client = client_for(team.by_role(role))
    _threads_across_candidates(team, colleague, 1)
    with django_assert_num_queries(8):
        one = client.get(LIST, query)
    assert one.status_code == 200

    _threads_across_candidates(team, colleague, 49)
    with django_assert_num_queries(8):
        fifty = client.get(LIST, query)

    assert fifty.status_code == 200
    assert "Thread " in fifty.content.decode()
