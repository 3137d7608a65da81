from django.contrib import admin

from accounts.admin_site import PolicyModelAdmin
from core.models import EncryptionCanary


@admin.register(EncryptionCanary)
class EncryptionCanaryAdmin(PolicyModelAdmin):
    """Read-only, for operators: when the key in use was first proven against this database."""

    list_display = ["pk", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["pk"]
    readonly_fields = ["created_at"]
    exclude = ["value"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False
