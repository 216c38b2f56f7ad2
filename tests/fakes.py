"""In-memory fakes of the ports, for unit tests of the engine and of capabilities: Gmail (backed by the
stand-in's own mailbox model, so its history, paging and 404s are Google's), a connection, and a world
wiring the sync runner to the in-memory store and publisher."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from local_stack.google_standin.calendar_listing import EventQuery, InstancesQuery
from local_stack.google_standin.calendar_store import Calendar, CalendarAccount, CalendarSettings, WriteKind
from local_stack.google_standin.calendar_times import When
from local_stack.google_standin.errors import GoogleApiError
from local_stack.google_standin.gmail_mailbox import Mailbox
from local_stack.google_standin.mime_factory import MessageFactory
from shared.calendar.engine import CalendarSyncEngine
from shared.connections.features import FeatureState, OffReason
from shared.errors import ChangedAtGoogle, GoneAtGoogle, IdTakenAtGoogle, NeedsResync
from shared.mail.contacts import COUNT_FIELDS
from shared.mail.engine import GmailSyncEngine
from shared.messaging.ports import MemoryPublisher
from shared.plans import Feature, Plan
from shared.storage.documents import CollectionRef
from shared.storage.memory import MemoryStore
from shared.storage.scope import TenantScope
from shared.sync.engine import SyncedConnection, SyncEngine
from shared.sync.requester import SyncRequester
from shared.sync.requests import Source, SyncKey, SyncRequest
from shared.sync.runner import SyncRunner

ALICE = "alice@example.com"
TENANT = "acme"
CONNECTION = "user-1"


class FakeGmail:
    """The GmailReader (and watch, labels) port over the stand-in's mailbox model, counting calls."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox
        self.calls: list[str] = []
        self.fail_get: set[str] = set()  # ids whose get answers a passing failure

    def profile(self) -> dict[str, Any]:
        self.calls.append("getProfile")
        return self.mailbox.get_profile()

    def list_message_ids(
        self, *, query: str | None, page_token: str | None, max_results: int = 500
    ) -> tuple[list[dict[str, Any]], str | None]:
        self.calls.append("messages.list")
        answer = self.mailbox.list_messages(q=query, page_token=page_token, max_results=max_results)
        return list(answer.get("messages", [])), answer.get("nextPageToken")

    def list_history(
        self, *, start_history_id: str, page_token: str | None, max_results: int = 500
    ) -> dict[str, Any]:
        self.calls.append("history.list")
        try:
            return self.mailbox.list_history(
                start_history_id=start_history_id, page_token=page_token, max_results=max_results
            )
        except GoogleApiError as error:
            if error.status == 404:
                raise NeedsResync(
                    "Gmail no longer keeps history that far back.", code="history_expired"
                ) from None
            raise

    def get_messages(
        self, ids: list[str], *, format: str = "full"
    ) -> tuple[dict[str, dict[str, Any]], set[str]]:
        found: dict[str, dict[str, Any]] = {}
        missing: set[str] = set()
        for gmail_id in ids:
            self.calls.append("messages.get")
            try:
                found[gmail_id] = self.mailbox.get_message(gmail_id, format=format)
            except GoogleApiError as error:
                if error.status != 404:
                    raise
                missing.add(gmail_id)
        return found, missing

    def count(self, call: str) -> int:
        return self.calls.count(call)


