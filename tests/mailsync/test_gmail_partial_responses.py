"""What a Gmail sync asks Google for, read from the sandbox's request log: headers-only
checks ask for a partial response, so no word of a message we may not read reaches us;
and the replies a round stores are labelled with one batchModify."""

import json

from mailsync.sending import Draft
from mailsync.services import message_send
from sandbox import services as sandbox
from sandbox.models import Message, RequestLog

MARKER = "Xylophone-4417"


def _send(world, subject: str) -> None:
    message_send(
        actor=world.recruiter,
        candidate=world.candidate,
        draft=Draft(to=world.candidate_address, subject=subject, body_text="Shall we talk?"),
    )


def test_no_snippet_of_a_message_we_may_not_read_reaches_threadline(gmail_world, settings):
    settings.SANDBOX_LOG_RESPONSE_BODIES = True
    world = gmail_world
    world.connect()
    _send(world, "Platform Engineer at Acme")
    world.reply(world.candidate_box, world.recruiter.email, "Yes, Tuesday works.")
    private = world.write(
        world.candidate_box,
        world.recruiter.email,
        "Something personal",
        f"{MARKER}: this is between us, not for any recruiting tool.",
    )
    in_box = Message.objects.get(mailbox=world.recruiter_box, rfc822_msgid=private.rfc822_msgid)
    assert MARKER in in_box.snippet  # Gmail would hand this out with format=metadata

    world.sync()

    answers = RequestLog.objects.filter(provider="google").exclude(operation="batch")
    assert answers.exclude(response_body="").exists()
    assert not answers.filter(response_body__contains=MARKER).exists()
    assert not answers.filter(response_body__contains='"snippet"').exists()
    checks = list(world.header_checks())
    assert [check for check in checks if in_box.provider_id in check.path]
    for check in checks:
        assert check.fields == "payload/headers"
        assert set(json.loads(check.response_body)) <= {"payload"}
    assert not world.whole_fetches().filter(path__contains=in_box.provider_id).exists()


def test_twelve_replies_in_one_round_are_labelled_with_one_batch_modify(gmail_world):
    world = gmail_world
    world.connect()
    for number in range(12):
        _send(world, f"Role {number} at Acme")
    for delivered in Message.objects.filter(mailbox=world.candidate_box):
        world.reply(world.candidate_box, world.recruiter.email, "Interested!", to_message=delivered)
    before = RequestLog.objects.order_by("-id").values_list("id", flat=True).first()

    world.sync()

    during = world.log(id__gt=before)
    labelling = during.filter(
        operation__in=["gmail.users.messages.modify", "gmail.users.messages.batchModify"]
    )
    assert list(labelling.values_list("operation", "units", "status")) == [
        ("gmail.users.messages.batchModify", 50, 204)
    ]
    replies = Message.objects.filter(mailbox=world.recruiter_box, subject__startswith="Re:")
    assert replies.count() == 12
    assert all(world.kit.own_label_on(reply) for reply in replies)


def test_a_single_sent_copy_is_labelled_with_modify_the_cheaper_call(gmail_world):
    world = gmail_world
    world.connect()
    _send(world, "Platform Engineer at Acme")

    labelling = world.log(
        operation__in=["gmail.users.messages.modify", "gmail.users.messages.batchModify"]
    )
    assert list(labelling.values_list("operation", "units")) == [("gmail.users.messages.modify", 5)]
    sent = Message.objects.get(mailbox=world.recruiter_box)
    assert world.kit.own_label_on(sent)


def test_recovering_an_expired_cursor_lists_known_threads_without_snippets(gmail_world, settings):
    settings.SANDBOX_LOG_RESPONSE_BODIES = True
    world = gmail_world
    world.connect()
    _send(world, "Platform Engineer at Acme")
    world.reply(world.candidate_box, world.recruiter.email, "Yes, Tuesday works.")
    world.sync()
    sandbox.history_expire(mailbox=world.recruiter_box)
    world.reply(world.candidate_box, world.recruiter.email, f"{MARKER}: and Wednesday too.")

    world.sync()

    listings = world.log(operation="gmail.users.threads.get")
    assert listings.exists()
    for listing in listings:
        assert listing.fields == "messages(id,threadId,labelIds,internalDate)"
        assert '"snippet"' not in listing.response_body
    assert Message.objects.filter(mailbox=world.recruiter_box, snippet__contains=MARKER).exists()
    assert all(
        world.kit.own_label_on(m) for m in Message.objects.filter(mailbox=world.recruiter_box)
    )
