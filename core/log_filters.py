"""Logging filters for libraries whose log lines carry what ours never do.

O365 logs each 4xx answer at ERROR with the full URL, whose query string holds a search
(`participants:someone@example.com`), and the provider's message, which may quote an
address. Django logs each 4xx and 5xx with its path, and the sandbox's paths (like Graph's
`/users/{address}/messages`) hold addresses. LOGGING (config/settings/base.py) puts
`RedactQueryAndAddresses` on both loggers.
"""

import logging
import re

QUERY_STRING = re.compile(r"(https?://[^\s?#]+)\?[^\s#|]*")
ADDRESS = re.compile(r"[\w.+-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+")


class RedactQueryAndAddresses(logging.Filter):
    """Keeps the record, with URLs' query strings and email addresses replaced: the path
    and the status still say which call failed."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        message = QUERY_STRING.sub(r"\1?(query removed)", message)
        record.msg, record.args = ADDRESS.sub("(address removed)", message), None
        return True
