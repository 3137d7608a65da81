"""users.threads.list through googleapiclient: a thread is listed when any of its messages
matches `q` (plain terms match recipients too, as in Gmail), newest thread first, paged,
charged 10 quota units, and shaped as the discovery document's ListThreadsResponse."""

from sandbox import services
from sandbox.google import scopes
from sandbox.models import RequestLog
from tests.sandbox.conftest import raw_message


def _deliver(mailbox, **fields):
    return services.message_deliver(mailbox=mailbox, raw=raw_message(**fields))


def test_threads_list_finds_threads_by_any_message_newest_first(
    recruiter, token_for, gmail_for, gmail_document
):
    first = _deliver(
        recruiter,
        sender="ada@people.test",
        to=recruiter.address,
        subject="Referral",
        message_id="ref@people.test",
    )
    _deliver(
        recruiter,
        sender="colleague@agency.test",
        to=f"{recruiter.address}, ada@people.test",
        subject="Re: Referral",
        message_id="re@agency.test",
        in_reply_to="ref@people.test",
    )
    _deliver(recruiter, sender="bob@people.test", to=recruiter.address, subject="Lunch")
    newest = _deliver(
        recruiter,
        sender="cy@people.test",
        to=f"ada@people.test, {recruiter.address}",
        subject="Intro",
    )
    users = gmail_for(token_for(recruiter, scopes.MODIFY)).users()

    found = users.threads().list(userId="me", q="ada@people.test").execute()
    page = users.threads().list(userId="me", q="ada@people.test", maxResults=1).execute()
    rest = (
        users.threads()
        .list(userId="me", q="ada@people.test", maxResults=1, pageToken=page["nextPageToken"])
        .execute()
    )

    assert [t["id"] for t in found["threads"]] == [newest.thread_id, first.thread_id]
    assert found["resultSizeEstimate"] == 2
    assert set(found["threads"][0]) == {"id", "snippet", "historyId"}
    assert set(found) <= set(gmail_document["schemas"]["ListThreadsResponse"]["properties"])
    assert [t["id"] for t in page["threads"] + rest["threads"]] == [
        newest.thread_id,
        first.thread_id,
    ]
    assert "nextPageToken" not in rest
    listed = RequestLog.objects.filter(operation="gmail.users.threads.list")
    assert set(listed.values_list("units", flat=True)) == {10}


def test_threads_list_answers_only_the_fields_asked_for(recruiter, token_for, gmail_for):
    _deliver(recruiter, sender="ada@people.test", to=recruiter.address, subject="Referral")
    users = gmail_for(token_for(recruiter, scopes.MODIFY)).users()

    found = users.threads().list(userId="me", q="referral", fields="threads/id").execute()

    assert list(found) == ["threads"]
    assert list(found["threads"][0]) == ["id"]
