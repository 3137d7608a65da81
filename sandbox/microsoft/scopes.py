"""Microsoft Graph delegated permissions: how the consent page words them and which Graph
operations each one opens. The per-operation lists follow the permissions tables of the
Graph v1.0 reference pages (least to most privileged; any one admits the call).

Scopes arrive as "Mail.Read" or "https://graph.microsoft.com/Mail.Read", in any case; they
are compared in the short, lower-cased form.
"""

GRAPH_RESOURCE = "https://graph.microsoft.com/"
# OpenID Connect scopes: they shape the token response, not Graph access.
RESERVED = {"openid", "profile", "email", "offline_access"}

# The wording of Microsoft's consent screen ("This app would like to:").
DESCRIPTIONS = {
    "offline_access": "Maintain access to data you have given it access to",
    "openid": "Sign you in",
    "profile": "View your basic profile",
    "email": "View your email address",
    "user.read": "Sign you in and read your profile",
    "mail.readbasic": "Read user basic mail",
    "mail.read": "Read your mail",
    "mail.readwrite": "Read and write access to your mail",
    "mail.send": "Send mail as you",
    "mailboxsettings.read": "Read your mailbox settings",
    "mailboxsettings.readwrite": "Read and write to your mailbox settings",
    "calendars.readbasic": "Read basic details of your calendars",
    "calendars.read": "Read your calendars",
    "calendars.readwrite": "Have full access to your calendars",
    "contacts.read": "Read your contacts",
    "contacts.readwrite": "Have full access to your contacts",
    "people.read": "Read your relevant people list",
    "people.read.all": "Read all users' relevant people lists",
}

_READ = ["mail.readbasic", "mail.read", "mail.readwrite"]
_READ_BODY = ["mail.read", "mail.readwrite"]
_WRITE = ["mail.readwrite"]
_USER = ["user.read", "user.readwrite", "user.readbasic.all", "user.read.all"]
_FREE_BUSY = ["calendars.readbasic", "calendars.read", "calendars.readwrite"]
# Bodies and extended properties are beyond Calendars.ReadBasic.
_CALENDAR_READ = ["calendars.read", "calendars.readwrite"]
_CALENDAR_WRITE = ["calendars.readwrite"]
OPERATION_SCOPES: dict[str, list[str]] = {
    "graph.me.get": _USER,
    "graph.messages.list": _READ,
    "graph.messages.get": _READ,
    "graph.messages.value": _READ_BODY,
    "graph.messages.delta": _READ,
    "graph.messages.create": _WRITE,
    "graph.messages.createReply": _WRITE,
    "graph.messages.patch": _WRITE,
    "graph.messages.move": _WRITE,
    "graph.messages.delete": _WRITE,
    "graph.messages.send": ["mail.send"],
    "graph.attachments.create": _WRITE,
    "graph.attachments.createUploadSession": _WRITE,
    "graph.sendMail": ["mail.send"],
    "graph.mailFolders.list": _READ,
    "graph.mailFolders.get": _READ,
    "graph.mailFolders.create": _WRITE,
    "graph.masterCategories.list": ["mailboxsettings.read", "mailboxsettings.readwrite"],
    "graph.masterCategories.create": ["mailboxsettings.readwrite"],
    "graph.calendar.getSchedule": _FREE_BUSY,
    "graph.events.list": _CALENDAR_READ,
    "graph.events.get": _CALENDAR_READ,
    "graph.calendarView.list": _CALENDAR_READ,
    "graph.calendarView.delta": _CALENDAR_READ,
    "graph.events.create": _CALENDAR_WRITE,
    "graph.events.update": _CALENDAR_WRITE,
    "graph.events.delete": _CALENDAR_WRITE,
    "graph.events.cancel": _CALENDAR_WRITE,
    "graph.events.accept": _CALENDAR_WRITE,
    "graph.events.decline": _CALENDAR_WRITE,
    "graph.events.tentativelyAccept": _CALENDAR_WRITE,
    "graph.contacts.list": ["contacts.read", "contacts.readwrite"],
    "graph.people.list": ["people.read", "people.read.all"],
}


def normalize(scope: str) -> str:
    scope = scope.strip()
    if scope.lower().startswith(GRAPH_RESOURCE):
        scope = scope[len(GRAPH_RESOURCE) :]
    return scope.lower()


def describe(scope: str) -> str:
    return DESCRIPTIONS.get(normalize(scope), scope)


def resource_scopes(scopes: list[str]) -> set[str]:
    """The Graph permissions among `scopes` (OpenID ones left out), normalised."""
    return {normalize(scope) for scope in scopes} - RESERVED - {""}


def allows(granted: list[str], operation: str) -> bool:
    return bool(resource_scopes(granted) & set(OPERATION_SCOPES[operation]))


def covers(consented: list[str], requested: list[str]) -> bool:
    """Whether a (tenant-wide) consent to `consented` includes every requested permission.
    An empty consent is the v1 admin consent: everything the app is configured for."""
    if not consented:
        return True
    return resource_scopes(requested) <= resource_scopes(consented)
