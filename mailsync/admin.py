from typing import TYPE_CHECKING, Any, TypedDict

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone

from accounts.admin import OrganisationAdmin, UserAdmin
from accounts.admin_site import PolicyModelAdmin
from accounts.models import Organisation, User
from mailsync.health import mailbox_health
from mailsync.models import MailboxConnection
from mailsync.policy import can_purge_mailbox_data
from mailsync.services import (
    SeatRefused,
    organisation_purge_mailbox_data,
    user_deactivate,
    user_seat_release,
)

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _Unreadable(TypedDict):
    # What get_queryset annotates each row with.
    unreadable_count: int


# Every field the page shows, all read-only. A tuple: Django's stubs type `fields` and
# `readonly_fields` differently, and only an immutable sequence satisfies both.
_SHOWN: tuple[str, ...] = (
    "user",
    "organisation",
    "provider",
    "account_address",
    "state",
    "sync_health",
    "sync_level",
    "authorized_at",
    "last_synced_at",
    "messages_synced",
    "unreadable",
    "last_error",
    "last_error_at",
    "failing_since",
    "throttled_until",
    "uses_email",
    "uses_calendar",
    "uses_contacts",
    "calendar_synced_at",
    "calendar_last_error",
)


@admin.register(MailboxConnection)
class MailboxAdmin(PolicyModelAdmin):
    """Each mailbox's health, read-only. Tokens and the sync cursor are never shown;
    connecting, disconnecting and sync levels belong to the app's own pages."""

    organisation_field = "organisation"

    # Health first; provider and sync level are in the filters and on each mailbox's page.
    list_display = [
        "account_address",
        "state",
        "sync_health",
        "last_synced_at",
        "messages_synced",
        "unreadable",
        "last_error",
    ]
    list_filter = ["provider", "state", "sync_level", "organisation"]
    search_fields = ["account_address", "user__email", "user__full_name"]
    list_select_related = ["user", "organisation"]
    fields = _SHOWN
    readonly_fields = _SHOWN

    def get_queryset(self, request: HttpRequest) -> QuerySet[MailboxConnection]:
        # PolicyModelAdmin (accounts.admin_site) is not under the strict settings: its
        # get_queryset, the organisation scoping, is unannotated.
        scoped: QuerySet[MailboxConnection] = super().get_queryset(request)  # type: ignore[no-untyped-call]
        return scoped.annotate(unreadable_count=Count("skipped_messages"))

    @admin.display(description="Sync health")
    def sync_health(self, mailbox: MailboxConnection) -> str:
        # The same words as Settings > Sync health (mailsync.health), read-only here.
        health = mailbox_health(mailbox, now=timezone.now())
        return f"{health.label}{' (flagged)' if health.flagged else ''}: {health.summary}"

    @admin.display(description="Unreadable", ordering="unreadable_count")
    def unreadable(self, mailbox: "WithAnnotations[MailboxConnection, _Unreadable]") -> int:
        return mailbox.unreadable_count

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: MailboxConnection | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: MailboxConnection | None = None
    ) -> bool:
        return False


# --- Seats and suspension: actions on accounts' users and organisations -----------------
# accounts sits below mailsync and cannot call its services, so the two admins are
# registered again here with the actions that release a seat and purge mailbox data.


@admin.action(description="Deactivate and revoke mailbox", permissions=["change"])
def deactivate_and_revoke(
    model_admin: "UserWithSeatAdmin", request: HttpRequest, queryset: QuerySet[User]
) -> None:
    done, refused = 0, []
    for user in queryset:
        try:
            user_deactivate(actor=request.user, user=user)  # type: ignore[arg-type]  # admin pages are for signed-in users
        except SeatRefused as refusal:
            refused.append(str(refusal))
        else:
            done += 1
    if done:
        model_admin.message_user(
            request, f"Deactivated {done} user(s); their mailbox access was revoked."
        )
    for reason in refused:
        model_admin.message_user(request, reason, level=messages.ERROR)


admin.site.unregister(User)


@admin.register(User)
class UserWithSeatAdmin(UserAdmin):
    """Users, with seats released whichever way a user stops holding one: the action,
    "Active" unticked on the form, or (operators) the user moved out of the organisation."""

    actions = [deactivate_and_revoke]

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        # Django admin saves inside a transaction: the revocation waits for its commit.
        left = change and (
            ("is_active" in form.changed_data and not obj.is_active)
            # Moved out of an organisation (an operator joining one holds no seat yet).
            or ("organisation" in form.changed_data and form.initial.get("organisation"))
        )
        # UserAdmin (accounts) is not under the strict settings: its save_model is untyped.
        super().save_model(request, obj, form, change)  # type: ignore[no-untyped-call]
        if left:
            user_seat_release(user=obj)


PURGE_CONFIRMATION = "mailsync/admin_purge_confirmation.html"


@admin.action(
    description="Suspend: purge mailbox and calendar data (cannot be undone)",
    permissions=["purge"],
)
def purge_mailbox_data(
    model_admin: "OrganisationWithPurgeAdmin",
    request: HttpRequest,
    queryset: QuerySet[Organisation],
) -> TemplateResponse | None:
    if request.POST.get("confirmed") != "yes":
        # Django's own delete action asks first too: this page posts the action again.
        return TemplateResponse(
            request,
            PURGE_CONFIRMATION,
            {
                **model_admin.admin_site.each_context(request),
                "title": "Purge mailbox data?",
                "organisations": queryset,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "opts": model_admin.model._meta,
            },
        )
    for organisation in queryset:
        counts = organisation_purge_mailbox_data(
            actor=request.user,  # type: ignore[arg-type]  # admin pages are for signed-in users
            organisation=organisation,
            via="Django admin",
        )
        model_admin.message_user(
            request,
            f"{organisation}: mailbox data purged "
            f"({sum(counts.values())} records); tokens are being revoked.",
        )
    return None


admin.site.unregister(Organisation)


@admin.register(Organisation)
class OrganisationWithPurgeAdmin(OrganisationAdmin):
    actions = [purge_mailbox_data]

    def has_purge_permission(self, request: HttpRequest) -> bool:
        return can_purge_mailbox_data(request.user)  # type: ignore[arg-type]  # admin pages are for signed-in users
