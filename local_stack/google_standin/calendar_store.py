"""Google Calendar's data: each account's calendars, their events (singles, recurring masters, and
exceptions: modified or cancelled instances), a change number per calendar, and sync tokens.

Every write, through the API, the admin API or the Python API, goes through ``Calendar.write``: the
same checks, a new etag and ``updated``, and ``on_change`` (push channels) afterwards. Deleted events
stay as cancelled tombstones with their ids, as Google keeps them.
"""

from __future__ import annotations

import copy
import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from local_stack.google_standin.calendar_events import (
    Identity,
    Owner,
    StoredEvent,
    attendee_emails,
    check_event_id,
    compose,
    etag,
    generated_instance,
    merge_patch,
    new_event_id,
    writable,
    writable_part,
)
from local_stack.google_standin.calendar_listing import (
    EXPANSION_HORIZON,
    EventQuery,
    InstancesQuery,
    Row,
    decode_token,
    encode_token,
    page,
    page_token,
    read_page_token,
    select,
    select_instances,
)
from local_stack.google_standin.calendar_times import When, rfc3339_millis, split_instance_id, zone
from local_stack.google_standin.errors import (
    deleted,
    duplicate,
    invalid,
    not_found,
    precondition_failed,
    sync_token_expired,
    updated_min_too_long_ago,
)


@dataclass
class CalendarSettings:
    sync_token_lifetime_seconds: float | None = None  # older sync tokens answer 410; None: never expire
    # Calendar's maximum channel TTL is unpublished (google-facts-calendar-drive-risc.md): 30 days here.
    max_channel_ttl_seconds: float = 30 * 24 * 3600
    min_interval_seconds: float = 0.0  # per channel: an `exists` closer than this to the last is dropped


class WriteKind(enum.StrEnum):
    INSERT = "insert"
    UPDATE = "update"
    PATCH = "patch"
    DELETE = "delete"


@dataclass(frozen=True)
class Written:
    """What a write did, for the call log: the event it left, and who its guests were."""

    event: dict[str, Any]
    attendees: tuple[str, ...]  # the event's guests after the write (of a deletion: before it)
    removed: tuple[str, ...]  # guests the write took off the event
    organizer: str


@dataclass(frozen=True)
class _Target:
    """The event a write or get names: a stored one, or an unmodified instance of a stored series."""

    event: dict[str, Any]  # as events.get answers it
    stored: StoredEvent | None
    master: StoredEvent | None  # for an instance or an exception: its series
    original_start: When | None


