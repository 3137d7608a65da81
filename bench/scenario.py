"""The mailbox the Gmail benchmark syncs, built straight into the sandbox's tables."""

import email.policy
import email.utils
import json
import random
import time
import tracemalloc
from dataclasses import dataclass
from email.message import EmailMessage as Mime
from urllib.parse import parse_qsl, unquote, urlsplit

from django.db.models import Avg, Count, Q, Sum
from django.test import Client

from accounts.models import Organisation, Role, User
from candidates.models import Candidate, CandidateEmail, EmailMessage, EmailThread
from mailsync.ingest import message_store, thread_for_references
from mailsync.mime import build_message, parse_message
from mailsync.models import MailboxConnection, SyncedMessage
from mailsync.providers import get_provider
from mailsync.providers.gmail import FIELDS_HEADERS, REFERENCE_HEADERS
from mailsync.threadref import new_message_id, thread_ref
from sandbox import services as sandbox
from sandbox.fill import mailbox_fill
from sandbox.google import fields, representation
from sandbox.models import Mailbox, Message, RequestLog

RECRUITER = "riley.bench@acme.test"
BODY = "Thanks for getting back to me. " * 40  # a few KB, like a real reply


def _reply(original: Message, sender: str, *, new_subject: bool) -> bytes:
    headers = {name.lower(): value for name, value in original.headers}
    message = Mime(policy=email.policy.SMTP)
    message["From"] = sender
    message["To"] = RECRUITER
    subject = headers.get("subject", "")
    message["Subject"] = f"Availability — {subject}" if new_subject else f"Re: {subject}"
    message["Date"] = email.utils.formatdate()
    message["Message-ID"] = email.utils.make_msgid(domain="example.com")
    message["In-Reply-To"] = headers.get("message-id", "")
    message["References"] = headers.get("message-id", "")
    message.set_content(BODY)
    return message.as_bytes()


def _message_id_in(path: str) -> str:
    """The message id in a logged API path (…/messages/ID, …/messages/ID/$value)."""
    parts = [unquote(part) for part in urlsplit(path).path.rstrip("/").split("/")]
    return parts[-2] if parts[-1] == "$value" else parts[-1]


def _organisation_id(user: User) -> int:
    """The bench's recruiter, always created in the bench's organisation."""
    assert user.organisation_id is not None
    return user.organisation_id


def _connect(user: User, provider_name: str) -> MailboxConnection:
    """The real authorization flow: the provider's consent page (answered in-process, as a
    person would in a browser), then the code exchange over HTTP."""
    provider = get_provider(provider_name)
    redirect_uri = "http://127.0.0.1/mailbox/callback/"
    scopes = provider.scopes_for("full")
    url, _state, flow_state = provider.authorization_url(
        redirect_uri=redirect_uri, scopes=scopes, login_hint=RECRUITER
    )
    consent = urlsplit(url)
    allow = {"google": "allow", "microsoft": "accept"}[provider_name]
    answer = Client(HTTP_HOST="127.0.0.1").post(
        f"{consent.path}?{consent.query}", {"decision": allow, "address": RECRUITER}
    )
    callback = dict(parse_qsl(urlsplit(answer["Location"]).query))
    authorization = provider.exchange_code(
        redirect_uri=redirect_uri, callback_params=callback, flow_state=flow_state, scopes=scopes
    )
    return MailboxConnection.objects.create(
        user=user,
        organisation_id=_organisation_id(user),
        provider=provider_name,
        account_address=authorization.account_address,
        granted_scopes=authorization.granted_scopes,
        credentials=json.dumps(authorization.credentials),
        cursor=authorization.cursor,
    )


