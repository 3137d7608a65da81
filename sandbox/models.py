"""Provider-neutral storage for the sandbox: mailboxes, raw messages, labels, history,
OAuth grants and the request log.

Google- and Microsoft-facing shapes are built from these rows by `sandbox.google` and
`sandbox.microsoft`; nothing here knows a JSON field name of either API. Label ids are
stored as stable strings ("INBOX", "Label_3", "Folder_2"): a Gmail label id verbatim, and
for a Microsoft mailbox the folder a message sits in (Graph's folder ids are derived from
them), so sending, delivery and the web page treat both providers alike.
"""

from datetime import UTC, datetime

from django.conf import settings
from django.db import models
from django.utils.timezone import now as timezone_now


class Provider(models.TextChoices):
    GOOGLE = "google", "Google"
    MICROSOFT = "microsoft", "Microsoft"


class Tenant(models.Model):
    """A Microsoft Entra tenant: one per mail domain of the sandbox's Microsoft mailboxes."""

    tenant_id = models.CharField(max_length=36, unique=True, help_text="A GUID")
    domain = models.CharField(max_length=253, unique=True)
    # US Government "GCC High" tenants answer discovery as the microsoftonline.us cloud.
    gcc_high = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain


class AdminConsent(models.Model):
    """A tenant administrator consented for every user of the tenant: the consent page is
    skipped for this client. Empty scopes mean "every permission the app asks for"."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="admin_consents")
    client_id = models.CharField(max_length=300)
    scopes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.tenant} → {self.client_id}"


class Mailbox(models.Model):
    provider = models.CharField(max_length=16, choices=Provider.choices, default=Provider.GOOGLE)
    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.PROTECT, related_name="mailboxes"
    )
    address = models.EmailField(unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # A monotonically increasing change counter (Gmail's historyId, a Graph delta cursor).
    history_id = models.BigIntegerField(default=1)
    # History below this id is no longer retained: asking for it is a 404 (full resync).
    history_floor = models.BigIntegerField(default=0)
    # Per-mailbox override of SANDBOX_GOOGLE_QUOTA_PER_MINUTE, so a test can hit the limit
    # in a handful of calls instead of thousands.
    quota_per_minute = models.PositiveIntegerField(null=True, blank=True)
    # Microsoft Graph's Outlook limits, per mailbox: requests per ten minutes and requests
    # in flight at once (None: the defaults, 10,000 and 4).
    requests_per_ten_minutes = models.PositiveIntegerField(null=True, blank=True)
    concurrent_requests = models.PositiveSmallIntegerField(null=True, blank=True)
    # Fault injection: the next `fault_remaining` API calls answer `fault_status`
    # (when set) after sleeping `fault_delay` seconds (when set); a 429 asks the client to
    # wait `fault_retry_after` seconds (Retry-After), as a provider's long throttle does.
    fault_status = models.PositiveSmallIntegerField(null=True, blank=True)
    fault_delay = models.FloatField(default=0)
    fault_retry_after = models.PositiveIntegerField(default=1)
    fault_remaining = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "mailboxes"
        ordering = ["address"]

    def __str__(self) -> str:
        return self.address


class Message(models.Model):
    """One copy of a message in one mailbox, kept as the raw RFC 5322 bytes plus the parsed
    fields that listing, searching and metadata answers need (so those never parse MIME)."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="messages")
    # Gmail's message id, or Graph's REST id (which changes when the message moves folder).
    provider_id = models.CharField(max_length=200)
    # Gmail's threadId, or Graph's conversationId.
    thread_id = models.CharField(max_length=200)
    # Graph's immutable id (kept across moves and sending a draft); empty for Gmail.
    immutable_id = models.CharField(max_length=200, blank=True)
    raw = models.BinaryField()
    # Message-ID without angle brackets; In-Reply-To/References point at these.
    rfc822_msgid = models.CharField(max_length=500, blank=True)
    subject = models.CharField(max_length=1000, blank=True)
    subject_normalized = models.CharField(max_length=1000, blank=True)
    from_addr = models.CharField(max_length=320, blank=True)
    from_name = models.CharField(max_length=320, blank=True)
    # Lower-cased addresses separated and surrounded by spaces: " a@x b@y ", so a
    # recipient test is a `contains` on " a@x ".
    to_addrs = models.TextField(blank=True)
    cc_addrs = models.TextField(blank=True)
    bcc_addrs = models.TextField(blank=True)
    # Header (name, value) pairs in message order, for metadata answers.
    headers = models.JSONField(default=list)
    snippet = models.CharField(max_length=300, blank=True)
    # Label ids wrapped in spaces: " INBOX UNREAD ", filtered with `contains`.
    label_ids = models.CharField(max_length=2000, default=" ")
    internal_date = models.BigIntegerField(help_text="Milliseconds since the epoch")
    size = models.PositiveIntegerField(default=0)
    history_id = models.BigIntegerField(default=0)
    has_attachments = models.BooleanField(default=False)
    # Outlook categories (names from the master list); Gmail messages have none.
    categories = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "provider_id"], name="sandbox_msg_uniq_id")
        ]
        indexes = [
            # messages.list: newest first, keyset-paged by (internal_date, id).
            models.Index(fields=["mailbox", "-internal_date", "-id"], name="sandbox_msg_list"),
            # Threading and rfc822msgid: searches.
            models.Index(fields=["mailbox", "rfc822_msgid"], name="sandbox_msg_msgid"),
            models.Index(fields=["mailbox", "thread_id"], name="sandbox_msg_thread"),
            models.Index(fields=["mailbox", "immutable_id"], name="sandbox_msg_immutable"),
        ]

    def __str__(self) -> str:
        return f"{self.provider_id} {self.subject[:40]}"

    @property
    def labels(self) -> list[str]:
        return self.label_ids.split()

    @property
    def received_at(self) -> datetime:
        return datetime.fromtimestamp(self.internal_date / 1000, tz=UTC)

    @property
    def unread(self) -> bool:
        return " UNREAD " in self.label_ids


