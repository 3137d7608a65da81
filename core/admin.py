from django.contrib import admin

from core.models import EncryptionCanary


@admin.register(EncryptionCanary)
class EncryptionCanaryAdmin(admin.ModelAdmin):
    """Read-only, for operators: when the key in use was first proven against this database.

    A plain ModelAdmin, like the third-party tables': Django's own permission check lets
    only superusers (the operators) in, and core stays below accounts, whose policy admin
    base classes it may not import.
    """

    list_display = ["pk", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["pk"]
    readonly_fields = ["created_at"]
    exclude = ["value"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False
