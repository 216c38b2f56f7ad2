"""Reading synced events for the API: a time range (each series expanded into its instances, or the
stored events as they are), one event, the events attached to a CRM record.

A range reads two bounded queries (events.py): the short events starting within it, and the long ones
(series, multi-day events) still running at its start. Each series is expanded with dateutil between
the range's ends; an instance that an exception replaces (moved, changed or cancelled) is left out, the
exception stands for it. Items come earliest first; a page token holds the last item's start and key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.calendar.events import (
    EVENTS,
    SHORT_SPAN,
    EventTime,
    instance_id,
    occurrences,
    ruleset,
    time_of,
)
from shared.calendar.shapes import QUERY_SHAPES
from shared.crm_links.entities import CrmEntity
from shared.errors import NotFound
from shared.storage.documents import DOCUMENT_ID
from shared.storage.page_tokens import (
    decode_ordered_page_token,
    encode_page_token,
    from_micros,
    invalid_page_token,
    listing_key,
    micros,
)
from shared.storage.scope import TenantScope
from shared.storage.shapes import RangeFilter, build_query

EventKind = Literal["single", "master", "exception", "instance"]


class EventTimeView(BaseModel):
    date: str | None = Field(None, description="yyyy-mm-dd: an all-day event (the end is exclusive).")
    date_time: str | None = Field(None, description="RFC 3339 with offset: a timed event.")
    time_zone: str | None = Field(None, description="IANA zone; recurring events expand in it.")


class PersonView(BaseModel):
    email: str
    display_name: str | None = None
    self: bool = Field(False, description="The connected user.")


class AttendeeView(PersonView):
    response_status: str = Field(description="needsAction, declined, tentative or accepted.")
    optional: bool = False
    organizer: bool = False


class LastWrite(BaseModel):
    write_id: str
    operation: str
    status: Literal["pending", "done", "failed", "conflict"]
    code: str | None = None


class Conflict(BaseModel):
    """A CRM change Google's copy had moved past: Google's version won and is what the event shows."""

    write_id: str
    at: datetime
    crm: dict[str, Any] = Field(description="The change the CRM asked for.")
    google: dict[str, Any] = Field(description="Google's version when the change was refused.")


class EventView(BaseModel):
    event_key: str = Field(description="This system's key of the event (of the series, for instances).")
    calendar_id: str
    event_id: str = Field(description="Google's id (for an instance, the series id and its original start).")
    kind: EventKind = Field(
        description="single, master (a series), exception (one changed instance), instance."
    )
    status: str = Field(description="confirmed, tentative or cancelled.")
    summary: str | None = None
    description: str | None = Field(
        None, description="As Google holds it: may be HTML, escape before showing."
    )
    location: str | None = None
    start: EventTimeView | None = None
    end: EventTimeView | None = None
    all_day: bool = False
    recurrence: list[str] = Field(default_factory=list, description="RRULE, EXRULE, RDATE, EXDATE lines.")
    recurring_event_id: str | None = None
    original_start: EventTimeView | None = Field(None, description="Where the rule put this instance.")
    attendees: list[AttendeeView] = Field(default_factory=list)
    organizer: PersonView | None = None
    html_link: str | None = None
    etag: str | None = Field(None, description="Google's version: send it back to change this version only.")
    updated: datetime | None = None
    crm_id: str | None = Field(None, description="The CRM's id, when the CRM made the event.")
    attached_to: list[CrmEntity] = Field(default_factory=list)
    deleted_in_google: bool = False
    last_write: LastWrite | None = Field(None, description="The latest change made from the CRM.")
    conflict: Conflict | None = None


class EventPage(BaseModel):
    items: list[EventView]
    next_page_token: str | None = Field(description="Null on the last page.")


def event_view(event_key: str, data: Mapping[str, Any]) -> EventView:
    return EventView.model_validate(
        {
            **{name: data.get(name) for name in EventView.model_fields if data.get(name) is not None},
            "event_key": event_key,
            "recurrence": list(data.get("recurrence") or []),
            "attendees": [_person(a) for a in data.get("attendees") or []],
            "organizer": _person(data["organizer"]) if data.get("organizer") else None,
        }
    )


def _person(data: Mapping[str, Any]) -> dict[str, Any]:
    return {**data, "self": bool(data.get("self", False))}


# --- one event ------------------------------------------------------------------------------------------


def own_event(scope: TenantScope, connection_id: str, event_key: str) -> dict[str, Any]:
    """The stored event of this connection; 404 when there is none."""
    data = scope.get(scope.document(EVENTS, event_key))
    if data is None or data.get("connection_id") != connection_id:
        raise NotFound("No such event.", code="event_not_found")
    return data


def get_event(scope: TenantScope, connection_id: str, event_key: str) -> EventView:
    return event_view(event_key, own_event(scope, connection_id, event_key))


# --- a range ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    at: datetime  # the start instant: the order
    key: str  # a tiebreak, stable and token-safe
    view: EventView


def list_events(
    scope: TenantScope,
    connection_id: str,
    *,
    time_min: datetime,
    time_max: datetime,
    calendar_id: str | None,
    expand: bool,
    page_size: int,
    page_token: str | None,
) -> EventPage:
    """Events overlapping [time_min, time_max), earliest first; ``expand``: series as their instances."""
    listing = listing_key("events", scope.tenant_id, connection_id, [time_min, time_max, calendar_id, expand])
    cursor = decode_ordered_page_token(page_token, listing=listing)
    start_from = _earlier(time_min, SHORT_SPAN)
    if cursor is not None:
        start_from = max(start_from, from_micros(cursor[0]))  # a short event starts where it sorts
    items: list[_Item] = []
    for key, data in _stored_in_range(scope, connection_id, time_min, time_max, start_from):
        if calendar_id is not None and data.get("calendar_id") != calendar_id:
            continue
        if data.get("kind") == "master" and expand:
            items += _instances(scope, connection_id, key, data, time_min, time_max)
        elif data.get("status") != "cancelled":
            items.append(_item(key, data))
    items.sort(key=lambda item: (item.at, item.key))
    if cursor is not None:
        at, last = from_micros(cursor[0]), cursor[1]
        items = [item for item in items if (item.at, item.key) > (at, last)]
    page, rest = items[:page_size], items[page_size:]
    next_token = None
    if rest:
        last_item = page[-1]
        next_token = encode_page_token(last_item.key, listing=listing, at=micros(last_item.at))
    return EventPage(items=[item.view for item in page], next_page_token=next_token)


def _stored_in_range(
    scope: TenantScope, connection_id: str, time_min: datetime, time_max: datetime, start_from: datetime
) -> Iterable[tuple[str, dict[str, Any]]]:
    collection = scope.collection(EVENTS)
    short = build_query(
        collection,
        QUERY_SHAPES["short_in_range"],
        equal={"connection_id": connection_id, "range_kind": "short"},
        ranges=[RangeFilter("starts_at", ">=", start_from), RangeFilter("starts_at", "<", time_max)],
    )
    long = build_query(
        collection,
        QUERY_SHAPES["long_reaching"],
        equal={"connection_id": connection_id, "range_kind": "long"},
        ranges=[RangeFilter("ends_at", ">", time_min)],
    )
    for query in (short, long):
        for snapshot in scope.stream(query):
            data = snapshot.to_dict()
            if data.get("tenant_id") != scope.tenant_id:
                continue
            if data["starts_at"] < time_max and data["ends_at"] > time_min:
                yield snapshot.id, data
            elif data["starts_at"] == data["ends_at"] and time_min <= data["starts_at"] < time_max:
                yield snapshot.id, data  # an instant (no duration) inside the range


def _earlier(moment: datetime, span: timedelta) -> datetime:
    try:
        return moment - span
    except OverflowError:
        return datetime.min.replace(tzinfo=moment.tzinfo)


def _sort_key(event_key: str, event_id: str) -> str:
    return hashlib.sha256(f"{event_key}\x00{event_id}".encode()).hexdigest()[:32]


def _item(event_key: str, data: Mapping[str, Any]) -> _Item:
    return _Item(data["starts_at"], _sort_key(event_key, str(data["event_id"])), event_view(event_key, data))


def _instances(
    scope: TenantScope,
    connection_id: str,
    event_key: str,
    master: Mapping[str, Any],
    time_min: datetime,
    time_max: datetime,
) -> list[_Item]:
    """The series' instances in the range that no exception replaces."""
    if master.get("status") == "cancelled":
        return []
    start, end = EventTime.from_stored(master.get("start")), EventTime.from_stored(master.get("end"))
    zone_name = master.get("calendar_time_zone")
    if start is None or end is None:
        return []
    rules = ruleset(master.get("recurrence") or [], start, zone_name)
    if rules is None:  # rules this system cannot read: the series shows as its first event
        return [_item(event_key, master)]
    local_start, local_end = start.local(zone_name), end.local(zone_name)
    duration = local_end - local_start
    try:
        originals = occurrences(
            rules, start, duration, after=time_min, before=time_max, calendar_zone=zone_name
        )
    except (OverflowError, ValueError):  # a series run out to the year 9999: none past the calendar's end
        return []
    if not originals:
        return []
    replaced = _replaced(
        scope,
        connection_id,
        str(master["event_id"]),
        time_of(originals[0], start).instant(zone_name),
        time_of(originals[-1], start).instant(zone_name),
    )
    items = []
    for original in originals:
        when = time_of(original, start)
        at = when.instant(zone_name)
        if at in replaced:
            continue
        try:
            ends = time_of(original + duration, start)
        except OverflowError:
            continue  # it would end after the year 9999
        view = event_view(event_key, master).model_copy(
            update={
                "kind": "instance",
                "event_id": instance_id(str(master["event_id"]), when, zone_name),
                "recurring_event_id": str(master["event_id"]),
                "start": EventTimeView(**when.to_stored()),
                "end": EventTimeView(**ends.to_stored()),
                "original_start": EventTimeView(**when.to_stored()),
                "recurrence": [],
                "etag": None,
            }
        )
        items.append(_Item(at, _sort_key(event_key, view.event_id), view))
    return items


