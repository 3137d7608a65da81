"""What we rely on inside O365 and requests to keep every Microsoft call on the configured
hosts (`mailsync.providers.graph.o365_account`, the one place that touches them). If an
upgrade of O365 changes either, these fail before any mail goes to the wrong host."""

from urllib.parse import urlsplit

from O365.connection import Connection, MSGraphProtocol

from mailsync.providers.graph import (
    ConnectionTokenBackend,
    MailboxSlotAdapter,
    SlottedConnection,
    o365_account,
)


def test_o365_reads_the_protocol_host_from_the_class_attribute_we_set():
    assert MSGraphProtocol._protocol_url == "https://graph.microsoft.com/"


def test_o365_builds_its_own_msal_app_only_while_none_is_set():
    assert "_msal_client" in vars(Connection(("id", "secret")))


def test_the_account_calls_the_configured_graph_and_sign_in_hosts(outlook_world, settings):
    # outlook_world points both hosts at the sandbox (MSAL reads the authority's metadata).
    account = o365_account(tenant="organizations", backend=ConnectionTokenBackend("", store=None))

    assert account.protocol.service_url.startswith(settings.MICROSOFT_GRAPH_URL)
    # The app O365 uses is ours: the configured authority, no instance discovery.
    msal_app = account.con.msal_client
    authority = urlsplit(msal_app.authority.token_endpoint).netloc
    assert authority == urlsplit(settings.MICROSOFT_AUTHORITY_HOST).netloc
    assert account.con.msal_client is msal_app


def test_every_request_of_the_account_goes_through_our_slot_adapter(outlook_world, settings):
    # Account builds its Connection from `connection_constructor`, and the Connection its
    # authorised session with `get_session`: that is where Graph's request slots are held.
    account = o365_account(tenant="organizations", backend=ConnectionTokenBackend("", store=None))

    assert isinstance(account.con, SlottedConnection)
    session = account.con.get_session()
    assert isinstance(session.get_adapter(settings.MICROSOFT_GRAPH_URL), MailboxSlotAdapter)
