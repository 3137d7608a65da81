"""Writing and reading the request log that tests and benchmarks inspect."""

from collections.abc import Iterator

from sandbox.models import Mailbox, RequestLog


def log_write(entries: list[RequestLog]) -> None:
    # One insert for all the inner calls of a batch instead of one per call.
    if len(entries) == 1:
        entries[0].save()
    elif entries:
        RequestLog.objects.bulk_create(entries)


def log_as_dicts(*, mailbox: Mailbox | None = None) -> Iterator[dict]:
    entries = RequestLog.objects.all()
    if mailbox is not None:
        entries = entries.filter(mailbox=mailbox)
    for entry in entries.select_related("mailbox").iterator(chunk_size=2000):
        yield {
            "id": entry.pk,
            "created_at": entry.created_at.isoformat(),
            "provider": entry.provider,
            "mailbox": entry.mailbox.address if entry.mailbox else None,
            "method": entry.method,
            "path": entry.path,
            "operation": entry.operation,
            "format": entry.format,
            "prefer": entry.prefer,
            "scopes": entry.scopes.split(),
            "units": entry.units,
            "status": entry.status,
            "batch_id": entry.batch_id,
            "duration_ms": round(entry.duration_ms, 2),
            "fields": entry.fields,
            "response_bytes": entry.response_bytes,
        }
