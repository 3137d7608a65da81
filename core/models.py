from django.db import models
from encrypted_model_fields.fields import EncryptedCharField


class EncryptionCanary(models.Model):
    """One row holding a known value, encrypted with the key in use when it was written.

    django-encrypted-model-fields hands back the stored ciphertext, silently, when the key
    cannot decrypt it; reading this row at start-up turns a wrong key into a loud error
    instead of ciphertext shown (and re-saved) as if it were data.
    """

    value = EncryptedCharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Encryption canary written {self.created_at:%Y-%m-%d}"
