"""Events made, changed and deleted from the CRM, carried to Google Calendar through the write path
(shared.writes): recorded under the CRM's ``Idempotency-Key``, carried out once by ``outbound_worker``.

- A new event gets an id of ours (32 hex digits: valid base32hex) when the write is accepted: a repeated
  insert cannot make a second event, Google answers 409 and the event it holds is ours. The CRM's id
  and the write's id ride in the event's private extended properties.
- Every change and delete is conditional: ``If-Match`` with the etag the CRM saw (or the stored one).
  Google answering 412 means it changed the event meanwhile: Google's version wins and is stored, and
  the event shows a ``conflict`` with both versions; the write ends ``failed`` (``calendar_conflict``).
- ``sendUpdates`` is ``none`` unless the CRM asked to notify guests: no write of ours emails anyone
  unasked (one peer's first sync emailed 700 guests).
- Google's answer is stored at once with its etag; the sync meets the same etag and writes nothing (the
  echo), and it never writes to Google at all: no loop.
- A series changes as a whole, in one instance (found by its original start with ``events.instances``)
  or from one instance on ("this and following": the series ends before it, a new one starts there).
"""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from shared.calendar.calendars import synced_calendars
from shared.calendar.engine import TIME_ZONE
from shared.calendar.events import (
    CRM_ID_PROPERTY,
    EVENTS,
    EventTime,
    event_doc_id,
    kind_of,
    rule_until,
    ruleset,
    stored_fields,
    time_of,
)
from shared.calendar.queries import own_event
from shared.calendar.requests import EventChange, EventFields, EventRemoval, NewEvent, Occurrence
from shared.calendar.store import remove_written, store_written
from shared.errors import (
    BadInput,
    ChangedAtGoogle,
    Conflict,
    DocumentMissing,
    Forbidden,
    GoneAtGoogle,
    IdTakenAtGoogle,
    NeedsReconnect,
    NotFound,
    Permanent,
)
from shared.plans import Feature
from shared.storage.documents import DELETE_FIELD
from shared.storage.scope import TenantScope
from shared.sync.engine import SyncedConnection
from shared.sync.requests import Source, SyncKey
from shared.sync.state import SyncStates
from shared.writes.dispatcher import WriteAttempt
from shared.writes.outbox import Outbox, WriteRecord

CREATE = "calendar.events.create"
UPDATE = "calendar.events.update"
DELETE = "calendar.events.delete"
WRITE_PROPERTY = "crmWriteId"  # the write that made the event, in its private extended properties


class CalendarWriter(Protocol):
    """What the writes need of Calendar (shared.google_apis.calendar.CalendarClient provides it)."""

    def get_event(self, calendar_id: str, event_id: str) -> dict[str, Any]: ...

    def instance(self, calendar_id: str, master_id: str, original_start: str) -> dict[str, Any]: ...

    def insert_event(
        self, calendar_id: str, body: Mapping[str, Any], *, send_updates: str
    ) -> dict[str, Any]: ...

    def patch_event(
        self, calendar_id: str, event_id: str, body: Mapping[str, Any], *, etag: str | None, send_updates: str
    ) -> dict[str, Any]: ...

    def delete_event(
        self, calendar_id: str, event_id: str, *, etag: str | None, send_updates: str
    ) -> None: ...


ConnectionOf = Callable[[str, str], SyncedConnection | None]
CalendarFor = Callable[[str, SyncedConnection], CalendarWriter]


def writable(connection: SyncedConnection | None) -> SyncedConnection:
    """The connection, when events may be written to its calendars; the reason they may not otherwise."""
    if connection is None:
        raise NotFound("This CRM user has no Google connection.", code="connection_not_found")
    if not connection.is_active:
        raise NeedsReconnect("The Google account must be reconnected.", code="needs_reconnect")
    if not connection.enabled(Feature.CALENDAR):
        raise Forbidden("Calendar is off for this connection.", code="feature_off")
    return connection


