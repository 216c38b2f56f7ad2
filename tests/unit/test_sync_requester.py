"""The one publisher of sync requests, on the in-memory store and publisher: pushes coalesce, a forced
request (a connect) always goes, a request that was not published can be asked again, a connection that
is gone gets none."""

from __future__ import annotations

import pytest

from shared.errors import Retryable
from shared.sync.requests import Source, SyncKey
from tests.fakes import CONNECTION, TENANT, SyncWorld

KEY = SyncKey(CONNECTION, Source.GMAIL, "mailbox")


@pytest.fixture
def world() -> SyncWorld:
    return SyncWorld()


def test_pushes_within_the_window_queue_one_request(world: SyncWorld) -> None:
    queued = [world.requester.request(TENANT, KEY, reason="push") for _ in range(200)]
    assert queued.count(True) == 1
    assert [(r["source"], r["partition"], r["reason"]) for r in world.follow_ups()] == [
        ("gmail", "mailbox", "push")
    ]


def test_once_the_worker_started_a_new_push_queues_again(world: SyncWorld) -> None:
    world.requester.request(TENANT, KEY, reason="push")
    world.receive(1)
    world.sync()  # the worker clears the mark when it starts
    assert world.requester.request(TENANT, KEY, reason="push") is True


def test_after_the_window_a_request_goes_again(world: SyncWorld) -> None:
    world.requester.request(TENANT, KEY, reason="push")
    world.clock.advance(seconds=31)
    assert world.requester.request(TENANT, KEY, reason="push") is True


def test_a_forced_request_goes_even_when_one_is_pending(world: SyncWorld) -> None:
    world.requester.request(TENANT, KEY, reason="push")
    assert world.requester.request(TENANT, KEY, reason="connected", force=True) is True
    assert [r["reason"] for r in world.follow_ups()] == ["push", "connected"]


def test_a_request_pubsub_refused_can_be_asked_again_at_once(world: SyncWorld) -> None:
    world.publisher.fail = True
    with pytest.raises(Retryable):
        world.requester.request(TENANT, KEY, reason="push")
    world.publisher.fail = False
    assert world.requester.request(TENANT, KEY, reason="push") is True


def test_a_connection_that_is_gone_gets_no_request_and_no_state(world: SyncWorld) -> None:
    gone = SyncKey("user-9", Source.GMAIL, "mailbox")
    assert world.requester.request(TENANT, gone, reason="push") is False
    assert world.follow_ups() == []
    assert not world.store.get(world.scope.document("sync_states", gone.document_id)).exists


def test_partitions_have_keys_of_their_own() -> None:
    assert SyncKey("u", Source.GMAIL, "mailbox").document_id == "u_gmail"
    calendar = SyncKey("u", Source.CALENDAR, "team@group.calendar.google.com")
    assert calendar.document_id.startswith("u_calendar_")
    assert (
        calendar.document_id != SyncKey("u", Source.CALENDAR, "other@group.calendar.google.com").document_id
    )
    assert SyncKey("u", Source.CALENDAR, "primary").document_id == "u_calendar"