def _replaced(
    scope: TenantScope, connection_id: str, master_id: str, first: datetime, last: datetime
) -> set[datetime]:
    """Original starts (UTC) of the series' exceptions and cancelled instances between two instants."""
    query = build_query(
        scope.collection(EVENTS),
        QUERY_SHAPES["series_exceptions"],
        equal={"connection_id": connection_id, "recurring_event_id": master_id},
        ranges=[
            RangeFilter("original_start_at", ">=", first),
            RangeFilter("original_start_at", "<=", last),
        ],
    ).select(["original_start_at", "tenant_id"])
    return {
        snapshot.get("original_start_at")
        for snapshot in scope.stream(query)
        if snapshot.get("tenant_id") == scope.tenant_id
    }


# --- attached to a CRM record ---------------------------------------------------------------------


def list_attached(
    scope: TenantScope, entity: CrmEntity, *, page_size: int, page_token: str | None
) -> EventPage:
    """The events attached to ``entity``, every user's, latest start first."""
    listing = listing_key("attached_events", scope.tenant_id, entity.type, entity.id)
    query = build_query(
        scope.collection(EVENTS), QUERY_SHAPES["attached"], equal={}, contains=entity.as_map()
    )
    cursor = decode_ordered_page_token(page_token, listing=listing)
    if cursor is not None:
        at, document_id = cursor
        if len(document_id) != 40:
            raise invalid_page_token()
        query = query.start_after(
            {"starts_at": from_micros(at), DOCUMENT_ID: scope.collection(EVENTS).document(document_id)}
        )
    snapshots = scope.stream(query.limit(page_size + 1))
    served = snapshots[:page_size]
    items = [event_view(s.id, s.to_dict()) for s in served if s.get("tenant_id") == scope.tenant_id]
    next_token = None
    if len(snapshots) > page_size:
        last = served[-1]
        next_token = encode_page_token(last.id, listing=listing, at=micros(last.get("starts_at")))
    return EventPage(items=items, next_page_token=next_token)