def _send_updates(notify_guests: bool) -> str:
    return "all" if notify_guests else "none"


def _when(original: EventTime) -> str:
    return original.date if original.date is not None else str(original.date_time)


# --- the API's side ---------------------------------------------------------------------------------


class CalendarWrites:
    """Check what the request names, resolve what the worker will need, record, queue."""

    def __init__(
        self,
        *,
        outbox: Outbox,
        connection_of: ConnectionOf,
        scope_for: Callable[[str], TenantScope],
        clock: Callable[[], datetime],
    ) -> None:
        self._outbox = outbox
        self._connection_of = connection_of
        self._scope_for = scope_for
        self._clock = clock

    def create(self, tenant_id: str, user_id: str, key: str | None, request: NewEvent) -> WriteRecord:
        connection = writable(self._connection_of(tenant_id, user_id))
        calendar_id = _calendar(connection, request.calendar_id)
        event_id = uuid.uuid4().hex  # base32hex (0-9a-v) takes hex; fixed before the first attempt
        details = {
            "calendar_id": calendar_id,
            "event_id": event_id,
            "event_key": event_doc_id(user_id, calendar_id, event_id),
        }
        payload = request.model_dump(mode="json", exclude_unset=True)
        record, created = self._outbox.submit_new(
            tenant_id, user_id, key, CREATE, payload, details=lambda _: details
        )
        if created:  # the CRM sees its event at once, pending until Google has it
            scope = self._scope_for(tenant_id)
            event = {**request.google_body(), "id": event_id, "status": "confirmed"}
            fields = stored_fields(event, connection_id=user_id, calendar_id=calendar_id, calendar_zone=None)
            pending = _last_write(record, "pending")
            scope.set(scope.document(EVENTS, details["event_key"]), {**fields, **pending, "attached_to": []})
        return record

    def change(
        self, tenant_id: str, user_id: str, event_key: str, key: str | None, request: EventChange
    ) -> WriteRecord:
        connection = writable(self._connection_of(tenant_id, user_id))
        scope = self._scope_for(tenant_id)
        stored = _writable_event(scope, user_id, event_key, request.occurrence)
        series = request.occurrence is None and stored.get("kind") == "master"
        if series and request.start is not None and stored.get("all_day") != (request.start.date is not None):
            raise _bad("start", "a series keeps being all-day or timed")
        details = _details(stored, request.etag, request.occurrence)
        if request.occurrence is not None and request.occurrence.scope == "following":
            details["new_event_id"] = uuid.uuid4().hex
        payload = {"event_key": event_key, **request.model_dump(mode="json", exclude_unset=True)}
        return self._submit(tenant_id, connection, scope, event_key, key, UPDATE, payload, details)

    def delete(
        self, tenant_id: str, user_id: str, event_key: str, key: str | None, request: EventRemoval
    ) -> WriteRecord:
        connection = writable(self._connection_of(tenant_id, user_id))
        scope = self._scope_for(tenant_id)
        occurrence = request.occurrence()
        stored = _writable_event(scope, user_id, event_key, occurrence)
        details = _details(stored, request.etag, occurrence)
        payload = {"event_key": event_key, **request.model_dump(mode="json", exclude_unset=True)}
        return self._submit(tenant_id, connection, scope, event_key, key, DELETE, payload, details)

    def _submit(
        self,
        tenant_id: str,
        connection: SyncedConnection,
        scope: TenantScope,
        event_key: str,
        key: str | None,
        operation: str,
        payload: dict[str, Any],
        details: dict[str, Any],
    ) -> WriteRecord:
        record, created = self._outbox.submit_new(
            tenant_id, connection.connection_id, key, operation, payload, details=lambda _: details
        )
        if created:
            _mark(scope, event_key, _last_write(record, "pending"))
        return record


