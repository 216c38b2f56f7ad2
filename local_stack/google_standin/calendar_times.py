"""Calendar's times: an event's start and end (a date, or an instant with its zone), RFC 3339 in and
out, and a recurring event's rule expanded into its instances' original starts.

Expansion is dateutil's ``rrulestr`` with DTSTART = the master's start in ``start.timeZone``, so timed
instances keep their wall-clock time across DST changes; all-day series expand in dates.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr

from local_stack.google_standin.errors import GoogleApiError, invalid, required, time_range_empty

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$", re.IGNORECASE)
_RULE_PROPERTIES = frozenset({"RRULE", "EXRULE"})
_DATE_PROPERTIES = frozenset({"RDATE", "EXDATE"})


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ValueError if there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def rfc3339(moment: datetime) -> str:
    """An aware datetime as Google writes it: seconds, and Z for a zero offset."""
    text = moment.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def rfc3339_millis(seconds: float) -> str:
    """A timestamp as Google writes ``created`` and ``updated``: UTC, with milliseconds."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_instant(value: str, name: str) -> datetime:
    """A query's RFC 3339 timestamp, whose offset is mandatory (timeMin, timeMax, updatedMin)."""
    moment = _parse_date_time(value)
    if moment is None or moment.tzinfo is None:
        raise GoogleApiError(400, "badRequest", f"Invalid value for {name}: {value}")
    return moment


def _parse_date_time(value: str) -> datetime | None:
    if not _DATE_TIME.match(value):
        return None
    try:
        return datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class When:
    """An event's start or end: a date (all-day, ``day``) or an aware instant, with the IANA zone it was
    given in (``zone``; for a recurring event's start, the zone its rule expands in)."""

    day: date | None = None
    instant: datetime | None = None
    zone: str | None = None

    @property
    def all_day(self) -> bool:
        return self.day is not None

    @property
    def at(self) -> datetime:
        """The instant of a timed value."""
        if self.instant is None:
            raise ValueError("an all-day value has no instant")
        return self.instant

    def to_json(self) -> dict[str, str]:
        if self.day is not None:
            return {"date": self.day.isoformat()}
        if self.zone is None:
            return {"dateTime": rfc3339(self.at)}
        return {"dateTime": rfc3339(self.at.astimezone(ZoneInfo(self.zone))), "timeZone": self.zone}

    def begins(self, calendar_zone: ZoneInfo) -> datetime:
        """The instant it stands for; a date begins at midnight in the calendar's zone."""
        if self.day is not None:
            return datetime.combine(self.day, datetime.min.time(), calendar_zone)
        return self.at


def parse_when(value: Any, which: str) -> When:
    """An EventDateTime as a client sends it (``which``: "start" or "end"), checked as Google does."""
    if not isinstance(value, dict) or not (value.get("date") or value.get("dateTime")):
        raise required(f"Missing {which} time.")
    zone_name = value.get("timeZone")
    if zone_name is not None:
        try:
            zone(str(zone_name))
        except ValueError:
            raise invalid(f"Invalid time zone definition for {which} time.") from None
    if value.get("date") and value.get("dateTime"):
        raise invalid(f"Invalid {which} time: either a date or a dateTime, not both.")
    if value.get("date"):
        text = str(value["date"])
        try:
            day = date.fromisoformat(text) if _DATE.match(text) else None
        except ValueError:
            day = None
        if day is None:
            raise invalid(f"Invalid {which} time.")
        return When(day=day, zone=str(zone_name) if zone_name else None)
    moment = _parse_date_time(str(value["dateTime"]))
    if moment is None:
        raise invalid(f"Invalid {which} time.")
    if moment.tzinfo is None:
        if zone_name is None:
            raise invalid(f"Missing time zone definition for {which} time.")
        moment = moment.replace(tzinfo=ZoneInfo(str(zone_name)))
    return When(instant=moment, zone=str(zone_name) if zone_name else None)


def check_span(start: When, end: When) -> None:
    """Both dates or both instants, and the end not before the start."""
    if start.all_day != end.all_day:
        raise GoogleApiError(
            400, "badRequest", "Start and end times must either both be date or both be dateTime."
        )
    ends_before = end.day < start.day if start.day is not None and end.day is not None else end.at < start.at
    if ends_before:
        raise time_range_empty("end")


