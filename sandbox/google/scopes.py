"""Google OAuth scopes: what the consent page says about them and which Gmail, Calendar
and People API operations each one opens. The per-operation lists mirror the `scopes` of
each method in Google's discovery documents (tests compare them)."""

MAIL = "https://mail.google.com/"
_GMAIL = "https://www.googleapis.com/auth/gmail."
MODIFY = _GMAIL + "modify"
READONLY = _GMAIL + "readonly"
METADATA = _GMAIL + "metadata"
SEND = _GMAIL + "send"
LABELS = _GMAIL + "labels"
COMPOSE = _GMAIL + "compose"
INSERT = _GMAIL + "insert"
OPENID = "openid"
EMAIL = "https://www.googleapis.com/auth/userinfo.email"
PROFILE = "https://www.googleapis.com/auth/userinfo.profile"
CALENDAR = "https://www.googleapis.com/auth/calendar"
CALENDAR_READONLY = CALENDAR + ".readonly"
CALENDAR_EVENTS = CALENDAR + ".events"
CALENDAR_EVENTS_READONLY = CALENDAR + ".events.readonly"
CALENDAR_EVENTS_OWNED = CALENDAR + ".events.owned"
CALENDAR_EVENTS_OWNED_READONLY = CALENDAR + ".events.owned.readonly"
CALENDAR_EVENTS_PUBLIC_READONLY = CALENDAR + ".events.public.readonly"
CALENDAR_EVENTS_FREEBUSY = CALENDAR + ".events.freebusy"
CALENDAR_APP_CREATED = CALENDAR + ".app.created"
CALENDAR_FREEBUSY = CALENDAR + ".freebusy"
CONTACTS = "https://www.googleapis.com/auth/contacts"
CONTACTS_READONLY = "https://www.googleapis.com/auth/contacts.readonly"
CONTACTS_OTHER_READONLY = "https://www.googleapis.com/auth/contacts.other.readonly"

# Google's own wording, from the discovery document and the consent screen.
DESCRIPTIONS = {
    MAIL: "Read, compose, send, and permanently delete all your email from Gmail",
    MODIFY: "Read, compose, and send emails from your Gmail account",
    READONLY: "View your email messages and settings",
    METADATA: "View your email message metadata such as labels and headers, but not the email body",
    SEND: "Send email on your behalf",
    LABELS: "See and edit your email labels",
    COMPOSE: "Manage drafts and send emails",
    INSERT: "Add emails into your Gmail mailbox",
    OPENID: "Associate you with your personal info on Google",
    CONTACTS: "See, edit, download, and permanently delete your contacts",
    CONTACTS_READONLY: "See and download your contacts",
    CONTACTS_OTHER_READONLY: (
        'See and download contact info automatically saved in your "Other contacts"'
    ),
    EMAIL: "See your primary Google Account email address",
    "email": "See your primary Google Account email address",
    PROFILE: "See your personal info, including any personal info you've made publicly available",
    "profile": "See your personal info, including any personal info you've made publicly available",
    CALENDAR: "See, edit, share, and permanently delete all the calendars you can access using "
    "Google Calendar",
    CALENDAR_READONLY: "See and download any calendar you can access using your Google Calendar",
    CALENDAR_EVENTS: "View and edit events on all your calendars",
    CALENDAR_EVENTS_READONLY: "View events on all your calendars",
    CALENDAR_EVENTS_OWNED: "See, create, change, and delete events on Google calendars you own",
    CALENDAR_EVENTS_OWNED_READONLY: "See the events on Google calendars you own",
    CALENDAR_EVENTS_PUBLIC_READONLY: "See the events on public calendars",
    CALENDAR_EVENTS_FREEBUSY: "See the availability on Google calendars you have access to",
    CALENDAR_APP_CREATED: "Make secondary Google calendars, and see, create, change, and delete "
    "events on them",
    CALENDAR_FREEBUSY: "View your availability in your calendars",
}

_READERS = [MAIL, METADATA, MODIFY, READONLY]
_CALENDAR_WRITERS = [CALENDAR, CALENDAR_APP_CREATED, CALENDAR_EVENTS, CALENDAR_EVENTS_OWNED]
_CALENDAR_READERS = [
    *_CALENDAR_WRITERS,
    CALENDAR_EVENTS_FREEBUSY,
    CALENDAR_EVENTS_OWNED_READONLY,
    CALENDAR_EVENTS_PUBLIC_READONLY,
    CALENDAR_EVENTS_READONLY,
    CALENDAR_READONLY,
]
# Any one of these admits the operation.
OPERATION_SCOPES: dict[str, list[str]] = {
    "gmail.users.getProfile": [MAIL, COMPOSE, METADATA, MODIFY, READONLY],
    "gmail.users.history.list": _READERS,
    "gmail.users.labels.list": [MAIL, LABELS, METADATA, MODIFY, READONLY],
    "gmail.users.labels.create": [MAIL, LABELS, MODIFY],
    "gmail.users.messages.list": _READERS,
    "gmail.users.messages.get": _READERS,
    "gmail.users.threads.get": _READERS,
    "gmail.users.threads.list": _READERS,
    "gmail.users.messages.attachments.get": [MAIL, MODIFY, READONLY],
    "gmail.users.messages.modify": [MAIL, MODIFY],
    "gmail.users.messages.batchModify": [MAIL, MODIFY],
    "gmail.users.messages.send": [MAIL, COMPOSE, MODIFY, SEND],
    "calendar.events.insert": _CALENDAR_WRITERS,
    "calendar.events.patch": _CALENDAR_WRITERS,
    "calendar.events.delete": _CALENDAR_WRITERS,
    "calendar.events.get": _CALENDAR_READERS,
    "calendar.events.list": _CALENDAR_READERS,
    "calendar.freebusy.query": [
        CALENDAR,
        CALENDAR_EVENTS_FREEBUSY,
        CALENDAR_FREEBUSY,
        CALENDAR_READONLY,
    ],
    # People API v1 (people.v1.json).
    "people.people.searchContacts": [CONTACTS, CONTACTS_READONLY],
    "people.people.connections.list": [CONTACTS, CONTACTS_READONLY],
    "people.otherContacts.search": [CONTACTS_OTHER_READONLY],
    "people.otherContacts.list": [CONTACTS_OTHER_READONLY],
}


def describe(scope: str) -> str:
    return DESCRIPTIONS.get(scope, scope)


def allows(granted: list[str], operation: str) -> bool:
    return any(scope in granted for scope in OPERATION_SCOPES[operation])
