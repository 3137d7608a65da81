from django.apps import AppConfig
from django.db.models.signals import post_delete


class CandidatesConfig(AppConfig):
    name = "candidates"

    def ready(self) -> None:
        from candidates.models import EmailAttachment
        from core.attachment_storage import blob_delete_with_row

        post_delete.connect(
            blob_delete_with_row, sender=EmailAttachment, dispatch_uid="email-attachment-blob"
        )