class Label(models.Model):
    class Kind(models.TextChoices):
        SYSTEM = "system"
        USER = "user"

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="labels")
    provider_id = models.CharField(max_length=100)
    name = models.CharField(max_length=225)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.USER)
    # Provider-specific presentation options (Gmail: visibility, color), stored verbatim.
    options = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "provider_id"], name="sandbox_label_uniq")
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Category(models.Model):
    """An entry of an Outlook mailbox's master category list (name and colour preset)."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="categories")
    category_id = models.CharField(max_length=36, help_text="A GUID, as Graph names them")
    name = models.CharField(max_length=255)
    color = models.CharField(max_length=16, default="none")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "name"], name="sandbox_category_uniq")
        ]

    def __str__(self) -> str:
        return self.name


class HistoryEvent(models.Model):
    class Kind(models.TextChoices):
        MESSAGE_ADDED = "messageAdded"
        MESSAGE_DELETED = "messageDeleted"
        LABEL_ADDED = "labelAdded"
        LABEL_REMOVED = "labelRemoved"
        # A property other than labels changed (Outlook categories, read state): Graph's
        # delta reports the message again; Gmail's history has no such record.
        MESSAGE_CHANGED = "messageChanged"

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="history")
    history_id = models.BigIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Ids rather than a foreign key: a deleted message's history must outlive its row.
    # message_id is the id the message had when the event happened (a Graph REST id
    # changes on a move, and a delta must report the removal under the id clients knew).
    message_id = models.CharField(max_length=200)
    thread_id = models.CharField(max_length=200)
    immutable_id = models.CharField(max_length=200, blank=True)
    # The labels the event added or removed (label events only), space-separated.
    changed_label_ids = models.CharField(max_length=2000, blank=True)
    # The message's labels right after the event, space-wrapped like Message.label_ids.
    message_label_ids = models.CharField(max_length=2000, default=" ")

    class Meta:
        indexes = [models.Index(fields=["mailbox", "history_id"], name="sandbox_hist_id")]

    def __str__(self) -> str:
        return f"{self.history_id} {self.kind} {self.message_id}"


class Grant(models.Model):
    """One consent: a mailbox allowed a client these scopes. Revoking it kills every token."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="grants")
    client_id = models.CharField(max_length=300)
    scopes = models.TextField(help_text="Space-separated, in the order requested")
    refresh_token = models.CharField(max_length=200, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.mailbox} → {self.client_id}"

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()


