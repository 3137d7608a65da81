"""Folder delta rounds, moves with REST and immutable ids, and mail folders."""

from sandbox import services
from sandbox.models import Message, RequestLog
from tests.sandbox.conftest import raw_message

IMMUTABLE = {"Prefer": 'IdType="ImmutableId"'}


def _deliver(mailbox, count: int, start: int = 0) -> list[Message]:
    return [
        services.message_deliver(
            mailbox=mailbox,
            raw=raw_message(sender="c@people.test", to=mailbox.address, subject=f"M{n}"),
            labels=["INBOX", "UNREAD"],
        )
        for n in range(start, start + count)
    ]


def _round(graph, url: str, **headers) -> tuple[list[dict], str, int]:
    """Follow nextLinks to the deltaLink: (items, deltaLink, pages)."""
    items, pages = [], 0
    while True:
        page = graph.get(url, headers=headers)
        assert page.status_code == 200, page.text
        body = page.json()
        items += body["value"]
        pages += 1
        if "@odata.deltaLink" in body:
            return items, body["@odata.deltaLink"], pages
        url = body["@odata.nextLink"]


def test_delta_pages_then_reports_new_changed_moved_and_deleted_messages(graph_for, recruiter_ms):
    stored = _deliver(recruiter_ms, 5)
    graph = graph_for(recruiter_ms, "Mail.ReadWrite")
    items, delta_link, pages = _round(
        graph,
        "me/mailFolders/INBOX/messages/delta?$select=subject,isRead,internetMessageId",
        Prefer="odata.maxpagesize=2",
    )
    assert pages == 3
    assert [i["subject"] for i in items] == ["M4", "M3", "M2", "M1", "M0"]
    assert set(items[0]) == {
        "@odata.type",
        "@odata.etag",
        "id",
        "subject",
        "isRead",
        "internetMessageId",
    }
    root = graph.root
    assert delta_link.startswith(f"{root}/me/mailFolders('INBOX')/messages/delta?$deltatoken=")

    archive = graph.post("me/mailFolders", {"displayName": "Candidates"}).json()
    graph.patch(f"me/messages/{stored[0].provider_id}", {"isRead": True})
    graph.post(f"me/messages/{stored[1].provider_id}/move", {"destinationId": archive["id"]})
    assert graph.request("DELETE", f"me/messages/{stored[2].provider_id}").status_code == 204
    (fresh,) = _deliver(recruiter_ms, 1, start=9)

    changes, next_link, _ = _round(graph, delta_link)
    by_id = {item["id"]: item for item in changes}
    assert by_id[stored[0].provider_id]["isRead"] is True
    assert by_id[fresh.provider_id]["subject"] == "M9"
    for gone in (stored[1], stored[2]):
        assert by_id[gone.provider_id] == {
            "@odata.type": "#microsoft.graph.message",
            "id": gone.provider_id,
            "@removed": {"reason": "deleted"},
        }
    assert len(changes) == 4
    assert set(by_id[fresh.provider_id]) >= {"subject", "isRead", "internetMessageId"}

    quiet, _, _ = _round(graph, next_link)
    assert quiet == []

    moved, _, _ = _round(graph, f"me/mailFolders/{archive['id']}/messages/delta")
    assert [m["subject"] for m in moved] == ["M1"]


def test_an_expired_delta_token_answers_410_sync_state_not_found(graph_for, recruiter_ms):
    _deliver(recruiter_ms, 1)
    graph = graph_for(recruiter_ms, "Mail.Read")
    _, delta_link, _ = _round(graph, "me/mailFolders/inbox/messages/delta")
    services.delta_expire(mailbox=recruiter_ms)
    expired = graph.get(delta_link)
    assert expired.status_code == 410
    assert expired.json()["error"]["code"] == "SyncStateNotFound"
    assert expired.headers["Location"].endswith("/me/mailFolders('inbox')/messages/delta")
    garbage = graph.get("me/mailFolders/inbox/messages/delta?$deltatoken=%%%")
    assert garbage.status_code == 410 and garbage.json()["error"]["code"] == "SyncStateInvalid"
    restart, _, _ = _round(graph, "me/mailFolders/inbox/messages/delta")
    assert len(restart) == 1