class FakeCalendar:
    """The Calendar ports (reader, writer, watcher) over the stand-in's calendar model, counting calls,
    answering as the CalendarClient does (our errors for Google's 409, 410 and 412)."""

    def __init__(self, account: CalendarAccount) -> None:
        self.account = account
        self.calls: list[str] = []

    def calendar(self, calendar_id: str) -> Calendar:
        return self.account.calendar(calendar_id)

    def list_events(
        self,
        calendar_id: str,
        *,
        sync_token: str | None = None,
        page_token: str | None = None,
        time_min: datetime | None = None,
        time_max: datetime | None = None,
        max_results: int = 2500,
    ) -> dict[str, Any]:
        self.calls.append("events.list")
        query = EventQuery(
            time_min=None if sync_token else time_min,
            time_max=None if sync_token else time_max,
            max_results=max_results,
            page_token=page_token,
        )
        try:
            return self.calendar(calendar_id).list_events(query, sync_token=sync_token)
        except GoogleApiError as error:
            if error.status == 410:
                raise NeedsResync("expired", code="sync_token_expired") from error
            raise

    def get_event(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        self.calls.append("events.get")
        try:
            return self.calendar(calendar_id).get(event_id)
        except GoogleApiError as error:
            raise GoneAtGoogle("gone", code="event_gone") from error

    def instance(self, calendar_id: str, master_id: str, original_start: str) -> dict[str, Any]:
        self.calls.append("events.instances")
        if len(original_start) == 10:  # a date: an all-day series
            when = When(day=date.fromisoformat(original_start))
        else:
            when = When(instant=datetime.fromisoformat(original_start.replace("Z", "+00:00")))
        answer = self.calendar(calendar_id).instances(master_id, InstancesQuery(original_start=when))
        if not answer.get("items"):
            raise GoneAtGoogle("gone", code="event_gone")
        return dict(answer["items"][0])

    def _write(self, kind: WriteKind, calendar_id: str, **arguments: Any) -> dict[str, Any]:
        self.calls.append(f"events.{kind.value}")
        try:
            return self.calendar(calendar_id).write(kind, **arguments).event
        except GoogleApiError as error:
            if error.status == 409:
                raise IdTakenAtGoogle("taken", code="event_id_taken") from error
            if error.status == 412:
                raise ChangedAtGoogle("changed", code="calendar_conflict") from error
            if error.status in (404, 410):
                raise GoneAtGoogle("gone", code="event_gone") from error
            raise

    def insert_event(self, calendar_id: str, body: Mapping[str, Any], *, send_updates: str) -> dict[str, Any]:
        return self._write(WriteKind.INSERT, calendar_id, body=dict(body))

    def patch_event(
        self, calendar_id: str, event_id: str, body: Mapping[str, Any], *, etag: str | None, send_updates: str
    ) -> dict[str, Any]:
        return self._write(WriteKind.PATCH, calendar_id, event_id=event_id, body=dict(body), if_match=etag)

    def delete_event(self, calendar_id: str, event_id: str, *, etag: str | None, send_updates: str) -> None:
        self._write(WriteKind.DELETE, calendar_id, event_id=event_id, if_match=etag)

    def count(self, call: str) -> int:
        return self.calls.count(call)


@dataclass
class FakeConnection:
    """A connection as the sync sees it (SyncedConnection)."""

    connection_id: str = CONNECTION
    google_email: str = ALICE
    grant_id: str = "grant-1"
    granted_scopes: list[str] = field(default_factory=list)
    calendar_ids: list[str] = field(default_factory=list)
    active: bool = True
    features: set[Feature] = field(default_factory=lambda: {Feature.MAIL, Feature.CONTACTS, Feature.CALENDAR})

    def enabled(self, feature: Feature) -> bool:
        return feature in self.features

    @property
    def is_active(self) -> bool:
        return self.active

    def feature_states(self) -> dict[Feature, FeatureState]:
        return {
            feature: FeatureState(enabled=True)
            if feature in self.features
            else FeatureState(enabled=False, reason=OffReason.NOT_REQUESTED)
            for feature in Feature
        }


class Clock:
    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class SyncWorld:
    """The sync runner over the in-memory store and publisher, with one connection's Gmail faked."""

    def __init__(self, *, plan: Plan = Plan.STANDARD, time_budget_seconds: float = 420.0) -> None:
        self.store = MemoryStore()
        self.publisher = MemoryPublisher()
        self.clock = Clock()
        self.mailbox = Mailbox(ALICE, clock=lambda: self.clock.now.timestamp())
        self.gmail = FakeGmail(self.mailbox)
        self.connection = FakeConnection()
        self.plan: Plan | None = plan
        self.factory = MessageFactory(seed=5)
        self.scope = TenantScope(self.store, TENANT)
        self.scope.create(self.scope.document("connections", CONNECTION), {"connection_id": CONNECTION})
        self.requester = SyncRequester(
            scope_for=self.scope_for,
            connection_ref=lambda scope, connection_id: scope.document("connections", connection_id),
            publisher=lambda: self.publisher,
            topic="sync-requests",
            coalesce_seconds=30,
            clock=self.clock,
        )
        self.calendars = CalendarAccount(
            ALICE, clock=lambda: self.clock.now.timestamp(), settings=CalendarSettings()
        )
        self.calendar = FakeCalendar(self.calendars)
        self.engines: dict[Source, SyncEngine] = {
            Source.GMAIL: GmailSyncEngine(gmail_for=lambda tenant_id, connection: self.gmail, page_size=500),
            Source.CALENDAR: CalendarSyncEngine(
                calendar_for=lambda tenant_id, connection: self.calendar,
                days_back=30,
                days_ahead=365,
                page_size=50,
            ),
        }
        self.runner = SyncRunner(
            engines=self.engines,
            scope_for=self.scope_for,
            plan_of=lambda tenant_id: self.plan,
            connection_of=self.connection_of,
            requester=self.requester,
            lease_seconds=600,
            time_budget_seconds=time_budget_seconds,
            clock=self.clock,
        )

    def scope_for(self, tenant_id: str) -> TenantScope:
        return TenantScope(self.store, tenant_id)

    def connection_of(self, tenant_id: str, connection_id: str) -> SyncedConnection | None:
        return self.connection if connection_id == self.connection.connection_id else None

    def receive(
        self, count: int = 1, *, sender: str = "Bob <bob@example.net>", days_ago: float = 1
    ) -> list[str]:
        date = self.clock.now - timedelta(days=days_ago)
        return [
            self.mailbox.insert(self.factory.plain(sender=sender, to=[ALICE], date=date).raw)["id"]
            for _ in range(count)
        ]

    def send(self, *, to: list[str], days_ago: float = 1) -> str:
        date = self.clock.now - timedelta(days=days_ago)
        raw = self.factory.plain(sender=ALICE, to=to, date=date).raw
        return str(self.mailbox.insert(raw, label_ids=("SENT",))["id"])

    def sync(self, reason: str = "push") -> Any:
        request = SyncRequest(tenant_id=TENANT, connection_id=CONNECTION, source=Source.GMAIL, reason=reason)
        return self.runner.run(request)

    def sync_calendar(self, calendar_id: str = "primary", reason: str = "push") -> Any:
        request = SyncRequest(
            tenant_id=TENANT,
            connection_id=CONNECTION,
            source=Source.CALENDAR,
            partition=calendar_id,
            reason=reason,
        )
        return self.runner.run(request)

    def events(self) -> dict[str, dict[str, Any]]:
        """Stored events by Google's id."""
        snapshots = self.store.stream(CollectionRef(f"tenants/{TENANT}/events").query())
        return {snapshot.to_dict()["event_id"]: snapshot.to_dict() for snapshot in snapshots}

    def follow_ups(self) -> list[Mapping[str, Any]]:
        return self.publisher.messages("sync-requests")

    # --- what is stored ------------------------------------------------------------------------------

    def copies(self) -> dict[str, dict[str, Any]]:
        snapshots = self.store.stream(CollectionRef(f"tenants/{TENANT}/messages").query())
        return {snapshot.to_dict()["gmail_id"]: snapshot.to_dict() for snapshot in snapshots}

    def contacts(self) -> dict[str, dict[str, Any]]:
        snapshots = self.store.stream(CollectionRef(f"tenants/{TENANT}/contacts").query())
        return {snapshot.to_dict()["email"]: snapshot.to_dict() for snapshot in snapshots}

    def state(self) -> dict[str, Any]:
        key = SyncKey(CONNECTION, Source.GMAIL, "mailbox")
        return self.store.get(self.scope.document("sync_states", key.document_id)).to_dict()


def recount(copies: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """Contacts' (received, sent) counted from the stored copies, as the counters must say."""
    counts: dict[str, list[int]] = {}
    for data in copies.values():
        role, people = (data.get(name) for name in COUNT_FIELDS)
        for email in people or []:
            tally = counts.setdefault(email, [0, 0])
            tally[0 if role == "received" else 1] += 1
    return {email: (received, sent) for email, (received, sent) in counts.items()}


def counters(contacts: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """Contacts' (received, sent) as stored, leaving out those at zero (no copy counts them)."""
    return {
        email: (int(data.get("received_count", 0)), int(data.get("sent_count", 0)))
        for email, data in contacts.items()
        if data.get("received_count") or data.get("sent_count")
    }
