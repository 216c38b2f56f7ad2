"""Gmail into Firestore end to end: gmail_push and sync_worker under functions-framework, the Google
stand-in, the Firestore and Pub/Sub emulators. Pub/Sub's push to sync_worker is played by `deliver`."""

from __future__ import annotations

import base64
import json
import os
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local_stack.google_standin.faults import FaultRule
from local_stack.google_standin.mime_factory import MessageFactory
from shared.composition import reset_container
from tests.e2e.connect_support import ALICE, ConnectDriver, cloud_event_client, push_envelope, sync_requests
from tests.firestore_reads import client

factory = MessageFactory(seed=11)
BOB = "Bob.Builder@Example.NET"


def stored() -> dict[str, dict[str, Any]]:
    return {doc.id: doc.to_dict() for doc in client().collection("tenants/acme/messages").stream()}


def contacts() -> dict[str, dict[str, Any]]:
    return {
        doc.to_dict()["email"]: doc.to_dict() for doc in client().collection("tenants/acme/contacts").stream()
    }


def gmail_state() -> dict[str, Any]:
    """The mailbox's sync state, in its own document."""
    return client().document("tenants/acme/sync_states/user-1_gmail").get().to_dict()


def receive(world: ConnectDriver, count: int = 1, *, sender: str = BOB, days_ago: float = 1) -> list[str]:
    """Mail arrives in Alice's Gmail."""
    mailbox = world.standin.mailbox(ALICE)
    date = datetime.now(UTC) - timedelta(days=days_ago)
    return [
        mailbox.insert(factory.plain(sender=sender, to=[ALICE], date=date).raw)["id"] for _ in range(count)
    ]


@pytest.fixture
def world(connect_world: ConnectDriver) -> ConnectDriver:
    return connect_world


def connected_and_synced(world: ConnectDriver, existing: int = 3) -> list[str]:
    ids = receive(world, existing)
    assert world.connect().outcome == "connected"
    assert all(status == 200 for status in world.deliver())
    return ids


def test_a_first_sync_stores_the_mailbox_within_the_retention_window(world: ConnectDriver) -> None:
    recent = receive(world, 3, days_ago=2)
    receive(world, 2, days_ago=75)  # Standard keeps 60 days: never imported
    world.connect()
    world.deliver()
    assert sorted(doc["gmail_id"] for doc in stored().values()) == sorted(recent)
    state = gmail_state()
    assert state["cursor"]
    assert state["last_success_at"]


def test_a_new_message_goes_from_push_to_stored(world: ConnectDriver) -> None:
    connected_and_synced(world)
    (new_id,) = receive(world)
    assert world.push().status_code == 204
    assert world.deliver() == [200]
    document = stored()[f"user-1_{new_id}"]
    assert document["sender"][0]["email"] == BOB.lower()
    assert document["attached_to"] == []
    assert document["tenant_id"] == "acme"
    assert "INBOX" in document["label_ids"]


def test_duplicate_and_concurrent_pushes_leave_one_copy_and_count_contacts_once(world: ConnectDriver) -> None:
    connected_and_synced(world, existing=0)
    receive(world, 2)
    statuses = [world.push().status_code for _ in range(5)]
    assert statuses == [204] * 5
    queued = sync_requests()
    assert len(queued) == 1  # coalesced: one request for five pushes
    request = queued[0]
    # The same request delivered twice at once: one runs, the other is told to come back later.
    envelope = push_envelope(json.dumps(request).encode())
    results: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(
                cloud_event_client("sync_worker").post("/", json=envelope).status_code
            )
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    world.deliver()  # whatever the busy one asked for
    cloud_event_client("sync_worker").post("/", json=envelope)  # and a late duplicate
    assert len(stored()) == 2
    assert contacts()[BOB.lower()]["received_count"] == 2


def test_an_expired_history_id_leads_to_a_full_sync_with_nothing_lost(world: ConnectDriver) -> None:
    kept = connected_and_synced(world, existing=3)
    standin = world.standin
    new = receive(world, 2)
    standin.mailbox(ALICE).delete(kept[0])
    attached = f"user-1_{kept[1]}"
    client().document(f"tenants/acme/messages/{attached}").update(
        {"attached_to": [{"type": "deal", "id": "d-1"}]}
    )
    standin.mailbox(ALICE).delete(kept[1])
    standin.mailbox(ALICE).forget_history()
    world.push()
    world.deliver()
    documents = stored()
    assert set(documents) == {f"user-1_{i}" for i in [kept[1], kept[2], *new]}  # the attached copy stays
    assert gmail_state()["generation"] == 2
    gets = [call for call in standin.calls.calls(method_id="gmail.users.messages.get")]
    assert len(gets) == 3 + 2  # nothing fetched twice: the resync only fetched what it lacked


def test_deletions_and_label_changes_are_mirrored(world: ConnectDriver) -> None:
    ids = connected_and_synced(world, existing=3)
    mailbox = world.standin.mailbox(ALICE)
    mailbox.modify(ids[0], remove_label_ids=["UNREAD"], add_label_ids=["STARRED"])
    mailbox.delete(ids[1])
    mailbox.modify(ids[2], add_label_ids=["TRASH"])
    world.push()
    world.deliver()
    documents = stored()
    assert set(documents) == {f"user-1_{ids[0]}"}
    assert documents[f"user-1_{ids[0]}"]["unread"] is False
    assert "STARRED" in documents[f"user-1_{ids[0]}"]["label_ids"]


