import secrets
from typing import ClassVar

from auditlog.registry import auditlog
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


def new_inbound_key() -> str:
    return f"replies-{secrets.token_hex(6)}"


class Organisation(models.Model):
    """A customer: one recruiting team sharing candidates, postings and settings."""

    class EmailProvider(models.TextChoices):
        GOOGLE = "google", "Google Workspace"
        MICROSOFT = "microsoft", "Microsoft 365"
        # Recorded so the settings offer only what works there: Threadline cannot reach
        # an on-premise Exchange server, and limited sync is not offered for it.
        EXCHANGE_ON_PREMISE = "exchange_on_premise", "Exchange Server (on-premise)"

    class SyncLevel(models.TextChoices):
        """The email access level (LinkedIn's four), from least to most. The two middle
        values keep their first names: "limited" is Send only, "full" is
        Send & view."""

        OFF = "off", "Off"
        VIEW = "view", "View only"
        LIMITED = "limited", "Send only"
        FULL = "full", "Send & view"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    email_provider = models.CharField(
        max_length=20,
        choices=EmailProvider.choices,
        blank=True,
        # Empty until a Super Admin chooses: nobody may authorize a mailbox before that.
        default="",
        help_text="Where this organisation's mailboxes live; users connect their own.",
    )

    class MicrosoftAuthorization(models.TextChoices):
        USERS = "users", "Each user authorizes Threadline themselves"
        ADMIN = "admin", "Our Microsoft 365 admin grants consent once for everyone"

    microsoft_authorization_mode = models.CharField(
        max_length=16,
        choices=MicrosoftAuthorization.choices,
        default=MicrosoftAuthorization.USERS,
    )
    microsoft_tenant_id = models.CharField(max_length=64, blank=True)
    microsoft_admin_consent_at = models.DateTimeField(null=True, blank=True)
    email_sync_level = models.CharField(
        max_length=16,
        choices=SyncLevel.choices,
        default=SyncLevel.FULL,
        help_text="Send & view: send and read (default-deny). View only: read, never send. "
        "Send only: replies arrive through the mail admin's routing rule. Off: no email.",
    )
    # Automatic ingestion (LinkedIn's rule): on authorization, a year of one-on-one mail
    # with the organisation's candidates, in threads active in the last six months.
    auto_ingestion_enabled = models.BooleanField("Automatic ingestion", default=False)
    # Retention: threads with no message either way for this many months are removed.
    retention_months = models.PositiveSmallIntegerField(
        "Remove threads inactive for (months)",
        default=6,
        validators=[MinValueValidator(1), MaxValueValidator(120)],
    )
    # The Super Admin's confirmation, when enabling limited sync, that the mail admin set
    # up the routing rule; kept so the settings page can show who said so and when.
    routing_confirmed_at = models.DateTimeField(null=True, blank=True)
    # The company's own On/Off for the Calendar and Contacts boxes (LinkedIn's rule): Off
    # stops the feature for everyone at once and revokes nothing, so On resumes it.
    calendar_enabled = models.BooleanField("Calendar on", default=True)
    contacts_enabled = models.BooleanField("Contacts on", default=True)
    inbound_key = models.CharField(
        max_length=64,
        unique=True,
        default=new_inbound_key,
        help_text="Local part of the address that routed replies are sent to.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def inbound_address(self) -> str:
        return f"{self.inbound_key}@{settings.THREADLINE_INBOUND_DOMAIN}"

    @property
    def offers_limited_sync(self) -> bool:
        return self.email_provider != self.EmailProvider.EXCHANGE_ON_PREMISE

    @property
    def offers_auto_ingestion(self) -> bool:
        """Automatic ingestion reads mailboxes: only the levels that may read offer it."""
        return self.email_sync_level in (self.SyncLevel.VIEW, self.SyncLevel.FULL)


class Role(models.TextChoices):
    SUPER_ADMIN = "super_admin", "Super Admin"
    ADMIN = "admin", "Admin"
    TEAM_MEMBER = "team_member", "Team Member"
    LIMITED_TEAM_MEMBER = "limited_team_member", "Limited Team Member"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_queryset(self):
        # Nearly every page asks for the signed-in user's organisation (policy, navigation).
        return super().get_queryset().select_related("organisation")

    def _create_user(self, email: str, password: str | None, **extra_fields):
        if not email:
            raise ValueError("Users need an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields):
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields):
        """The operator of this installation: reaches every organisation in Django admin."""
        extra_fields["is_superuser"] = True
        extra_fields.setdefault("role", Role.SUPER_ADMIN)
        return self._create_user(email, password, **extra_fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with their email address. Belongs to one organisation."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="members",
        null=True,
        blank=True,
        help_text="Empty only for the installation's operator accounts.",
    )
    role = models.CharField(max_length=32, choices=Role.choices, default=Role.TEAM_MEMBER)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def is_staff(self) -> bool:
        # Django admin asks `is_staff`; the answer is the access policy's, not a stored flag.
        from accounts import policy

        return policy.can_access_admin(self)

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return (self.full_name.split(" ")[0] if self.full_name else self.email).strip()


class IntegrationPermission(models.Model):
    """One of the boxes on Settings > My account: may Threadline use this part of my account?

    Ticking a box records the user's consent; the provider authorization that follows
    (tokens live with the mailbox connection in `mailsync`) moves `state` along.
    """

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        CALENDAR = "calendar", "Calendar"
        CONTACTS = "contacts", "Contacts"

    class State(models.TextChoices):
        OFF = "off", "Off"
        AWAITING_AUTHORIZATION = "awaiting_authorization", "Waiting for provider authorization"
        CONNECTED = "connected", "Connected"
        NEEDS_REAUTHORIZATION = "needs_reauthorization", "Needs re-authorization"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="integrations")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    enabled = models.BooleanField(default=False)
    state = models.CharField(max_length=32, choices=State.choices, default=State.OFF)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="one_permission_per_kind")
        ]
        ordering = ["user", "kind"]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_kind_display()} · {self.get_state_display()}"


# Company settings changes land in django-auditlog's log with the acting user (its
# middleware) and are listed on the settings page; nothing else about an organisation is.
# The fields Settings > Company governs (with its rules: what the provider offers, revoking
# read grants, resetting consent): audited, and read-only in Django admin.
EMAIL_SETTINGS_FIELDS = (
    "email_provider",
    "microsoft_authorization_mode",
    "microsoft_tenant_id",
    "microsoft_admin_consent_at",
    "email_sync_level",
    "routing_confirmed_at",
    "auto_ingestion_enabled",
    "retention_months",
)
INTEGRATION_SETTINGS_FIELDS = ("calendar_enabled", "contacts_enabled")
auditlog.register(
    Organisation, include_fields=["name", *EMAIL_SETTINGS_FIELDS, *INTEGRATION_SETTINGS_FIELDS]
)
