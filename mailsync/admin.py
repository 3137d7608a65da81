from django.contrib import admin
from django.db.models import Count

from accounts.admin_site import PolicyModelAdmin
from mailsync.models import MailboxConnection


@admin.register(MailboxConnection)
class MailboxAdmin(PolicyModelAdmin):
    """Each mailbox's health, read-only. Tokens and the sync cursor are never shown;
    connecting, disconnecting and sync levels belong to the app's own pages."""

    organisation_field = "organisation"

    list_display = [
        "account_address",
        "user",
        "provider",
        "state",
        "sync_level",
        "last_synced_at",
        "messages_synced",
        "unreadable",
        "last_error",
        "last_error_at",
    ]
    list_filter = ["provider", "state", "sync_level", "organisation"]
    search_fields = ["account_address", "user__email", "user__full_name"]
    list_select_related = ["user"]
    fields = [
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
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(unreadable_count=Count("skipped_messages"))

    @admin.display(description="Messages that could not be read", ordering="unreadable_count")
    def unreadable(self, mailbox: MailboxConnection) -> int:
        return mailbox.unreadable_count

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
