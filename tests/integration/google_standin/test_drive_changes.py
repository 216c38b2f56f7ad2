"""Drive changes through the real client: start tokens, what each kind of write leaves in the list,
the drive.file filter, paging, and changes.watch channels POSTing to a loopback receiver."""

from __future__ import annotations

import email.utils
from collections.abc import Iterator
from typing import Any

import pytest

from local_stack.google_standin.standin import GoogleStandIn
from tests.integration.google_standin.admin_client import admin
from tests.integration.google_standin.calendar_helpers import WebhookReceiver, reason, refused
from tests.integration.google_standin.drive_helpers import DOC, DRIVE
from tests.integration.helpers import ALICE, BOB

DAY = 24 * 3600


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    running = WebhookReceiver()
    yield running
    running.close()


def changes_since(drive: Any, token: str, **params: Any) -> dict[str, Any]:
    fields = "nextPageToken,newStartPageToken,changes(fileId,removed,time,changeType,kind,file(name,trashed))"
    return dict(drive.changes().list(pageToken=token, fields=fields, **params).execute())


def test_rename_trash_delete_and_sharing_are_changes(standin: GoogleStandIn, drive: Any) -> None:
    doc = drive.files().create(body={"name": "Proposal", "mimeType": DOC}).execute()
    start = drive.changes().getStartPageToken().execute()
    assert start["kind"] == "drive#startPageToken"
    token = start["startPageToken"]
    assert changes_since(drive, token) == {"newStartPageToken": token, "changes": []}

    drive.files().update(fileId=doc["id"], body={"name": "Proposal v2"}).execute()
    page = changes_since(drive, token)
    assert page["changes"] == [
        {
            "kind": "drive#change",
            "changeType": "file",
            "fileId": doc["id"],
            "removed": False,
            "time": page["changes"][0]["time"],
            "file": {"name": "Proposal v2", "trashed": False},
        }
    ]
    token = page["newStartPageToken"]
    standin.drive(ALICE).trash(doc["id"])
    page = changes_since(drive, token)
    assert page["changes"][0]["file"] == {"name": "Proposal v2", "trashed": True}
    token = page["newStartPageToken"]
    drive.permissions().create(
        fileId=doc["id"], body={"type": "user", "role": "reader", "emailAddress": "c@customer.example"}
    ).execute()
    assert [c["fileId"] for c in changes_since(drive, token)["changes"]] == [doc["id"]]
    token = changes_since(drive, token)["newStartPageToken"]
    standin.drive(ALICE).delete(doc["id"])
    removed = changes_since(drive, token)["changes"]
    assert [(c["fileId"], c["removed"], "file" in c) for c in removed] == [(doc["id"], True, False)]
    assert changes_since(drive, token, includeRemoved=False)["changes"] == []
    # A file changed many times since the token shows once, with its latest state.
    everything = changes_since(drive, start["startPageToken"])["changes"]
    assert [(c["fileId"], c["removed"]) for c in everything] == [(doc["id"], True)]


def test_drive_file_tokens_hear_only_of_the_apps_files(
    standin: GoogleStandIn, drive: Any, drive_for: Any
) -> None:
    token = drive.changes().getStartPageToken().execute()["startPageToken"]
    private = standin.drive(ALICE).create("Diary", DOC)
    ours = drive.files().create(body={"name": "Ours", "mimeType": DOC}).execute()
    standin.drive(ALICE).rename(private["id"], "Diary 2")
    assert [c["fileId"] for c in changes_since(drive, token)["changes"]] == [ours["id"]]
    everything = changes_since(drive_for(ALICE, [DRIVE]), token)["changes"]
    assert [c["fileId"] for c in everything] == [ours["id"], private["id"]]
    standin.drive(ALICE).delete(private["id"])
    assert [c["fileId"] for c in changes_since(drive, token)["changes"]] == [ours["id"]]
    assert changes_since(drive_for(BOB), "1")["changes"] == []


def test_pages_end_with_next_page_token_until_the_last_has_the_new_start_token(drive: Any) -> None:
    token = drive.changes().getStartPageToken().execute()["startPageToken"]
    made = [drive.files().create(body={"name": f"F{i}"}).execute()["id"] for i in range(5)]
    first = changes_since(drive, token, pageSize=2)
    assert ("nextPageToken" in first, "newStartPageToken" in first) == (True, False)
    second = changes_since(drive, first["nextPageToken"], pageSize=2)
    third = changes_since(drive, second["nextPageToken"], pageSize=2)
    assert "nextPageToken" not in third
    assert [c["fileId"] for page in (first, second, third) for c in page["changes"]] == made
    assert third["newStartPageToken"] == drive.changes().getStartPageToken().execute()["startPageToken"]
    for bad in ("abc", "0", "999999"):
        error = refused(drive.changes().list(pageToken=bad))
        assert (error.status_code, reason(error), error.error_details[0]["location"]) == (
            400,
            "invalid",
            "pageToken",
        )
    assert refused(drive.changes().list(pageToken=token, pageSize=0)).status_code == 400
    accepted = drive.changes().list(
        pageToken=token,
        restrictToMyDrive=True,
        spaces="drive",
        supportsAllDrives=True,
        includeItemsFromAllDrives=True,
    )
    assert len(accepted.execute()["changes"]) == 5


def watch(
    drive: Any, address: str, page_token: str, channel_id: str = "drive-1", **body: Any
) -> dict[str, Any]:
    request = drive.changes().watch(
        pageToken=page_token, body={"id": channel_id, "type": "web_hook", "address": address, **body}
    )
    return dict(request.execute())


