"""Walking a whole table a batch at a time."""

from collections.abc import Iterator
from typing import Any

from django.db import models


def pk_batches(
    rows: models.QuerySet[Any], *fields: str, batch_size: int
) -> Iterator[list[tuple[Any, ...]]]:
    """The rows' (pk, *fields) values in order of pk, `batch_size` rows a batch.

    Each batch is a query of its own that starts after the last pk seen rather than at an
    offset: rows the caller changes or deletes between batches shift nothing, and no batch
    holds the whole table."""
    after: Any = None
    while True:
        page = rows.order_by("pk")
        if after is not None:
            page = page.filter(pk__gt=after)
        batch = list(page.values_list("pk", *fields)[:batch_size])
        if batch:
            yield batch
        if len(batch) < batch_size:
            return
        after = batch[-1][0]
