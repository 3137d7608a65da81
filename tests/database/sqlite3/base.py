"""SQLite for the tests: production's engine, with the flush of tests/database (SQLite's
own flush already deletes)."""

from django_prometheus.db.backends.sqlite3 import base  # type: ignore[import-untyped]

# isort: split
# After the engine: Django's operations module imports its engine's.
from django.db.backends.sqlite3.operations import DatabaseOperations as DjangoOperations

from tests.database import CheaperFlush


# django-prometheus's engines keep Django's operations.
class DatabaseOperations(CheaperFlush, DjangoOperations):
    pass


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