def delivered(standin: GoogleStandIn, receiver: WebhookReceiver) -> list[tuple[str, str, str, str | None]]:
    """(channel id, resource state, message number, X-Goog-Changed) of every POST the receiver got."""
    assert standin.drive_push.drain()
    return [
        (
            headers["X-Goog-Channel-Id"],
            headers["X-Goog-Resource-State"],
            headers["X-Goog-Message-Number"],
            headers.get("X-Goog-Changed"),
        )
        for headers in receiver.headers()
    ]


def test_watch_sends_sync_then_a_change_per_change(
    standin: GoogleStandIn, drive: Any, receiver: WebhookReceiver
) -> None:
    token = drive.changes().getStartPageToken().execute()["startPageToken"]
    channel = watch(drive, receiver.url, token, token="tenant=acme", params={"ttl": str(DAY)})
    now_ms = standin.clock.now() * 1000
    assert (channel["kind"], channel["id"], channel["token"]) == ("api#channel", "drive-1", "tenant=acme")
    assert channel["resourceUri"] == f"{standin.base_url}/drive/v3/changes?alt=json&pageToken={token}"
    assert abs(int(channel["expiration"]) - (now_ms + DAY * 1000)) < 5000
    doc = drive.files().create(body={"name": "Proposal", "mimeType": DOC}).execute()
    standin.drive(ALICE).set_text(doc["id"], "Hello")  # another client's edit notifies too
    drive.files().update(fileId=doc["id"], body={"name": "Renamed"}).execute()
    standin.drive(ALICE).create("Not the app's", DOC)  # a drive.file channel does not hear of it
    assert delivered(standin, receiver) == [
        ("drive-1", "sync", "1", None),
        ("drive-1", "change", "2", None),
        ("drive-1", "change", "3", "content"),
        ("drive-1", "change", "4", "properties"),
    ]
    headers, body = receiver.received[1]
    assert body == b""
    assert headers["X-Goog-Channel-Token"] == "tenant=acme"
    assert headers["X-Goog-Resource-Id"] == channel["resourceId"]
    assert headers["X-Goog-Resource-Uri"] == channel["resourceUri"]
    expiration = email.utils.parsedate_to_datetime(headers["X-Goog-Channel-Expiration"])
    assert int(expiration.timestamp()) == int(channel["expiration"]) // 1000
    assert [(d.state, d.status) for d in standin.drive_push.deliveries] == [("sync", 200)] + [
        ("change", 200)
    ] * 3
    assert standin.calendar_push.deliveries == []  # one registry, each API its own view


def test_channel_lifetimes_expiry_and_stop(
    standin: GoogleStandIn, drive: Any, drive_for: Any, receiver: WebhookReceiver
) -> None:
    token = drive.changes().getStartPageToken().execute()["startPageToken"]
    plain = watch(drive, receiver.url, token, "default-ttl")
    assert int(plain["expiration"]) - standin.clock.now() * 1000 == pytest.approx(3600 * 1000, abs=5000)
    capped = watch(
        drive, receiver.url, token, "capped", expiration=str(int((standin.clock.now() + 30 * DAY) * 1000))
    )
    assert int(capped["expiration"]) - standin.clock.now() * 1000 == pytest.approx(7 * DAY * 1000, abs=5000)

    wrong = refused(drive.channels().stop(body={"id": "capped", "resourceId": "not-it"}))
    assert (wrong.status_code, reason(wrong)) == (404, "notFound")
    stranger = drive_for(BOB).channels().stop(body={"id": "capped", "resourceId": capped["resourceId"]})
    assert refused(stranger).status_code == 404
    assert drive.channels().stop(body={"id": "capped", "resourceId": capped["resourceId"]}).execute() == ""
    standin.advance_clock(3601)  # the default-ttl channel expires
    drive.files().create(body={"name": "After"}).execute()
    assert sorted(delivered(standin, receiver)) == [
        ("capped", "sync", "1", None),
        ("default-ttl", "sync", "1", None),
    ]
    assert [(c.id, c.stopped) for c in standin.drive_push.channels] == [
        ("default-ttl", False),
        ("capped", True),
    ]
    status, listed = admin(standin, "GET", "/standin/drive/channels")
    assert (status, [c["id"] for c in listed["channels"]]) == (200, ["default-ttl", "capped"])
    status, deliveries = admin(standin, "GET", "/standin/drive/deliveries")
    assert (status, len(deliveries["deliveries"])) == (200, 2)


def test_a_calendar_channel_is_not_stopped_through_drive(
    standin: GoogleStandIn, drive: Any, calendar_service: Any, receiver: WebhookReceiver
) -> None:
    calendar_channel = (
        calendar_service.events()
        .watch(calendarId="primary", body={"id": "cal-1", "type": "web_hook", "address": receiver.url})
        .execute()
    )
    error = refused(drive.channels().stop(body={"id": "cal-1", "resourceId": calendar_channel["resourceId"]}))
    assert error.status_code == 404
    token = drive.changes().getStartPageToken().execute()["startPageToken"]
    duplicate = refused(
        drive.changes().watch(
            pageToken=token, body={"id": "cal-1", "type": "web_hook", "address": receiver.url}
        )
    )
    assert (duplicate.status_code, reason(duplicate)) == (400, "channelIdNotUnique")
    bad_token = drive.changes().watch(
        pageToken="abc", body={"id": "x", "type": "web_hook", "address": receiver.url}
    )
    assert refused(bad_token).status_code == 400