@dataclass
class Scenario:
    connection: MailboxConnection
    # The recruiter's mailbox in the sandbox: what `connection` syncs.
    connection_box: Mailbox
    interest_count: int = 0
    split_threads: int = 0
    rng: random.Random = random.Random(7)  # noqa: RUF009 (reproducible bench data)

    @property
    def recruiter_address(self) -> str:
        return RECRUITER

    @classmethod
    def create(cls, *, provider: str, messages: int, share: float) -> "Scenario":
        organisation = Organisation.objects.create(
            name="Bench Co", slug="bench", email_provider=provider
        )
        user = User.objects.create_user(
            RECRUITER, "x", organisation=organisation, role=Role.TEAM_MEMBER, full_name="Riley"
        )
        box = sandbox.mailbox_create(address=RECRUITER, display_name="Riley", provider=provider)
        # Count the provider's limits, do not enforce them: the run measures our work.
        if provider == "google":
            sandbox.quota_set(mailbox=box, per_minute=10**9)
        else:
            sandbox.graph_limits_set(mailbox=box, per_ten_minutes=10**9, concurrent=None)
        connection = _connect(user, provider)
        scenario = cls(connection=connection, connection_box=box)
        scenario.add_mail(messages=messages, share=share)
        return scenario

    def api_id(self, message: Message) -> str:
        """The id the provider's API hands out (Graph: the immutable id we ask for)."""
        if self.connection.provider == "microsoft":
            return message.immutable_id
        return message.provider_id

    def add_mail(self, *, messages: int, share: float) -> None:
        """`messages` new messages: `share` of them in Threadline threads (half our sends,
        half replies), the rest noise."""
        interest = max(2, int(messages * share))
        sends = interest // 2
        replies = interest - sends
        user = self.connection.user
        organisation_id = _organisation_id(user)
        box = self.connection_box
        sent_copies = []
        for index in range(sends):
            candidate = Candidate.objects.create(
                organisation_id=organisation_id, full_name=f"Candidate {index}"
            )
            address = f"candidate{index}.{self.rng.getrandbits(40):x}@example.com"
            CandidateEmail.objects.create(
                organisation_id=organisation_id,
                candidate=candidate,
                address=address,
                is_primary=True,
            )
            thread = EmailThread.objects.create(
                organisation_id=organisation_id,
                candidate=candidate,
                owner=user,
                subject=f"Role {index}",
            )
            raw = build_message(
                from_address=RECRUITER,
                from_name="Riley",
                to=[address],
                subject=f"Role {index} at Bench Co",
                body_text=BODY,
                message_id=new_message_id(thread.pk),
                threadline_ref=thread_ref(thread.pk),
            )
            copy = sandbox.message_insert(mailbox=box, raw=raw, labels=["SENT"])
            stored = message_store(
                thread=thread,
                parsed=parse_message(raw),
                author=user,
                mailbox=self.connection,
                provider_message_id=self.api_id(copy),
                provider_thread_id=copy.thread_id,
            )
            SyncedMessage.objects.filter(message=stored.message).update(labelled=True)
            sent_copies.append((copy, address))
        for index in range(replies):
            original, address = sent_copies[index % len(sent_copies)]
            split = index % 5 == 4  # an edited subject: Gmail starts a new thread
            self.split_threads += split
            sandbox.message_insert(
                mailbox=box,
                raw=_reply(original, address, new_subject=split),
                labels=["INBOX", "UNREAD"],
            )
        mailbox_fill(mailbox=box, count=messages - interest, seed=self.rng.getrandbits(32))
        self.interest_count = interest

    def log_position(self) -> int:
        last = RequestLog.objects.order_by("-id").values_list("id", flat=True).first()
        return last or 0

    def quota_per_message(self, *, since: int, new_messages: int, stored: int) -> list[tuple]:
        """Gmail quota units by purpose, as rows of (what, calls, units, units per new
        message in the mailbox, units per stored message or None, mean answer bytes).
        A stored reply's own cost is its raw get and its share of our label; the last row
        is what one messages.modify per stored message (the way before batchModify) costs."""
        calls = RequestLog.objects.filter(id__gt=since, mailbox=self.connection_box)
        labelling = ["gmail.users.messages.modify", "gmail.users.messages.batchModify"]
        purposes = [
            ("change listing (history.list)", Q(operation="gmail.users.history.list"), False),
            ("headers-only checks (get, metadata)", Q(format="metadata"), False),
            ("whole-message fetches (get, raw)", Q(format="raw"), True),
            ("our label (modify or batchModify)", Q(operation__in=labelling), True),
            ("all calls", Q(), False),
        ]
        rows = []
        for what, where, per_stored in purposes:
            found = calls.filter(where).aggregate(
                n=Count("id"), units=Sum("units"), size=Avg("response_bytes")
            )
            units = found["units"] or 0
            rows.append(
                (
                    what,
                    found["n"],
                    units,
                    units / max(new_messages, 1),
                    units / max(stored, 1) if per_stored else None,
                    round(found["size"] or 0),
                )
            )
        before = 5 * stored
        rows.append(("our label, one modify per message (before)", stored, before, None, 5.0, None))
        return rows

    def header_check_answer_bytes(self, *, sample: int = 500) -> dict:
        """A headers-only answer's size with and without the partial response we ask for,
        over the mailbox's first messages (rendered in-process by the sandbox)."""
        selection = fields.parse(FIELDS_HEADERS, "gmail.users.messages.get")
        whole = partial = 0
        messages = Message.objects.filter(mailbox=self.connection_box).defer("raw")[:sample]
        for message in messages:
            answer = representation.message_resource(message, "metadata", REFERENCE_HEADERS)
            whole += len(json.dumps(answer))
            partial += len(json.dumps(fields.select(answer, selection)))
        count = max(len(messages), 1)
        return {
            "messages": len(messages),
            "mean_bytes_without_fields_before": round(whole / count),
            "mean_bytes_with_fields_now": round(partial / count),
        }

    def figures(self, *, since: int, seconds: float, peak_mib: float) -> dict:
        calls = RequestLog.objects.filter(id__gt=since, mailbox=self.connection_box)
        by_operation = {
            f"{row['operation']}({row['format']})" if row["format"] else row["operation"]: row["n"]
            for row in calls.values("operation", "format").annotate(n=Count("id"))
        }
        units = calls.aggregate(total=Sum("units"))["total"] or 0
        round_trips = (
            calls.filter(batch_id="").count()
            + calls.exclude(batch_id="").values("batch_id").distinct().count()
        )
        interest_ids = set(
            SyncedMessage.objects.filter(mailbox=self.connection).values_list(
                "provider_message_id", flat=True
            )
        )
        whole_fetches = calls.filter(format__in=["raw", "full", "mime"]).values_list(
            "path", flat=True
        )
        answered = calls.aggregate(total=Sum("response_bytes"))["total"] or 0
        non_interest_whole = sum(
            1 for path in whole_fetches if _message_id_in(path) not in interest_ids
        )
        stored = EmailMessage.objects.count()
        total = Message.objects.filter(mailbox=self.connection_box).count()
        return {
            "seconds": round(seconds, 1),
            "peak_rss_mib": round(peak_mib, 1),
            "api_calls": calls.count(),
            "http_round_trips": round_trips,
            "quota_units": units,
            "answer_bytes_received": answered,
            "calls_by_operation": by_operation,
            "messages_in_mailbox": total,
            "messages_stored_in_threadline": stored,
            "full_or_raw_fetches_of_non_interest_messages": non_interest_whole,
            **(
                {"minutes_of_gmail_quota_at_15000_units_per_minute": round(units / 15000, 1)}
                if self.connection.provider == "google"
                else {
                    "minutes_of_graph_budget_at_10000_requests_per_10_minutes": round(
                        calls.count() / 1000, 1
                    )
                }
            ),
        }

    def local_pipeline(self, *, count: int) -> dict:
        """Parse, match (signature check), encrypt and store, with no provider involved."""
        user = self.connection.user
        organisation_id = _organisation_id(user)
        candidate = Candidate.objects.filter(organisation_id=organisation_id).first()
        assert candidate is not None, "add_mail() creates the candidates"
        thread = EmailThread.objects.create(
            organisation_id=organisation_id, candidate=candidate, owner=user, subject="x"
        )
        ours = new_message_id(thread.pk)
        raws = []
        for index in range(count):
            message = Mime(policy=email.policy.SMTP)
            candidate_address = candidate.emails.first()
            assert candidate_address is not None, "add_mail() gives each candidate one"
            message["From"] = candidate_address.address
            message["To"] = RECRUITER
            message["Subject"] = "Re: x"
            message["Message-ID"] = f"<bench-{index}@example.com>"
            message["In-Reply-To"] = ours
            message["References"] = ours
            message.set_content(BODY)
            raws.append(message.as_bytes())

        def pipeline(batch: list[bytes]) -> None:
            for raw in batch:
                parsed = parse_message(raw)
                target = thread_for_references(
                    organisation_id=organisation_id, headers=list(parsed.reference_headers)
                )
                assert target is not None, "each reply names our message"
                message_store(thread=target, parsed=parsed, author=None)

        started = time.perf_counter()
        pipeline(raws[: count // 2])
        seconds = time.perf_counter() - started
        # Memory on the other half, separately: tracing allocations slows Python down.
        tracemalloc.start()
        pipeline(raws[count // 2 :])
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return {
            "messages_timed": count // 2,
            "seconds": round(seconds, 2),
            "messages_per_second": round(count / 2 / seconds),
            "peak_python_allocations_mib_over_the_other_half": round(peak / 2**20, 1),
        }
