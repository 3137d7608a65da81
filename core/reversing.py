"""reverse() for pages that link every row to the same view."""

from collections.abc import Callable
from uuid import UUID

from django.urls import reverse

Id = int | UUID

# Two samples of the same length that differ in their first character: reversed with each,
# the URLs differ exactly where the id stands (see `reverse_each`).
_SAMPLES: dict[type, tuple[Id, Id]] = {
    int: (1, 2),
    UUID: (
        UUID(int=0x11111111111111111111111111111111),
        UUID(int=0x22222222222222222222222222222222),
    ),
}


def reverse_each(viewname: str, *args: object, last: type[int] | type[UUID]) -> Callable[[Id], str]:
    """A function of one id giving what `reverse(viewname, args=[*args, id])` gives, for
    a page that names the same view for each of its rows: reverse() looks the view up and
    formats the URL on every call (tens of microseconds); this reverses twice, with two
    sample ids, and then puts each id where the two URLs differ. Ints and UUIDs only:
    their text is the same in a URL, so nothing is quoted differently."""
    first_sample, second_sample = _SAMPLES[last]
    first = reverse(viewname, args=[*args, first_sample])
    second = reverse(viewname, args=[*args, second_sample])
    start = next((n for n, (a, b) in enumerate(zip(first, second, strict=False)) if a != b), 0)
    prefix, suffix = first[:start], first[start + len(str(first_sample)) :]
    if (first, second) != (f"{prefix}{first_sample}{suffix}", f"{prefix}{second_sample}{suffix}"):
        return lambda id_: reverse(viewname, args=[*args, id_])  # not one piece of the URL
    return lambda id_: f"{prefix}{id_}{suffix}"
