"""Attachment files leave storage with their rows.

A signal rather than a call in each service: attachments are deleted by cascade from
messages, threads and candidates, by querysets (retention, purge) and by single rows
(removal), and Django sends post_delete for every row its deletion collector removes,
cascades included. It does not for raw SQL, which Threadline does not use to delete mail.
"""

from functools import partial
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from candidates.models import EmailAttachment
from core.attachment_storage import attachment_blob_delete


@receiver(post_delete, sender=EmailAttachment, dispatch_uid="attachment_blob_delete")
def attachment_blob_delete_on_commit(
    sender: type[EmailAttachment], instance: EmailAttachment, using: str, **kwargs: Any
) -> None:
    # After the commit: a rolled-back delete must still find its bytes. Robust: the rows
    # are gone whatever happens, and a storage outage must not turn a finished removal into
    # an error page (the file is then left behind as unreferenced ciphertext).
    transaction.on_commit(partial(attachment_blob_delete, instance.blob), using=using, robust=True)
