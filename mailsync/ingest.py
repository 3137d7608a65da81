"""One entry point that stores a message of interest, whichever way it arrived: full sync,
manual import, or inbound routing (`message_store`; `MessageBatch` stores an import's
fetched batch the same way, with a few statements for the whole batch). Sending records
its own messages (`sending.py`).

Two rules live here and nowhere else:
- who wrote a message is decided by where it was found, never by its From header: the
  caller passes the `author` (the mailbox owner when the provider filed it as sent);
- a mailbox writes only into threads its owner may see (`threads_visible_to`; the
  callers send the rest to `private_thread_for`);
- a message removed from a candidate's Threadline stays out (`MessageRemoved`), by
  whichever of those ways a copy comes back.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.db import IntegrityError, connections, models, router, transaction
from django.db.models import Max, Q

from accounts.models import User
from candidates import policy
from candidates.models import Candidate, EmailAttachment, EmailMessage, EmailThread
from candidates.rendering import clean_attachment_name, prepare_html_for_storage
from core.attachment_storage import attachment_blob_write
from mailsync.mime import ParsedMessage
from mailsync.models import MailboxConnection, MailboxThread, RemovedMessage, SyncedMessage
from mailsync.retention import thread_revived
from mailsync.selectors import removed_tombstone
from mailsync.threadref import message_id_digest, thread_from_headers


@dataclass(frozen=True)
class Stored:
    message: EmailMessage
    created: bool


class MessageRemoved(Exception):
    """A user removed this message from the candidate's Threadline: it is not stored
    again. Not a failure: callers count it as handled (`tombstone` says who removed it)."""

    def __init__(self, tombstone: RemovedMessage) -> None:
        super().__init__("The message was removed from Threadline.")
        self.tombstone = tombstone


def thread_for_references(*, organisation_id: int, headers: list[str | None]) -> EmailThread | None:
    """The Threadline thread a message's signed references name, within this organisation;
    one that retention removed comes back, empty, to take the new message."""
    thread_id = thread_from_headers(headers)
    if thread_id is None:
        return None
    return threads_for_references(organisation_id=organisation_id, thread_ids={thread_id}).get(
        thread_id
    )


def threads_for_references(
    *, organisation_id: int, thread_ids: set[uuid.UUID]
) -> dict[uuid.UUID, EmailThread]:
    """The threads that signed references name (`thread_from_headers`), within this
    organisation, by id; those that retention removed come back, empty."""
    if not thread_ids:
        return {}
    found = {
        thread.pk: thread
        for thread in EmailThread.objects.filter(pk__in=thread_ids, organisation_id=organisation_id)
    }
    for thread_id in thread_ids - found.keys():
        revived = thread_revived(organisation_id=organisation_id, thread_id=thread_id)
        if revived is not None:
            found[thread_id] = revived
    return found


def threads_visible_to(user: User, thread_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these threads `user` may see: the only ones mail from their mailbox, or
    written by them, may join."""
    if not thread_ids:
        return set()
    return set(policy.visible_threads(user).filter(pk__in=thread_ids).values_list("pk", flat=True))


def private_thread_for(*, owner: User, candidate_id: uuid.UUID, subject: str) -> EmailThread:
    """A new private thread of `owner`: where mail from their mailbox goes when it belongs
    to a thread they may not see, or to no thread yet (import). Nobody started it in
    Threadline: it shows as brought in from their mailbox."""
    thread = new_private_thread(owner=owner, candidate_id=candidate_id, subject=subject)
    thread.save(force_insert=True)
    return thread


def new_private_thread(*, owner: User, candidate_id: uuid.UUID, subject: str) -> EmailThread:
    """`private_thread_for`'s thread, not saved yet (a batch inserts its threads at once)."""
    # A mailbox's owner is a member, whose organisation_id is set (django-stubs cannot
    # know that from the nullable field).
    return EmailThread(  # type: ignore[misc]
        organisation_id=owner.organisation_id,
        candidate_id=candidate_id,
        owner=owner,
        origin=EmailThread.Origin.IMPORTED,
        subject=subject[:998],
        visibility=EmailThread.Visibility.PRIVATE,
    )


