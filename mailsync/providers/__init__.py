"""The only modules that talk to Google or Microsoft. Everything else uses `get_provider`."""

from mailsync.providers.base import MailProvider


def get_provider(name: str) -> MailProvider:
    if name == "google":
        from mailsync.providers.gmail import GmailProvider

        return GmailProvider()
    if name == "microsoft":
        from mailsync.providers.graph import GraphProvider

        return GraphProvider()
    raise ValueError(f"No mail provider called {name!r}.")