def _bad(field: str, message: str) -> BadInput:
    return BadInput(
        f"The request's {field} cannot be applied.",
        code="validation_failed",
        errors=[{"location": ["body", field], "message": message, "type": "value_error"}],
    )


def _calendar(connection: SyncedConnection, calendar_id: str) -> str:
    if calendar_id.lower() == connection.google_email.lower():
        return "primary"
    if calendar_id not in synced_calendars(connection):
        raise _bad("calendar_id", "not a synced calendar: primary, or one selected for sync")
    return calendar_id


def _writable_event(
    scope: TenantScope, user_id: str, event_key: str, occurrence: Occurrence | None
) -> dict[str, Any]:
    stored = own_event(scope, user_id, event_key)
    if stored.get("deleted_in_google") or stored.get("status") == "cancelled":
        raise NotFound("The event was deleted in Google Calendar.", code="event_gone")
    if stored.get("etag") is None and stored.get("kind") != "exception":
        raise Conflict("The event is still being made in Google Calendar.", code="event_pending")
    if occurrence is not None and stored.get("kind") != "master":
        raise _bad("occurrence", "only a series has instances: change this event itself")
    return stored


def _details(stored: Mapping[str, Any], etag: str | None, occurrence: Occurrence | None) -> dict[str, Any]:
    details: dict[str, Any] = {
        "calendar_id": stored["calendar_id"],
        "event_id": stored["event_id"],
        "kind": stored.get("kind"),
        "etag": etag or stored.get("etag"),
    }
    if occurrence is not None:
        details["occurrence"] = occurrence.model_dump(mode="json")
    return details


def _last_write(record: WriteRecord, status: str, code: str | None = None) -> dict[str, Any]:
    return {
        "last_write": {
            "write_id": record.write_id,
            "operation": record.operation,
            "status": status,
            "code": code,
        }
    }


def _mark(scope: TenantScope, event_key: str, changes: Mapping[str, Any]) -> None:
    # Removed meanwhile (deleted at Google, a disconnect): nothing left to mark.
    with contextlib.suppress(DocumentMissing):
        scope.update(scope.document(EVENTS, event_key), dict(changes))


# --- the worker's side --------------------------------------------------------------------------------


class _EventWrite:
    name: str

    def __init__(
        self,
        *,
        connection_of: ConnectionOf,
        calendar_for: CalendarFor,
        scope_for: Callable[[str], TenantScope],
        clock: Callable[[], datetime],
    ) -> None:
        self._connection_of = connection_of
        self._calendar_for = calendar_for
        self._scope_for = scope_for
        self._clock = clock

    def perform(self, attempt: WriteAttempt) -> dict[str, Any]:
        connection = writable(self._connection_of(attempt.tenant_id, attempt.record.connection_id))
        job = _Job(
            attempt=attempt,
            connection=connection,
            google=self._calendar_for(attempt.tenant_id, connection),
            scope=self._scope_for(attempt.tenant_id),
            clock=self._clock,
        )
        return self._carry_out(job)

    def _carry_out(self, job: _Job) -> dict[str, Any]:
        raise NotImplementedError

    def on_failed(self, attempt: WriteAttempt) -> None:
        """Refused for good. A conflict has shown itself already; anything else shows as failed, and
        an event that never reached Google goes."""
        scope = self._scope_for(attempt.tenant_id)
        event_key = attempt.record.details.get("event_key") or attempt.record.payload.get("event_key")
        data = scope.get(scope.document(EVENTS, str(event_key)))
        if data is None or (data.get("last_write") or {}).get("write_id") != attempt.record.write_id:
            return
        if data["last_write"].get("status") != "pending":
            return
        if attempt.record.operation == CREATE and data.get("etag") is None:
            remove_written(scope, scope.document(EVENTS, str(event_key)), {})
        else:
            _mark(scope, str(event_key), _last_write(attempt.record, "failed"))


