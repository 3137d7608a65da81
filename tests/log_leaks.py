"""The suite-wide log scan (tests/conftest.py, `_no_private_data_in_logs`): no log record
of any test may carry an address or a subject of the demo's data or of our factories.
Operators ship logs to places with other rules than the database's, so ids go in logs,
never who wrote to whom or about what.

What counts as private, taken from the modules that make the data rather than copied:
- the demo's users and contacts (demo/seeding.py, sandbox/demo.py), its candidates (Faker
  names at demo.seeding.CANDIDATE_DOMAINS) and its mailboxes' noise mail (sandbox/fill.py:
  newsletters, colleagues and candidates, and their subjects);
- the factories' and fixtures' addresses: every address at a `.test` domain (users of
  tests.factories, the named teams of tests/conftest.py, the demo's own users), and
  the factories' thread subjects.
"""

import logging
import re
from functools import cache

# tests.factories.EmailThreadFactory's subjects.
FACTORY_SUBJECT = r"Thread subject \d+"
# Any address at a reserved `.test` domain (RFC 2606): ours, the demo's, the fixtures'.
TEST_DOMAIN_ADDRESS = r"[\w.+-]+@(?:[\w-]+\.)*test\b"


@cache
def private_data() -> re.Pattern[str]:
    """One pattern for all of it, so a record costs one search."""
    # Imported when first needed: they are Django modules, loaded after setup.
    from demo.seeding import CANDIDATE_DOMAINS, DEMO_ORGANISATIONS
    from sandbox.demo import DEMO_CONTACTS, DEMO_OTHER_CONTACTS
    from sandbox.fill import (
        CANDIDATE_SUBJECTS,
        COLLEAGUE_SUBJECTS,
        FIRST,
        LAST,
        NEWSLETTERS,
        ROLES,
    )

    addresses = [address for demo in DEMO_ORGANISATIONS for address, _, _ in demo.users]
    addresses += [contact[1] for contact in (*DEMO_CONTACTS, *DEMO_OTHER_CONTACTS)]
    addresses += [address for _, address, _, _ in NEWSLETTERS]
    subjects = [*COLLEAGUE_SUBJECTS, *CANDIDATE_SUBJECTS, *(n[3] for n in NEWSLETTERS)]
    candidate_domains = "|".join(re.escape(domain) for domain in CANDIDATE_DOMAINS)
    # sandbox.fill's people: first.last123@ at any domain.
    people = (
        f"(?:{'|'.join(name.lower() for name in FIRST)})\\."
        f"(?:{'|'.join(name.lower() for name in LAST)})\\d+@"
    )
    roles = "|".join(re.escape(role) for role in ROLES)
    alternatives = [
        *(re.escape(address) for address in addresses),
        f"[\\w.+-]+@(?:{candidate_domains})\\b",
        people,
        TEST_DOMAIN_ADDRESS,
        *(_template(subject, roles) for subject in subjects),
        FACTORY_SUBJECT,
    ]
    return re.compile("|".join(f"(?:{pattern})" for pattern in alternatives), re.IGNORECASE)


def _template(subject: str, roles: str) -> str:
    """A subject template of sandbox.fill ("Expense report {n}") as a pattern."""
    parts = re.split(r"\{(\w+)\}", subject)
    # re.split alternates text and placeholder names: text at even indexes.
    return "".join(
        re.escape(part) if index % 2 == 0 else (r"\d+" if part == "n" else f"(?:{roles})")
        for index, part in enumerate(parts)
    )


def leaked(text: str) -> str | None:
    """The first private string in `text`, if any."""
    found = private_data().search(text)
    return found.group() if found else None


class LeakScan(logging.Handler):
    """Attached to the root logger for one test: keeps every record that carries private
    data (its message and, for logged exceptions, the traceback's text)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a malformed call: the logging handlers report it, not us
            return
        if record.exc_info:
            text = f"{text}\n{logging.Formatter().formatException(record.exc_info)}"
        found = leaked(text)
        if found:
            self.leaks.append(f"{record.name} {record.levelname}: {found!r} in {text[:300]!r}")
