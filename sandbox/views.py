"""The sandbox's own web page: look into mailboxes, read, reply and compose as any of them.
Development and test only, so no login: anyone who can reach it is the developer."""

from datetime import date, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from sandbox import calendars, contacts, mime, selectors, services
from sandbox.forms import (
    AttendeeForm,
    CalendarWeekForm,
    ComposeForm,
    ContactForm,
    InvitationAnswerForm,
    MailboxForm,
    ReplyForm,
    RoutingRuleForm,
)
from sandbox.models import CalendarEvent, Mailbox, Message, Provider, RoutingForward, RoutingRule
from sandbox.routing import routing_rule_delete, routing_rule_enable, routing_rule_set

PAGE_SIZE = 50
RECENT_FORWARDS = 20
FOLDERS = {"inbox": "INBOX", "sent": "SENT", "all": ""}
GMAIL_TABS = [("inbox", "Inbox"), ("sent", "Sent"), ("all", "All mail")]
SHOWN_HEADERS = {
    "from",
    "to",
    "cc",
    "bcc",
    "date",
    "subject",
    "message-id",
    "in-reply-to",
    "references",
    "reply-to",
}


def _mailbox_or_404(address: str) -> Mailbox:
    mailbox = selectors.mailbox_by_address(address)
    if mailbox is None:
        raise Http404("No such sandbox mailbox")
    return mailbox


def _message_or_404(mailbox: Mailbox, message_id: str) -> Message:
    try:
        return selectors.message_get(mailbox=mailbox, provider_id=message_id)
    except services.SandboxError as error:
        raise Http404("No such message") from error


def _index(
    request: HttpRequest, *, form: MailboxForm | None = None, status: int = 200
) -> HttpResponse:
    context = {
        "mailboxes": selectors.mailbox_list(),
        "form": form or MailboxForm(),
        "rules": RoutingRule.objects.all(),
        "forwards": RoutingForward.objects.select_related("rule", "mailbox")[:RECENT_FORWARDS],
        "routing_form": RoutingRuleForm(
            initial={"match_domain": settings.THREADLINE_MESSAGE_ID_DOMAIN}
        ),
        "inbound_domain": settings.THREADLINE_INBOUND_DOMAIN,
    }
    return render(request, "sandbox/index.html", context, status=status)


def index(request: HttpRequest) -> HttpResponse:
    return _index(request)


@require_POST
def mailbox_new(request: HttpRequest) -> HttpResponse:
    form = MailboxForm(request.POST)
    if form.is_valid():
        try:
            mailbox = services.mailbox_create(
                address=form.cleaned_data["address"],
                provider=form.cleaned_data["provider"],
                display_name=form.cleaned_data["display_name"],
                gcc_high=form.cleaned_data["gcc_high"],
            )
        except services.SandboxError as error:
            form.add_error("address", error.message)
        else:
            return redirect("sandbox:mailbox", address=mailbox.address)
    return _index(request, form=form, status=400)