class _Job:
    """One attempt of one write: its record, the connection, Google, and how results are stored."""

    def __init__(
        self,
        *,
        attempt: WriteAttempt,
        connection: SyncedConnection,
        google: CalendarWriter,
        scope: TenantScope,
        clock: Callable[[], datetime],
    ) -> None:
        self.attempt = attempt
        self.record = attempt.record
        self.details = attempt.record.details
        self.payload = attempt.record.payload
        self.connection = connection
        self.google = google
        self.scope = scope
        self.clock = clock
        self.calendar_id = str(self.details["calendar_id"])
        state = SyncStates(scope, clock=clock).load(
            SyncKey(connection.connection_id, Source.CALENDAR, self.calendar_id)
        )
        self.zone = state.source_details.get(TIME_ZONE)
        self.generation = state.generation

    @property
    def send_updates(self) -> str:
        return _send_updates(bool(self.payload.get("notify_guests")))

    def store(self, event: Mapping[str, Any]) -> str:
        """Google's answer, stored with the write marked done (and any old conflict cleared)."""
        return store_written(
            self.scope,
            self.connection.connection_id,
            self.calendar_id,
            event,
            calendar_zone=self.zone,
            generation=self.generation,
            extra={**_last_write(self.record, "done"), "conflict": DELETE_FIELD},
            written_at=self.clock(),
        )

    def conflict(self, event_key: str, google_event: Mapping[str, Any]) -> ChangedAtGoogle:
        """Google changed the event since the CRM saw it: Google's version is stored and wins; the
        event shows both versions. Returns the error that ends the write."""
        crm = {name: value for name, value in self.payload.items() if name not in ("event_key", "etag")}
        store_written(
            self.scope,
            self.connection.connection_id,
            self.calendar_id,
            google_event,
            calendar_zone=self.zone,
            generation=self.generation,
            extra={
                **_last_write(self.record, "conflict", "calendar_conflict"),
                "conflict": {
                    "write_id": self.record.write_id,
                    "at": self.clock(),
                    "crm": crm,
                    "google": _comparable(google_event),
                },
            },
            written_at=self.clock(),
        )
        _mark(self.scope, event_key, _last_write(self.record, "conflict", "calendar_conflict"))
        return ChangedAtGoogle(
            "Google Calendar changed the event since the CRM read it; Google's version was kept.",
            code="calendar_conflict",
        )

    def occurrence(self) -> Occurrence | None:
        raw = self.details.get("occurrence")
        return Occurrence.model_validate(raw) if raw else None


def _comparable(event: Mapping[str, Any]) -> dict[str, Any]:
    """What the CRM may compare of Google's version (no etags or links)."""
    keep = ("summary", "description", "location", "start", "end", "recurrence", "attendees", "status")
    return {name: event[name] for name in keep if name in event}


def _reflects(event: Mapping[str, Any], body: Mapping[str, Any]) -> bool:
    """Whether Google's event already shows every field of ``body`` (an earlier attempt reached it)."""
    for name, wanted in body.items():
        have = event.get(name)
        if name in ("start", "end"):
            mine, theirs = EventTime.from_google(wanted), EventTime.from_google(have)
            if mine is None or theirs is None or mine.instant("UTC") != theirs.instant("UTC"):
                return False
        elif name == "attendees":
            if {a["email"].lower() for a in wanted} != {str(a.get("email", "")).lower() for a in have or []}:
                return False
        elif name == "extendedProperties":
            continue
        elif have != wanted:
            return False
    return True


class CreateEvent(_EventWrite):
    name = CREATE

    def _carry_out(self, job: _Job) -> dict[str, Any]:
        request = NewEvent.model_validate(job.payload)
        event_id = str(job.details["event_id"])
        private = {
            WRITE_PROPERTY: job.record.write_id,
            **({CRM_ID_PROPERTY: request.crm_id} if request.crm_id else {}),
        }
        body = {**request.google_body(), "id": event_id, "extendedProperties": {"private": private}}
        try:
            event = job.google.insert_event(job.calendar_id, body, send_updates=job.send_updates)
        except IdTakenAtGoogle:
            event = job.google.get_event(job.calendar_id, event_id)
            mine = ((event.get("extendedProperties") or {}).get("private") or {}).get(WRITE_PROPERTY)
            if mine != job.record.write_id:
                raise Permanent("The event id is taken by another event.", code="event_id_taken") from None
        event_key = job.store(event)
        return _result(event_key, event)