def test_a_429_inside_a_batch_is_retried_and_nothing_is_stored_twice(world: ConnectDriver) -> None:
    receive(world, 6)
    world.standin.faults.add(
        FaultRule("gmail.users.messages.get", status=429, reason="resourceExhausted", after=2, times=2)
    )
    world.connect()
    world.deliver()
    assert len(stored()) == 6
    statuses = [call.status for call in world.standin.calls.calls(method_id="gmail.users.messages.get")]
    assert statuses.count(429) == 2
    assert statuses.count(200) == 6


def test_a_crash_between_storing_and_advancing_the_cursor_converges_on_redelivery(
    world: ConnectDriver,
) -> None:
    connected_and_synced(world, existing=1)
    cursor_before = gmail_state()["cursor"]
    receive(world, 2)
    world.push()
    os.environ["CRASH_POINTS"] = "gmail.partial.after_store_before_cursor"
    reset_container()
    statuses = world.deliver(limit=1)
    assert statuses == [500]
    assert len(stored()) == 3  # stored...
    assert gmail_state()["cursor"] == cursor_before  # ...but the cursor did not move
    del os.environ["CRASH_POINTS"]
    reset_container()
    assert world.deliver() == [200]
    assert len(stored()) == 3
    assert gmail_state()["cursor"] != cursor_before
    assert contacts()[BOB.lower()]["received_count"] == 3


def test_an_exhausted_time_budget_ends_in_a_continuation_that_finishes(world: ConnectDriver) -> None:
    receive(world, 12)
    os.environ.update({"GMAIL_LIST_PAGE_SIZE": "5", "SYNC_TIME_BUDGET_SECONDS": "0.001"})
    reset_container()
    world.connect()
    statuses = world.deliver()
    assert statuses == [200] * 3  # three pages of five: the first run and two continuations
    assert len(stored()) == 12
    assert gmail_state()["full_sync"] is None


def test_a_free_tenant_gets_no_sync(world: ConnectDriver) -> None:
    receive(world, 2)
    world.connect()
    world.api.put("/v1/tenants/acme/plan", json={"plan": "Free"}, headers=world.crm.authorization("acme"))
    world.standin.calls.clear()
    world.deliver()
    world.push()
    world.deliver()
    assert stored() == {}
    assert world.standin.calls.calls(prefix="gmail.") == []


def test_a_connection_that_needs_reconnecting_gets_no_sync(world: ConnectDriver) -> None:
    connected_and_synced(world, existing=1)
    from shared.composition import get_container

    get_container().lifecycle.mark_needs_reconnect("acme", "user-1", reason="invalid_grant")
    receive(world, 1)
    world.standin.calls.clear()
    assert world.push().status_code == 204
    assert sync_requests() == []  # not even queued
    assert world.standin.calls.calls(prefix="gmail.") == []
    assert stored() == {}  # the grant is gone: its unattached copies went with it


def test_contacts_come_from_inbox_and_sent_one_per_address(world: ConnectDriver) -> None:
    mailbox = world.standin.mailbox(ALICE)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    mailbox.insert(factory.plain(sender="Carol <carol@example.org>", to=[ALICE], date=yesterday).raw)
    mailbox.insert(factory.plain(sender="CAROL@EXAMPLE.ORG", to=[ALICE], date=yesterday).raw)
    raw = factory.plain(sender=ALICE, to=["Dave <dave@example.net>", "carol@example.org"], date=yesterday).raw
    world.connect()
    world.deliver()
    gmail = world.standin
    gmail.mailbox(ALICE).send(base64.urlsafe_b64encode(raw).decode())
    world.push()
    world.deliver()
    people = contacts()
    assert set(people) == {"carol@example.org", "dave@example.net"}
    assert (people["carol@example.org"]["received_count"], people["carol@example.org"]["sent_count"]) == (
        2,
        1,
    )
    assert people["carol@example.org"]["display_name"] == "Carol"
    assert (people["dave@example.net"]["received_count"], people["dave@example.net"]["sent_count"]) == (0, 1)
    assert ALICE not in people


def test_a_malformed_push_is_400_and_an_unknown_address_is_acknowledged(world: ConnectDriver) -> None:
    from tests.e2e.functions import function_client

    token = world.standin.oauth.mint_id_token(
        audience="http://gmail-push.test", email="gmail-push@crm-google-test.iam.gserviceaccount.com"
    )
    push = function_client("gmail_push")
    too_deep = base64.b64encode(b"[" * 40_000).decode()  # json.loads raises RecursionError
    for body in ({"message": {"data": "!!!"}}, {"message": {}}, {"nope": 1}, {"message": {"data": too_deep}}):
        answer = push.post("/", json=body, headers={"Authorization": f"Bearer {token}"})
        assert (answer.status_code, answer.get_json()["code"]) == (400, "malformed_envelope")
    assert world.push("stranger@example.com").status_code == 204
    assert sync_requests() == []
    assert push.post("/", json={}).status_code == 401