def own_thread_continued(
    *, owner: User, candidate_id: uuid.UUID, parsed: ParsedMessage
) -> EmailThread | None:
    """A thread of `owner`'s on this candidate that already holds this message or one it
    answers: where a message diverted from a thread they may not see goes again, so that a
    conversation (or a second copy of the same message) stays in one place."""
    cited = {parsed.message_id, parsed.in_reply_to, *parsed.references.split()}
    digests = [message_id_digest(value) for value in cited if value.strip()]
    found = (
        EmailMessage.objects.filter(
            thread__owner=owner, thread__candidate_id=candidate_id, message_id_digest__in=digests
        )
        .select_related("thread")
        .order_by("-sent_at")
        .first()
    )
    return found.thread if found else None


def member_by_address(*, organisation_id: int, address: str) -> User | None:
    """The organisation's active user with this login or connected mailbox address. Only
    for mail whose origin is proven otherwise: an address alone proves nothing."""
    if not address:
        return None
    return (
        User.objects.filter(organisation_id=organisation_id, is_active=True)
        .filter(Q(email__iexact=address) | Q(mailbox__account_address__iexact=address))
        .first()
    )


def message_store(
    *,
    thread: EmailThread,
    parsed: ParsedMessage,
    author: User | None,
    mailbox: MailboxConnection | None = None,
    provider_message_id: str = "",
    provider_thread_id: str = "",
) -> Stored:
    """Store `parsed` on `thread` once, however often it is seen, and remember which
    mailbox copy it came from. `author` is the user who wrote it, known from where it was
    found (None: someone outside, the candidate). Safe to call again after a crash.
    Raises MessageRemoved, storing nothing, for a message removed from the candidate's
    Threadline (any copy of it, by any way).

    The caller has already decided that the mailbox may write to `thread`."""
    message_id = parsed.message_id or f"<generated-{uuid.uuid4().hex}@threadline.invalid>"
    digest = message_id_digest(message_id)
    with transaction.atomic():
        existing = EmailMessage.objects.filter(thread=thread, message_id_digest=digest).first()
        created = existing is None
        if created:
            tombstone = removed_tombstone(
                organisation_id=thread.organisation_id,
                candidate_id=thread.candidate_id,
                message_id_digest=digest,
            )
            if tombstone is not None:
                raise MessageRemoved(tombstone)
        message = existing or _create_message(thread, parsed, message_id, digest, author)
        if created and not thread.subject and parsed.subject:
            # A thread brought back by retention starts without one: its first new message's.
            thread.subject = parsed.subject[:998]
            thread.save(update_fields=["subject"])
        # One statement each (an upsert), where get_or_create and update_or_create took
        # four: a copy already recorded stays as it is; the provider thread follows `thread`.
        if mailbox is not None and provider_message_id:
            SyncedMessage.objects.bulk_create(
                [
                    SyncedMessage(
                        mailbox=mailbox, provider_message_id=provider_message_id, message=message
                    )
                ],
                ignore_conflicts=True,
            )
        if mailbox is not None and provider_thread_id:
            MailboxThread.objects.bulk_create(
                [
                    MailboxThread(
                        mailbox=mailbox, provider_thread_id=provider_thread_id, thread=thread
                    )
                ],
                update_conflicts=True,
                unique_fields=["mailbox", "provider_thread_id"],
                update_fields=["thread"],
            )
    return Stored(message=message, created=created)


