"""What the CRM sends to make, change and delete events: validated here, before anything is written."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from shared.calendar.events import EventTime, is_zone, ruleset, valid_rule_line
from shared.ids import EMAIL_PATTERN, ExternalId

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tabs and line breaks are text
CALENDAR_ID_PATTERN = r"^[^\x00-\x1f/\\]{1,256}$"  # "primary", an address, a group calendar's id
RuleLine = Annotated[str, StringConstraints(min_length=7, max_length=1024)]


FIRST_YEAR, LAST_YEAR = 1900, 2999  # a calendar's events, with room for every zone's offset


def _in_years(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"must fall in the years {FIRST_YEAR} to {LAST_YEAR}")


def _plain(value: str | None) -> str | None:
    if value is not None and _CONTROL.search(value):
        raise ValueError("must not hold control characters")
    return value


class EventTimeIn(BaseModel):
    """A start or an end: ``date`` for an all-day event, or ``date_time`` with an offset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    date: str | None = Field(
        None, description="yyyy-mm-dd, years 1900 to 2999: all-day (an end date is exclusive)."
    )
    date_time: str | None = Field(
        None, description="RFC 3339 with an offset, e.g. 2026-12-04T10:00:00+01:00."
    )
    time_zone: str | None = Field(
        None, max_length=64, description="IANA zone, e.g. Europe/Berlin: required for a recurring event."
    )

    @field_validator("date")
    @classmethod
    def _date(cls, value: str | None) -> str | None:
        if value is not None:
            if not _DATE.fullmatch(value):
                raise ValueError("must be a date yyyy-mm-dd")
            _in_years(date.fromisoformat(value).year)  # a real day, in range
        return value

    @field_validator("date_time")
    @classmethod
    def _date_time(cls, value: str | None) -> str | None:
        if value is not None:
            if not _RFC3339.fullmatch(value):
                raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-12-04T10:00:00Z")
            _in_years(datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00")).year)
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None and not is_zone(value):
            raise ValueError("must be an IANA time zone, e.g. Europe/Berlin")
        return value

    @model_validator(mode="after")
    def _one(self) -> EventTimeIn:
        if (self.date is None) == (self.date_time is None):
            raise ValueError("give either date (all-day) or date_time")
        return self

    def as_time(self) -> EventTime:
        return EventTime(self.date, self.date_time, self.time_zone)


class Attendee(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    display_name: str | None = Field(None, min_length=1, max_length=200)
    optional: bool = False

    _plain_name = field_validator("display_name")(_plain)


class EventFields(BaseModel):
    """An event's fields the CRM may set; what is not named stays as it is (on a change)."""

    model_config = ConfigDict(extra="forbid")

    summary: str | None = Field(None, max_length=1024)
    description: str | None = Field(None, max_length=8192)
    location: str | None = Field(None, max_length=1024)
    start: EventTimeIn | None = None
    end: EventTimeIn | None = None
    recurrence: list[RuleLine] | None = Field(
        None, max_length=20, description="RRULE, EXRULE, RDATE, EXDATE lines (RFC 5545), no DTSTART."
    )
    attendees: list[Attendee] | None = Field(None, max_length=200)
    transparency: Literal["opaque", "transparent"] | None = None
    visibility: Literal["default", "public", "private", "confidential"] | None = None

    _plain_text = field_validator("summary", "location")(_plain)

    @field_validator("recurrence")
    @classmethod
    def _rules(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            for index, line in enumerate(value):
                if not valid_rule_line(line):
                    raise ValueError(f"line {index} is not an RRULE, EXRULE, RDATE or EXDATE line")
        return value

    @field_validator("attendees")
    @classmethod
    def _distinct(cls, value: list[Attendee] | None) -> list[Attendee] | None:
        if value is not None and len({a.email.lower() for a in value}) != len(value):
            raise ValueError("an address may be named once")
        return value

    @model_validator(mode="after")
    def _times(self) -> EventFields:
        if (self.start is None) != (self.end is None):
            raise ValueError("start and end go together")
        if self.start is not None and self.end is not None:
            start, end = self.start.as_time(), self.end.as_time()
            if start.all_day != end.all_day:
                raise ValueError("start and end must both be dates or both date-times")
            if end.instant("UTC") <= start.instant("UTC"):
                raise ValueError("end must be after start")
            if self.recurrence and not start.all_day and not start.time_zone:
                raise ValueError("a recurring event needs start.time_zone (its rules expand in it)")
            if self.recurrence and ruleset(self.recurrence, start, start.time_zone) is None:
                raise ValueError("the recurrence rules do not parse")
        return self

    def google_body(self) -> dict[str, Any]:
        """The fields named, as Google's event resource has them."""
        body: dict[str, Any] = {}
        for name in ("summary", "description", "location", "recurrence", "transparency", "visibility"):
            if name in self.model_fields_set:
                body[name] = getattr(self, name)
        if self.start is not None and self.end is not None:
            body["start"] = self.start.as_time().to_google()
            body["end"] = self.end.as_time().to_google()
            if self.start.time_zone and "timeZone" not in body["end"] and self.end.date is None:
                body["end"]["timeZone"] = self.start.time_zone
        if self.attendees is not None:
            body["attendees"] = [
                {
                    "email": a.email,
                    **({"displayName": a.display_name} if a.display_name else {}),
                    **({"optional": True} if a.optional else {}),
                }
                for a in self.attendees
            ]
        return body


class NewEvent(EventFields):
    calendar_id: str = Field(
        "primary", pattern=CALENDAR_ID_PATTERN, description="A synced calendar: primary, or one selected."
    )
    crm_id: ExternalId | None = Field(
        None, description="The CRM's id, kept in the event's private properties."
    )
    notify_guests: bool = Field(False, description="Email the attendees (Google's sendUpdates=all).")

    @model_validator(mode="after")
    def _required(self) -> NewEvent:
        if self.start is None:
            raise ValueError("a new event needs start and end")
        return self


class Occurrence(BaseModel):
    """One instance of a series, by where its rule put it, and how far a change reaches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    original_start: EventTimeIn = Field(description="The instance's original start (as the listing shows).")
    scope: Literal["this", "following"] = Field(
        "this", description="this: the one instance; following: it and every later one (a new series)."
    )


class EventChange(EventFields):
    occurrence: Occurrence | None = Field(None, description="For a series: which instance(s) to change.")
    etag: str | None = Field(
        None, min_length=1, max_length=128, description="Change only this version (409 conflict otherwise)."
    )
    notify_guests: bool = False

    @model_validator(mode="after")
    def _something(self) -> EventChange:
        if not set(EventFields.model_fields) & self.model_fields_set:
            raise ValueError("name a change: summary, description, location, start/end, attendees, ...")
        if self.occurrence is not None and self.recurrence is not None:
            raise ValueError("an instance's change cannot set recurrence")
        return self

    def fields(self) -> EventFields:
        return EventFields.model_validate(
            self.model_dump(include=set(EventFields.model_fields), exclude_unset=True)
        )


class EventRemoval(BaseModel):
    """Query of a delete: the whole event or series by default."""

    model_config = ConfigDict(extra="forbid")

    scope: Literal["all", "this", "following"] = Field(
        "all", description="all: the event or whole series; this / following: instances (original_start)."
    )
    original_start: str | None = Field(
        None, description="For this / following: the instance's original start, RFC 3339 or yyyy-mm-dd."
    )
    etag: str | None = Field(None, min_length=1, max_length=128)
    notify_guests: bool = False

    @field_validator("original_start")
    @classmethod
    def _moment(cls, value: str | None) -> str | None:
        if value is not None and not (_RFC3339.fullmatch(value) or _DATE.fullmatch(value)):
            raise ValueError("must be an RFC 3339 date-time with an offset or a date yyyy-mm-dd")
        return value

    @model_validator(mode="after")
    def _instance(self) -> EventRemoval:
        if (self.scope == "all") != (self.original_start is None):
            raise ValueError("original_start goes with scope this or following, and only with them")
        return self

    def occurrence(self) -> Occurrence | None:
        if self.original_start is None or self.scope == "all":
            return None
        moment = self.original_start
        when = EventTimeIn(date=moment) if _DATE.fullmatch(moment) else EventTimeIn(date_time=moment)
        return Occurrence(original_start=when, scope=self.scope)