class Calendar:
    def __init__(
        self,
        calendar_id: str,
        *,
        account: str,
        summary: str,
        time_zone: str,
        primary: bool,
        clock: Callable[[], float],
        settings: CalendarSettings,
    ) -> None:
        self.id = calendar_id
        self.account = account
        self.summary = summary
        self.primary = primary
        self.time_zone = time_zone
        self.on_change: Callable[[Calendar], None] | None = None  # after every write; push channels
        self._clock = clock
        self._settings = settings
        self._lock = threading.Lock()
        self._events: dict[str, StoredEvent] = {}
        self._changes = 0  # the change number of the last write
        self._updated_at = clock()
        self._token_epoch = 0  # sync tokens of an earlier epoch are expired

    @property
    def time_zone(self) -> str:
        return self._time_zone

    @time_zone.setter
    def time_zone(self, name: str) -> None:
        zone(name)  # ValueError for a zone that does not exist
        self._time_zone = name

    # --- the Python API: another client's writes (not in the call log) ------------------------------

    def insert(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.write(WriteKind.INSERT, body=body).event

    def update(self, event_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.write(WriteKind.UPDATE, event_id=event_id, body=body).event

    def patch(self, event_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.write(WriteKind.PATCH, event_id=event_id, body=body).event

    def delete(self, event_id: str) -> None:
        self.write(WriteKind.DELETE, event_id=event_id)

    def get(self, event_id: str) -> dict[str, Any]:
        """The event as events.get answers it: cancelled ones too, and unmodified instances."""
        with self._lock:
            return copy.deepcopy(self._target(event_id).event)

    def events(self, *, include_cancelled: bool = True) -> list[dict[str, Any]]:
        """The stored events (singles, masters, exceptions), in the order they were first stored."""
        with self._lock:
            return [
                copy.deepcopy(stored.event)
                for stored in self._events.values()
                if include_cancelled or not stored.cancelled
            ]

    def expire_sync_tokens(self) -> None:
        """Every sync token issued so far for this calendar answers 410 from now on."""
        with self._lock:
            self._token_epoch += 1

    # --- writes -------------------------------------------------------------------------------------

    def write(
        self, kind: WriteKind, *, event_id: str | None = None, body: Any = None, if_match: str | None = None
    ) -> Written:
        """One insert, update, patch or delete, all or nothing. ``if_match``: the etag the client last
        saw; a stale one answers 412."""
        with self._lock:
            change, now = self._changes + 1, self._clock()
            if kind is WriteKind.INSERT:
                stored = [self._insert(body, change, now)]
                before: list[str] = []
            else:
                target = self._target(str(event_id))
                if if_match is not None and if_match.strip() not in ("*", target.event["etag"]):
                    raise precondition_failed()
                if target.event["status"] == "cancelled" and kind is WriteKind.DELETE:
                    raise deleted()
                if target.master is not None and target.master.cancelled:
                    raise deleted()  # an instance of a deleted series
                stored = [self._change(kind, target, body, change, now)]
                before = attendee_emails(target.event)
            stored += self._orphaned_exceptions(stored[0], change, now)
            for event in stored:
                self._events[event.id] = event
            self._changes, self._updated_at = change, now
            written = _written(kind, stored[0].event, before)
        if self.on_change is not None:
            self.on_change(self)
        return written

    def _insert(self, body: Any, change: int, now: float) -> StoredEvent:
        fields = writable(body)
        event_id = check_event_id(body["id"]) if body.get("id") is not None else new_event_id()
        if event_id in self._events:
            raise duplicate()  # cancelled events keep their ids too
        ical_uid = body.get("iCalUID")
        identity = Identity(
            event_id, ical_uid if isinstance(ical_uid, str) else f"{event_id}@google.com", rfc3339_millis(now)
        )
        return compose(fields, identity=identity, owner=self._owner(), previous=None, change=change, now=now)

    def _change(self, kind: WriteKind, target: _Target, body: Any, change: int, now: float) -> StoredEvent:
        event = target.event
        identity = Identity(
            str(event["id"]),
            str(event["iCalUID"]),
            str(event["created"]),
            target.master.id if target.master is not None else None,
            target.original_start,
        )
        if kind is WriteKind.DELETE:
            if target.stored is not None:
                return target.stored.cancelled_by(change, now)
            fields = {**writable_part(event), "status": "cancelled"}  # a cancelled exception
        elif kind is WriteKind.UPDATE:
            fields = writable(body)
        else:
            fields = merge_patch(writable_part(event), writable(body))
        return compose(fields, identity=identity, owner=self._owner(), previous=event, change=change, now=now)

    def _orphaned_exceptions(self, written: StoredEvent, change: int, now: float) -> list[StoredEvent]:
        """A series' exceptions that the write left without an instance: all of them when the series
        was deleted, those whose original start its new rule no longer produces ("this and following"
        ends a rule with UNTIL). They become cancelled, as Google drops them."""
        previous = self._events.get(written.id)
        if written.series is None and (previous is None or previous.series is None):
            return []
        return [
            exception.cancelled_by(change, now)
            for exception in self._events.values()
            if exception.master_id == written.id
            and not exception.cancelled
            and exception.original_start is not None
            and (
                written.cancelled
                or written.series is None
                or not written.series.produces(exception.original_start)
            )
        ]

    def _target(self, event_id: str) -> _Target:
        stored = self._events.get(event_id)
        if stored is not None:
            master = self._events.get(stored.master_id) if stored.master_id else None
            return _Target(stored.event, stored, master, stored.original_start)
        split = split_instance_id(event_id)
        master = self._events.get(split[0]) if split else None
        if split and master is not None and master.series is not None:
            original = master.series.original_at(split[1])
            if original is not None:
                instance = generated_instance(master.event, master.series, original, event_id)
                return _Target(instance, None, master, original)
        raise not_found()

    def _owner(self) -> Owner:
        return Owner(self.id, self.account, self.summary, self.primary)

    # --- reads --------------------------------------------------------------------------------------

    def list_events(self, query: EventQuery, *, sync_token: str | None) -> dict[str, Any]:
        """One page of events.list; the last page carries the sync token of the listing's start."""
        with self._lock:
            since = self._since(sync_token) if sync_token is not None else None
            now = self._clock()
            lifetime = self._settings.sync_token_lifetime_seconds
            if (
                query.updated_min is not None
                and lifetime is not None
                and query.updated_min.timestamp() < now - lifetime
            ):
                raise updated_min_too_long_ago()
            after, as_of = read_page_token(query.page_token) if query.page_token else (None, self._changes)
            entries = list(self._events.values())
        rows = select(entries, query, since=since, zone=ZoneInfo(self.time_zone), horizon=self._horizon(now))
        shown, more = page(rows, after=after, max_results=query.max_results)
        answer = self._events_page(shown, as_of)
        if more:
            answer["nextPageToken"] = page_token(shown[-1].key, as_of)
        else:
            answer["nextSyncToken"] = self._sync_token(as_of)
        return answer

    def instances(self, event_id: str, query: InstancesQuery) -> dict[str, Any]:
        with self._lock:
            master = self._events.get(event_id)
            if master is None:
                raise not_found()
            if master.series is None:
                raise invalid("The event is not a recurring event.")
            if master.cancelled:
                raise deleted()
            exceptions = [stored for stored in self._events.values() if stored.master_id == event_id]
            after, as_of = read_page_token(query.page_token) if query.page_token else (None, self._changes)
            now = self._clock()
        rows = select_instances(
            master, exceptions, query, zone=ZoneInfo(self.time_zone), horizon=self._horizon(now)
        )
        shown, more = page(rows, after=after, max_results=query.max_results)
        answer = self._events_page(shown, as_of)
        if more:
            answer["nextPageToken"] = page_token(shown[-1].key, as_of)
        return answer

    def list_entry(self) -> dict[str, Any]:
        """The calendar as calendarList.list shows it to its owner."""
        entry: dict[str, Any] = {
            "kind": "calendar#calendarListEntry",
            "etag": etag(0),
            "id": self.id,
            "summary": self.summary,
            "timeZone": self.time_zone,
            "accessRole": "owner",
            "defaultReminders": [],
            "selected": True,
        }
        if self.primary:
            entry["primary"] = True
        return entry

    def _events_page(self, rows: list[Row], as_of: int) -> dict[str, Any]:
        return {
            "kind": "calendar#events",
            "etag": f'"p{as_of}"',
            "summary": self.summary,
            "updated": rfc3339_millis(self._updated_at),
            "timeZone": self.time_zone,
            "accessRole": "owner",
            "defaultReminders": [],
            "items": [copy.deepcopy(row.shown) for row in rows],
        }

    def _horizon(self, now: float) -> datetime:
        return datetime.fromtimestamp(now, UTC) + EXPANSION_HORIZON

    # --- sync tokens: the change number they were issued at, and when --------------------------------

    def _sync_token(self, as_of: int) -> str:
        return encode_token(
            {"calendar": self.id, "change": as_of, "issued": self._clock(), "epoch": self._token_epoch}
        )

    def _since(self, token: str) -> int:
        """The change number of a sync token that is still good; 410 otherwise (unknown tokens too, as
        Google treats them)."""
        content = decode_token(token) or {}
        lifetime = self._settings.sync_token_lifetime_seconds
        try:
            change, issued = int(content["change"]), float(content["issued"])
            good = (
                content["calendar"] == self.id
                and content["epoch"] == self._token_epoch
                and change <= self._changes
                and (lifetime is None or self._clock() - issued <= lifetime)
            )
        except (KeyError, TypeError, ValueError):
            good = False
        if not good:
            raise sync_token_expired()
        return change


def _written(kind: WriteKind, event: dict[str, Any], before: list[str]) -> Written:
    after = attendee_emails(event)
    if kind is WriteKind.DELETE:
        return Written(event, tuple(before), (), str(event["organizer"]["email"]))
    kept = {email.lower() for email in after}
    removed = tuple(email for email in before if email.lower() not in kept)
    return Written(event, tuple(after), removed, str(event["organizer"]["email"]))


class CalendarAccount:
    """One account's calendars: its primary (id: the email) and the secondary ones added to it."""

    def __init__(
        self,
        email: str,
        *,
        clock: Callable[[], float],
        settings: CalendarSettings,
        on_change: Callable[[Calendar], None] | None = None,
    ) -> None:
        self.email = email.lower()
        self._clock = clock
        self._settings = settings
        self._on_change = on_change
        self._lock = threading.Lock()
        self._calendars: dict[str, Calendar] = {}
        self._add(self.email, summary=self.email, time_zone="UTC", primary=True)

    @property
    def primary(self) -> Calendar:
        return self.calendar(self.email)

    def calendar(self, calendar_id: str) -> Calendar:
        """The account's calendar ``calendar_id`` ("primary": its primary); 404 for any other."""
        key = self.email if calendar_id == "primary" else calendar_id.lower()
        with self._lock:
            found = self._calendars.get(key)
        if found is None:
            raise not_found()
        return found

    def add_calendar(self, summary: str, *, time_zone: str = "UTC") -> Calendar:
        calendar_id = f"{new_event_id()}@group.calendar.google.com"
        return self._add(calendar_id, summary=summary, time_zone=time_zone, primary=False)

    def list(self) -> list[Calendar]:
        """The primary first, then the others in the order they were added."""
        with self._lock:
            return list(self._calendars.values())

    def _add(self, calendar_id: str, *, summary: str, time_zone: str, primary: bool) -> Calendar:
        calendar = Calendar(
            calendar_id,
            account=self.email,
            summary=summary,
            time_zone=time_zone,
            primary=primary,
            clock=self._clock,
            settings=self._settings,
        )
        calendar.on_change = self._on_change
        with self._lock:
            self._calendars[calendar_id] = calendar
        return calendar
