"""Google OAuth scopes: what the consent page says about them and which Gmail operations
each one opens. The per-operation lists mirror the `scopes` of each method in Google's
Gmail discovery document (tests compare them)."""

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
    EMAIL: "See your primary Google Account email address",
    "email": "See your primary Google Account email address",
    PROFILE: "See your personal info, including any personal info you've made publicly available",
    "profile": "See your personal info, including any personal info you've made publicly available",
}

_READERS = [MAIL, METADATA, MODIFY, READONLY]
# Any one of these admits the operation.
OPERATION_SCOPES: dict[str, list[str]] = {
    "gmail.users.getProfile": [MAIL, COMPOSE, METADATA, MODIFY, READONLY],
    "gmail.users.history.list": _READERS,
    "gmail.users.labels.list": [MAIL, LABELS, METADATA, MODIFY, READONLY],
    "gmail.users.labels.create": [MAIL, LABELS, MODIFY],
    "gmail.users.messages.list": _READERS,
    "gmail.users.messages.get": _READERS,
    "gmail.users.threads.get": _READERS,
    "gmail.users.messages.attachments.get": [MAIL, MODIFY, READONLY],
    "gmail.users.messages.modify": [MAIL, MODIFY],
    "gmail.users.messages.batchModify": [MAIL, MODIFY],
    "gmail.users.messages.send": [MAIL, COMPOSE, MODIFY, SEND],
}


def describe(scope: str) -> str:
    return DESCRIPTIONS.get(scope, scope)


def allows(granted: list[str], operation: str) -> bool:
    return any(scope in granted for scope in OPERATION_SCOPES[operation])
