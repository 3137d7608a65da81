"""The emulation agrees with Google's Gmail and People discovery documents: per-operation
scopes, and every field the sandbox returns exists in the schema it claims to return."""

import json
from pathlib import Path

import googleapiclient
import pytest

from sandbox import services
from sandbox.google import api, fields, representation, scopes
from sandbox.google.calendar_schemas import CALENDAR_SCHEMAS
from sandbox.models import HistoryEvent, Label
from tests.sandbox.conftest import raw_message

PEOPLE_DOC = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"


@pytest.fixture(scope="module")
def google_documents(gmail_document) -> list[dict]:
    return [gmail_document, json.loads((PEOPLE_DOC / "people.v1.json").read_text())]


def _methods(resource: dict):
    yield from resource.get("methods", {}).values()
    for child in resource.get("resources", {}).values():
        yield from _methods(child)


def test_operation_scopes_match_the_discovery_document(google_documents):
    documented = {m["id"]: set(m["scopes"]) for d in google_documents for m in _methods(d)}
    for operation, accepted in scopes.OPERATION_SCOPES.items():
        if not operation.startswith("gmail."):
            continue  # Calendar's are compared in test_google_calendar.py
        addons = {s for s in documented[operation] if "addons" in s}
        assert set(accepted) == documented[operation] - addons, operation
        assert operation in api.QUOTA_UNITS


def _assert_fits(value, schema_name: str, schemas: dict, *, nested: bool = False) -> None:
    properties = schemas[schema_name]["properties"]
    # An empty resource fits any schema: at the top, that would check nothing.
    assert value or nested, f"an empty {schema_name}"
    for key, item in value.items():
        assert key in properties, f"{schema_name}.{key}"
        ref = properties[key].get("$ref") or properties[key].get("items", {}).get("$ref")
        if ref and isinstance(item, dict):
            _assert_fits(item, ref, schemas, nested=True)
        elif ref and isinstance(item, list):
            for element in item:
                _assert_fits(element, ref, schemas, nested=True)


@pytest.mark.parametrize("fmt", representation.FORMATS)
def test_message_resources_fit_the_message_schema(gmail_document, recruiter, fmt):
    message = services.message_deliver(
        mailbox=recruiter,
        raw=raw_message(sender="a@people.test", to=recruiter.address, subject="Shape"),
    )
    resource = representation.message_resource(message, fmt)
    _assert_fits(resource, "Message", gmail_document["schemas"])


def test_label_and_history_resources_fit_their_schemas(gmail_document, recruiter):
    schemas = gmail_document["schemas"]
    message = services.message_deliver(
        mailbox=recruiter,
        raw=raw_message(sender="a@people.test", to=recruiter.address, subject="Shape"),
    )
    services.message_modify_labels(message=message, remove=["UNREAD"])
    events = list(HistoryEvent.objects.filter(mailbox=recruiter))
    assert len(events) >= 2  # the delivery and the label change
    for event in events:
        _assert_fits(representation.history_record(event), "History", schemas)
    label = services.label_create(mailbox=recruiter, name="X", options={"color": {}})
    for each in [label, Label.objects.get(mailbox=recruiter, provider_id="INBOX")]:
        _assert_fits(representation.label_resource(each), "Label", schemas)


def test_partial_response_schemas_match_the_discovery_document(google_documents):
    schemas = {name: s for d in google_documents for name, s in d["schemas"].items()}
    for name, properties in fields.SCHEMAS.items():
        if name in CALENDAR_SCHEMAS:
            continue  # compared in test_google_calendar.py
        documented = {
            key: value.get("$ref") or value.get("items", {}).get("$ref")
            for key, value in schemas[name]["properties"].items()
        }
        assert properties == documented, name
    responses = {
        m["id"]: m.get("response", {}).get("$ref") for d in google_documents for m in _methods(d)
    }
    for operation in api.QUOTA_UNITS:
        if responses[operation] is None:
            assert operation not in fields.RESPONSE_SCHEMAS  # an empty answer (204)
        else:
            assert fields.RESPONSE_SCHEMAS[operation] == responses[operation], operation