class UpdateEvent(_EventWrite):
    name = UPDATE

    def _carry_out(self, job: _Job) -> dict[str, Any]:
        change = EventChange.model_validate({k: v for k, v in job.payload.items() if k != "event_key"})
        body = change.fields().google_body()
        occurrence = job.occurrence()
        event_key = str(job.payload["event_key"])
        if occurrence is not None and occurrence.scope == "following":
            return _split_series(job, event_key, occurrence, body)
        if occurrence is not None:
            target = job.google.instance(
                job.calendar_id, str(job.details["event_id"]), _when(occurrence.original_start.as_time())
            )
            event_id, etag = str(target["id"]), change.etag or target.get("etag")
        else:
            event_id, etag = str(job.details["event_id"]), job.details.get("etag")
        try:
            event = job.google.patch_event(
                job.calendar_id, event_id, body, etag=etag, send_updates=job.send_updates
            )
        except ChangedAtGoogle:
            current = job.google.get_event(job.calendar_id, event_id)
            if not (job.attempt.may_have_happened and _reflects(current, body)):
                raise job.conflict(event_key, current) from None
            event = current
        return _result(job.store(event), event)


class DeleteEvent(_EventWrite):
    name = DELETE

    def _carry_out(self, job: _Job) -> dict[str, Any]:
        occurrence = job.occurrence()
        event_key = str(job.payload["event_key"])
        event_id = str(job.details["event_id"])
        if occurrence is not None and occurrence.scope == "following":
            master = _end_series_before(job, event_key, occurrence)
            return _result(job.store(master), master)
        if occurrence is not None:
            target = job.google.instance(
                job.calendar_id, event_id, _when(occurrence.original_start.as_time())
            )
            if target.get("status") != "cancelled":
                self._delete(job, event_key, str(target["id"]), job.payload.get("etag") or target.get("etag"))
            cancelled = {**target, "status": "cancelled"}
            return {**_result(job.store(cancelled), cancelled), "deleted": True}
        self._delete(job, event_key, event_id, job.details.get("etag"))
        reference = job.scope.document(EVENTS, event_key)
        remove_written(job.scope, reference, _last_write(job.record, "done"))
        if job.details.get("kind") == "master":
            for exception in _exceptions(job, event_id):
                remove_written(job.scope, exception, {})
        return {"event_key": event_key, "event_id": event_id, "deleted": True}

    def _delete(self, job: _Job, event_key: str, event_id: str, etag: str | None) -> None:
        try:
            job.google.delete_event(job.calendar_id, event_id, etag=etag, send_updates=job.send_updates)
        except GoneAtGoogle:
            return  # deleted already (by an earlier attempt, or at Google): the delete is done
        except ChangedAtGoogle:
            current = job.google.get_event(job.calendar_id, event_id)
            if current.get("status") == "cancelled":
                return
            raise job.conflict(event_key, current) from None


def _exceptions(job: _Job, master_id: str) -> list[Any]:
    from shared.calendar.shapes import QUERY_SHAPES
    from shared.storage.shapes import build_query

    query = build_query(
        job.scope.collection(EVENTS),
        QUERY_SHAPES["series_exceptions"],
        equal={"connection_id": job.connection.connection_id, "recurring_event_id": master_id},
    ).select(["calendar_id"])
    return [s.ref for s in job.scope.stream(query) if s.get("calendar_id") == job.calendar_id]


