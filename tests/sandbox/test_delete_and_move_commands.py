"""`sandbox delete` and `sandbox move`: what a user does in their mailbox, from the
command line, recorded in the history each provider's change feed reads (Gmail's
messagesDeleted / a label change; Graph's per-folder delta)."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from sandbox import services
from sandbox.models import HistoryEvent, Message
from tests.sandbox.conftest import raw_message


def _run(*args: str) -> dict:
    out = io.StringIO()
    call_command("sandbox", *args, stdout=out)
    return json.loads(out.getvalue())


def _delivered(provider: str) -> Message:
    box = services.mailbox_create(address=f"ann@{provider}.test", provider=provider)
    raw = raw_message(
        sender="bob@else.test", to=box.address, subject="Hi", message_id="<m1@else.test>"
    )
    return services.message_deliver(mailbox=box, raw=raw)


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_delete_removes_the_message_for_good_and_records_it(transactional_db, provider):
    message = _delivered(provider)

    _run("delete", message.mailbox.address, "m1@else.test")

    assert not Message.objects.filter(pk=message.pk).exists()
    assert HistoryEvent.objects.filter(
        mailbox=message.mailbox, kind=HistoryEvent.Kind.MESSAGE_DELETED
    ).exists()


def test_move_archives_on_gmail(transactional_db):
    message = _delivered("google")

    moved = _run("move", message.mailbox.address, "<m1@else.test>")

    assert "INBOX" not in moved["labelIds"]
    assert Message.objects.filter(pk=message.pk).exists()


def test_move_files_into_a_folder_on_microsoft_keeping_the_immutable_id(transactional_db):
    message = _delivered("microsoft")

    moved = _run("move", message.mailbox.address, "m1@else.test", "--to", "TRASH")

    after = Message.objects.get(pk=message.pk)
    assert "TRASH" in moved["labelIds"]
    assert after.immutable_id == message.immutable_id
    assert after.provider_id != message.provider_id  # a REST id names a folder's item


def test_an_unknown_message_is_a_command_error(transactional_db):
    message = _delivered("google")
    with pytest.raises(CommandError):
        _run("delete", message.mailbox.address, "nope@else.test")