class MessageBatch:
    """Messages stored together, each as `message_store` stores it, in a handful of
    statements for the whole batch instead of some twenty per message: one query for
    those already on their thread, one for tombstones, one INSERT each for new threads,
    messages, attachments and mailbox copies, one upsert for the thread links, and each
    touched thread's activity once. `add` answers at once, as `message_store` would, from
    what `prefetch` read and what was added before; `write` then writes it all. The caller
    holds one transaction around both.

    The threads a batch writes to are given to `prefetch` (threads already saved) or made
    by `private_thread` (saved by `write`). A write that fails (another worker stored the
    same message a moment ago: a unique constraint) raises; the caller rolls the batch
    back and stores its messages one by one instead."""

    def __init__(self, *, mailbox: MailboxConnection) -> None:
        self.mailbox = mailbox
        self._existing: dict[tuple[uuid.UUID, str], EmailMessage] = {}
        self._tombstones: dict[tuple[int, uuid.UUID, str], RemovedMessage] = {}
        self._new_threads: dict[uuid.UUID, EmailThread] = {}
        self._subject_set: dict[uuid.UUID, EmailThread] = {}
        self._created: list[tuple[EmailMessage, ParsedMessage]] = []
        self._copies: list[tuple[str, EmailMessage]] = []
        self._links: dict[str, EmailThread] = {}

    def prefetch(
        self, *, threads: Iterable[EmailThread], candidate_ids: set[uuid.UUID], digests: set[str]
    ) -> None:
        """Read what the database holds of these Message-ID digests: the messages on these
        threads, and the tombstones on these candidates."""
        thread_ids = {thread.pk for thread in threads}
        if not digests:
            return
        if thread_ids:
            # Only what tells a message again: its encrypted fields are not decrypted
            # for nothing (they load, deferred, if a caller reads them).
            for message in EmailMessage.objects.filter(
                thread_id__in=thread_ids, message_id_digest__in=digests
            ).only("id", "thread_id", "message_id_digest"):
                self._existing[(message.thread_id, message.message_id_digest)] = message
        tombstones = RemovedMessage.objects.filter(
            organisation_id=self.mailbox.organisation_id,
            candidate_id__in=candidate_ids,
            message_id_digest__in=digests,
        ).order_by("removed_at", "pk")
        for tombstone in tombstones:
            key = (tombstone.organisation_id, tombstone.candidate_id, tombstone.message_id_digest)
            self._tombstones.setdefault(key, tombstone)  # the first, as removed_tombstone's

    def private_thread(self, *, candidate_id: uuid.UUID, subject: str) -> EmailThread:
        """As `private_thread_for`, not saved yet: `write` saves it if a message is added."""
        return new_private_thread(
            owner=self.mailbox.user, candidate_id=candidate_id, subject=subject
        )

    def add(
        self,
        *,
        thread: EmailThread,
        parsed: ParsedMessage,
        author: User | None,
        provider_message_id: str,
        provider_thread_id: str,
    ) -> Stored:
        """`message_store` for the batch: raises MessageRemoved, adding nothing. The
        message's row is written by `write` (its pk is set then)."""
        message_id = parsed.message_id or f"<generated-{uuid.uuid4().hex}@threadline.invalid>"
        digest = message_id_digest(message_id)
        existing = self._existing.get((thread.pk, digest))
        created = existing is None
        if created:
            tombstone = self._tombstones.get((thread.organisation_id, thread.candidate_id, digest))
            if tombstone is not None:
                raise MessageRemoved(tombstone)
        new_thread = thread._state.adding
        message = existing or _message_row(thread, parsed, message_id, digest, author)
        if created:
            self._existing[(thread.pk, digest)] = message
            self._created.append((message, parsed))
            if new_thread:
                self._new_threads[thread.pk] = thread
            if not thread.subject and parsed.subject:
                # A thread brought back by retention starts without one: its first new
                # message's.
                thread.subject = parsed.subject[:998]
                if not new_thread:
                    self._subject_set[thread.pk] = thread
        if provider_message_id:
            self._copies.append((provider_message_id, message))
        if provider_thread_id:
            # The last message's thread wins, as with one upsert per message.
            self._links[provider_thread_id] = thread
        return Stored(message=message, created=created)

    def write(self) -> None:
        new_threads = list(self._new_threads.values())
        newest: dict[uuid.UUID, dict[str, datetime]] = {}
        for message, _ in self._created:
            times = newest.setdefault(message.thread_id, {})
            way = (
                "last_inbound_at"
                if message.direction == EmailMessage.Direction.INBOUND
                else "last_outbound_at"
            )
            for name in (way, "last_message_at"):
                if name not in times or times[name] < message.sent_at:
                    times[name] = message.sent_at
        # New threads take their activity before they are inserted, as activity_advance
        # would have moved it just after.
        for thread in new_threads:
            for name, at in newest.pop(thread.pk).items():
                current = getattr(thread, name)
                if current is None or current < at:
                    setattr(thread, name, at)
        EmailThread.objects.bulk_create(new_threads)
        for thread in self._subject_set.values():
            thread.save(update_fields=["subject"])
        EmailMessage.objects.bulk_create([message for message, _ in self._created])
        attachments_store_many((message, parsed.attachments) for message, parsed in self._created)
        activity_advance_many(newest)
        candidates_newest: dict[uuid.UUID, datetime] = {}
        for message, _ in self._created:
            candidate_id = message.thread.candidate_id
            if candidates_newest.get(candidate_id, message.sent_at) <= message.sent_at:
                candidates_newest[candidate_id] = message.sent_at
        candidates_activity_advance(candidates_newest)
        SyncedMessage.objects.bulk_create(
            [
                SyncedMessage(mailbox=self.mailbox, provider_message_id=copy_id, message=message)
                for copy_id, message in self._copies
            ],
            ignore_conflicts=True,
        )
        MailboxThread.objects.bulk_create(
            [
                MailboxThread(mailbox=self.mailbox, provider_thread_id=link_id, thread=thread)
                for link_id, thread in self._links.items()
            ],
            update_conflicts=True,
            unique_fields=["mailbox", "provider_thread_id"],
            update_fields=["thread"],
        )