def mailbox_detail(request: HttpRequest, address: str) -> HttpResponse:
    mailbox = _mailbox_or_404(address)
    microsoft = mailbox.provider == Provider.MICROSOFT
    folder = request.GET.get("folder") or ("INBOX" if microsoft else "inbox")
    if microsoft:
        # Outlook folders (Inbox, Sent Items, Drafts, …, sub-folders) by label id.
        tabs = selectors.folder_tabs(mailbox)
        label = FOLDERS.get(folder) or folder
    else:
        tabs = GMAIL_TABS
        label = FOLDERS.get(folder, "INBOX")
    rows = selectors.messages_without_raw(mailbox).order_by("-internal_date", "-id")
    if label:
        rows = rows.filter(label_ids__contains=f" {label} ")
    page = Paginator(rows.only(*selectors.LIST_PAGE_FIELDS), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {"mailbox": mailbox, "folder": folder, "tabs": tabs, "page": page}
    return render(request, "sandbox/mailbox.html", context)


def message_detail(request: HttpRequest, address: str, message_id: str) -> HttpResponse:
    mailbox = _mailbox_or_404(address)
    message = _message_or_404(mailbox, message_id)
    parsed = mime.parse(bytes(message.raw))
    thread = (
        selectors.messages_without_raw(mailbox)
        .filter(thread_id=message.thread_id)
        .order_by("internal_date", "id")
        .only(*selectors.LIST_PAGE_FIELDS)
    )
    context = {
        "mailbox": mailbox,
        "message": message,
        "headers": [(n, v) for n, v in message.headers if n.lower() in SHOWN_HEADERS],
        "parsed": parsed,
        "thread": thread,
        "reply_form": ReplyForm(),
    }
    return render(request, "sandbox/message.html", context)


@require_POST
def reply(request: HttpRequest, address: str, message_id: str) -> HttpResponse:
    mailbox = _mailbox_or_404(address)
    original = _message_or_404(mailbox, message_id)
    form = ReplyForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A reply needs a body.")
        return redirect("sandbox:message", address=mailbox.address, message_id=message_id)
    parsed = mime.parse(bytes(original.raw))
    headers = mime.reply_headers(parsed)
    raw = mime.build_message(
        sender=mailbox.address,
        sender_name=mailbox.display_name,
        to=", ".join(_reply_recipients(mailbox, parsed)),
        subject=headers["subject"],
        body=form.cleaned_data["body"],
        in_reply_to=headers["in_reply_to"],
        references=headers["references"],
    )
    sent = services.message_send(mailbox=mailbox, raw=raw, thread_id=original.thread_id)
    assert sent is not None  # the sender's copy is kept (save_copy)
    messages.success(request, "Reply sent.")
    return redirect("sandbox:message", address=mailbox.address, message_id=sent.provider_id)


def _reply_recipients(mailbox: Mailbox, parsed: mime.ParsedMessage) -> list[str]:
    # Replying to one's own sent message goes to its recipients again.
    if parsed.from_addr == mailbox.address:
        return parsed.to or [mailbox.address]
    reply_to = [value for name, value in parsed.headers if name.lower() == "reply-to"]
    return reply_to or [parsed.from_addr]


@require_http_methods(["GET", "POST"])
def compose(request: HttpRequest, address: str) -> HttpResponse:
    mailbox = _mailbox_or_404(address)
    form = ComposeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        raw = mime.build_message(
            sender=mailbox.address,
            sender_name=mailbox.display_name,
            to=form.cleaned_data["to"],
            cc=form.cleaned_data["cc"],
            subject=form.cleaned_data["subject"],
            body=form.cleaned_data["body"],
        )
        try:
            sent = services.message_send(mailbox=mailbox, raw=raw)
            assert sent is not None  # the sender's copy is kept (save_copy)
        except services.SandboxError as error:
            form.add_error("to", error.message)
        else:
            messages.success(request, "Message sent.")
            return redirect("sandbox:message", address=mailbox.address, message_id=sent.provider_id)
    return render(request, "sandbox/compose.html", {"mailbox": mailbox, "form": form})


@require_http_methods(["GET", "POST"])
def mailbox_contacts(request: HttpRequest, address: str) -> HttpResponse:
    """A sandbox user's address book, and a form to add to it (what Google's People API
    and Graph's contacts and people answers are made of)."""
    mailbox = _mailbox_or_404(address)
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            contacts.contact_add(mailbox=mailbox, **form.cleaned_data)
        except services.SandboxError as error:
            form.add_error("emails", error.message)
        else:
            messages.success(request, "Contact added.")
            return redirect("sandbox:contacts", address=mailbox.address)
    context = {
        "mailbox": mailbox,
        "form": form,
        "contacts": mailbox.contacts.order_by("kind", "display_name", "pk"),
    }
    return render(request, "sandbox/contacts.html", context, status=400 if form.is_bound else 200)


def mailbox_calendar(request: HttpRequest, address: str) -> HttpResponse:
    """A sandbox user's calendar, a week at a time: what the Calendar and Graph faces
    serve, with each attendee's answer and the meeting link."""
    mailbox = _mailbox_or_404(address)
    form = CalendarWeekForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        context = {"mailbox": mailbox, "form": form, "days": [], "week": None}
        return render(request, "sandbox/calendar.html", context, status=400)
    data = form.cleaned_data if form.is_bound else {}
    zone = calendars.zone_or_error(data.get("tz") or "UTC")
    first = calendars.week_start(data.get("week") or timezone.localdate(timezone=zone))
    week = calendars.Week(first=first, zone=zone)
    events = calendars.week_events(mailbox=mailbox, week=week)
    organisers = dict(
        Mailbox.objects.filter(address__in={e.organizer_email.lower() for e in events}).values_list(
            "address", "display_name"
        )
    )
    days = [
        (
            day,
            [
                _event_row(event, zone, organisers)
                for event in events
                if event.start.astimezone(zone).date() <= day <= _last_day(event, zone)
            ],
        )
        for day in week.days
    ]
    context = {
        "mailbox": mailbox,
        "form": CalendarWeekForm(initial={"week": first, "tz": zone.key}),
        "week": week,
        "days": days,
        "tz": zone.key,
        "previous": first - timedelta(days=7),
        "next": first + timedelta(days=7),
    }
    return render(request, "sandbox/calendar.html", context)


def _last_day(event: CalendarEvent, zone: ZoneInfo) -> date:
    # An event ending at midnight does not reach into the next day.
    return (event.end.astimezone(zone) - timedelta(microseconds=1)).date()


def _event_row(event: CalendarEvent, zone: ZoneInfo, organisers: dict[str, str]) -> dict:
    organiser = event.organizer_email.lower()
    return {
        "event": event,
        "starts": event.start.astimezone(zone),
        "ends": event.end.astimezone(zone),
        "organiser": organiser,
        "organiser_name": organisers.get(organiser, ""),
        "is_organiser": organiser == event.mailbox.address.lower(),
        "meeting": event.conference or {},
        "cancelled": event.status == CalendarEvent.Status.CANCELLED,
    }


@require_http_methods(["GET", "POST"])
def invitations(request: HttpRequest) -> HttpResponse:
    """Act as an attendee (a candidate's own address need not be a sandbox user): their
    invitations across every sandbox calendar, and Accept / Maybe / Decline, recorded at
    the organiser's event where the organiser's sync sees it."""
    if request.method == "POST":
        answer = InvitationAnswerForm(request.POST)
        if answer.is_valid():
            email = answer.cleaned_data["email"]
            try:
                event = calendars.invitation_answer(
                    email=email,
                    ical_uid=answer.cleaned_data["ical_uid"],
                    answer=answer.cleaned_data["answer"],
                )
            except services.SandboxError as error:
                return _invitations(request, AttendeeForm({"email": email}), error.message, 400)
            said = calendars.ANSWERS[answer.cleaned_data["answer"]]
            messages.success(request, f"{email}: {said} — {event.summary or '(no title)'}.")
            return redirect(f"{reverse('sandbox:invitations')}?{urlencode({'email': email})}")
        problems = "; ".join(
            f"{name}: {' '.join(str(e) for e in errs)}" for name, errs in answer.errors.items()
        )
        form = AttendeeForm({"email": request.POST.get("email", "")})
        return _invitations(request, form, problems, 400)
    form = AttendeeForm(request.GET or None)
    status = 400 if form.is_bound and not form.is_valid() else 200
    return _invitations(request, form, "", status)


def _invitations(
    request: HttpRequest, form: AttendeeForm, problem: str, status: int
) -> HttpResponse:
    email = form.cleaned_data["email"] if form.is_valid() else ""
    rows = [
        {
            "event": event,
            "answer": calendars.own_answer(event, email),
            "cancelled": event.status == CalendarEvent.Status.CANCELLED,
            "meeting": event.conference or {},
        }
        for event in calendars.invitations_for(email)
    ]
    context = {
        "form": form,
        "email": email,
        "rows": rows,
        "problem": problem,
        "answers": list(calendars.ANSWERS.items()),
        "is_mailbox": bool(email) and selectors.mailbox_by_address(email) is not None,
    }
    return render(request, "sandbox/invitations.html", context, status=status)


def _routing_prefill(request: HttpRequest) -> dict[str, str]:
    prefill = {name: request.GET.get(name, "").strip() for name in RoutingRuleForm.base_fields}
    prefill["match_domain"] = prefill["match_domain"] or settings.THREADLINE_MESSAGE_ID_DOMAIN
    return prefill


@require_http_methods(["GET", "POST"])
def routing(request: HttpRequest) -> HttpResponse:
    """Add or update a customer's routing rule. GET takes `domain`, `deliver_to` and
    `match_domain` to prefill the form (Threadline's "Apply this rule in the sandbox")."""
    form = RoutingRuleForm(request.POST or None, initial=_routing_prefill(request))
    if form.is_valid():
        try:
            rule = routing_rule_set(
                domain=form.cleaned_data["domain"],
                also_deliver_to=form.cleaned_data["deliver_to"],
                match_domain=form.cleaned_data["match_domain"],
            )
        except services.SandboxError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Routing rule on: {rule}.")
            return redirect("sandbox:index")
    context = {"form": form, "inbound_domain": settings.THREADLINE_INBOUND_DOMAIN}
    return render(request, "sandbox/routing.html", context, status=400 if form.is_bound else 200)


@require_POST
def routing_toggle(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(RoutingRule, pk=rule_id)
    rule = routing_rule_enable(rule=rule, enabled=not rule.enabled)
    messages.success(request, f"Routing rule {'on' if rule.enabled else 'off'}: {rule}.")
    return redirect("sandbox:index")


@require_POST
def routing_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(RoutingRule, pk=rule_id)
    routing_rule_delete(rule=rule)
    messages.success(request, f"Routing rule removed: {rule}.")
    return redirect("sandbox:index")