class AuthorizationCode(models.Model):
    code = models.CharField(max_length=200, unique=True)
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE)
    client_id = models.CharField(max_length=300)
    redirect_uri = models.CharField(max_length=2000)
    scopes = models.TextField()
    code_challenge = models.CharField(max_length=200, blank=True)
    code_challenge_method = models.CharField(max_length=10, blank=True)
    offline = models.BooleanField(default=False)
    # OpenID Connect: echoed in the id_token issued for this code.
    nonce = models.CharField(max_length=500, blank=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.code[:12]


class RefreshToken(models.Model):
    """Microsoft's refresh tokens: every refresh returns a new one and earlier ones stay
    valid until the grant is revoked (Google's grants keep one, in Grant.refresh_token)."""

    token = models.CharField(max_length=200, unique=True)
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="refresh_tokens")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.token[:12]


class AccessToken(models.Model):
    token = models.CharField(max_length=200, unique=True)
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="access_tokens")
    scopes = models.TextField()
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.token[:12]

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()


class RequestLog(models.Model):
    """Every OAuth and API call the sandbox answered, one row per inner batch call too."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    provider = models.CharField(max_length=16, choices=Provider.choices)
    mailbox = models.ForeignKey(Mailbox, null=True, blank=True, on_delete=models.CASCADE)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=2000)
    operation = models.CharField(max_length=100, blank=True)
    format = models.CharField(max_length=20, blank=True)
    # The Prefer request header (Graph: IdType="ImmutableId", odata.maxpagesize=N).
    prefer = models.CharField(max_length=300, blank=True)
    scopes = models.TextField(blank=True)
    units = models.PositiveIntegerField(default=0)
    status = models.PositiveSmallIntegerField()
    # Calls that arrived inside one batch share this id (empty for direct calls).
    batch_id = models.CharField(max_length=40, blank=True)
    duration_ms = models.FloatField(default=0)
    # Google's partial-response selection the call asked for (its `fields` parameter).
    fields = models.CharField(max_length=2000, blank=True)
    # The size of the answer's body; a batch's own row counts its whole multipart.
    response_bytes = models.PositiveIntegerField(default=0)
    # The size of the request's body (Graph refuses requests over 4 MB).
    request_bytes = models.PositiveIntegerField(default=0)
    # The answer itself, kept only under SANDBOX_LOG_RESPONSE_BODIES (tests proving what
    # never left the sandbox); empty otherwise.
    response_body = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["mailbox", "id"], name="sandbox_log_mailbox")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status}"


class RoutingRule(models.Model):
    """A customer mail admin's routing rule (a Google Workspace content compliance rule
    with "Also deliver to", an Exchange Online transport rule with BlindCopyTo): mail to
    or from mailboxes of `domain` whose References or In-Reply-To contains
    "@<match_domain>>" is also delivered to `also_deliver_to`."""

    domain = models.CharField(max_length=253, help_text="The Workspace or tenant mail domain")
    match_domain = models.CharField(max_length=253)
    also_deliver_to = models.EmailField()
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["domain", "also_deliver_to"], name="sandbox_routing_rule_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.domain} → {self.also_deliver_to}"

    @property
    def reaches_mailgun(self) -> bool:
        """Copies for Threadline's inbound domain are posted to its Mailgun webhook; the
        sandbox has nowhere to deliver copies for any other address."""
        domain = self.also_deliver_to.rsplit("@", 1)[-1].lower()
        return domain == settings.THREADLINE_INBOUND_DOMAIN.lower()


class RoutingForward(models.Model):
    """One message copied by a rule. A rule acts once per message (by Message-ID), however
    many mailboxes of the domain it lands in; the row is claimed before the copy is posted
    and keeps the webhook's answer."""

    rule = models.ForeignKey(RoutingRule, on_delete=models.CASCADE, related_name="forwards")
    message_id = models.CharField(max_length=500)
    # The mailbox the message first landed in (a copy made when it arrived there).
    mailbox = models.ForeignKey(Mailbox, null=True, blank=True, on_delete=models.SET_NULL)
    subject = models.CharField(max_length=1000, blank=True)
    # The webhook's status code; 0 when it did not answer; None until posted.
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    posted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "message_id"], name="sandbox_routing_fwd_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.message_id} → {self.rule.also_deliver_to} {self.status}"


