"""The write path on in-memory fakes: a record per idempotency key before any Google call, a claim per
attempt, final states that a redelivery never carries out again, and an operation told when an earlier
attempt may already have reached Google."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from shared.config import get_settings
from shared.errors import BadInput, Conflict, Forbidden, Retryable
from shared.messaging.ports import MemoryPublisher
from shared.storage.memory import MemoryStore
from shared.storage.scope import TenantScope
from shared.sync.crash import CrashPointReached
from shared.writes.dispatcher import WriteAttempt, WriteDispatcher
from shared.writes.outbox import OutboundRequest, Outbox, WriteRecord, WriteStatus
from tests.fakes import TENANT, Clock

KEY = "crm-request-0001"


@dataclass
class FakeOperation:
    """A change at Google: ``google`` counts the writes that reached it."""

    name: str = "fake.write"
    google: list[dict[str, Any]] = field(default_factory=list)
    looked: int = 0
    fail: Exception | None = None
    undone: list[str] = field(default_factory=list)

    def perform(self, attempt: WriteAttempt) -> dict[str, Any]:
        if self.fail is not None:
            raise self.fail
        if attempt.may_have_happened:
            self.looked += 1
            if attempt.record.payload in self.google:  # found: the earlier attempt made it
                return {"found": True}
        self.google.append(attempt.record.payload)
        return {"written": len(self.google)}

    def on_failed(self, attempt: WriteAttempt) -> None:
        self.undone.append(attempt.record.write_id)


class World:
    def __init__(self) -> None:
        self.store = MemoryStore()
        self.publisher = MemoryPublisher()
        self.clock = Clock()
        self.operation = FakeOperation()
        scope_for = lambda tenant_id: TenantScope(self.store, tenant_id)  # noqa: E731
        self.outbox = Outbox(
            scope_for=scope_for, publisher=lambda: self.publisher, topic="outbound", clock=self.clock
        )
        self.dispatcher = WriteDispatcher(
            operations={self.operation.name: self.operation},
            scope_for=scope_for,
            claim_seconds=120,
            clock=self.clock,
        )

    def submit(self, payload: dict[str, Any] | None = None, key: str | None = KEY) -> WriteRecord:
        return self.outbox.submit(
            TENANT, "user-1", key, "fake.write", payload or {"gmail_id": "18a", "read": True}
        )

    def deliver(self, record: WriteRecord) -> WriteStatus | None:
        return self.dispatcher.run(OutboundRequest(tenant_id=TENANT, write_id=record.write_id))

    def record(self, record: WriteRecord) -> WriteRecord:
        return self.outbox.get(TENANT, "user-1", record.write_id)


@pytest.fixture
def world() -> World:
    return World()


def test_a_write_is_recorded_then_queued_and_carried_out_once(world: World) -> None:
    record = world.submit()
    assert record.status is WriteStatus.QUEUED
    assert world.publisher.messages("outbound") == [{"tenant_id": TENANT, "write_id": record.write_id}]
    assert world.deliver(record) is WriteStatus.DONE
    done = world.record(record)
    assert (done.status, done.result, done.attempts) == (WriteStatus.DONE, {"written": 1}, 1)


def test_the_api_retried_twice_and_pubsub_redelivering_three_times_write_once(world: World) -> None:
    first = world.submit()
    world.deliver(first)
    retries = [world.submit() for _ in range(2)]
    assert {r.write_id for r in retries} == {first.write_id}
    assert all(r.status is WriteStatus.DONE for r in retries)  # the same answer, now done
    for _ in range(3):
        assert world.deliver(first) is WriteStatus.DONE
    assert len(world.operation.google) == 1
    assert len(world.publisher.messages("outbound")) == 1  # a final write is not queued again


def test_the_same_key_with_another_request_is_refused_and_writes_nothing(world: World) -> None:
    world.submit({"gmail_id": "18a", "read": True})
    writes = world.store.writes
    with pytest.raises(Conflict) as refused:
        world.submit({"gmail_id": "18a", "read": False})
    assert refused.value.code == "idempotency_key_reused"
    assert world.store.writes == writes


@pytest.mark.parametrize("key", [None, "", "short", "x" * 256, "with space", "é" * 10])
def test_a_missing_or_malformed_key_is_refused_naming_the_header(world: World, key: str | None) -> None:
    with pytest.raises(BadInput) as refused:
        world.submit(key=key)
    assert refused.value.errors[0]["location"] == ["header", "Idempotency-Key"]
    assert world.store.writes == 0
    assert world.publisher.published == []


def test_a_lost_publish_is_repaired_by_the_crms_retry(world: World) -> None:
    world.publisher.fail = True
    with pytest.raises(Retryable):
        world.submit()
    world.publisher.fail = False
    record = world.submit()  # recorded the first time: queued again now
    assert world.deliver(record) is WriteStatus.DONE
    assert len(world.operation.google) == 1


def test_a_write_claimed_by_a_live_worker_is_retried_later(world: World) -> None:
    record = world.submit()
    world.store.update(
        TenantScope(world.store, TENANT).document("writes", record.write_id),
        {
            "status": "in_progress",
            "claim_holder": "other",
            "claim_expires_at": world.clock.now.replace(year=2999),
        },
    )
    with pytest.raises(Retryable) as busy:
        world.deliver(record)
    assert busy.value.code == "write_busy"
    assert world.operation.google == []


def test_a_crash_after_google_accepted_is_found_on_redelivery_and_not_written_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = world.submit()
    monkeypatch.setenv("CRASH_POINTS", "write.after_google_before_record")
    get_settings.cache_clear()
    with pytest.raises(CrashPointReached):
        world.deliver(record)
    monkeypatch.delenv("CRASH_POINTS")
    get_settings.cache_clear()
    assert world.record(record).status is WriteStatus.IN_PROGRESS
    world.clock.advance(seconds=121)  # the crashed worker's claim expires
    assert world.deliver(record) is WriteStatus.DONE
    done = world.record(record)
    assert (done.attempts, done.result) == (2, {"found": True})
    assert len(world.operation.google) == 1
    assert world.operation.looked == 1


def test_a_passing_failure_releases_the_write_for_a_retry(world: World) -> None:
    record = world.submit()
    world.operation.fail = Retryable("Gmail answered 503.")
    with pytest.raises(Retryable):
        world.deliver(record)
    assert world.record(record).status is WriteStatus.QUEUED
    world.operation.fail = None
    assert world.deliver(record) is WriteStatus.DONE
    assert world.operation.looked == 1  # the second attempt looked first: the 503 may have hidden a write


def test_a_permanent_refusal_ends_failed_with_its_reason_and_is_acknowledged(world: World) -> None:
    record = world.submit()
    world.operation.fail = Forbidden("No gmail.modify.", code="feature_not_granted")
    assert world.deliver(record) is WriteStatus.FAILED
    failed = world.record(record)
    assert failed.failure is not None
    assert failed.failure.code == "feature_not_granted"
    world.operation.fail = None
    assert world.deliver(record) is WriteStatus.FAILED  # final: never carried out again
    assert world.operation.google == []
    assert world.operation.undone == [record.write_id]  # told once, to undo what it did ahead


def test_an_operation_this_worker_does_not_know_fails_the_write(world: World) -> None:
    record = world.outbox.submit(TENANT, "user-1", KEY, "gmail.teleport", {})
    assert world.deliver(record) is WriteStatus.FAILED
    assert world.record(record).failure.code == "unknown_operation"  # type: ignore[union-attr]


def test_another_users_write_is_not_found(world: World) -> None:
    record = world.submit()
    from shared.errors import NotFound

    with pytest.raises(NotFound):
        world.outbox.get(TENANT, "user-2", record.write_id)