def _message_row(
    thread: EmailThread,
    parsed: ParsedMessage,
    message_id: str,
    digest: str,
    author: User | None,
) -> EmailMessage:
    return EmailMessage(
        thread=thread,
        message_id=message_id,
        message_id_digest=digest,
        direction=(EmailMessage.Direction.OUTBOUND if author else EmailMessage.Direction.INBOUND),
        status=EmailMessage.Status.SYNCED,
        sender=author,
        from_header=parsed.from_header[:998],
        to_header=parsed.to_header,
        cc_header=parsed.cc_header,
        subject=parsed.subject[:998],
        body_text=parsed.body_text,
        # Cleaned here, once, under caps: never again when the tab is shown.
        **prepare_html_for_storage(parsed.body_html, text_part=parsed.body_text).as_model_fields(),
        snippet=parsed.snippet,
        sent_at=parsed.sent_at,
    )


def _create_message(
    thread: EmailThread,
    parsed: ParsedMessage,
    message_id: str,
    digest: str,
    author: User | None,
) -> EmailMessage:
    try:
        with transaction.atomic():
            message = _message_row(thread, parsed, message_id, digest, author)
            message.save(force_insert=True)
    except IntegrityError:
        # Another worker stored the same Message-ID on this thread a moment ago.
        return EmailMessage.objects.get(thread=thread, message_id_digest=digest)
    attachments_store(message, parsed.attachments)
    activity_advance(thread, parsed.sent_at, direction=message.direction)
    return message


class _Attachment(Protocol):
    # Read-only members, so that frozen dataclasses (ParsedAttachment, OutgoingAttachment)
    # match: a settable protocol attribute would not.
    @property
    def filename(self) -> str: ...
    @property
    def content_type(self) -> str: ...
    @property
    def content(self) -> bytes: ...


def attachments_store(message: EmailMessage, attachments: Iterable[_Attachment]) -> None:
    attachments_store_many([(message, attachments)])


def attachments_store_many(
    messages: Iterable[tuple[EmailMessage, Iterable[_Attachment]]],
) -> None:
    """The attachments of several stored messages, in one INSERT: where every attachment
    is written (`_attachment_row` says how one is kept)."""
    EmailAttachment.objects.bulk_create(
        _attachment_row(message, attachment)
        for message, attachments in messages
        for attachment in attachments
    )


def _attachment_row(message: EmailMessage, attachment: _Attachment) -> EmailAttachment:
    # The bytes are written to storage before the rows: should the transaction roll back,
    # what is left is an unreferenced file of ciphertext, never a row without its bytes.
    return EmailAttachment(
        message=message,
        # No bidi or other control characters: `invoice\u202efdp.exe` is not a PDF.
        filename=clean_attachment_name(attachment.filename)[:255],
        content_type=attachment.content_type[:255],
        size=len(attachment.content),
        blob=attachment_blob_write(attachment.content),
    )


