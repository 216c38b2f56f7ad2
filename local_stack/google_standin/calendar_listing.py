"""What events.list and events.instances return, from a snapshot of one calendar's stored events.

The rules, from the discovery document's parameter texts:
- ``timeMin`` bounds an event's end, ``timeMax`` its start, both exclusive (events.instances reads
  ``timeMin`` as inclusive, as its own text says).
- ``singleEvents`` expands series into instances (an exception in place of the instance it changed)
  and leaves the masters out; without it, a master is listed when any instance of its rule overlaps
  the window, and cancelled instances of a live series are listed even without ``showDeleted``.
- An incremental list (a sync token, or ``updatedMin``) holds everything changed since, cancelled
  events included; a full list leaves cancelled events out unless ``showDeleted``. Cancelled events
  are listed as tombstones: only the fields Google guarantees for them.
- Rows come in a stable order (the change that stored them, or the start for ``orderBy=startTime``);
  page tokens hold the last row's sort key and the change number the listing started at, so the sync
  token of the last page never skips a change made while the pages were read.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from local_stack.google_standin.calendar_events import StoredEvent, generated_instance, tombstone
from local_stack.google_standin.calendar_times import When, instance_id
from local_stack.google_standin.errors import invalid

# Without timeMax, series expand this far past the stand-in's now (Google's own horizon is unpublished).
EXPANSION_HORIZON = timedelta(days=730)

SortKey = tuple[float, str]


@dataclass(frozen=True)
class EventQuery:
    """events.list's parameters, checked (the HTTP layer refuses forbidden combinations)."""

    time_min: datetime | None = None
    time_max: datetime | None = None
    single_events: bool = False
    show_deleted: bool = False
    updated_min: datetime | None = None
    private_properties: tuple[tuple[str, str], ...] = ()
    shared_properties: tuple[tuple[str, str], ...] = ()
    ical_uid: str | None = None
    order_by: str | None = None  # "startTime" (with single_events) or "updated"
    event_types: tuple[str, ...] = ()
    max_results: int = 250
    page_token: str | None = None


@dataclass(frozen=True)
class InstancesQuery:
    time_min: datetime | None = None
    time_max: datetime | None = None
    show_deleted: bool = False
    original_start: When | None = None
    max_results: int = 250
    page_token: str | None = None


@dataclass(frozen=True)
class Row:
    key: SortKey
    event: dict[str, Any]  # the whole event, which filters read
    shown: dict[str, Any]  # what the list shows: the event, or its tombstone


@dataclass(frozen=True)
class Window:
    """An instant window and the calendar zone that turns all-day dates into instants."""

    time_min: datetime | None
    time_max: datetime | None
    zone: ZoneInfo
    min_inclusive: bool = False

    def overlaps(self, start: When, end: When) -> bool:
        begins, ends = start.begins(self.zone), end.begins(self.zone)
        after_min = (
            self.time_min is None or ends > self.time_min or (self.min_inclusive and ends == self.time_min)
        )
        return after_min and (self.time_max is None or begins < self.time_max)


def select(
    entries: list[StoredEvent], query: EventQuery, *, since: int | None, zone: ZoneInfo, horizon: datetime
) -> list[Row]:
    """The rows of an events.list, sorted; ``since``: the sync token's change number."""
    incremental = since is not None or query.updated_min is not None
    with_cancelled = incremental or query.show_deleted
    window = Window(query.time_min, query.time_max, zone)
    by_id = {entry.id: entry for entry in entries}
    rows: list[Row] = []
    for entry in entries:
        if incremental and not _changed_since(entry, since, query.updated_min):
            continue
        if entry.series is not None and query.single_events:
            if not entry.cancelled or with_cancelled:
                rows += _generated_rows(entry, by_id, query, window, horizon)
            continue
        if entry.cancelled and not with_cancelled and not _cancelled_instance_kept(entry, by_id, query):
            continue
        if not _in_window(entry, window, horizon):
            continue
        rows.append(_row(entry.event, entry.start, entry.changed, query.order_by, zone))
    return sorted((row for row in rows if _matches(row.event, query)), key=lambda row: row.key)


