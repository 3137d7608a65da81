from django.urls import path

from sandbox.microsoft import batch, calendar_views, graph_views, identity, uploads

urlpatterns = [
    # Microsoft Graph: O365's protocol_url is https://host/sandbox/microsoft/graph/.
    path("graph/v1.0/$batch", batch.batch, name="graph-batch"),
    path("graph/v1.0/", graph_views.graph_api, {"rest": ""}, name="graph-root"),
    path("graph/v1.0/<path:rest>", graph_views.graph_api, name="graph-api"),
    # A Teams meeting's joinUrl (teams.microsoft.com's shape, on the sandbox).
    path(
        "teams/l/meetup-join/<str:meeting>/0",
        calendar_views.teams_meeting,
        name="teams-meeting",
    ),
    # An attachment upload session's uploadUrl (Outlook's host in Microsoft's cloud).
    path("outlook/api/v2.0/<path:rest>", uploads.attachment_session_put, name="outlook-api"),
    # The identity platform, per tenant ("common", "organizations", a GUID or a domain).
    path(
        "<str:tenant>/v2.0/.well-known/openid-configuration",
        identity.openid_configuration,
        name="ms-openid-configuration",
    ),
    path("<str:tenant>/oauth2/v2.0/authorize", identity.authorize, name="ms-authorize"),
    path("<str:tenant>/oauth2/v2.0/token", identity.token, name="ms-token"),
    path("<str:tenant>/oauth2/v2.0/logout", identity.logout, name="ms-logout"),
    path("<str:tenant>/discovery/v2.0/keys", identity.keys, name="ms-keys"),
    path("<str:tenant>/adminconsent", identity.admin_consent, name="ms-adminconsent"),
    path("<str:tenant>/v2.0/adminconsent", identity.admin_consent, name="ms-adminconsent-v2"),
]
