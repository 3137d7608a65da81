"""Fixtures for driving the provider sandbox over real HTTP with Google's own client
libraries, against pytest-django's live server."""

import json
from pathlib import Path

import googleapiclient
import pytest
import requests
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build_from_document

from sandbox import quota, services, tokens
from sandbox.google import scopes

GMAIL_DOC = (
    Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "gmail.v1.json"
)


@pytest.fixture(autouse=True)
def _fresh_quota():
    # Quota windows live in process memory; a test must not inherit another's usage.
    quota.reset()
    yield
    quota.reset()


@pytest.fixture(scope="session")
def gmail_document() -> dict:
    return json.loads(GMAIL_DOC.read_text())


@pytest.fixture
def google_root(live_server) -> str:
    return f"{live_server.url}/sandbox/google/"


def google_service(document: dict, root: str, token: str | Credentials):
    """A googleapiclient service built from a shipped discovery document, its root
    replaced by the sandbox's Google root (as the product does)."""
    doc = dict(document, rootUrl=root, baseUrl=root, mtlsRootUrl=root)
    credentials = token if isinstance(token, Credentials) else Credentials(token)
    return build_from_document(doc, credentials=credentials)


@pytest.fixture
def gmail_for(gmail_document, google_root):
    """gmail_for(token) → a googleapiclient Gmail service talking to the sandbox."""
    return lambda token: google_service(gmail_document, google_root, token)


@pytest.fixture
def google_client_config(live_server, monkeypatch) -> dict:
    """google-auth-oauthlib's client config for the sandbox's consent and token endpoints."""
    # oauthlib refuses http:// callbacks unless told this is a test.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    return {
        "web": {
            "client_id": "threadline-test.apps.googleusercontent.com",
            "client_secret": "shh",
            "auth_uri": f"{live_server.url}/sandbox/google/o/oauth2/auth",
            "token_uri": f"{live_server.url}/sandbox/google/token",
        }
    }


@pytest.fixture
def make_mailbox(transactional_db):
    def make(address: str, **kwargs):
        return services.mailbox_create(address=address, **kwargs)

    return make


@pytest.fixture
def token_for(transactional_db):
    """token_for(mailbox, *scopes) → a fresh access token string (default gmail.modify)."""

    def issue(mailbox, *wanted: str) -> str:
        granted = list(wanted) or [scopes.MODIFY]
        return tokens.mailbox_grant_token(
            mailbox=mailbox, scopes=granted, client_id="test-client"
        ).token

    return issue


@pytest.fixture
def recruiter(make_mailbox):
    return make_mailbox("recruiter@agency.test", display_name="Rita Recruiter")


@pytest.fixture
def candidate(make_mailbox):
    return make_mailbox("candidate@people.test", display_name="Carl Candidate")


def raw_message(
    *,
    sender: str,
    to: str,
    subject: str,
    body: str = "Hello there",
    message_id: str = "",
    in_reply_to: str = "",
    cc: str = "",
    bcc: str = "",
) -> bytes:
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}"]
    if cc:
        lines.append(f"Cc: {cc}")
    if bcc:
        lines.append(f"Bcc: {bcc}")
    if message_id:
        lines.append(f"Message-ID: <{message_id}>")
    if in_reply_to:
        lines += [f"In-Reply-To: <{in_reply_to}>", f"References: <{in_reply_to}>"]
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", body, ""]
    return "\r\n".join(lines).encode()


# --- Microsoft ---------------------------------------------------------------------------


@pytest.fixture
def ms_server(tls_live_server, transactional_db, monkeypatch):
    """The HTTPS live server, trusted by requests and MSAL, with fresh Graph limits."""
    from sandbox.microsoft import throttle

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_live_server.ca_bundle)
    throttle.reset()
    yield tls_live_server
    throttle.reset()


@pytest.fixture
def ms_mailbox(transactional_db):
    def make(address: str, **kwargs):
        return services.mailbox_create(address=address, provider="microsoft", **kwargs)

    return make


@pytest.fixture
def recruiter_ms(ms_mailbox):
    return ms_mailbox("rita@agency365.test", display_name="Rita Recruiter")


class GraphClient:
    """Plain `requests` against the sandbox's Graph root, with one bearer token."""

    def __init__(self, root: str, token: str, **headers: str):
        self.root = root
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.session.headers.update(headers)

    def url(self, path: str) -> str:
        return path if path.startswith("https://") else f"{self.root}/{path.lstrip('/')}"

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.url(path), **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: dict | None = None, **kwargs) -> requests.Response:
        return self.request("POST", path, json=body, **kwargs)

    def patch(self, path: str, body: dict, **kwargs) -> requests.Response:
        return self.request("PATCH", path, json=body, **kwargs)


@pytest.fixture
def graph_for(ms_server):
    """graph_for(mailbox, *scopes, **headers) → a GraphClient with a fresh token."""

    def make(mailbox, *wanted: str, **headers: str) -> GraphClient:
        granted = list(wanted) or ["Mail.ReadWrite", "Mail.Send", "User.Read"]
        token = tokens.mailbox_grant_token(
            mailbox=mailbox, scopes=granted, client_id="test-client"
        ).token
        return GraphClient(f"{ms_server.url}/sandbox/microsoft/graph/v1.0", token, **headers)

    return make