def test_immutable_ids_survive_a_move_and_rest_ids_do_not(graph_for, recruiter_ms):
    (stored,) = _deliver(recruiter_ms, 1)
    graph = graph_for(recruiter_ms, "Mail.ReadWrite")
    immutable = graph.get(f"me/messages/{stored.provider_id}", headers=IMMUTABLE)
    assert immutable.headers["Preference-Applied"] == 'IdType="ImmutableId"'
    immutable_id = immutable.json()["id"]
    assert immutable_id.startswith("AAkALg") and immutable_id != stored.provider_id

    _, delta_link, _ = _round(graph, "me/mailFolders/inbox/messages/delta", **IMMUTABLE)
    folder = graph.post("me/mailFolders", {"displayName": "Hired"}).json()
    moved = graph.post(
        f"me/messages/{immutable_id}/move", {"destinationId": folder["id"]}, headers=IMMUTABLE
    ).json()
    assert moved["id"] == immutable_id
    assert moved["parentFolderId"] == folder["id"]
    assert graph.get(f"me/messages/{stored.provider_id}").status_code == 404
    rest_id = graph.get(f"me/messages/{immutable_id}").json()["id"]
    assert rest_id != stored.provider_id and rest_id.startswith("AAMkA")

    (removed,), _, _ = _round(graph, delta_link, **IMMUTABLE)
    assert removed["id"] == immutable_id and removed["@removed"] == {"reason": "deleted"}
    prefers = set(RequestLog.objects.values_list("prefer", flat=True))
    assert 'IdType="ImmutableId"' in prefers


def test_sub_folders_hold_their_own_messages(graph_for, recruiter_ms):
    graph = graph_for(recruiter_ms, "Mail.ReadWrite")
    top = graph.get("me/mailFolders").json()["value"]
    names = [folder["displayName"] for folder in top]
    assert {"Inbox", "Sent Items", "Drafts", "Deleted Items", "Junk Email"} <= set(names)
    inbox = next(f for f in top if f["displayName"] == "Inbox")
    assert graph.get("me/mailFolders/inbox").json()["id"] == inbox["id"]

    child = graph.post("me/mailFolders/inbox/childFolders", {"displayName": "Backend"})
    assert child.status_code == 201
    assert child.json()["parentFolderId"] == inbox["id"]
    same_name = graph.post("me/mailFolders/inbox/childFolders", {"displayName": "backend"})
    assert same_name.status_code == 409
    assert same_name.json()["error"]["code"] == "ErrorFolderExists"
    (stored,) = _deliver(recruiter_ms, 1)
    graph.post(f"me/messages/{stored.provider_id}/move", {"destinationId": child.json()["id"]})

    children = graph.get(f"me/mailFolders/{inbox['id']}/childFolders").json()["value"]
    assert [(f["displayName"], f["totalItemCount"], f["unreadItemCount"]) for f in children] == [
        ("Backend", 1, 1)
    ]
    listed = graph.get(f"me/mailFolders/{child.json()['id']}/messages").json()["value"]
    assert [m["subject"] for m in listed] == ["M0"]
    assert graph.get("me/mailFolders/inbox/messages").json()["value"] == []
    by_name = graph.get("me/mailFolders", params={"$filter": "displayName eq 'Sent Items'"})
    assert [f["displayName"] for f in by_name.json()["value"]] == ["Sent Items"]
    # /users/{upn}/ is /me/ for the token's own mailbox, and refused for anyone else's.
    mine = graph.get(f"users/{recruiter_ms.address}/mailFolders('{child.json()['id']}')/messages")
    assert [m["subject"] for m in mine.json()["value"]] == ["M0"]
    assert graph.get("users/someone@else.test/messages").status_code == 403
