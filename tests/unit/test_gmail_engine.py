"""The Gmail sync through the sync runner, on in-memory fakes of every port: the store, the publisher and
Gmail (the stand-in's mailbox model). What the emulator tests prove end to end, proved here without a
process, a socket or a server: full and partial sync, a stale cursor, deletions and labels, the lease's
fence, and contact counters that always equal a recount of the copies."""

from __future__ import annotations

import pytest

from shared.errors import Retryable
from shared.mail.store import delete_copy_if_unattached
from shared.plans import Feature, Plan
from shared.retention.purge import purge_connection_copies
from shared.sync.requests import Source, SyncKey
from shared.sync.state import SyncStates
from tests.fakes import CONNECTION, SyncWorld, counters, recount


@pytest.fixture
def world() -> SyncWorld:
    return SyncWorld()


def test_a_first_sync_stores_the_mailbox_within_the_plans_retention(world: SyncWorld) -> None:
    recent = world.receive(3, days_ago=2)
    world.receive(2, days_ago=75)  # Standard keeps 60 days: never imported
    report = world.sync()
    assert (report.mode, report.created) == ("full", 3)
    assert set(world.copies()) == set(recent)
    state = world.state()
    assert state["cursor"] == str(world.mailbox.history_id)
    assert (state["generation"], state["full_sync"]) == (1, None)
    assert state["last_success_at"] == world.clock.now
    assert world.gmail.count("messages.get") == 3


def test_a_partial_sync_fetches_only_what_is_new(world: SyncWorld) -> None:
    world.receive(2)
    world.sync()
    gets = world.gmail.count("messages.get")
    new = world.receive(1)
    report = world.sync()
    assert (report.mode, report.created, report.fetched) == ("partial", 1, 1)
    assert world.gmail.count("messages.get") == gets + 1
    assert new[0] in world.copies()


def test_deletions_trash_and_label_changes_are_mirrored(world: SyncWorld) -> None:
    kept, deleted, trashed = world.receive(3)
    world.sync()
    world.mailbox.modify(kept, remove_label_ids=["UNREAD"], add_label_ids=["STARRED"])
    world.mailbox.delete(deleted)
    world.mailbox.modify(trashed, add_label_ids=["TRASH"])
    report = world.sync()
    assert set(world.copies()) == {kept}
    assert world.copies()[kept]["unread"] is False
    assert (report.removed, report.updated) == (2, 1)


def test_a_stale_cursor_resyncs_fetching_only_what_is_missing_and_keeps_attached_copies(
    world: SyncWorld,
) -> None:
    first, second, third = world.receive(3)
    world.sync()
    world.scope.update(
        world.scope.document("messages", f"{CONNECTION}_{second}"),
        {"attached_to": [{"type": "deal", "id": "d"}]},
    )
    world.mailbox.delete(first)
    world.mailbox.delete(second)
    fourth = world.receive(1)[0]
    world.mailbox.forget_history()
    gets = world.gmail.count("messages.get")
    report = world.sync()
    assert report.mode == "resync"
    assert set(world.copies()) == {second, third, fourth}  # the attached copy stays, flagged
    assert world.copies()[second]["deleted_in_gmail"] is True
    assert world.gmail.count("messages.get") == gets + 1  # only the new one
    assert world.state()["generation"] == 2


def test_contacts_count_exactly_the_copies_that_name_them(world: SyncWorld) -> None:
    world.receive(2, sender="Carol <carol@example.org>")
    world.send(to=["carol@example.org", "Dave <dave@example.net>"])
    world.sync()
    assert (
        counters(world.contacts())
        == recount(world.copies())
        == {
            "carol@example.org": (2, 1),
            "dave@example.net": (0, 1),
        }
    )
    assert world.contacts()["carol@example.org"]["display_name"] == "Carol"


def test_deleting_copies_uncounts_them_on_every_path(world: SyncWorld) -> None:
    ids = world.receive(4, sender="carol@example.org")
    world.sync()
    world.mailbox.delete(ids[0])  # Gmail deletes one: the sync removes the copy
    world.sync()
    delete_copy_if_unattached(world.scope, world.scope.document("messages", f"{CONNECTION}_{ids[1]}"))
    assert counters(world.contacts()) == recount(world.copies()) == {"carol@example.org": (2, 0)}
    purge_connection_copies(world.scope, CONNECTION)  # a disconnect's purge
    assert world.copies() == {}
    assert counters(world.contacts()) == {}
    assert world.contacts()["carol@example.org"]["last_contact_ms"]  # the contact and its history stay


