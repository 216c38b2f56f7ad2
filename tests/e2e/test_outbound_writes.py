"""The write path end to end, with the write Gmail supports today: read state written back from the CRM.
api records and queues it, outbound_worker carries it out (messages.modify at the stand-in), the sync
recognises the change coming back as our own echo. Retries of the API and redeliveries of Pub/Sub reach
Google once; so does a crash between Google's answer and our record of it."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local_stack.google_standin.faults import FaultRule
from local_stack.google_standin.mime_factory import MessageFactory
from shared.composition import reset_container
from tests.e2e.connect_support import ALICE, ConnectDriver
from tests.firestore_reads import client
from tests.integration.helpers import BOB

factory = MessageFactory(seed=31)
KEY = "9f1c2d3e-crm-request-1"
MODIFY = "https://www.googleapis.com/auth/gmail.modify"


@pytest.fixture
def world(connect_world: ConnectDriver) -> ConnectDriver:
    """Write-back on, Alice connected (granting gmail.modify), one unread message synced."""
    os.environ["MAIL_READ_STATE_WRITE_BACK"] = "true"
    reset_container()
    date = datetime.now(UTC) - timedelta(days=1)
    connect_world.standin.mailbox(ALICE).insert(factory.plain(sender=BOB, to=[ALICE], date=date).raw)
    assert connect_world.connect().outcome == "connected"
    assert MODIFY in connect_world.status().get_json()["granted_scopes"]
    assert connect_world.deliver() == [200]
    return connect_world


def the_copy() -> tuple[str, dict[str, Any]]:
    (document,) = client().collection("tenants/acme/messages").stream()
    return str(document.to_dict()["gmail_id"]), document.to_dict()


def mark(world: ConnectDriver, gmail_id: str, *, read: bool, key: str | None = KEY) -> Any:
    headers = world.crm.authorization("acme", "user-1")
    if key is not None:
        headers["Idempotency-Key"] = key
    return world.api.patch(
        f"/v1/tenants/acme/users/user-1/google-connection/messages/{gmail_id}",
        json={"read": read},
        headers=headers,
    )


def write(world: ConnectDriver, write_id: str) -> Any:
    return world.api.get(
        f"/v1/tenants/acme/users/user-1/google-connection/writes/{write_id}",
        headers=world.crm.authorization("acme", "user-1"),
    ).get_json()


def modifies(world: ConnectDriver) -> int:
    return len(world.standin.calls.calls(method_id="gmail.users.messages.modify"))


def test_retried_twice_by_the_api_and_redelivered_three_times_it_reaches_gmail_once(
    world: ConnectDriver,
) -> None:
    gmail_id, copy = the_copy()
    assert copy["unread"] is True
    answers = [mark(world, gmail_id, read=True) for _ in range(3)]  # the CRM's call and two retries
    assert [answer.status_code for answer in answers] == [202, 202, 202]
    assert len({answer.get_json()["write_id"] for answer in answers}) == 1
    assert answers[0].get_json()["status"] == "queued"
    # Each retry queued the write again (it was still queued), and Pub/Sub delivers each thrice.
    assert world.deliver_writes(times=3) == [200] * 9
    assert modifies(world) == 1
    assert "UNREAD" not in world.standin.mailbox(ALICE).get_message(gmail_id, format="minimal")["labelIds"]
    done = write(world, answers[0].get_json()["write_id"])
    assert (done["status"], done["result"]["messages"][0]["unread"]) == ("done", False)
    assert the_copy()[1]["unread"] is False
    assert mark(world, gmail_id, read=True).get_json()["status"] == "done"  # a late retry: the same answer


def sync_reports(output: str) -> list[dict[str, Any]]:
    """The "sync done" lines sync_worker logged."""
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == "sync done"]


def test_the_echo_of_our_own_change_writes_nothing_and_fetches_nothing(
    world: ConnectDriver, capsys: pytest.CaptureFixture[str]
) -> None:
    gmail_id, _ = the_copy()
    mark(world, gmail_id, read=True)
    world.deliver_writes()
    gets = len(world.standin.calls.calls(method_id="gmail.users.messages.get"))
    capsys.readouterr()
    assert world.push().status_code == 204  # Gmail notifies the label change we made
    assert world.deliver() == [200]
    (report,) = sync_reports(capsys.readouterr().out)
    assert (report["mode"], report["updated"], report["fetched"]) == ("partial", 0, 0)  # recognised: no write
    assert len(world.standin.calls.calls(method_id="gmail.users.messages.get")) == gets
    # A change made in Gmail by someone else is mirrored as before.
    world.standin.mailbox(ALICE).modify(gmail_id, add_label_ids=["STARRED"])
    world.push()
    world.deliver()
    (report,) = sync_reports(capsys.readouterr().out)
    assert report["updated"] == 1
    assert "STARRED" in the_copy()[1]["label_ids"]


def test_a_crash_after_gmail_accepted_is_found_and_not_written_again(world: ConnectDriver) -> None:
    gmail_id, _ = the_copy()
    os.environ.update({"CRASH_POINTS": "write.after_google_before_record", "WRITE_CLAIM_SECONDS": "0.2"})
    reset_container()
    write_id = mark(world, gmail_id, read=True).get_json()["write_id"]
    assert world.deliver_writes(limit=1) == [500]  # the worker died after Gmail answered
    assert modifies(world) == 1
    del os.environ["CRASH_POINTS"]
    reset_container()
    time.sleep(0.3)  # its claim expires
    assert world.deliver_writes() == [200]
    done = write(world, write_id)
    assert (done["status"], done["attempts"]) == ("done", 2)
    assert modifies(world) == 1  # the redelivery looked, found the change made, and wrote nothing


def test_the_same_key_with_another_change_is_refused(world: ConnectDriver) -> None:
    gmail_id, _ = the_copy()
    mark(world, gmail_id, read=True)
    refused = mark(world, gmail_id, read=False)
    assert (refused.status_code, refused.get_json()["code"]) == (409, "idempotency_key_reused")
    assert world.deliver_writes() == [200]  # only the first was queued
    assert modifies(world) == 1


@pytest.mark.parametrize("key", [None, "short", "has space in it"])
def test_a_missing_or_bad_key_is_refused_naming_the_header(world: ConnectDriver, key: str | None) -> None:
    gmail_id, _ = the_copy()
    answer = mark(world, gmail_id, read=True, key=key)
    assert (answer.status_code, answer.get_json()["errors"][0]["location"]) == (
        400,
        ["header", "Idempotency-Key"],
    )
    assert client().collection("tenants/acme/writes").get() == []
    assert world.deliver_writes() == []


def test_an_unknown_message_is_404_and_queues_nothing(world: ConnectDriver) -> None:
    answer = mark(world, "18ffffffffffffff", read=True)
    assert (answer.status_code, answer.get_json()["code"]) == (404, "message_not_found")
    assert world.deliver_writes() == []


def test_without_write_back_the_change_is_refused_with_what_to_ask_for(connect_world: ConnectDriver) -> None:
    date = datetime.now(UTC) - timedelta(days=1)
    connect_world.standin.mailbox(ALICE).insert(factory.plain(sender=BOB, to=[ALICE], date=date).raw)
    connect_world.connect()  # write-back off: gmail.readonly only
    connect_world.deliver()
    gmail_id, _ = the_copy()
    answer = mark(connect_world, gmail_id, read=True)
    assert (answer.status_code, answer.get_json()["code"]) == (403, "feature_not_granted")
    assert MODIFY in answer.get_json()["detail"]
    assert client().collection("tenants/acme/writes").get() == []
    assert modifies(connect_world) == 0


def change(world: ConnectDriver, path: str, body: dict[str, Any], key: str = "crm-label-0001") -> Any:
    headers = {**world.crm.authorization("acme", "user-1"), "Idempotency-Key": key}
    return world.api.patch(
        f"/v1/tenants/acme/users/user-1/google-connection/{path}", json=body, headers=headers
    )


def test_labels_by_name_round_trip_and_the_copy_changes_at_once(world: ConnectDriver) -> None:
    gmail_id, _ = the_copy()
    label = world.standin.mailbox(ALICE).create_label("Clients/Acme")
    answer = change(
        world, f"messages/{gmail_id}", {"add_labels": ["clients/acme", "STARRED"], "remove_labels": ["INBOX"]}
    )
    assert answer.status_code == 202, answer.get_json()
    copy = the_copy()[1]  # before the worker ran: the CRM shows the change at once
    assert {label["id"], "STARRED"} <= set(copy["label_ids"])
    assert "INBOX" not in copy["label_ids"]
    assert world.deliver_writes() == [200]
    in_gmail = world.standin.mailbox(ALICE).get_message(gmail_id, format="minimal")["labelIds"]
    assert set(in_gmail) == set(the_copy()[1]["label_ids"])
    assert {label["id"], "STARRED"} <= set(in_gmail)


def test_a_thread_changes_with_one_batch_modify_and_its_echo_writes_nothing(
    world: ConnectDriver, capsys: pytest.CaptureFixture[str]
) -> None:
    gmail_id, copy = the_copy()
    reply = factory.plain(sender=BOB, to=[ALICE], date=datetime.now(UTC) - timedelta(hours=1))
    mailbox = world.standin.mailbox(ALICE)
    first = mailbox.get_message(gmail_id, format="metadata", metadata_headers=["Message-ID"])
    message_id = first["payload"]["headers"][0]["value"]
    raw = reply.raw.replace(b"\nSubject:", f"\nIn-Reply-To: {message_id}\nSubject:".encode(), 1)
    mailbox.insert(raw)
    world.push()
    world.deliver()
    thread = copy["thread_id"]
    assert (
        len(
            [
                c
                for c in client().collection("tenants/acme/messages").stream()
                if c.to_dict()["thread_id"] == thread
            ]
        )
        == 2
    )
    assert change(world, f"threads/{thread}", {"read": True, "add_labels": ["STARRED"]}).status_code == 202
    assert world.deliver_writes() == [200]
    assert len(world.standin.calls.calls(method_id="gmail.users.messages.batchModify")) == 1
    for message in mailbox.list_messages().get("messages", []):
        labels = mailbox.get_message(message["id"], format="minimal")["labelIds"]
        assert "STARRED" in labels
        assert "UNREAD" not in labels
    capsys.readouterr()
    world.push()
    world.deliver()
    (report,) = sync_reports(capsys.readouterr().out)
    assert (report["updated"], report["fetched"]) == (0, 0)


def test_an_unknown_label_is_a_400_naming_it_and_changes_nothing(world: ConnectDriver) -> None:
    gmail_id, before = the_copy()
    answer = change(world, f"messages/{gmail_id}", {"add_labels": ["STARRED", "No Such Label"]})
    assert answer.status_code == 400
    assert answer.get_json()["errors"][0]["location"] == ["body", "add_labels", 1]
    assert the_copy()[1]["label_ids"] == before["label_ids"]
    assert client().collection("tenants/acme/writes").get() == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"read": "yes"},
        {"add_labels": "STARRED"},
        {"add_labels": ["A"], "remove_labels": ["a"]},
        {"read": True, "x": 1},
    ],
)
def test_a_malformed_change_is_a_400_and_queues_nothing(world: ConnectDriver, body: dict[str, Any]) -> None:
    gmail_id, _ = the_copy()
    answer = change(world, f"messages/{gmail_id}", body)
    assert (answer.status_code, answer.get_json()["code"]) == (400, "validation_failed")
    assert world.deliver_writes() == []


def test_a_change_gmail_refuses_for_good_puts_the_copy_back(world: ConnectDriver) -> None:
    gmail_id, before = the_copy()
    world.standin.faults.add(
        FaultRule("gmail.users.messages.modify", status=400, reason="invalidArgument", times=1)
    )
    write_id = change(world, f"messages/{gmail_id}", {"read": True}).get_json()["write_id"]
    assert the_copy()[1]["unread"] is False  # shown at once
    assert world.deliver_writes() == [200]
    assert write(world, write_id)["failure"]["code"] == "gmail_400"
    assert the_copy()[1]["label_ids"] == before["label_ids"]  # and put back
