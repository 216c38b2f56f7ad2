"""Disconnecting, revoking and reconnecting, through the functions (api, oauth_callback, gmail_push,
sync_worker, renew_watches) and the stand-in: the new grant is used, mail syncs, nothing is imported
twice, and every contact counter equals a recount of the stored copies at every step. Which features can
be asked for together, and that contacts are harvested only when asked for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from local_stack.google_standin.mime_factory import MessageFactory
from shared.composition import get_container
from tests.e2e.connect_support import ALICE, ConnectDriver
from tests.fakes import counters, recount
from tests.firestore_reads import client

factory = MessageFactory(seed=23)
CAROL, DAVE = "Carol <carol@example.org>", "dave@example.net"


def copies() -> dict[str, dict[str, Any]]:
    return {doc.id: doc.to_dict() for doc in client().collection("tenants/acme/messages").stream()}


def contacts() -> dict[str, dict[str, Any]]:
    return {
        doc.to_dict()["email"]: doc.to_dict() for doc in client().collection("tenants/acme/contacts").stream()
    }


def receive(world: ConnectDriver, sender: str, count: int = 1) -> list[str]:
    date = datetime.now(UTC) - timedelta(days=1)
    mailbox = world.standin.mailbox(ALICE)
    return [
        mailbox.insert(factory.plain(sender=sender, to=[ALICE], date=date).raw)["id"] for _ in range(count)
    ]


def send(world: ConnectDriver, to: list[str]) -> str:
    date = datetime.now(UTC) - timedelta(days=1)
    raw = factory.plain(sender=ALICE, to=to, date=date).raw
    return str(world.standin.mailbox(ALICE).insert(raw, label_ids=("SENT",))["id"])


def assert_counters_exact(expected: dict[str, tuple[int, int]]) -> None:
    stored = copies()
    assert counters(contacts()) == recount(stored) == expected


def test_disconnect_then_reconnect_syncs_afresh_with_every_counter_exact(
    connect_world: ConnectDriver,
) -> None:
    world = connect_world
    receive(world, CAROL, 3)
    send(world, [CAROL, DAVE])
    assert world.connect().outcome == "connected"
    assert all(status == 200 for status in world.deliver())
    assert_counters_exact({"carol@example.org": (3, 1), "dave@example.net": (0, 1)})
    attached = next(key for key, data in copies().items() if data["counted_as"] == "sent")
    client().document(f"tenants/acme/messages/{attached}").update(
        {"attached_to": [{"type": "deal", "id": "d"}]}
    )

    assert world.disconnect().get_json() == {"disconnected": True}
    # The unattached copies are purged and uncounted; the attached one stays, and so does its count.
    assert set(copies()) == {attached}
    assert_counters_exact({"carol@example.org": (0, 1), "dave@example.net": (0, 1)})

    gets_before = len(world.standin.calls.calls(method_id="gmail.users.messages.get"))
    assert world.connect().outcome == "connected"
    assert all(status == 200 for status in world.deliver())
    assert world.status().get_json()["status"] == "active"
    assert len(copies()) == 4
    assert_counters_exact({"carol@example.org": (3, 1), "dave@example.net": (0, 1)})
    # The attached copy was kept and is not counted twice; the purged ones were fetched again, once.
    gets = len(world.standin.calls.calls(method_id="gmail.users.messages.get")) - gets_before
    assert gets == 4  # the full sync lists the kept copy too: the store recognises it, nothing doubles

    receive(world, DAVE)  # and mail goes on flowing through the push path
    assert world.push().status_code == 204
    assert world.deliver() == [200]
    assert_counters_exact({"carol@example.org": (3, 1), "dave@example.net": (1, 1)})


def test_a_revoked_grant_then_a_reconnect_syncs_again_with_exact_counters(
    connect_world: ConnectDriver,
) -> None:
    world = connect_world
    receive(world, CAROL, 2)
    world.connect()
    world.deliver()
    assert_counters_exact({"carol@example.org": (2, 0)})
    world.standin.oauth.revoke_account(ALICE)
    receive(world, CAROL)
    world.push()
    assert world.deliver() == [200]  # the sync meets the revoked grant: acknowledged, not retried
    status = world.status().get_json()
    assert (status["status"], status["needs_reconnect_reason"]) == ("needs_reconnect", "invalid_grant")
    assert copies() == {}
    assert_counters_exact({})

    assert world.connect().outcome == "connected"
    assert all(code == 200 for code in world.deliver())
    assert len(copies()) == 3
    assert_counters_exact({"carol@example.org": (3, 0)})


def test_a_stale_instances_refused_grant_never_condemns_the_new_one(connect_world: ConnectDriver) -> None:
    """A warm instance holds the old grant's credentials when the user disconnects and reconnects; its
    next call meets invalid_grant. That must not turn the fresh connection to needs_reconnect."""
    world = connect_world
    receive(world, CAROL)
    world.connect()
    world.deliver()
    container = get_container()  # this instance's: it now caches the first grant's credentials
    old = container.lifecycle.get("acme", "user-1")
    old_access = container.grants.access("acme", old)
    world.disconnect()
    world.connect()
    new = container.lifecycle.get("acme", "user-1")
    assert new.grant_id != old.grant_id
    old_access.on_dead()  # what a Gmail call on the old grant reports
    assert container.lifecycle.get("acme", "user-1").status.value == "active"
    receive(world, CAROL)
    world.push()
    assert world.deliver() == [200]
    assert len(copies()) == 2


def test_contacts_cannot_be_asked_for_without_mail(connect_world: ConnectDriver) -> None:
    answer = connect_world.authorize("user-1", ["contacts"])
    assert answer.status_code == 400
    problem = answer.get_json()
    assert problem["code"] == "validation_failed"
    assert problem["errors"][0]["location"] == ["body", "features"]
    assert "contacts requires mail" in problem["errors"][0]["message"]
    assert client().collection("tenants/acme/oauth_states").get() == []  # nothing written


def test_mail_without_contacts_harvests_none_and_says_so(connect_world: ConnectDriver) -> None:
    receive(connect_world, CAROL, 2)
    assert connect_world.connect(features=["mail"]).outcome == "connected"
    connect_world.deliver()
    assert len(copies()) == 2
    assert contacts() == {}
    features = connect_world.status().get_json()["features"]
    assert (features["mail"]["enabled"], features["contacts"]["reason"]) == (True, "not_requested")
