"""`manage.py sandbox <sub>`: drive the provider sandbox from a shell, a test or a benchmark."""

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from sandbox import calendars, contacts, fill, requestlog, routing, selectors, services, tokens
from sandbox.google import scopes as google_scopes
from sandbox.models import (
    CalendarEvent,
    Contact,
    Mailbox,
    Message,
    Provider,
    RoutingRule,
    Tenant,
)
from sandbox.tls import tls_files

SCOPE_ALIASES = {
    "mail": google_scopes.MAIL,
    "modify": google_scopes.MODIFY,
    "readonly": google_scopes.READONLY,
    "metadata": google_scopes.METADATA,
    "send": google_scopes.SEND,
    "labels": google_scopes.LABELS,
    "compose": google_scopes.COMPOSE,
    "contacts": google_scopes.CONTACTS_READONLY,
    "other-contacts": google_scopes.CONTACTS_OTHER_READONLY,
    "calendar": google_scopes.CALENDAR_EVENTS,
    "freebusy": google_scopes.CALENDAR_FREEBUSY,
}
# Short names for a Microsoft mailbox's Graph permissions.
MICROSOFT_SCOPE_ALIASES = {
    "read": "Mail.Read",
    "readwrite": "Mail.ReadWrite",
    "send": "Mail.Send",
    "settings": "MailboxSettings.ReadWrite",
    "user": "User.Read",
    "contacts": "Contacts.Read",
    "people": "People.Read",
    "calendar": "Calendars.ReadWrite",
}


