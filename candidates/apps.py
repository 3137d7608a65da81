from django.apps import AppConfig


class CandidatesConfig(AppConfig):
    name = "candidates"

    def ready(self) -> None:
        from candidates.models import EmailAttachment
        from core.attachment_storage import attachment_blob_model_register

        attachment_blob_model_register(EmailAttachment)
