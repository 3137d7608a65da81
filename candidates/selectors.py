from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeAlias, TypedDict
from uuid import UUID

from django.contrib.contenttypes.models import ContentType
from django.core.paginator import Page, Paginator
from django.db.models import (
    Case,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    TextChoices,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.models import User
from candidates import audit, policy
from candidates.models import (
    Application,
    Candidate,
    CandidateEmail,
    EmailAttachment,
    EmailMessage,
    EmailThread,
    ThreadSeen,
)

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class ActivityFilter(TextChoices):
    """The candidate list's email-activity filters (the `activity` query parameter)."""

    AWAITING_OUR_ANSWER = "awaiting", "Replied, awaiting our answer"
    NO_REPLY_YET = "no_reply", "No reply yet"


class ListOrder(TextChoices):
    """The candidate list's orders (the `sort` query parameter)."""

    RECENTLY_UPDATED = "updated", "Recently updated"
    LAST_EMAIL_NEWEST = "activity_newest", "Last email, newest first"
    LAST_EMAIL_OLDEST = "activity_oldest", "Last email, oldest first"


class EmailActivity(TypedDict):
    """What `candidate_list` annotates each candidate with (see `_with_email_activity`)."""

    last_email_at: datetime | None
    last_email_thread_id: UUID | None
    last_direction: str
    has_unread_reply: bool


CandidateWithActivity: TypeAlias = "WithAnnotations[Candidate, EmailActivity]"

# A thread's newest message is the candidate's when its newest inbound is newer than its
# newest outbound. Read from the per-direction times, which are the messages' own: a thread
# imported from a mailbox has a `last_message_at` of when it was imported.
_ENDS_INBOUND = Q(last_inbound_at__isnull=False) & (
    Q(last_outbound_at__isnull=True) | Q(last_inbound_at__gt=F("last_outbound_at"))
)
_THREAD_LAST_EMAIL_AT = Case(
    When(_ENDS_INBOUND, then=F("last_inbound_at")), default=F("last_outbound_at")
)
_THREAD_LAST_DIRECTION = Case(
    When(_ENDS_INBOUND, then=Value(EmailMessage.Direction.INBOUND.value)),
    When(last_outbound_at__isnull=False, then=Value(EmailMessage.Direction.OUTBOUND.value)),
    default=Value(""),
)


def _candidates_with_details(*, user: User, search: str = "") -> QuerySet[Candidate]:
    """Candidates the user may see, with their addresses and the applications to postings
    the user may see, optionally filtered by a search over names, headlines and addresses."""
    candidates = policy.visible_candidates(user)
    search = search.strip()
    if search:
        by_address = CandidateEmail.objects.filter(address__icontains=search).values("candidate_id")
        candidates = candidates.filter(
            Q(full_name__icontains=search) | Q(headline__icontains=search) | Q(pk__in=by_address)
        )
    return candidates.prefetch_related(
        "emails",
        Prefetch(
            "applications",
            queryset=Application.objects.filter(
                posting__in=policy.visible_postings(user)
            ).select_related("posting"),
            to_attr="visible_applications",
        ),
    )


def _threads_of_each_candidate(user: User) -> QuerySet[EmailThread]:
    """The threads `user` may see of the candidate in the outer query (a subquery's).

    Written as "this candidate's threads, among those visible" so that the database reads
    each candidate's threads by the candidate index, with the visible set worked out once
    per statement: SQLite, filtering the policy's queryset by candidate instead, chose the
    organisation index and read every thread of the organisation for every candidate."""
    return EmailThread.objects.filter(
        candidate=OuterRef("pk"), pk__in=policy.visible_threads(user).values("pk")
    )


def _with_email_activity(
    candidates: QuerySet[Candidate], *, user: User
) -> QuerySet[CandidateWithActivity]:
    """Each candidate annotated from the threads `user` may see, and from those only:
    `last_email_at`, `last_direction` ("inbound", "outbound", or "" without email) and
    `last_email_thread_id` of the newest message, and `has_unread_reply` (a reply newer
    than the user's seen mark on its thread). Correlated subqueries over the threads'
    denormalised times, each written once in the SQL: no query per candidate or thread."""
    threads = _threads_of_each_candidate(user)
    newest_thread = (
        threads.annotate(
            thread_last_email_at=_THREAD_LAST_EMAIL_AT,
            thread_last_direction=_THREAD_LAST_DIRECTION,
        )
        .filter(thread_last_email_at__isnull=False)
        .order_by("-thread_last_email_at", "-pk")
    )
    seen_since_reply = ThreadSeen.objects.filter(
        user=user, thread=OuterRef("pk"), seen_at__gte=OuterRef("last_inbound_at")
    )
    unread = threads.filter(last_inbound_at__isnull=False).filter(~Exists(seen_since_reply))
    return candidates.annotate(
        last_email_at=Subquery(newest_thread.values("thread_last_email_at")[:1]),
        last_email_thread_id=Subquery(newest_thread.values("pk")[:1]),
        last_direction=Coalesce(
            Subquery(newest_thread.values("thread_last_direction")[:1]), Value("")
        ),
        has_unread_reply=Exists(unread),
    )


def candidate_list(
    *,
    user: User,
    search: str = "",
    activity: ActivityFilter | None = None,
    order: ListOrder = ListOrder.RECENTLY_UPDATED,
) -> QuerySet[CandidateWithActivity]:
    """Candidates the user may see, most recently updated first (or by their last visible
    email), optionally searched and filtered by email activity, each annotated with its
    email activity (see `_with_email_activity`)."""
    candidates = _with_email_activity(_candidates_with_details(user=user, search=search), user=user)
    if activity == ActivityFilter.AWAITING_OUR_ANSWER:
        candidates = candidates.filter(last_direction=EmailMessage.Direction.INBOUND)
    elif activity == ActivityFilter.NO_REPLY_YET:
        threads = _threads_of_each_candidate(user)
        candidates = candidates.filter(
            Exists(threads.filter(last_outbound_at__isnull=False)),
            ~Exists(threads.filter(last_inbound_at__isnull=False)),
        )
    if order == ListOrder.LAST_EMAIL_NEWEST:
        return candidates.order_by(F("last_email_at").desc(nulls_last=True), "-updated_at", "pk")
    if order == ListOrder.LAST_EMAIL_OLDEST:
        return candidates.order_by(F("last_email_at").asc(nulls_last=True), "-updated_at", "pk")
    return candidates.order_by("-updated_at", "pk")


def last_email_subjects_attach(*, user: User, candidates: Iterable[CandidateWithActivity]) -> None:
    """Set `last_email_subject` on each of a page of `candidate_list`'s candidates: the
    subject of the newest message of its newest thread the user may see ("" without one).
    Subjects are encrypted at rest, so the database cannot hand them back from a subquery:
    one query for the whole page, and none when no candidate on it has a visible thread."""
    candidates = list(candidates)  # a page's queryset: evaluated once, its instances kept
    thread_ids = {c.last_email_thread_id for c in candidates if c.last_email_thread_id}
    subjects: dict[UUID, str] = {}
    if thread_ids:
        newest_message = (
            EmailMessage.objects.filter(thread=OuterRef("pk")).order_by("-sent_at", "-pk")
        ).values("pk")[:1]
        newest_of_each = (
            policy.visible_threads(user)
            .filter(pk__in=thread_ids)
            .annotate(newest_message_id=Subquery(newest_message))
            .values("newest_message_id")
        )
        for message in (
            EmailMessage.objects.filter(pk__in=newest_of_each)
            .select_related("thread")
            .only("thread_id", "subject", "thread__subject")
        ):
            subjects[message.thread_id] = message.subject or message.thread.subject
    for candidate in candidates:
        thread_id = candidate.last_email_thread_id
        # A display-only attribute for the template, set on this page's instances.
        candidate.last_email_subject = subjects.get(thread_id, "") if thread_id else ""  # type: ignore[attr-defined]


def candidate_get(*, user: User, candidate_id: UUID | str) -> Candidate:
    """One candidate the user may see, or 404 — the same answer whether it belongs to
    another organisation, is hidden by the policy, or does not exist."""
    return get_object_or_404(_candidates_with_details(user=user), pk=candidate_id)


def candidate_email_get(*, candidate: Candidate, email_id: int | str) -> CandidateEmail:
    """One of the addresses of a candidate the caller already found through
    `candidate_get`, or 404."""
    return get_object_or_404(candidate.emails.all(), pk=email_id)


def application_get(*, user: User, candidate: Candidate, application_id: int | str) -> Application:
    """One of the candidate's applications to a posting the user may see, or 404 (a
    Limited Team Member does not learn of applications to other postings)."""
    return get_object_or_404(
        Application.objects.filter(
            candidate=candidate, posting__in=policy.visible_postings(user)
        ).select_related("posting"),
        pk=application_id,
    )


def thread_list(*, user: User, candidate: Candidate) -> QuerySet[EmailThread]:
    """The candidate's threads the user may see, newest activity first, each with its
    messages (oldest first) and their attachments' descriptions: three queries per page.
    Each thread carries the user's seen mark (`viewer_seen_at`, None when never seen),
    which services.threads_mark_seen compares before writing."""
    # The original HTML is only read for its download; the tab shows `body_html_display`.
    # Neither does it show a message's own subject, Message-ID or snippet: each field
    # left out is one Fernet decryption less per message (a tenth of the tab's time).
    messages = (
        EmailMessage.objects.defer("body_html", "subject", "message_id", "snippet")
        .select_related("sender")  # the thread's "Started by"
        .order_by("sent_at", "pk")
        .prefetch_related("attachments")  # descriptions only: the bytes are in storage
    )
    return (
        policy.visible_threads(user)
        .filter(candidate=candidate)
        .select_related("owner", "made_secret_by")
        .annotate(
            viewer_seen_at=Subquery(
                ThreadSeen.objects.filter(user=user, thread=OuterRef("pk")).values("seen_at")
            )
        )
        .prefetch_related(Prefetch("messages", queryset=messages))
        .order_by("-last_message_at", "-pk")
    )


def thread_get(*, user: User, candidate: Candidate, thread_id: UUID | str) -> EmailThread:
    """One of the candidate's threads the user may see, or 404."""
    return get_object_or_404(policy.visible_threads(user).filter(candidate=candidate), pk=thread_id)


def message_get(*, user: User, candidate: Candidate, message_id: int | str) -> EmailMessage:
    """One message on a thread of this candidate that the user may see, with its thread;
    404 otherwise. Its bodies are not read."""
    return get_object_or_404(
        EmailMessage.objects.defer("body_text", "body_html", "body_html_display")
        .select_related("thread")
        .filter(thread__in=policy.visible_threads(user).filter(candidate=candidate)),
        pk=message_id,
    )


def attachment_get(
    *, user: User, candidate_id: UUID | str, attachment_id: int | str
) -> EmailAttachment:
    """An attachment on a thread of this candidate that the user may see; 404 otherwise.
    Its bytes are read from storage (core.attachment_storage) only after this."""
    return get_object_or_404(
        policy.visible_attachments(user).filter(message__thread__candidate_id=candidate_id),
        pk=attachment_id,
    )


def message_original_html_get(
    *, user: User, candidate_id: UUID | str, message_id: int | str
) -> EmailMessage:
    """A message with an HTML part, on a thread of this candidate that the user may see
    (the rule attachment downloads follow); 404 otherwise."""
    message = get_object_or_404(
        EmailMessage.objects.filter(
            thread__in=policy.visible_threads(user), thread__candidate_id=candidate_id
        ),
        pk=message_id,
    )
    if not message.body_html:
        raise Http404("This message has no HTML part.")
    return message


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a profile's history, as the viewer may read it."""

    at: datetime
    actor_name: str
    what: str
    # The thread's subject when the viewer may see that thread; None for "a thread".
    thread_subject: str | None
    about_thread: bool
    counts: dict[str, int]


def profile_history(
    *, user: User, candidate: Candidate, page_number: str | int | None, per_page: int
) -> Page[HistoryEntry]:
    """One page of what was done on `candidate`'s profile, newest first, for a viewer the
    policy lets read it (policy.can_see_profile_history). A thread is named by its subject
    only if the viewer may see it now: the history never reveals a thread the rest of the
    page hides. Three queries whatever the length: count, the page, the threads it names."""
    page = Paginator(audit.entries_for_candidate(candidate.pk), per_page).get_page(page_number)
    entries = list(page.object_list)
    thread_type = ContentType.objects.get_for_model(EmailThread)
    thread_ids = {e.object_pk for e in entries if e.content_type_id == thread_type.pk}
    subjects = dict(
        policy.visible_threads(user)
        .filter(candidate=candidate, pk__in=thread_ids)
        .values_list("pk", "subject")
    )
    subject_by_id = {str(pk): subject for pk, subject in subjects.items()}
    history = []
    for entry in entries:
        about_thread = entry.content_type_id == thread_type.pk
        extra = entry.additional_data or {}
        history.append(
            HistoryEntry(
                at=entry.timestamp,
                actor_name=entry.actor.get_full_name() if entry.actor else "A former colleague",
                what=audit.describe(entry),
                thread_subject=subject_by_id.get(entry.object_pk) if about_thread else None,
                about_thread=about_thread,
                counts={
                    key: value
                    for key, value in extra.items()
                    if key not in ("candidate", "event") and isinstance(value, int)
                },
            )
        )
    page.object_list = history
    return page
