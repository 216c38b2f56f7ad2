"""The stored shape of a synced calendar event, and the time arithmetic it needs.

tenants/{tenant}/events/{sha256(connection, calendar, event id)[:40]}   one event (deterministic id)

What Google lists with ``singleEvents`` false is stored as it comes, one document each:
- a single event;
- a recurring master, with its rules (RRULE, EXRULE, RDATE, EXDATE) and its start's time zone;
- an exception: one instance of a series moved or changed (``recurring_event_id`` + ``original_start``);
- a cancelled instance of a live series, kept for the life of its master (it removes that instance).

Instances are not stored: they are expanded from the master with dateutil when read (queries.py), in the
master's time zone, so a weekly 10:00 stays at 10:00 across a change to summer time.

Every document carries ``starts_at``/``ends_at`` (UTC instants) for range queries. All-day events are
dates; their instants are midnight in the calendar's time zone. A master's span is the whole series
(open-ended ones end at ``SERIES_OPEN_END``). Documents whose span exceeds ``SHORT_SPAN`` (masters,
multi-day events) are ``range_kind`` "long" and read apart, so a range query reads only the short
events starting within the range and the few long ones that reach it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rruleset, rrulestr

EVENTS = "events"
SERIES_OPEN_END = datetime(9999, 12, 31, tzinfo=UTC)
SHORT_SPAN = timedelta(days=7)
MAX_EXPANDED = 5000  # instances of one series in one read: a guard against a rule run wild

_RULE_LINE = re.compile(r"^(RRULE|EXRULE|RDATE|EXDATE)(;[^:\s]*)?:\S+$")


def event_doc_id(connection_id: str, calendar_id: str, event_id: str) -> str:
    """The document id, and the API's ``event_key``: stable for one event of one calendar."""
    material = f"{connection_id}\x00{calendar_id}\x00{event_id}".encode()
    return hashlib.sha256(material).hexdigest()[:40]