class Series:
    """A recurring event's rule: which original starts it produces, and its instances' length.

    ``lines`` are the master's ``recurrence`` (RRULE, EXRULE, RDATE, EXDATE; no DTSTART); ``start`` and
    ``end`` its own. A timed series needs ``start.zone``. RDATE and EXDATE values written with a TZID or
    floating (in the series' zone) are handed to dateutil in UTC, which it reads without a zone table.
    """

    def __init__(self, lines: list[str], start: When, end: When) -> None:
        self.start, self.end = start, end
        self._zone: ZoneInfo | None = None  # None: an all-day series, expanded in naive dates
        if start.day is not None and end.day is not None:
            self.length = end.day - start.day
            first = datetime.combine(start.day, datetime.min.time())
        else:
            if start.zone is None:
                raise invalid("Missing time zone definition for start time.")
            self._zone = ZoneInfo(start.zone)
            self.length = end.at - start.at
            first = start.at.astimezone(self._zone)
        text = "\n".join(_canonical_line(line, self._zone) for line in lines)
        try:
            # An all-day series reads a UTC UNTIL as its date (ignoretz).
            self._rule = rrulestr(text, dtstart=first, forceset=True, ignoretz=self._zone is None, cache=True)
            self._rule.after(first, inc=True)  # some mistakes only show once expansion starts
        except (ValueError, TypeError, OverflowError) as error:
            raise invalid(f"Invalid recurrence rule: {error}") from None

    def original_starts(
        self, after: datetime | None, before: datetime, calendar_zone: ZoneInfo
    ) -> Iterator[When]:
        """Original starts s with ``after`` < s < ``before`` (instants; ``after`` None: from the first)."""
        low, high = self._frame(after, calendar_zone), self._frame(before, calendar_zone)
        assert high is not None
        for occurrence in self._rule:
            if occurrence >= high:
                return
            if low is None or occurrence > low:
                yield self._when(occurrence)

    def overlapping(
        self, time_min: datetime | None, time_max: datetime, calendar_zone: ZoneInfo
    ) -> Iterator[When]:
        """Original starts of the unmodified instances that end after ``time_min`` and start before
        ``time_max``."""
        after = None if time_min is None else time_min - self.length
        return self.original_starts(after, time_max, calendar_zone)

    def produces(self, original: When) -> bool:
        if original.all_day != self.start.all_day:
            return False
        if original.day is not None:
            moment = datetime.combine(original.day, datetime.min.time())
        else:
            moment = original.at
        found = self._rule.after(moment, inc=True)
        return found is not None and bool(found == moment)

    def original_at(self, suffix: str) -> When | None:
        """The original start an instance id's suffix names, if the rule produces it."""
        try:
            if self._zone is None:
                original = When(day=datetime.strptime(suffix, "%Y%m%d").date())
            else:
                moment = datetime.strptime(suffix, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
                original = When(instant=moment.astimezone(self._zone), zone=self.start.zone)
        except ValueError:
            return None
        return original if self.produces(original) else None

    def end_of(self, original: When) -> When:
        """The end of the unmodified instance that starts at ``original``, in the master's end zone."""
        if original.day is not None:
            return When(day=original.day + self.length)
        end_zone = ZoneInfo(self.end.zone or str(self.start.zone))
        # An absolute length: a DST change between start and end does not stretch the instance.
        return When(
            instant=(original.at.astimezone(UTC) + self.length).astimezone(end_zone), zone=self.end.zone
        )

    def _frame(self, moment: datetime | None, calendar_zone: ZoneInfo) -> datetime | None:
        """An instant in the terms the rule yields: aware for a timed series, the calendar's wall-clock
        time for an all-day one."""
        if moment is None or self._zone is not None:
            return moment
        return moment.astimezone(calendar_zone).replace(tzinfo=None)

    def _when(self, occurrence: datetime) -> When:
        if self._zone is None:
            return When(day=occurrence.date())
        return When(instant=occurrence, zone=self.start.zone)


def _canonical_line(line: Any, series_zone: ZoneInfo | None) -> str:
    if not isinstance(line, str) or ":" not in line:
        raise invalid(f"Invalid recurrence rule: {line!r}")
    head, value = line.split(":", 1)
    name, *params = head.split(";")
    name = name.upper()
    if name in _RULE_PROPERTIES:
        if "COUNT=" in value.upper() and "UNTIL=" in value.upper():
            raise invalid("Invalid recurrence rule: COUNT and UNTIL must not both be given (RFC 5545).")
        return line
    if name not in _DATE_PROPERTIES:
        raise invalid(f"Invalid recurrence rule: {name} is not allowed in recurrence.")
    tz_name = next((param.split("=", 1)[1] for param in params if param.upper().startswith("TZID=")), None)
    return f"{name}:" + ",".join(_canonical_date(text, tz_name, series_zone) for text in value.split(","))


def _canonical_date(text: str, tz_name: str | None, series_zone: ZoneInfo | None) -> str:
    """One RDATE or EXDATE value as dateutil reads it: UTC for a timed series, a naive date-time for an
    all-day one."""
    text = text.strip().upper()
    for form in ("%Y%m%dT%H%M%SZ", "%Y%m%dT%H%M%S", "%Y%m%d"):
        try:
            moment = datetime.strptime(text, form)
        except ValueError:
            continue
        if series_zone is None:
            return moment.strftime("%Y%m%dT%H%M%S")
        if form.endswith("Z"):
            return text
        try:
            local = zone(tz_name) if tz_name else series_zone
        except ValueError:
            raise invalid(f"Invalid recurrence rule: unknown time zone {tz_name}.") from None
        return moment.replace(tzinfo=local).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    raise invalid(f"Invalid recurrence rule: bad date {text!r}.")


def instance_id(master_id: str, original: When) -> str:
    """Google's id of an instance: the master's id and the original start (UTC), or its date."""
    if original.day is not None:
        return f"{master_id}_{original.day:%Y%m%d}"
    return f"{master_id}_{original.at.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def split_instance_id(event_id: str) -> tuple[str, str] | None:
    """(master id, original-start suffix) of what may be an instance id. Master ids are base32hex, so
    the last "_" separates them."""
    master_id, sep, suffix = event_id.rpartition("_")
    return (master_id, suffix) if sep and master_id else None
