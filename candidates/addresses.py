"""Email addresses as Threadline compares them."""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from candidates.models import CandidateEmail


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


def address_taken_reason(
    *, organisation_id: int, candidate_id: object, address: str, exclude_pk: int | None = None
) -> str | None:
    """Why `address` (already normalised) cannot be given to the candidate, or None.

    One address belongs to one candidate in an organisation, so that mail to or from it
    maps to exactly one profile.
    """
    holders = CandidateEmail.objects.filter(organisation_id=organisation_id, address=address)
    if exclude_pk is not None:
        holders = holders.exclude(pk=exclude_pk)
    owner = holders.values_list("candidate_id", flat=True).first()
    if owner is None:
        return None
    if owner == candidate_id:
        return "This address is already on the profile."
    return "Another candidate already has this address."
