"""Calendar events as Google writes them: ids, the fields a client may set, patch merging, and the
event JSON (with etag, created, updated, organizer, attendees, iCalUID, sequence) composed from them.

Pure functions: ``calendar_store`` decides what is stored and when; this module decides what an event
looks like.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import re
import secrets
from dataclasses import dataclass
from typing import Any

from local_stack.google_standin.calendar_times import Series, When, check_span, parse_when, rfc3339_millis
from local_stack.google_standin.errors import bad_request, invalid

_EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")  # base32hex, lower case (RFC 2938 section 3.1.2)
_STATUSES = frozenset({"confirmed", "tentative", "cancelled"})
_ETAG_BASE = 3_000_000_000_000_000  # etags look like Google's: a quoted 16-digit number

# What a client may set; everything else in a body (kind, etag, created, updated, creator, organizer,
# htmlLink, recurringEventId, originalStartTime, ...) is Google's, and ignored as Google ignores it.
WRITABLE_FIELDS = (
    "summary",
    "description",
    "location",
    "colorId",
    "start",
    "end",
    "recurrence",
    "status",
    "transparency",
    "visibility",
    "attendees",
    "extendedProperties",
    "reminders",
    "source",
    "guestsCanInviteOthers",
    "guestsCanModify",
    "guestsCanSeeOtherGuests",
    "anyoneCanAddSelf",
)
_ATTENDEE_FIELDS = frozenset(
    {"email", "displayName", "optional", "responseStatus", "comment", "additionalGuests", "resource"}
)
_TIME_FIELDS = ("start", "end", "recurrence")  # a change to any of them raises the iCalendar sequence


def new_event_id() -> str:
    """A random base32hex id, as Google makes for an insert without one (26 characters)."""
    return base64.b32hexencode(secrets.token_bytes(16)).decode().rstrip("=").lower()


def check_event_id(event_id: Any) -> str:
    if not isinstance(event_id, str) or not _EVENT_ID.match(event_id):
        raise invalid("Invalid resource id value.")
    return event_id


def etag(change: int) -> str:
    return f'"{_ETAG_BASE + change}"'


def writable(body: Any) -> dict[str, Any]:
    """The fields of a request body a client may set (a null kept: in a patch it clears the field)."""
    if not isinstance(body, dict):
        raise bad_request("The event must be a JSON object.")
    return {name: copy.deepcopy(body[name]) for name in WRITABLE_FIELDS if name in body}


def merge_patch(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Google's patch semantics: objects merge key by key (so extendedProperties.private and .shared
    keep the keys a patch does not name), a null removes a field or key, anything else (arrays too)
    replaces."""
    merged = copy.deepcopy(current)
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        elif isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = merge_patch(merged[name], value)
        else:
            merged[name] = copy.deepcopy(value)
    return merged


def writable_part(event: dict[str, Any]) -> dict[str, Any]:
    """The client-settable fields of a stored event: what a patch merges into."""
    return {name: copy.deepcopy(event[name]) for name in WRITABLE_FIELDS if name in event}


@dataclass(frozen=True)
class Owner:
    """The calendar an event lives on, as the event names it."""

    calendar_id: str
    account: str  # the account that owns the calendar: the creator of what the stand-in writes
    summary: str
    primary: bool


@dataclass(frozen=True)
class Identity:
    """What no write changes: ids, iCalUID, created, and an exception's place in its series."""

    event_id: str
    ical_uid: str
    created: str  # RFC 3339, as the event shows it
    recurring_event_id: str | None = None
    original_start: When | None = None


@dataclass(frozen=True)
class StoredEvent:
    """One stored event (a single event, a recurring master, or an exception: a modified or cancelled
    instance), as events.get answers it, with what lists and writes need to know about it. Never
    changed in place: a write stores a new one."""

    event: dict[str, Any]
    start: When
    end: When
    series: Series | None  # a recurring master's rule; None for singles and exceptions
    original_start: When | None  # an exception's original start; None otherwise
    changed: int  # the calendar's change number of the write that stored it
    updated_at: float

    @property
    def id(self) -> str:
        return str(self.event["id"])

    @property
    def cancelled(self) -> bool:
        return bool(self.event["status"] == "cancelled")

    @property
    def master_id(self) -> str | None:
        """The series an exception belongs to."""
        value = self.event.get("recurringEventId")
        return None if value is None else str(value)

    def cancelled_by(self, change: int, now: float) -> StoredEvent:
        """This event as a deletion leaves it: status cancelled, a new etag and ``updated``."""
        event = {**copy.deepcopy(self.event), "status": "cancelled", "etag": etag(change)}
        event["updated"] = rfc3339_millis(now)
        return dataclasses.replace(self, event=event, changed=change, updated_at=now)