class UploadSession(models.Model):
    """A Graph attachment upload session (attachment: createUploadSession): the bytes
    received so far for one file of one draft. Its `token` is what the uploadUrl carries
    instead of an Authorization header."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    token = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    size = models.PositiveBigIntegerField()
    is_inline = models.BooleanField(default=False)
    content_id = models.CharField(max_length=255, blank=True)
    received = models.BinaryField(default=b"")
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Upload of {self.name} ({len(self.received)}/{self.size})"


class CalendarEvent(models.Model):
    """An event in a sandbox user's calendar, served as a Google Calendar v3 event or a
    Graph event depending on the mailbox's provider. An attendee's copy of an invitation is
    its own row in their calendar, sharing the organiser's `ical_uid`."""

    class Status(models.TextChoices):
        CONFIRMED = "confirmed", "Confirmed"
        TENTATIVE = "tentative", "Tentative"
        CANCELLED = "cancelled", "Cancelled"

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="events")
    provider_id = models.CharField(max_length=200, unique=True)
    ical_uid = models.CharField(max_length=255, db_index=True)
    summary = models.CharField(max_length=1000, blank=True)
    description = models.TextField(blank=True)
    location = models.CharField(max_length=1000, blank=True)
    start = models.DateTimeField()
    end = models.DateTimeField()
    time_zone = models.CharField(max_length=64, default="UTC")
    all_day = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CONFIRMED)
    # Busy (opaque) or free (transparent) for free/busy and getSchedule.
    transparent = models.BooleanField(default=False)
    organizer_email = models.EmailField(blank=True)
    # [{"email", "displayName", "responseStatus", "optional"}], Google's vocabulary; Graph's
    # views translate (needsAction → none, accepted, declined, tentative → tentativelyAccepted).
    attendees = models.JSONField(default=list, blank=True)
    # Google extendedProperties.private / Graph single-value extended properties, as
    # {name or property id: value}.
    private_properties = models.JSONField(default=dict, blank=True)
    # The online meeting: {"kind": "hangoutsMeet" | "teamsForBusiness", "url": ..., "id": ...}.
    conference = models.JSONField(default=dict, blank=True)
    sequence = models.PositiveIntegerField(default=0)
    # When the event left its calendar (its owner deleted it, or an attendee declined and
    # Outlook moved the invitation out). The row stays so a delta round can report the
    # removal; every other read leaves it out.
    removed_at = models.DateTimeField(null=True, blank=True)
    # The mailbox's change counter when the event last changed: sync tokens and delta
    # links are positions in it (Mailbox.history_id).
    changed_seq = models.BigIntegerField(default=0, db_index=True)
    created_at = models.DateTimeField(default=timezone_now)
    updated_at = models.DateTimeField(default=timezone_now)

    class Meta:
        ordering = ["start", "pk"]

    def __str__(self) -> str:
        return f"{self.summary or '(no title)'} in {self.mailbox_id} at {self.start:%Y-%m-%d %H:%M}"


class Contact(models.Model):
    """A person in a sandbox user's address book: a saved contact, or one of Google's
    "other contacts" / Microsoft's relevant people (someone the user wrote to)."""

    class Kind(models.TextChoices):
        CONTACT = "contact", "Saved contact"
        OTHER = "other", "Other contact (people you wrote to)"

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="contacts")
    provider_id = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CONTACT)
    display_name = models.CharField(max_length=300, blank=True)
    given_name = models.CharField(max_length=150, blank=True)
    family_name = models.CharField(max_length=150, blank=True)
    emails = models.JSONField(default=list, blank=True)
    phones = models.JSONField(default=list, blank=True)
    job_title = models.CharField(max_length=200, blank=True)
    company = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone_now)
    updated_at = models.DateTimeField(default=timezone_now)

    class Meta:
        ordering = ["display_name", "pk"]

    def __str__(self) -> str:
        return f"{self.display_name or '(no name)'} in {self.mailbox_id}"