def test_a_replayed_sync_neither_duplicates_copies_nor_counts_twice(world: SyncWorld) -> None:
    world.receive(3)
    world.sync()
    states = SyncStates(world.scope, clock=world.clock)
    states.reset(CONNECTION)  # the cursor forgotten: the next sync lists and stores everything again
    world.sync()
    assert len(world.copies()) == 3
    assert counters(world.contacts()) == recount(world.copies()) == {"bob@example.net": (3, 0)}


def test_without_the_contacts_feature_nothing_is_harvested(world: SyncWorld) -> None:
    world.connection.features = {Feature.MAIL}
    world.receive(2)
    world.sync()
    assert len(world.copies()) == 2
    assert world.contacts() == {}
    assert all(copy["counted_contacts"] == [] for copy in world.copies().values())


def test_a_sync_that_lost_its_lease_writes_nothing_more(world: SyncWorld) -> None:
    world.receive(1)
    world.sync()
    cursor = world.state()["cursor"]
    world.receive(2)

    def reset_midway(ids: list[str], *, format: str = "full") -> tuple[dict, set[str]]:
        # A revocation resets the state while this sync is fetching: its lease is taken away.
        SyncStates(world.scope, clock=world.clock).reset(CONNECTION)
        return original(ids, format=format)

    original = world.gmail.get_messages
    world.gmail.get_messages = reset_midway  # type: ignore[method-assign]
    report = world.sync()
    assert report.notes == ["lease_lost"]
    assert len(world.copies()) == 1  # the fetched messages were not stored
    assert world.state()["cursor"] is None  # and the reset cursor was not written back
    assert cursor is not None


def test_a_busy_lease_asks_to_come_back_and_the_holder_runs_once_more(world: SyncWorld) -> None:
    states = SyncStates(world.scope, clock=world.clock)
    key = SyncKey(CONNECTION, Source.GMAIL, "mailbox")
    holder = states.lease(key, holder="someone-else", ttl_seconds=600)
    assert holder.acquire()
    with pytest.raises(Retryable) as busy:
        world.sync()
    assert busy.value.code == "sync_busy"
    assert holder.release() is True  # the holder learns another run was asked for meanwhile
    world.clock.advance(minutes=11)
    assert holder.acquire()  # (a crashed holder's lease expires: the next one may take it)


def test_an_expired_lease_is_taken_over(world: SyncWorld) -> None:
    states = SyncStates(world.scope, clock=world.clock)
    crashed = states.lease(SyncKey(CONNECTION, Source.GMAIL, "mailbox"), holder="crashed", ttl_seconds=600)
    assert crashed.acquire()
    world.clock.advance(minutes=11)
    world.receive(1)
    assert world.sync().created == 1


def test_out_of_time_a_full_sync_saves_its_progress_and_queues_its_continuation() -> None:
    world = SyncWorld(time_budget_seconds=0.0)
    world.engines[Source.GMAIL] = type(world.engines[Source.GMAIL])(
        gmail_for=lambda tenant_id, connection: world.gmail, page_size=2
    )
    world.receive(5)
    report = world.sync()
    assert report.continued
    assert [r["reason"] for r in world.follow_ups()] == ["continuation"]
    assert world.state()["full_sync"]["pages_done"] == 1
    while world.sync().continued:
        pass
    assert len(world.copies()) == 5
    assert world.gmail.count("messages.get") == 5  # nothing fetched twice


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda w: setattr(w, "plan", Plan.FREE), "plan_excludes"),
        (lambda w: setattr(w.connection, "active", False), "needs_reconnect"),
        (lambda w: setattr(w.connection, "features", set()), "feature_off"),
        (lambda w: setattr(w, "plan", None), "gone"),
    ],
)
def test_the_gates_skip_without_a_google_call_or_a_write(world: SyncWorld, change, reason: str) -> None:
    world.receive(1)
    change(world)
    writes = world.store.writes
    report = world.sync()
    assert (report.mode, report.notes) == ("skipped", [reason])
    assert world.gmail.calls == []
    assert world.store.writes == writes


def test_a_failure_is_recorded_on_the_state_and_a_success_clears_it(world: SyncWorld) -> None:
    world.receive(1)
    world.sync()

    def unavailable(**_: object) -> dict:
        raise Retryable("Gmail answered 503.")

    original = world.gmail.list_history
    world.gmail.list_history = unavailable  # type: ignore[method-assign,assignment]
    with pytest.raises(Retryable):
        world.sync()
    assert world.state()["last_error"]["code"] == "retryable"
    world.gmail.list_history = original  # type: ignore[method-assign]
    world.sync()
    assert world.state()["last_error"] is None
