"""The Calendar sync, its writes and its webhook on in-memory fakes of every port: the store, the
publisher, and Calendar (the stand-in's calendar model, so sync tokens, tombstones, 410s, instances and
412s are Google's). What the end-to-end tests prove through the functions, proved here without a
process: the window, increments, a 410 sweeping exactly what was deleted, series, echoes that write
nothing, writes carried out once whatever is retried, and notifications believed only when they check out."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest

from local_stack.google_standin.calendar_listing import InstancesQuery
from shared.calendar.calendars import calendar_synced
from shared.calendar.engine import TIME_ZONE
from shared.calendar.requests import EventChange, EventRemoval, NewEvent
from shared.calendar.writes import CalendarWrites, calendar_operations
from shared.config import get_settings
from shared.errors import BadInput, Forbidden
from shared.plans import Feature
from shared.storage.documents import CollectionRef
from shared.storage.memory import MemoryStore
from shared.sync.channels import Channel, channel_by_id, note_message
from shared.sync.crash import CrashPointReached
from shared.sync.requests import Source, SyncKey
from shared.sync.requests import Source as _Source
from shared.sync.state import SyncStates
from shared.sync.webhook import ChannelWebhook, PushOutcome
from shared.writes.dispatcher import WriteDispatcher
from shared.writes.outbox import OutboundRequest, Outbox, WriteStatus
from tests.fakes import CONNECTION, TENANT, SyncWorld


@pytest.fixture
def world() -> SyncWorld:
    return SyncWorld()


def at(world: SyncWorld, days: float, hours: float = 1, **fields: Any) -> dict[str, Any]:
    start = world.clock.now + timedelta(days=days)
    return {
        "start": {"dateTime": start.isoformat()},
        "end": {"dateTime": (start + timedelta(hours=hours)).isoformat()},
        **fields,
    }


def state(world: SyncWorld, calendar_id: str = "primary") -> dict[str, Any]:
    key = SyncKey(CONNECTION, Source.CALENDAR, calendar_id)
    return world.store.get(world.scope.document("sync_states", key.document_id)).to_dict()


# --- Google into the store --------------------------------------------------------------------------


def test_a_first_sync_stores_the_window_and_keeps_the_token(world: SyncWorld) -> None:
    primary = world.calendars.primary
    inside = [primary.insert(at(world, days))["id"] for days in (-10, 2, 200)]
    primary.insert(at(world, -60))  # older than the window's 30 days back
    primary.insert(at(world, 400))  # beyond its 365 ahead
    report = world.sync_calendar()
    assert (report.mode, report.created) == ("full", 3)
    assert set(world.events()) == set(inside)
    saved = state(world)
    assert (saved["generation"], saved["full_sync"]) == (1, None)
    assert saved["cursor"]
    assert saved["source_details"][TIME_ZONE] == "UTC"


def test_increments_mirror_changes_and_deletions_and_a_quiet_calendar_writes_nothing(
    world: SyncWorld,
) -> None:
    primary = world.calendars.primary
    kept, changed, deleted = (primary.insert(at(world, day))["id"] for day in (1, 2, 3))
    world.sync_calendar()
    primary.patch(changed, {"summary": "Renamed"})
    primary.delete(deleted)
    added = primary.insert(at(world, 4))["id"]
    report = world.sync_calendar()
    assert (report.mode, report.created, report.updated, report.removed) == ("partial", 1, 1, 1)
    assert set(world.events()) == {kept, changed, added}
    assert world.events()[changed]["summary"] == "Renamed"
    versions = _versions(world)
    report = world.sync_calendar()
    assert (report.fetched, report.created, report.updated) == (0, 0, 0)
    assert _versions(world) == versions  # no event written


def test_an_expired_token_sweeps_exactly_what_was_deleted_meanwhile_in_that_calendar(
    world: SyncWorld,
) -> None:
    primary = world.calendars.primary
    team = world.calendars.add_calendar("Team")
    world.connection.calendar_ids = [team.id]
    ids = [primary.insert(at(world, day))["id"] for day in range(1, 6)]
    team_id = team.insert(at(world, 2))["id"]
    world.sync_calendar()
    world.sync_calendar(team.id)
    world.scope.update(
        world.scope.document("events", next(k for k, v in _docs(world).items() if v["event_id"] == ids[1])),
        {"attached_to": [{"type": "deal", "id": "D-1"}]},
    )
    team_state = state(world, team.id)
    for event_id in ids[:2]:
        primary.delete(event_id)
    primary.expire_sync_tokens()
    report = world.sync_calendar()
    assert report.mode == "resync"
    assert "sync_token_expired" in report.notes
    events = world.events()
    assert set(events) == {*ids[1:], team_id}
    assert events[ids[1]]["deleted_in_google"] is True  # attached: kept, flagged
    assert state(world)["generation"] == 2
    assert state(world, team.id)["cursor"] == team_state["cursor"]  # the other calendar untouched


def _versions(world: SyncWorld) -> dict[str, Any]:
    query = CollectionRef(f"tenants/{TENANT}/events").query()
    return {s.id: s.update_time for s in world.store.stream(query)}


def _docs(world: SyncWorld) -> dict[str, dict[str, Any]]:
    return {s.id: s.to_dict() for s in world.store.stream(CollectionRef(f"tenants/{TENANT}/events").query())}


def test_a_series_keeps_its_rules_exceptions_and_cancelled_instances(world: SyncWorld) -> None:
    primary = world.calendars.primary
    start = (world.clock.now + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    master = primary.insert(
        {
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "Europe/Berlin"},
            "end": {
                "dateTime": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": "Europe/Berlin",
            },
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=4"],
        }
    )
    world.sync_calendar()
    instances = primary.instances(master["id"], InstancesQuery())["items"]
    primary.patch(instances[1]["id"], {"summary": "Moved"})
    primary.delete(instances[2]["id"])
    world.sync_calendar()
    events = world.events()
    assert events[master["id"]]["recurrence"] == ["RRULE:FREQ=WEEKLY;COUNT=4"]
    assert events[instances[1]["id"]]["kind"] == "exception"
    assert events[instances[2]["id"]]["status"] == "cancelled"
    primary.delete(master["id"])
    world.sync_calendar()
    assert world.events() == {}  # the series went, and its exceptions with it


def test_a_long_first_sync_continues_where_it_stopped(world: SyncWorld) -> None:
    primary = world.calendars.primary
    for hour in range(120):
        primary.insert(at(world, 1 + hour / 24))
    monotonic = iter(range(0, 10_000, 300))  # every call: five minutes later
    world.runner._monotonic = lambda: float(next(monotonic))  # type: ignore[method-assign]
    first = world.sync_calendar()
    assert first.continued
    assert state(world)["full_sync"]["pages_done"] >= 1
    world.runner._monotonic = lambda: 0.0  # type: ignore[method-assign]
    world.sync_calendar(reason="continuation")
    assert len(world.events()) == 120
    assert state(world)["full_sync"] is None


# --- the CRM to Google -----------------------------------------------------------------------------


class Writes:
    def __init__(self, world: SyncWorld) -> None:
        self.world = world
        self.outbox = Outbox(
            scope_for=world.scope_for, publisher=lambda: world.publisher, topic="outbound", clock=world.clock
        )
        self.api = CalendarWrites(
            outbox=self.outbox,
            connection_of=world.connection_of,
            scope_for=world.scope_for,
            clock=world.clock,
        )
        operations = calendar_operations(
            connection_of=world.connection_of,
            calendar_for=lambda tenant_id, connection: world.calendar,
            scope_for=world.scope_for,
            clock=world.clock,
        )
        self.dispatcher = WriteDispatcher(
            operations={operation.name: operation for operation in operations},
            scope_for=world.scope_for,
            claim_seconds=120,
            clock=world.clock,
        )

    def deliver(self, write_id: str) -> WriteStatus | None:
        return self.dispatcher.run(OutboundRequest(tenant_id=TENANT, write_id=write_id))

    def create(self, key: str = "crm-create-0001", **fields: Any) -> Any:
        start = self.world.clock.now + timedelta(days=2)
        body = {
            "summary": "Demo",
            "start": {"date_time": start.isoformat()},
            "end": {"date_time": (start + timedelta(hours=1)).isoformat()},
            **fields,
        }
        return self.api.create(TENANT, CONNECTION, key, NewEvent.model_validate(body))


@pytest.fixture
def writes(world: SyncWorld) -> Writes:
    world.sync_calendar()
    return Writes(world)


def test_a_create_shows_at_once_reaches_google_once_and_its_echo_writes_nothing(
    world: SyncWorld, writes: Writes
) -> None:
    record = writes.create(crm_id="ACT-1")
    again = writes.create(crm_id="ACT-1")  # the CRM retries
    assert again.write_id == record.write_id
    event_key = record.details["event_key"]
    shown = world.store.get(world.scope.document("events", event_key)).to_dict()
    assert shown["last_write"]["status"] == "pending"
    assert writes.deliver(record.write_id) is WriteStatus.DONE
    assert writes.deliver(record.write_id) is WriteStatus.DONE  # a redelivery: nothing more
    assert world.calendar.count("events.insert") == 1
    (google,) = world.calendars.primary.events()
    assert google["extendedProperties"]["private"]["crmId"] == "ACT-1"
    report = world.sync_calendar()
    assert (report.created, report.updated, report.unchanged) == (0, 0, 1)


def test_a_crash_after_google_accepted_the_insert_finds_it_instead_of_a_second(
    world: SyncWorld, writes: Writes, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = writes.create()
    monkeypatch.setenv("CRASH_POINTS", "write.after_google_before_record")
    get_settings.cache_clear()
    with pytest.raises(CrashPointReached):
        writes.deliver(record.write_id)
    monkeypatch.delenv("CRASH_POINTS")
    get_settings.cache_clear()
    world.clock.advance(seconds=200)  # the crashed claim expires; Pub/Sub delivers again
    assert writes.deliver(record.write_id) is WriteStatus.DONE
    assert len(world.calendars.primary.events()) == 1
    assert world.calendar.count("events.insert") == 2  # the second met 409 and found its own


def test_a_change_google_made_meanwhile_wins_and_both_versions_are_shown(
    world: SyncWorld, writes: Writes
) -> None:
    made = world.calendars.primary.insert(at(world, 3, summary="Budget"))
    world.sync_calendar()
    event_key = next(k for k, v in _docs(world).items() if v["event_id"] == made["id"])
    world.calendars.primary.patch(made["id"], {"summary": "Budget (Google)"})
    record = writes.api.change(
        TENANT,
        CONNECTION,
        event_key,
        "crm-change-0001",
        EventChange.model_validate({"summary": "Budget (CRM)"}),
    )
    assert writes.deliver(record.write_id) is WriteStatus.FAILED
    failed = writes.outbox.get(TENANT, CONNECTION, record.write_id)
    assert failed.failure is not None
    assert failed.failure.code == "calendar_conflict"
    shown = _docs(world)[event_key]
    assert shown["summary"] == "Budget (Google)"
    assert (shown["conflict"]["crm"]["summary"], shown["conflict"]["google"]["summary"]) == (
        "Budget (CRM)",
        "Budget (Google)",
    )
    assert shown["last_write"]["status"] == "conflict"


def test_deletes_of_an_event_an_instance_and_the_rest_of_a_series(world: SyncWorld, writes: Writes) -> None:
    single = world.calendars.primary.insert(at(world, 3))
    start = (world.clock.now + timedelta(days=1)).replace(microsecond=0)
    series = world.calendars.primary.insert(
        {
            "start": {"dateTime": start.isoformat(), "timeZone": "UTC"},
            "end": {"dateTime": (start + timedelta(hours=1)).isoformat(), "timeZone": "UTC"},
            "recurrence": ["RRULE:FREQ=DAILY;COUNT=6"],
        }
    )
    world.sync_calendar()
    keys = {v["event_id"]: k for k, v in _docs(world).items()}
    second = (start + timedelta(days=1)).isoformat()
    fifth = (start + timedelta(days=4)).isoformat()
    for index, (key, removal) in enumerate(
        [
            (keys[single["id"]], {}),
            (keys[series["id"]], {"scope": "this", "original_start": second}),
            (keys[series["id"]], {"scope": "following", "original_start": fifth}),
        ]
    ):
        record = writes.api.delete(
            TENANT, CONNECTION, key, f"crm-delete-{index:04d}", EventRemoval.model_validate(removal)
        )
        assert writes.deliver(record.write_id) is WriteStatus.DONE
    google = world.calendars.primary.get(series["id"])
    assert google["recurrence"][0].startswith("RRULE:FREQ=DAILY;UNTIL=")
    assert world.calendars.primary.get(single["id"])["status"] == "cancelled"
    report = world.sync_calendar()
    assert (report.created, report.updated) == (0, 0)  # every change was stored by its write


def test_a_write_to_a_calendar_that_does_not_sync_is_refused_and_records_nothing(
    world: SyncWorld, writes: Writes
) -> None:
    with pytest.raises(BadInput) as refused:
        writes.create(calendar_id="someone@example.org")
    assert refused.value.errors[0]["location"] == ["body", "calendar_id"]
    assert world.publisher.messages("outbound") == []
    assert _docs(world) == {}


# --- the webhook ------------------------------------------------------------------------------------


TOKEN = "secret-token"


class Webhook:
    def __init__(self, world: SyncWorld) -> None:
        self.world = world
        self.store: MemoryStore = world.store
        self.channel = Channel(
            connection_id=CONNECTION,
            source=Source.CALENDAR,
            partition="primary",
            channel_id="chan-1",
            token_sha256=hashlib.sha256(TOKEN.encode()).hexdigest(),
            resource_id="res-1",
            expires_at=world.clock.now + timedelta(days=7),
            started_at=world.clock.now,
        )
        world.scope.set(
            world.scope.document("push_channels", self.channel.key.document_id),
            self.channel.model_dump(mode="python"),
        )
        self.handler = ChannelWebhook(
            source=_Source.CALENDAR,
            synced=calendar_synced,
            find_channel=lambda channel_id: channel_by_id(self.store, channel_id),
            note_message=lambda tenant_id, channel, number, version: note_message(
                world.scope_for(tenant_id), channel, number, version
            ),
            connection_of=world.connection_of,
            requester=lambda: world.requester,
            clock=world.clock,
        )

    def post(
        self,
        number: int,
        *,
        token: str | None = None,
        state: str = "exists",
        **extra: str,
    ) -> PushOutcome:
        headers = {
            "x-goog-channel-id": "chan-1",
            "X-Goog-Channel-Token": token or TOKEN,
            "X-Goog-Resource-ID": "res-1",
            "X-Goog-Resource-State": state,
            "X-Goog-Message-Number": str(number),
            **extra,
        }
        return self.handler.handle(headers)


def test_a_notification_is_believed_only_when_it_checks_out(world: SyncWorld) -> None:
    hook = Webhook(world)
    assert hook.post(1, state="sync") is PushOutcome.SYNC_ACKNOWLEDGED
    with pytest.raises(Forbidden):
        hook.post(2, token="guessed")
    with pytest.raises(Forbidden):
        hook.post(2, **{"X-Goog-Resource-ID": "res-2"})
    assert hook.post(2, **{"X-Goog-Channel-ID": "unknown"}) is PushOutcome.UNKNOWN_CHANNEL
    assert world.publisher.messages("sync-requests") == []
    assert hook.post(2) is PushOutcome.QUEUED
    assert hook.post(3) is PushOutcome.COALESCED
    assert hook.post(3) is PushOutcome.REPLAYED
    assert hook.post(1) is PushOutcome.REPLAYED
    assert len(world.publisher.messages("sync-requests")) == 1
    world.connection.calendar_ids = []
    world.connection.features.discard(Feature.CALENDAR)
    assert hook.post(4) is PushOutcome.NOT_SYNCED
    world.clock.advance(days=8)
    assert hook.post(5) is PushOutcome.EXPIRED_CHANNEL


@pytest.mark.parametrize(
    ("header", "value"),
    [("X-Goog-Message-Number", "seven"), ("X-Goog-Resource-State", "gone"), ("X-Goog-Channel-ID", "x" * 65)],
)
def test_a_malformed_notification_is_refused_naming_the_header(
    world: SyncWorld, header: str, value: str
) -> None:
    hook = Webhook(world)
    with pytest.raises(BadInput) as refused:
        hook.post(2, **{header: value})
    assert refused.value.errors[0]["location"] == ["header", header]
    assert world.publisher.messages("sync-requests") == []


def test_sync_state_of_a_deselected_calendar_is_forgotten(world: SyncWorld) -> None:
    key = SyncKey(CONNECTION, Source.CALENDAR, "team@group.calendar.google.com")
    states = SyncStates(world.scope, clock=world.clock)
    world.scope.set(
        states.ref(key), {"connection_id": CONNECTION, "source": "calendar", "partition": key.partition}
    )
    states.forget(key)
    assert not world.store.get(states.ref(key)).exists