class Command(BaseCommand):
    help = "Manage the local Google/Microsoft provider sandbox."

    def add_arguments(self, parser: CommandParser) -> None:
        subs = parser.add_subparsers(dest="sub", required=True)
        create = subs.add_parser("create-mailbox", help="Create a sandbox mailbox")
        create.add_argument("address")
        create.add_argument("--provider", choices=Provider.values, default=Provider.GOOGLE)
        create.add_argument("--name", default="")
        create.add_argument(
            "--gcc-high", action="store_true", help="Microsoft: the domain is a GCC High tenant"
        )

        token = subs.add_parser("token", help="Print a fresh access token (new grant)")
        token.add_argument("address")
        token.add_argument(
            "--scope",
            action="append",
            required=True,
            help="A scope or a short name: Google "
            + ", ".join(SCOPE_ALIASES)
            + "; Microsoft "
            + ", ".join(MICROSOFT_SCOPE_ALIASES),
        )
        token.add_argument("--client-id", default="sandbox-cli")

        deliver = subs.add_parser("deliver", help="Deliver one RFC 5322 message from stdin")
        deliver.add_argument("address")

        contact = subs.add_parser("contact-add", help="Add a person to a mailbox's contacts")
        contact.add_argument("address", help="The sandbox mailbox whose address book it is")
        contact.add_argument("--name", default="", help="Display name, e.g. 'Ann Lee'")
        contact.add_argument("--email", action="append", default=[], help="Repeat for several")
        contact.add_argument("--phone", action="append", default=[])
        contact.add_argument("--job-title", default="")
        contact.add_argument("--company", default="")
        contact.add_argument(
            "--other",
            action="store_true",
            help="An 'other contact' (someone the user wrote to) rather than a saved one",
        )

        event = subs.add_parser(
            "event-create", help="Put an event in a mailbox's calendar (make someone busy)"
        )
        event.add_argument("address", help="The sandbox mailbox whose calendar it is (organiser)")
        event.add_argument("--start", required=True, help="e.g. 2026-03-09T14:00 (in --tz)")
        ends = event.add_mutually_exclusive_group(required=True)
        ends.add_argument("--end", help="e.g. 2026-03-09T15:00 (in --tz)")
        ends.add_argument("--duration", type=int, help="Minutes")
        event.add_argument("--title", default="Busy")
        event.add_argument("--tz", default="UTC", help="IANA time zone, e.g. Europe/Berlin")
        event.add_argument(
            "--attendee", action="append", default=[], help="Invite an address; repeat"
        )
        event.add_argument(
            "--online-meeting", action="store_true", help="Add a Meet link / Teams meeting"
        )
        event.add_argument("--free", action="store_true", help="Show as free (not busy)")

        respond = subs.add_parser(
            "event-respond", help="Answer an invitation as an attendee (need not be a mailbox)"
        )
        respond.add_argument("address", help="The attendee's address, e.g. a candidate's")
        which = respond.add_mutually_exclusive_group(required=True)
        which.add_argument("--id", help="The event's id (either copy) or its iCalUID")
        which.add_argument("--title", help="The invitation's title (exact, any case)")
        respond.add_argument(
            "--organiser", help="With --title: only the events of this organiser's calendar"
        )
        respond.add_argument("--answer", required=True, help="accept, tentative (maybe) or decline")

        delete = subs.add_parser(
            "delete", help="Delete a message for good, as emptying Trash / Deleted Items does"
        )
        delete.add_argument("address")
        delete.add_argument("message_id", help="Its Message-ID header, with or without <>")

        move = subs.add_parser(
            "move",
            help="Move a message out of the inbox: Gmail archives it (or labels it --to "
            "LABEL), Microsoft moves it to a folder (ARCHIVE, TRASH for Deleted Items...)",
        )
        move.add_argument("address")
        move.add_argument("message_id", help="Its Message-ID header, with or without <>")
        move.add_argument("--to", default="ARCHIVE", help="A label/folder id; default ARCHIVE")

        log = subs.add_parser("log", help="Print the request log as JSON lines")
        log.add_argument("address", nargs="?")

        fault = subs.add_parser("fault", help="Make the next N API calls fail or stall")
        fault.add_argument("address")
        fault.add_argument("--status", type=int, choices=[429, 500, 503])
        fault.add_argument("--delay", type=float, default=0, help="Seconds to stall each call")
        fault.add_argument("--count", type=int, default=1)
        fault.add_argument(
            "--retry-after", type=int, default=1, help="Seconds a 429 asks the client to wait"
        )

        quota = subs.add_parser("quota", help="Set the per-minute quota (units) of a mailbox")
        quota.add_argument("address")
        quota.add_argument("--per-minute", type=int, help="Omit to restore the default")
        quota.add_argument("--per-ten-minutes", type=int, help="Microsoft: Graph requests")
        quota.add_argument("--concurrency", type=int, help="Microsoft: requests at once")

        expire = subs.add_parser("expire-history", help="Drop retained history (forces 404)")
        expire.add_argument("address")

        delta = subs.add_parser("expire-delta", help="Invalidate Graph delta tokens (410)")
        delta.add_argument("address")

        revoke = subs.add_parser("revoke", help="Revoke every grant of a mailbox")
        revoke.add_argument("address")

        consent = subs.add_parser("admin-consent", help="Tenant-wide consent for a client")
        consent.add_argument("domain", help="A Microsoft tenant's domain or id")
        consent.add_argument("--client-id", required=True)
        consent.add_argument("--scope", action="append", default=[], help="Omit for all")

        noise = subs.add_parser("fill", help="Bulk-insert realistic unrelated mail")
        noise.add_argument("address")
        noise.add_argument("--count", type=int, required=True)
        noise.add_argument("--seed", type=int)

        route = subs.add_parser(
            "route", help="A customer's routing rule: copy mail citing Threadline to an address"
        )
        route.add_argument("--domain", required=True, help="The customer's mail domain")
        route.add_argument("--deliver-to", required=True, help="Threadline's inbound address")
        route.add_argument("--match-domain", help="Default: settings.THREADLINE_MESSAGE_ID_DOMAIN")
        route.add_argument("--off", action="store_true", help="Turn an existing rule off")

        subs.add_parser(
            "tls-cert", help="Create the local CA and HTTPS certificate (prints their paths)"
        )

    def handle(self, *args, **options) -> None:
        handler = getattr(self, "handle_" + options["sub"].replace("-", "_"))
        try:
            handler(options)
        except services.SandboxError as error:
            raise CommandError(error.message) from error

    def _mailbox(self, address: str) -> Mailbox:
        mailbox = selectors.mailbox_by_address(address)
        if mailbox is None:
            raise CommandError(f"No sandbox mailbox {address}")
        return mailbox

    def _print(self, payload: dict) -> None:
        self.stdout.write(json.dumps(payload))

    def handle_create_mailbox(self, options: dict) -> None:
        mailbox = services.mailbox_create(
            address=options["address"],
            provider=options["provider"],
            display_name=options["name"],
            gcc_high=options["gcc_high"],
        )
        created: dict[str, object] = {"address": mailbox.address, "provider": mailbox.provider}
        if mailbox.tenant is not None:
            created["tenant"] = mailbox.tenant.tenant_id
            created["gccHigh"] = mailbox.tenant.gcc_high
        self._print(created)

    def handle_token(self, options: dict) -> None:
        mailbox = self._mailbox(options["address"])
        aliases = (
            MICROSOFT_SCOPE_ALIASES if mailbox.provider == Provider.MICROSOFT else (SCOPE_ALIASES)
        )
        scopes = [aliases.get(scope, scope) for scope in options["scope"]]
        access = tokens.mailbox_grant_token(
            mailbox=mailbox, scopes=scopes, client_id=options["client_id"]
        )
        self.stdout.write(access.token)

    def handle_deliver(self, options: dict) -> None:
        mailbox = self._mailbox(options["address"])
        raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read()
        if isinstance(raw, str):
            raw = raw.encode()
        if not raw.strip():
            raise CommandError("No message on stdin")
        message = services.message_deliver(mailbox=mailbox, raw=raw)
        self._print(
            {
                "id": message.provider_id,
                "threadId": message.thread_id,
                "messageId": message.rfc822_msgid,
                "historyId": str(message.history_id),
            }
        )

    def _message(self, options: dict) -> Message:
        mailbox = self._mailbox(options["address"])
        bare = options["message_id"].strip().strip("<>")
        message = (
            Message.objects.filter(mailbox=mailbox, rfc822_msgid__in=[bare, f"<{bare}>"])
            .order_by("-internal_date")
            .first()
        )
        if message is None:
            raise CommandError(f"No message {options['message_id']} in {mailbox.address}")
        return message

    def handle_delete(self, options: dict) -> None:
        message = self._message(options)
        services.message_delete(message=message)
        self._print({"deleted": message.provider_id})

    def handle_move(self, options: dict) -> None:
        message = services.message_file(message=self._message(options), folder=options["to"])
        self._print({"id": message.provider_id, "labelIds": message.labels})

    def handle_contact_add(self, options: dict) -> None:
        added = contacts.contact_add(
            mailbox=self._mailbox(options["address"]),
            display_name=options["name"],
            emails=options["email"],
            phones=options["phone"],
            job_title=options["job_title"],
            company=options["company"],
            kind=Contact.Kind.OTHER if options["other"] else Contact.Kind.CONTACT,
        )
        self._print(
            {
                "id": added.provider_id,
                "kind": added.kind,
                "displayName": added.display_name,
                "emails": added.emails,
            }
        )

    def handle_event_create(self, options: dict) -> None:
        mailbox = self._mailbox(options["address"])
        zone = calendars.zone_or_error(options["tz"])
        start = self._moment(options["start"], zone, "--start")
        if options["duration"] is not None:
            if options["duration"] <= 0:
                raise CommandError("--duration must be a positive number of minutes")
            end = start + timedelta(minutes=options["duration"])
        else:
            end = self._moment(options["end"], zone, "--end")
        event = calendars.event_make(
            mailbox=mailbox,
            summary=options["title"],
            start=start,
            end=end,
            time_zone=zone.key,
            attendees=options["attendee"],
            online_meeting=options["online_meeting"],
            transparent=options["free"],
        )
        self._print(self._event(event))

    def handle_event_respond(self, options: dict) -> None:
        email = options["address"].strip().lower()
        if options["id"]:
            event = calendars.event_by_id(options["id"])
        else:
            organiser = self._mailbox(options["organiser"]) if options["organiser"] else None
            event = calendars.event_by_title(mailbox=organiser, email=email, title=options["title"])
        answered = calendars.invitation_answer(
            email=email, ical_uid=event.ical_uid, answer=options["answer"]
        )
        self._print({**self._event(answered), "answer": calendars.own_answer(answered, email)})

    @staticmethod
    def _moment(text: str, zone: ZoneInfo, option: str) -> datetime:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as error:
            raise CommandError(f"{option}: not a date and time: {text!r}") from error
        return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment

    @staticmethod
    def _event(event: CalendarEvent) -> dict:
        return {
            "id": event.provider_id,
            "iCalUID": event.ical_uid,
            "calendar": event.mailbox.address,
            "title": event.summary,
            "start": event.start.astimezone(UTC).isoformat(),
            "end": event.end.astimezone(UTC).isoformat(),
            "timeZone": event.time_zone,
            "attendees": {a.get("email"): a.get("responseStatus") for a in event.attendees},
            "meetingUrl": (event.conference or {}).get("url", ""),
        }

    def handle_log(self, options: dict) -> None:
        mailbox = self._mailbox(options["address"]) if options["address"] else None
        for entry in requestlog.log_as_dicts(mailbox=mailbox):
            self.stdout.write(json.dumps(entry))

    def handle_fault(self, options: dict) -> None:
        if options["status"] is None and not options["delay"]:
            raise CommandError("Give --status and/or --delay")
        mailbox = services.fault_set(
            mailbox=self._mailbox(options["address"]),
            count=options["count"],
            status=options["status"],
            delay=options["delay"],
            retry_after=options["retry_after"],
        )
        self._print(
            {
                "address": mailbox.address,
                "status": mailbox.fault_status,
                "delay": mailbox.fault_delay,
                "retryAfter": mailbox.fault_retry_after,
                "remaining": mailbox.fault_remaining,
            }
        )

    def handle_quota(self, options: dict) -> None:
        mailbox = self._mailbox(options["address"])
        if mailbox.provider == Provider.MICROSOFT:
            mailbox = services.graph_limits_set(
                mailbox=mailbox,
                per_ten_minutes=options["per_ten_minutes"],
                concurrent=options["concurrency"],
            )
            self._print(
                {
                    "address": mailbox.address,
                    "per_ten_minutes": mailbox.requests_per_ten_minutes,
                    "concurrency": mailbox.concurrent_requests,
                }
            )
            return
        mailbox = services.quota_set(mailbox=mailbox, per_minute=options["per_minute"])
        self._print({"address": mailbox.address, "per_minute": mailbox.quota_per_minute})

    def handle_expire_history(self, options: dict) -> None:
        floor = services.history_expire(mailbox=self._mailbox(options["address"]))
        self._print({"historyFloor": str(floor)})

    def handle_expire_delta(self, options: dict) -> None:
        floor = services.delta_expire(mailbox=self._mailbox(options["address"]))
        self._print({"historyFloor": str(floor)})

    def handle_revoke(self, options: dict) -> None:
        revoked = tokens.grants_revoke(mailbox=self._mailbox(options["address"]))
        self._print({"address": options["address"], "revokedGrants": revoked})

    def handle_admin_consent(self, options: dict) -> None:
        key = options["domain"].strip().lower()
        tenant = Tenant.objects.filter(Q(domain=key) | Q(tenant_id=key)).first()
        if tenant is None:
            raise CommandError(f"No Microsoft tenant {options['domain']}")
        consent = services.admin_consent_grant(
            tenant=tenant, client_id=options["client_id"], scopes=options["scope"]
        )
        self._print(
            {
                "tenant": tenant.tenant_id,
                "domain": tenant.domain,
                "clientId": consent.client_id,
                "scopes": consent.scopes.split(),
            }
        )

    def handle_fill(self, options: dict) -> None:
        mailbox = self._mailbox(options["address"])
        started = time.perf_counter()
        count = fill.mailbox_fill(mailbox=mailbox, count=options["count"], seed=options["seed"])
        elapsed = time.perf_counter() - started
        self._print({"address": mailbox.address, "inserted": count, "seconds": round(elapsed, 2)})

    def handle_route(self, options: dict) -> None:
        if options["off"]:
            rule = RoutingRule.objects.filter(
                domain=options["domain"].strip().lower(),
                also_deliver_to=options["deliver_to"].strip().lower(),
            ).first()
            if rule is None:
                raise CommandError("No such routing rule")
            rule = routing.routing_rule_enable(rule=rule, enabled=False)
        else:
            rule = routing.routing_rule_set(
                domain=options["domain"],
                also_deliver_to=options["deliver_to"],
                match_domain=options["match_domain"],
            )
        self._print(
            {
                "domain": rule.domain,
                "matchDomain": rule.match_domain,
                "deliverTo": rule.also_deliver_to,
                "enabled": rule.enabled,
                "reachesMailgun": rule.reaches_mailgun,
            }
        )

    def handle_tls_cert(self, options: dict) -> None:
        files = tls_files(Path(settings.VAR_DIR) / "sandbox-tls")
        self._print(
            {"ca": str(files.ca), "certificate": str(files.certificate), "key": str(files.key)}
        )