def select_instances(
    master: StoredEvent,
    exceptions: Iterable[StoredEvent],
    query: InstancesQuery,
    *,
    zone: ZoneInfo,
    horizon: datetime,
) -> list[Row]:
    """The rows of events.instances of ``master``: generated instances, and its exceptions in their
    place, in the order of their starts."""
    assert master.series is not None  # the caller checked it is a master
    window = Window(query.time_min, query.time_max, zone, min_inclusive=True)
    candidates: dict[str, tuple[dict[str, Any], When, When]] = {}
    if query.original_start is not None:
        originals: Iterable[When] = (
            [query.original_start] if master.series.produces(query.original_start) else []
        )
    else:
        # Widened by a second: the window's lower bound is inclusive here, the rule's is not.
        widened = None if query.time_min is None else query.time_min - timedelta(seconds=1)
        originals = master.series.overlapping(widened, query.time_max or horizon, zone)
    for original in originals:
        event_id = instance_id(master.id, original)
        candidates[event_id] = (
            generated_instance(master.event, master.series, original, event_id),
            original,
            master.series.end_of(original),
        )
    for exception in exceptions:
        if query.original_start is None or _same_start(exception.original_start, query.original_start, zone):
            candidates[exception.id] = (exception.event, exception.start, exception.end)
    rows = [
        _row(event, start, 0, "startTime", zone)
        for event, start, end in candidates.values()
        if (query.show_deleted or event["status"] != "cancelled") and window.overlaps(start, end)
    ]
    return sorted(rows, key=lambda row: row.key)


def page(rows: list[Row], *, after: SortKey | None, max_results: int) -> tuple[list[Row], bool]:
    """One page: the rows past ``after``, at most ``max_results``; and whether more follow."""
    remaining = [row for row in rows if after is None or row.key > after]
    return remaining[:max_results], len(remaining) > max_results


def encode_token(content: dict[str, Any]) -> str:
    """An opaque token: clients must not read it, and the stand-in reads it back."""
    return base64.urlsafe_b64encode(json.dumps(content, separators=(",", ":")).encode()).decode()


def decode_token(token: str) -> dict[str, Any] | None:
    try:
        content = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError):
        return None
    return content if isinstance(content, dict) else None


def page_token(key: SortKey, as_of: int) -> str:
    return encode_token({"after": list(key), "asOf": as_of})


def read_page_token(token: str) -> tuple[SortKey, int]:
    content = decode_token(token) or {}
    try:
        number, event_id = content["after"]
        return (float(number), str(event_id)), int(content["asOf"])
    except (KeyError, TypeError, ValueError):
        raise invalid("Invalid page token value.") from None


def _changed_since(entry: StoredEvent, since: int | None, updated_min: datetime | None) -> bool:
    return (since is None or entry.changed > since) and (
        updated_min is None or entry.updated_at >= updated_min.timestamp()
    )


def _cancelled_instance_kept(entry: StoredEvent, by_id: dict[str, StoredEvent], query: EventQuery) -> bool:
    """Discovery, showDeleted: "Cancelled instances of recurring events (but not the underlying recurring
    event) will still be included if showDeleted and singleEvents are both False" (of a live series)."""
    master = by_id.get(entry.master_id) if entry.master_id else None
    return not query.single_events and master is not None and not master.cancelled


def _in_window(entry: StoredEvent, window: Window, horizon: datetime) -> bool:
    if entry.series is None:
        return window.overlaps(entry.start, entry.end)
    if window.time_min is None and window.time_max is None:
        return True
    instances = entry.series.overlapping(window.time_min, window.time_max or horizon, window.zone)
    return next(iter(instances), None) is not None


def _generated_rows(
    master: StoredEvent, by_id: dict[str, StoredEvent], query: EventQuery, window: Window, horizon: datetime
) -> Iterator[Row]:
    """A master's unmodified instances in the window; its exceptions are rows of their own."""
    assert master.series is not None
    for original in master.series.overlapping(window.time_min, window.time_max or horizon, window.zone):
        event_id = instance_id(master.id, original)
        if event_id not in by_id:
            event = generated_instance(master.event, master.series, original, event_id)
            yield _row(event, original, master.changed, query.order_by, window.zone)


def _row(event: dict[str, Any], start: When, changed: int, order_by: str | None, zone: ZoneInfo) -> Row:
    number = start.begins(zone).timestamp() if order_by == "startTime" else float(changed)
    shown = tombstone(event) if event["status"] == "cancelled" else event
    return Row((number, str(event["id"])), event, shown)


def _matches(event: dict[str, Any], query: EventQuery) -> bool:
    if query.ical_uid is not None and event.get("iCalUID") != query.ical_uid:
        return False
    if query.event_types and event.get("eventType", "default") not in query.event_types:
        return False
    properties = event.get("extendedProperties") or {}
    for kind, wanted in (("private", query.private_properties), ("shared", query.shared_properties)):
        held = properties.get(kind) or {}
        if any(held.get(name) != value for name, value in wanted):
            return False
    return True


def _same_start(original: When | None, wanted: When, zone: ZoneInfo) -> bool:
    return original is not None and original.begins(zone) == wanted.begins(zone)
