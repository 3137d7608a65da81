"""Every page costs a fixed number of queries, however much data it shows: each page is
rendered with one and with 25 of whatever it lists, under the same maximum. A page whose
count grows with its data (an N+1) fails here before it is slow in production. Each
maximum is today's count plus two: room for a fixed extra query, none for a query per row."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.models import IntegrationPermission, Organisation
from candidates.models import CandidateEmail, EmailThread
from inbound.models import DailyTally
from tests.factories import (
    CandidateFactory,
    EmailAttachmentFactory,
    EmailMessageFactory,
    EmailThreadFactory,
    MailboxConnectionFactory,
    PostingFactory,
    UserFactory,
)

SIZES = [1, 25]

pytestmark = pytest.mark.django_db


def _candidates(team, count: int) -> None:
    """`count` candidates the limited member may see, each with two addresses and two
    applications (one on a posting hidden from them)."""
    for n in range(count):
        candidate = CandidateFactory.create(
            organisation=team.organisation,
            full_name=f"Listed Candidate {n}",
            postings=[team.my_posting, PostingFactory(organisation=team.organisation)],
        )
        CandidateEmail.objects.create(
            organisation=team.organisation, candidate=candidate, address=f"second-{n}@x.test"
        )


# Candidate list, the page and the htmx search results, as the most and least privileged.
LIST_MAX_QUERIES = 9


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("role", ["admin", "limited"])
def test_candidate_list_costs_the_same_for_1_or_25_candidates(
    team, client_for, django_assert_max_num_queries, size, role
):
    _candidates(team, size)
    client = client_for(team.by_role(role))

    with django_assert_max_num_queries(LIST_MAX_QUERIES):
        page = client.get(reverse("candidates:list"))

    assert page.status_code == 200
    assert page.content.decode().count("Listed Candidate") == min(size, 25)


@pytest.mark.parametrize("size", SIZES)
def test_candidate_search_results_cost_the_same_for_1_or_25_matches(
    team, client_for, django_assert_max_num_queries, size
):
    _candidates(team, size)
    client = client_for(team.limited)

    with django_assert_max_num_queries(LIST_MAX_QUERIES):
        results = client.get(
            reverse("candidates:list"), {"q": "listed"}, headers={"HX-Request": "true"}
        )

    assert results.status_code == 200
    assert results.content.decode().count("Listed Candidate") == size


# Profile overview: a candidate with many addresses and applications.
OVERVIEW_MAX_QUERIES = 8


@pytest.mark.parametrize("size", SIZES)
def test_profile_overview_costs_the_same_for_1_or_25_applications_and_addresses(
    team, client_for, django_assert_max_num_queries, size
):
    candidate = team.candidate_on_my_posting
    for n in range(size):
        posting = PostingFactory(organisation=team.organisation, title=f"Extra posting {n}")
        candidate.applications.create(posting=posting)
        CandidateEmail.objects.create(
            organisation=team.organisation, candidate=candidate, address=f"extra-{n}@x.test"
        )
    client = client_for(team.team_member)

    with django_assert_max_num_queries(OVERVIEW_MAX_QUERIES):
        page = client.get(reverse("candidates:detail", args=[candidate.pk]))

    assert page.status_code == 200
    assert page.content.decode().count("Extra posting") == size


# Emails tab: threads, each with messages, each with attachments; senders on some. Fixed
# besides: the import job shown, the removed-mail count the import form offers back, and
# the viewer's seen marks (one upsert, on this first view; none on a page seen again).
EMAILS_MAX_QUERIES = 13


def _threads(team, count: int) -> None:
    candidate = team.candidate_on_my_posting
    for n in range(count):
        thread = EmailThreadFactory(
            candidate=candidate, owner=team.team_member, subject=f"Listed thread {n}"
        )
        for m in range(2):
            message = EmailMessageFactory(
                thread=thread,
                direction="outbound" if m else "inbound",
                sender=team.team_member if m else None,
            )
            EmailAttachmentFactory(message=message, filename=f"cv-{n}-{m}.pdf")
    # And one long thread: `count` messages with `count` attachments on its first message.
    long = EmailThreadFactory.create(
        candidate=candidate, owner=team.admin, subject="Long thread", visibility="team"
    )
    for m in range(count):
        message = EmailMessageFactory(thread=long, sender=team.admin, direction="outbound")
        if m == 0:
            for a in range(count):
                EmailAttachmentFactory(message=message, filename=f"bundle-{a}.pdf")
    # Threads are listed newest first: the long one has the latest message.
    EmailThread.objects.filter(pk=long.pk).update(last_message_at=timezone.now())


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("with_mailbox", [False, True])
def test_emails_tab_costs_the_same_for_1_or_25_threads_messages_and_attachments(
    team, client_for, django_assert_max_num_queries, size, with_mailbox
):
    _threads(team, size)
    if with_mailbox:
        MailboxConnectionFactory(user=team.team_member)
    client = client_for(team.team_member)

    with django_assert_max_num_queries(EMAILS_MAX_QUERIES):
        tab = client.get(reverse("mailsync:emails", args=[team.candidate_on_my_posting.pk]))

    content = tab.content.decode()
    assert tab.status_code == 200
    assert content.count("bundle-") == size
    assert "Long thread" in content


# My account: the permission boxes and the mailbox, whatever the user owns elsewhere.
MY_ACCOUNT_MAX_QUERIES = 7


@pytest.mark.parametrize("size", SIZES)
def test_my_account_costs_the_same_for_1_or_25_colleagues_and_threads(
    team, client_for, django_assert_max_num_queries, size
):
    user = team.team_member
    for kind in IntegrationPermission.Kind.values:
        IntegrationPermission.objects.create(user=user, kind=kind, enabled=True)
    MailboxConnectionFactory(user=user)
    for n in range(size):
        UserFactory(organisation=team.organisation, email=f"colleague{n}@acme.test")
        EmailThreadFactory(candidate=team.candidate_on_my_posting, owner=user)
    client = client_for(user)

    with django_assert_max_num_queries(MY_ACCOUNT_MAX_QUERIES):
        page = client.get(reverse("mailsync:my_account"))

    assert page.status_code == 200
    assert user.email in page.content.decode()


# Company settings: the change history (with authors) and the routed-mail summary.
COMPANY_MAX_QUERIES = 7


@pytest.mark.parametrize("size", SIZES)
def test_company_settings_cost_the_same_for_1_or_25_changes_and_tallies(
    team, client_for, django_assert_max_num_queries, size
):
    admins = [team.super_admin] + [
        UserFactory(organisation=team.organisation, role="super_admin") for _ in range(size - 1)
    ]
    for n, actor in enumerate(admins):
        account_services.organisation_update_settings(
            actor=actor,
            organisation=Organisation.objects.get(pk=team.organisation.pk),
            name=f"Acme renamed {n}",
            email_provider=team.organisation.email_provider,
            microsoft_authorization_mode=team.organisation.microsoft_authorization_mode,
        )
    today = timezone.localdate()
    for n in range(size):
        DailyTally.objects.create(
            organisation=team.organisation,
            day=today - dt.timedelta(days=n % 7),
            outcome=DailyTally.Outcome.values[n % len(DailyTally.Outcome.values)],
            count=1,
        )
    client = client_for(team.super_admin)

    with django_assert_max_num_queries(COMPANY_MAX_QUERIES):
        page = client.get(reverse("inbound:company_settings"))

    assert page.status_code == 200
    assert f"Acme renamed {size - 1}" in page.content.decode()


# A candidate's history: workspace events by different people, on different threads.
HISTORY_MAX_QUERIES = 13


@pytest.mark.parametrize("size", SIZES)
def test_candidate_history_costs_the_same_for_1_or_25_events(
    team, client_for, django_assert_max_num_queries, size
):
    from candidates import audit

    candidate = team.candidate_on_my_posting
    for _ in range(size):
        actor = UserFactory(organisation=team.organisation, role="team_member")
        thread = EmailThreadFactory(candidate=candidate, owner=actor)
        audit.record(actor=actor, event=audit.Event.SHARED, candidate_id=candidate.pk, about=thread)
    client = client_for(team.admin)

    with django_assert_max_num_queries(HISTORY_MAX_QUERIES):
        page = client.get(reverse("candidates:history", args=[candidate.pk]))

    assert page.status_code == 200


# The read-only admin's list of mailboxes (owner, organisation and health on each row).
ADMIN_MAILBOXES_MAX_QUERIES = 11


@pytest.mark.parametrize("size", SIZES)
def test_the_admins_mailbox_list_costs_the_same_for_1_or_25_mailboxes(
    team, client_for, django_assert_max_num_queries, size
):
    for n in range(size):
        owner = UserFactory(organisation=team.organisation, email=f"owner{n}@acme.test")
        MailboxConnectionFactory(user=owner, organisation=team.organisation)
    client = client_for(team.admin)

    with django_assert_max_num_queries(ADMIN_MAILBOXES_MAX_QUERIES):
        page = client.get(reverse("admin:mailsync_mailboxconnection_changelist"))

    assert page.status_code == 200
    assert f"owner{size - 1}@acme.test" in page.content.decode()


# A Prometheus scrape: the mailbox gauges are aggregates, whatever the number of mailboxes.
METRICS_MAX_QUERIES = 3


@pytest.mark.parametrize("size", SIZES)
def test_a_metrics_scrape_costs_the_same_for_1_or_25_mailboxes(
    team, client, settings, django_assert_max_num_queries, size
):
    settings.METRICS_TOKEN = "a-scrape-token-long-enough-to-guess-never"
    for _ in range(size):
        owner = UserFactory(organisation=team.organisation)
        MailboxConnectionFactory(user=owner, organisation=team.organisation)

    with django_assert_max_num_queries(METRICS_MAX_QUERIES):
        scrape = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {settings.METRICS_TOKEN}")

    assert scrape.status_code == 200
    counted = [
        float(line.rsplit(" ", 1)[1])
        for line in scrape.content.decode().splitlines()
        if line.startswith("threadline_mailboxes{")
    ]
    assert sum(counted) == size
