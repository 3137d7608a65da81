from typing import TYPE_CHECKING, TypedDict

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from accounts.admin_site import PolicyModelAdmin
from mailsync.models import MailboxConnection

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
    "sync_level",
    "authorized_at",
    "last_synced_at",
    "messages_synced",
    "unreadable",
    "last_error",
    "last_error_at",
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
        "last_synced_at",
        "messages_synced",
        "unreadable",
        "last_error",
    ]
    list_filter = ["provider", "state", "sync_level", "organisation"]
    search_fields = ["account_address", "user__email", "user__full_name"]
    list_select_related = ["user"]
    fields = _SHOWN
    readonly_fields = _SHOWN

    def get_queryset(self, request: HttpRequest) -> QuerySet[MailboxConnection]:
        # PolicyModelAdmin (accounts.admin_site) is not under the strict settings: its
        # get_queryset, the organisation scoping, is unannotated.
        scoped: QuerySet[MailboxConnection] = super().get_queryset(request)  # type: ignore[no-untyped-call]
        return scoped.annotate(unreadable_count=Count("skipped_messages"))

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
