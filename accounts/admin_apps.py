from django.contrib.admin.apps import AdminConfig


class ThreadlineAdminConfig(AdminConfig):
    """Django admin with the site that asks the access policy who may enter."""

    default_site = "accounts.admin_site.ThreadlineAdminSite"
