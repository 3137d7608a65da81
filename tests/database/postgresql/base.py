"""PostgreSQL for the tests: production's engine, with the flush of tests/database."""

from django_prometheus.db.backends.postgresql import base  # type: ignore[import-untyped]

# isort: split
# After the engine: Django's operations module imports its engine's.
from django.db.backends.postgresql.operations import DatabaseOperations as DjangoOperations

from tests.database import CheaperFlush


# django-prometheus's engines keep Django's operations.
class DatabaseOperations(CheaperFlush, DjangoOperations):
    delete_rows = True


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
