"""Email addresses as Threadline compares them."""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email


def normalise_email_address(raw: str) -> str:
    """Trimmed and lower-cased, so one mailbox is one address however it was typed.

    Local parts are case-sensitive in theory and never in practice; treating them as
    case-insensitive is what every mail provider we sync with does.
    Raises ValidationError for anything that is not a single plain address.
    """
    address = (raw or "").strip().lower()
    if address.startswith("mailto:"):
        address = address.removeprefix("mailto:")
    validate_email(address)
    if "<" in address or "," in address:
        raise ValidationError("Enter a single plain address.")
    return address