def activity_advance(thread: EmailThread, at: datetime, *, direction: str) -> None:
    """Activity only moves forward, whatever order messages arrive in (the thread's two
    times in one statement, each moved only where it is older)."""
    way = "last_inbound_at" if direction == EmailMessage.Direction.INBOUND else "last_outbound_at"
    activity_advance_many({thread.pk: {way: at, "last_message_at": at}})
    candidates_activity_advance({thread.candidate_id: at})


def activity_advance_many(newest: dict[uuid.UUID, dict[str, datetime]]) -> None:
    """Threads' activity moved forward to their newest messages, in one statement: for
    each thread id, the times it may move to (last_message_at, and last_inbound_at or
    last_outbound_at where a message went that way); each moved only where it is older."""
    if not newest:
        return
    moves: dict[str, list[tuple[uuid.UUID, datetime]]] = {}
    for thread_id, times in newest.items():
        for name, at in times.items():
            moves.setdefault(name, []).append((thread_id, at))
    _update_where_older(EmailThread, moves, ids=list(newest))


def candidates_activity_advance(newest: dict[uuid.UUID, datetime]) -> None:
    """Candidates' activity time moved forward to these times, where it is older, in one
    statement."""
    if not newest:
        return
    moves = {"updated_at": list(newest.items())}
    _update_where_older(Candidate, moves, ids=list(newest), only_older=True)


def _update_where_older(
    model: type[models.Model],
    moves: dict[str, list[tuple[uuid.UUID, datetime]]],
    *,
    ids: list[uuid.UUID],
    only_older: bool = False,
) -> None:
    """UPDATE `model`'s rows `ids`: each time column in `moves` set, for each (row id,
    time), to that time where it is older (or empty); the rest as they are. In SQL written
    here: the same statement through the ORM (a CASE with a WHEN per row and column) cost
    more CPU to build than anything else in storing a batch. `only_older`: leave out rows
    with no column to move (so that only rows that change are written, as a filtered
    update did)."""
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    meta = model._meta
    pk = meta.pk
    assert pk is not None and pk.column is not None
    pk_column = quote(pk.column)

    def row(value: uuid.UUID) -> Any:
        return pk.get_db_prep_value(value, connection)

    assignments: list[str] = []
    older_than: list[str] = []
    params: list[Any] = []
    older_params: list[Any] = []
    for name, changes in moves.items():
        field = meta.get_field(name)
        assert isinstance(field, models.DateTimeField) and field.column is not None
        column = quote(field.column)
        whens: list[str] = []
        for row_id, at in changes:
            moment = field.get_db_prep_value(at, connection)
            older = f"({column} IS NULL OR {column} < %s)" if field.null else f"{column} < %s"
            whens.append(f"WHEN {pk_column} = %s AND {older} THEN %s")
            params += [row(row_id), moment, moment]
            older_than.append(f"({pk_column} = %s AND {older})")
            older_params += [row(row_id), moment]
        assignments.append(f"{column} = CASE {' '.join(whens)} ELSE {column} END")
    # Only the model's own table and column names, quoted, go into the text; every value
    # is a parameter.
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {', '.join(assignments)} "  # noqa: S608
        f"WHERE {pk_column} IN ({', '.join(['%s'] * len(ids))})"
    )
    params += [row(value) for value in ids]
    if only_older:
        sql += f" AND ({' OR '.join(older_than)})"
        params += older_params
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def activity_recompute(thread: EmailThread) -> None:
    """Activity from the messages the thread still holds, after some were removed: the
    one case where it moves back. The candidate's own activity time is left as it is."""
    newest = thread.messages.aggregate(
        last_message_at=Max("sent_at"),
        last_inbound_at=Max("sent_at", filter=Q(direction=EmailMessage.Direction.INBOUND)),
        last_outbound_at=Max("sent_at", filter=Q(direction=EmailMessage.Direction.OUTBOUND)),
    )
    if newest["last_message_at"] is None:
        return  # no message left: the caller removes the thread
    EmailThread.objects.filter(pk=thread.pk).update(**newest)