def compose(
    fields: dict[str, Any],
    *,
    identity: Identity,
    owner: Owner,
    previous: dict[str, Any] | None,
    change: int,
    now: float,
) -> StoredEvent:
    """The event a write leaves: ``fields`` (the client's, checked) around Google's own fields."""
    start, end = parse_when(fields.get("start"), "start"), parse_when(fields.get("end"), "end")
    check_span(start, end)
    status = fields.get("status") or "confirmed"
    if status not in _STATUSES:
        raise invalid(f"Invalid value for status: {status}")
    recurrence = fields.get("recurrence") or None
    if identity.recurring_event_id is not None:
        recurrence = None  # an instance carries no rule of its own
    if recurrence is not None and not isinstance(recurrence, list):
        raise invalid("Invalid recurrence: a list of RRULE, EXRULE, RDATE and EXDATE lines.")
    series = Series(recurrence, start, end) if recurrence else None
    organizer: dict[str, Any] = {"email": owner.calendar_id, "self": True}
    if not owner.primary:
        organizer["displayName"] = owner.summary
    event: dict[str, Any] = {
        "kind": "calendar#event",
        "etag": etag(change),
        "id": identity.event_id,
        "status": status,
        "htmlLink": _html_link(identity.event_id, owner.calendar_id),
        "created": identity.created,
        "updated": rfc3339_millis(now),
    }
    for name in ("summary", "description", "location", "colorId"):
        if fields.get(name) is not None:
            event[name] = fields[name]
    event["creator"] = {"email": owner.account, "self": True}
    event["organizer"] = organizer
    # Google answers a start or end normalised: the date, or the dateTime with the offset of the
    # timeZone given (or the offset given), and that timeZone.
    event["start"], event["end"] = start.to_json(), end.to_json()
    if recurrence is not None:
        event["recurrence"] = list(recurrence)
    if identity.recurring_event_id is not None and identity.original_start is not None:
        event["recurringEventId"] = identity.recurring_event_id
        event["originalStartTime"] = identity.original_start.to_json()
    for name in ("transparency", "visibility"):
        if fields.get(name) is not None:
            event[name] = fields[name]
    event["iCalUID"] = identity.ical_uid
    event["sequence"] = _sequence(event, previous)
    attendees = _attendees(fields.get("attendees"), owner.calendar_id)
    if attendees:
        event["attendees"] = attendees
    for name in ("extendedProperties", "source"):
        if fields.get(name) is not None:
            event[name] = fields[name]
    event["reminders"] = fields.get("reminders") or {"useDefault": True}
    for name in ("guestsCanInviteOthers", "guestsCanModify", "guestsCanSeeOtherGuests", "anyoneCanAddSelf"):
        if fields.get(name) is not None:
            event[name] = fields[name]
    event["eventType"] = "default"
    return StoredEvent(event, start, end, series, identity.original_start, change, now)


def _sequence(event: dict[str, Any], previous: dict[str, Any] | None) -> int:
    """iCalendar's sequence: raised when the times or the rule change (what makes invitations stale)."""
    if previous is None:
        return 0
    sequence = int(previous.get("sequence", 0))
    moved = any(event.get(name) != previous.get(name) for name in _TIME_FIELDS)
    return sequence + 1 if moved else sequence


def _attendees(given: Any, organizer_email: str) -> list[dict[str, Any]]:
    if given is None:
        return []
    if not isinstance(given, list):
        raise invalid("Invalid attendees: a list of attendees.")
    attendees = []
    for item in given:
        email = item.get("email") if isinstance(item, dict) else None
        if not isinstance(email, str) or "@" not in email:
            raise invalid("Invalid attendee email.")
        attendee = {name: value for name, value in item.items() if name in _ATTENDEE_FIELDS}
        attendee.setdefault("responseStatus", "needsAction")
        if email.lower() == organizer_email.lower():
            attendee.update(organizer=True, self=True)
        attendees.append(attendee)
    return attendees


def attendee_emails(event: dict[str, Any]) -> list[str]:
    return [str(attendee["email"]) for attendee in event.get("attendees", [])]


def _html_link(event_id: str, calendar_id: str) -> str:
    eid = base64.urlsafe_b64encode(f"{event_id} {calendar_id}".encode()).decode().rstrip("=")
    return f"https://www.google.com/calendar/event?eid={eid}"


def tombstone(event: dict[str, Any]) -> dict[str, Any]:
    """A cancelled event as a list shows it: Google guarantees only these fields (plus, for a cancelled
    instance of a series, the series and the instance's original start)."""
    kept = ("kind", "etag", "id", "status", "recurringEventId", "originalStartTime", "updated")
    return {name: copy.deepcopy(event[name]) for name in kept if name in event}


def generated_instance(
    master: dict[str, Any], series: Series, original: When, event_id: str
) -> dict[str, Any]:
    """An unmodified instance of a series: the master's fields at ``original``, without the rule."""
    instance = {name: copy.deepcopy(value) for name, value in master.items() if name != "recurrence"}
    calendar_id = str(master["organizer"]["email"])
    instance.update(
        id=event_id,
        htmlLink=_html_link(event_id, calendar_id),
        recurringEventId=master["id"],
        originalStartTime=original.to_json(),
        start=original.to_json(),
        end=series.end_of(original).to_json(),
    )
    return instance
