"""The suggestions list under a field where a user types a person: Add candidate's name,
compose's To (htmx partials, asked for as the user types, debounced in the page)."""

import json
import re
from typing import Any
from urllib.parse import urlencode

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.access import MemberRequest, member_required, require
from candidates.policy import can_create_candidate
from mailsync.contacts import PersonSuggestion, contact_suggestions

# What each field is called in its form: the partial reads the text from it.
TEXT_FIELD = {"candidate": "full_name", "to": "to"}
# The id of the field a pick fills (compose has one To per thread on a profile).
_FIELD_ID = re.compile(r"^[A-Za-z][\w-]{0,80}$")


def candidate_prefill(person: PersonSuggestion) -> str:
    """What "Create candidate from contact" posts back to Add candidate: the name, the
    headline and the addresses, as the form's own fields (nothing is stored yet)."""
    return urlencode(
        {
            "full_name": person.name,
            "headline": person.headline,
            "email": person.emails[0],
            "more_emails": ", ".join(person.emails[1:]),
        }
    )


def fill_values(values: dict[str, str]) -> str:
    """A pick that fills fields in the page (static/js/threadline.js): {"#id": value}."""
    return json.dumps(values)


def _rows(mode: str, people: list[PersonSuggestion], target: str) -> list[dict[str, Any]]:
    rows = []
    for person in people:
        row: dict[str, Any] = {"person": person}
        if mode == "candidate" and not person.is_candidate:
            row["prefill"] = candidate_prefill(person)
        if mode == "to":
            row["fills"] = [
                (address, fill_values({f"#{target}": address})) for address in person.emails
            ]
        rows.append(row)
    return rows


@member_required
@require_GET
def person_suggestions(request: MemberRequest, mode: str) -> HttpResponse:
    if mode not in TEXT_FIELD:
        return HttpResponse(status=404)
    if mode == "candidate":
        # Add candidate's suggestions: for those who may add one.
        require(can_create_candidate(request.user), "You may not add candidates.")
    text = request.GET.get(TEXT_FIELD[mode], "")
    target = request.GET.get("target", "")
    target = target if _FIELD_ID.match(target) else f"id_{TEXT_FIELD[mode]}"
    found = contact_suggestions(request.user, text)
    return render(
        request,
        "mailsync/_person_suggestions.html",
        {
            "mode": mode,
            "rows": _rows(mode, found.people, target),
            "contacts_unavailable": found.contacts_unavailable,
            "searched": " ".join(text.split()),
        },
    )