def zone(name: str | None) -> ZoneInfo:
    """The IANA zone ``name``, UTC when absent or unknown (Google only sends zones it knows)."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo("UTC")


def is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def parse_rfc3339(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("an RFC 3339 date-time needs an offset")
    return moment


@dataclass(frozen=True)
class EventTime:
    """A start or an end as Google writes it: a ``date`` (all-day) or a ``date_time`` with an offset,
    and the IANA zone it belongs to (required on recurring events: the rules expand in it)."""

    date: str | None = None
    date_time: str | None = None
    time_zone: str | None = None

    @classmethod
    def from_google(cls, data: Mapping[str, Any] | None) -> EventTime | None:
        if not data:
            return None
        return cls(data.get("date"), data.get("dateTime"), data.get("timeZone"))

    @classmethod
    def from_stored(cls, data: Mapping[str, Any] | None) -> EventTime | None:
        if not data:
            return None
        return cls(data.get("date"), data.get("date_time"), data.get("time_zone"))

    def to_google(self) -> dict[str, str]:
        out = {"date": self.date, "dateTime": self.date_time, "timeZone": self.time_zone}
        return {key: value for key, value in out.items() if value is not None}

    def to_stored(self) -> dict[str, str | None]:
        return {"date": self.date, "date_time": self.date_time, "time_zone": self.time_zone}

    @property
    def all_day(self) -> bool:
        return self.date is not None

    def local(self, calendar_zone: str | None) -> datetime:
        """As a datetime in its own zone (all-day: midnight, naive): what the rules expand from."""
        if self.date is not None:
            return datetime.combine(date.fromisoformat(self.date), time())
        assert self.date_time is not None
        return parse_rfc3339(self.date_time).astimezone(zone(self.time_zone or calendar_zone))

    def instant(self, calendar_zone: str | None) -> datetime:
        """The UTC instant (all-day: midnight in the calendar's zone)."""
        if self.date is not None:
            return self.local(calendar_zone).replace(tzinfo=zone(calendar_zone)).astimezone(UTC)
        assert self.date_time is not None
        return parse_rfc3339(self.date_time).astimezone(UTC)


def time_of(moment: datetime, like: EventTime) -> EventTime:
    """``moment`` (in ``like``'s zone, naive for all-day) written as ``like`` is."""
    if like.all_day:
        return EventTime(date=moment.date().isoformat())
    return EventTime(date_time=moment.isoformat(), time_zone=like.time_zone)


def instance_id(master_id: str, original: EventTime, calendar_zone: str | None) -> str:
    """Google's id of an instance: the master's id and the original start (UTC, or the date)."""
    if original.all_day:
        return f"{master_id}_{original.local(calendar_zone):%Y%m%d}"
    return f"{master_id}_{original.instant(calendar_zone):%Y%m%dT%H%M%SZ}"


# --- recurrence ---------------------------------------------------------------------------------------


def valid_rule_line(line: str) -> bool:
    return bool(_RULE_LINE.fullmatch(line)) and "DTSTART" not in line.upper()


def ruleset(recurrence: Iterable[str], start: EventTime, calendar_zone: str | None) -> rruleset | None:
    """The series' rules with DTSTART = the master's start in its zone; None when they do not parse."""
    lines = [line.strip() for line in recurrence if line.strip()]
    if not lines or not all(valid_rule_line(line) for line in lines):
        return None
    dtstart = start.local(calendar_zone)
    aware = dtstart.tzinfo is not None
    text = "\n".join(_fit_until(line, aware=aware, tz=dtstart.tzinfo) for line in lines)
    try:
        parsed = rrulestr(text, dtstart=dtstart, forceset=True, unfold=True)
    except (ValueError, TypeError, KeyError, OverflowError):
        return None
    assert isinstance(parsed, rruleset)
    return parsed


def _fit_until(line: str, *, aware: bool, tz: Any) -> str:
    """dateutil wants UNTIL in UTC when DTSTART has a zone and floating when it has none; Google's
    rules mostly agree but a date-only UNTIL on a timed series (or a UTC one on an all-day series) is
    valid RFC 5545. Rewrite those to what dateutil takes, meaning the same moment."""
    if not line.upper().startswith(("RRULE", "EXRULE")):
        return line
    match = re.search(r"UNTIL=(\d{8})(T\d{6})?(Z?)", line, flags=re.IGNORECASE)
    if match is None:
        return line
    day, clock, utc = match.group(1), match.group(2), match.group(3)
    if aware and not utc:
        local = datetime.strptime(day + (clock or "T235959"), "%Y%m%dT%H%M%S").replace(tzinfo=tz)
        until = f"UNTIL={local.astimezone(UTC):%Y%m%dT%H%M%S}Z"
    elif not aware and (utc or clock):
        until = f"UNTIL={day}T235959"
    else:
        return line
    return line[: match.start()] + until + line[match.end() :]


def occurrences(
    rules: rruleset,
    start: EventTime,
    duration: timedelta,
    *,
    after: datetime,
    before: datetime,
    calendar_zone: str | None,
) -> list[datetime]:
    """Original starts of the series' instances that begin before ``before`` and end after ``after``
    (UTC instants), at most ``MAX_EXPANDED``, in the series' zone (naive for all-day series)."""
    if start.all_day:  # the rules run on naive midnights in the calendar's zone
        tz = zone(calendar_zone)
        low = after.astimezone(tz).replace(tzinfo=None) - duration
        high = before.astimezone(tz).replace(tzinfo=None)
    else:
        low, high = after - duration, before
    found: list[datetime] = []
    for moment in rules.xafter(low, inc=False):
        if moment >= high or len(found) >= MAX_EXPANDED:
            break
        found.append(moment)
    return found


def series_span(
    recurrence: Iterable[str], start: EventTime, duration: timedelta, calendar_zone: str | None
) -> tuple[datetime, datetime]:
    """First start and last end of a series (UTC); open-ended series end at ``SERIES_OPEN_END``."""
    first = start.instant(calendar_zone)
    rules = ruleset(recurrence, start, calendar_zone)
    if rules is None:
        return first, first + duration
    bounded = all(
        "UNTIL=" in line.upper() or "COUNT=" in line.upper()
        for line in recurrence
        if line.strip().upper().startswith("RRULE")
    )
    if not bounded:
        return first, SERIES_OPEN_END
    last: datetime | None = None
    try:
        for index, moment in enumerate(rules):
            last = moment
            if index >= 100_000:  # a bounded rule this long: treat as open
                return first, SERIES_OPEN_END
        if last is None:
            return first, first + duration
        last_instant = last.replace(tzinfo=zone(calendar_zone)) if last.tzinfo is None else last
        return first, min(SERIES_OPEN_END, last_instant.astimezone(UTC) + duration)
    except (OverflowError, ValueError):  # runs past the year 9999
        return first, SERIES_OPEN_END


def rule_until(recurrence: Iterable[str], cut: EventTime, calendar_zone: str | None) -> list[str]:
    """The rules ended just before the instance originally at ``cut`` ("this and following"): each
    RRULE gets an UNTIL one second (all-day: one day) before it, replacing its COUNT or UNTIL."""
    if cut.all_day:
        until = f"UNTIL={cut.local(calendar_zone) - timedelta(days=1):%Y%m%d}"
    else:
        until = f"UNTIL={cut.instant(calendar_zone) - timedelta(seconds=1):%Y%m%dT%H%M%S}Z"
    ended = []
    for line in recurrence:
        if line.upper().startswith("RRULE"):
            name, _, body = line.partition(":")
            parts = [part for part in body.split(";") if part.split("=")[0].upper() not in ("UNTIL", "COUNT")]
            line = f"{name}:{';'.join([*parts, until])}"
        ended.append(line)
    return ended


# --- Google's event as stored ---------------------------------------------------------------------


def kind_of(item: Mapping[str, Any]) -> str:
    if item.get("recurringEventId"):
        return "exception"
    if item.get("recurrence"):
        return "master"
    return "single"


def _duration(start: EventTime | None, end: EventTime | None, calendar_zone: str | None) -> timedelta:
    if start is None or end is None:
        return timedelta(0)
    return max(timedelta(0), end.instant(calendar_zone) - start.instant(calendar_zone))


def _person(data: Any) -> dict[str, Any] | None:
    if not isinstance(data, Mapping) or not data.get("email"):
        return None
    return {
        "email": str(data["email"]).lower(),
        "display_name": data.get("displayName"),
        "self": bool(data.get("self", False)),
    }


def _attendee(data: Any) -> dict[str, Any] | None:
    person = _person(data)
    if person is None:
        return None
    return {
        **person,
        "response_status": str(data.get("responseStatus") or "needsAction"),
        "optional": bool(data.get("optional", False)),
        "organizer": bool(data.get("organizer", False)),
    }


def stored_fields(
    item: Mapping[str, Any], *, connection_id: str, calendar_id: str, calendar_zone: str | None
) -> dict[str, Any]:
    """Google's event (``singleEvents`` false) as the fields of its document. A cancelled instance may
    carry only ids and its original start: it stores what it has."""
    kind = kind_of(item)
    start = EventTime.from_google(item.get("start"))
    end = EventTime.from_google(item.get("end"))
    original = EventTime.from_google(item.get("originalStartTime"))
    anchor = start or original
    starts_at = anchor.instant(calendar_zone) if anchor is not None else SERIES_OPEN_END
    duration = _duration(start, end, calendar_zone)
    ends_at = starts_at + duration
    recurrence = [str(line) for line in item.get("recurrence") or []]
    if kind == "master" and start is not None:
        starts_at, ends_at = series_span(recurrence, start, duration, calendar_zone)
    private = ((item.get("extendedProperties") or {}).get("private")) or {}
    attendees = [a for a in (_attendee(x) for x in item.get("attendees") or []) if a is not None]
    return {
        "connection_id": connection_id,
        "calendar_id": calendar_id,
        "calendar_time_zone": calendar_zone,
        "event_id": str(item["id"]),
        "kind": kind,
        "status": str(item.get("status") or "confirmed"),
        "etag": item.get("etag"),
        "updated": parse_rfc3339(str(item["updated"])) if item.get("updated") else None,
        "sequence": int(item.get("sequence") or 0),
        "ical_uid": item.get("iCalUID"),
        "html_link": item.get("htmlLink"),
        "summary": item.get("summary"),
        "description": item.get("description"),
        "location": item.get("location"),
        "start": start.to_stored() if start else None,
        "end": end.to_stored() if end else None,
        "all_day": bool(start and start.all_day),
        "starts_at": starts_at,
        "ends_at": ends_at,
        "range_kind": "long" if kind == "master" or ends_at - starts_at > SHORT_SPAN else "short",
        "recurrence": recurrence,
        "recurring_event_id": item.get("recurringEventId"),
        "original_start": original.to_stored() if original else None,
        "original_start_at": original.instant(calendar_zone) if original else None,
        "attendees": attendees,
        "organizer": _person(item.get("organizer")),
        "transparency": item.get("transparency") or "opaque",
        "visibility": item.get("visibility") or "default",
        "crm_id": private.get(CRM_ID_PROPERTY),
    }


CRM_ID_PROPERTY = "crmId"  # the CRM's id of the event, in the event's private extended properties
