"""The test suite's database engines: production's (django-prometheus's wrappers of
Django's own) with a cheaper flush, the one transactional tests (live servers, real worker
processes) run after each test.

- Content types and permissions are left in place, as a non-transactional test leaves
  them. Emptied, they are written anew by `post_migrate` after every such test: about
  0.2 s on SQLite and 0.5 s on PostgreSQL, for rows no test changes.
- PostgreSQL empties the tables with DELETE instead of TRUNCATE. TRUNCATE gives each of the
  64 tables a new file (0.6-0.8 s a flush here); DELETE of a test's few rows takes
  milliseconds. The flush runs in one transaction and Django's foreign keys are
  DEFERRABLE INITIALLY DEFERRED, so the order of the DELETEs does not matter.

Sequences are not reset by either (nor were they: `reset_sequences` is off); a test that
asks for it gets Django's own statements.
"""

from collections.abc import Sequence

from django.core.management.color import Style
from django.db.backends.base.operations import BaseDatabaseOperations

KEPT_TABLES = frozenset({"django_content_type", "auth_permission"})


class CheaperFlush(BaseDatabaseOperations):
    """Mixed into an engine's DatabaseOperations, before Django's own."""

    # PostgreSQL: DELETE instead of TRUNCATE (SQLite's own flush already deletes).
    delete_rows = False

    def sql_flush(
        self,
        style: Style,
        tables: Sequence[str],
        *,
        reset_sequences: bool = False,
        allow_cascade: bool = False,
    ) -> list[str]:
        tables = [table for table in tables if table not in KEPT_TABLES]
        if self.delete_rows and not (reset_sequences or allow_cascade):
            return [
                f"{style.SQL_KEYWORD('DELETE')} {style.SQL_KEYWORD('FROM')} "
                f"{style.SQL_FIELD(self.quote_name(table))};"
                for table in tables
            ]
        return super().sql_flush(
            style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