def _end_series_before(job: _Job, event_key: str, occurrence: Occurrence) -> dict[str, Any]:
    """The series' rules ended just before the instance originally at ``occurrence`` (once)."""
    master_id = str(job.details["event_id"])
    current = job.google.get_event(job.calendar_id, master_id)
    cut = occurrence.original_start.as_time()
    ended = rule_until(list(current.get("recurrence") or []), cut, job.zone)
    if current.get("recurrence") == ended:
        return current  # an earlier attempt ended it already
    try:
        return job.google.patch_event(
            job.calendar_id,
            master_id,
            {"recurrence": ended},
            etag=str(job.details.get("etag") or current.get("etag")),
            send_updates=job.send_updates,
        )
    except ChangedAtGoogle:
        raise job.conflict(event_key, job.google.get_event(job.calendar_id, master_id)) from None


def _split_series(
    job: _Job, event_key: str, occurrence: Occurrence, change: Mapping[str, Any]
) -> dict[str, Any]:
    """ "This and following": the series ends before the instance; a new series, with the change, starts
    at it (its own id, fixed when the write was accepted: a repeat finds it made)."""
    master_id = str(job.details["event_id"])
    before = job.google.get_event(job.calendar_id, master_id)
    master = _end_series_before(job, event_key, occurrence)
    job.store(master)
    new_id = str(job.details["new_event_id"])
    body = {**_series_from(before, occurrence, job.zone), **change, "id": new_id}
    body["extendedProperties"] = {"private": {WRITE_PROPERTY: job.record.write_id}}
    try:
        created = job.google.insert_event(job.calendar_id, body, send_updates=job.send_updates)
    except IdTakenAtGoogle:
        created = job.google.get_event(job.calendar_id, new_id)
    new_key = job.store(created)
    return {**_result(new_key, created), "series_ended": event_key}


def _series_from(
    master: Mapping[str, Any], occurrence: Occurrence, calendar_zone: str | None
) -> dict[str, Any]:
    """The rest of a series as a new one starting at ``occurrence``: same fields and rules, the start
    moved to the instance (and a COUNT reduced by the instances before it)."""
    start = EventTime.from_google(master.get("start"))
    end = EventTime.from_google(master.get("end"))
    assert start is not None
    assert end is not None
    cut = occurrence.original_start.as_time()
    first = start.local(calendar_zone)
    local_cut = (
        cut.local(calendar_zone) if cut.all_day else cut.instant(calendar_zone).astimezone(first.tzinfo)
    )
    duration = end.local(calendar_zone) - first
    rules = list(master.get("recurrence") or [])
    parsed = ruleset(rules, start, calendar_zone)
    before = 0 if parsed is None else sum(1 for _ in itertools.takewhile(lambda m: m < local_cut, parsed))
    renewed = []
    for line in rules:
        if line.upper().startswith("RRULE") and "COUNT=" in line.upper():
            name, _, value = line.partition(":")
            parts = []
            for part in value.split(";"):
                key, _, number = part.partition("=")
                parts.append(f"COUNT={max(1, int(number) - before)}" if key.upper() == "COUNT" else part)
            line = f"{name}:{';'.join(parts)}"
        renewed.append(line)
    copied = ("summary", "description", "location", "attendees", "transparency", "visibility", "reminders")
    return {
        **{name: master[name] for name in copied if name in master},
        "start": time_of(local_cut, start).to_google(),
        "end": time_of(local_cut + duration, end if end.all_day else start).to_google(),
        "recurrence": renewed,
    }


def _result(event_key: str, event: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "event_key": event_key,
        "event_id": event.get("id"),
        "kind": kind_of(event),
        "etag": event.get("etag"),
        "html_link": event.get("htmlLink"),
    }


def calendar_operations(**collaborators: Any) -> list[_EventWrite]:
    return [CreateEvent(**collaborators), UpdateEvent(**collaborators), DeleteEvent(**collaborators)]


__all__ = ["CalendarWrites", "EventFields", "calendar_operations"]
