"""Calendar time arithmetic: instants of timed and all-day events, series spans, expansion across a
change to summer time, exceptions' ids, and "this and following" rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shared.calendar.events import (
    SERIES_OPEN_END,
    EventTime,
    instance_id,
    occurrences,
    rule_until,
    ruleset,
    series_span,
    stored_fields,
)
from shared.calendar.requests import EventChange, EventRemoval, NewEvent

BERLIN = "Europe/Berlin"


def test_a_timed_start_is_its_offsets_instant_and_an_all_day_one_is_midnight_in_the_calendars_zone() -> None:
    timed = EventTime(date_time="2026-03-28T10:00:00+01:00", time_zone=BERLIN)
    assert timed.instant(None) == datetime(2026, 3, 28, 9, 0, tzinfo=UTC)
    day = EventTime(date="2026-03-28")
    assert day.instant(BERLIN) == datetime(2026, 3, 27, 23, 0, tzinfo=UTC)
    assert day.instant(None) == datetime(2026, 3, 28, tzinfo=UTC)


def test_a_weekly_series_keeps_its_wall_clock_across_summer_time() -> None:
    start = EventTime(date_time="2026-03-20T10:00:00+01:00", time_zone=BERLIN)
    rules = ruleset(["RRULE:FREQ=WEEKLY;COUNT=3"], start, BERLIN)
    assert rules is not None
    found = occurrences(
        rules,
        start,
        timedelta(hours=1),
        after=datetime(2026, 3, 1, tzinfo=UTC),
        before=datetime(2026, 5, 1, tzinfo=UTC),
        calendar_zone=BERLIN,
    )
    assert [moment.hour for moment in found] == [10, 10, 10]
    # 09:00 UTC before the change on 29 March, 08:00 UTC after it.
    assert [moment.astimezone(UTC).hour for moment in found] == [9, 9, 8]


def test_expansion_returns_only_instances_overlapping_the_range() -> None:
    start = EventTime(date_time="2026-01-05T10:00:00Z", time_zone="UTC")
    rules = ruleset(["RRULE:FREQ=DAILY"], start, "UTC")
    assert rules is not None
    found = occurrences(
        rules,
        start,
        timedelta(hours=2),
        after=datetime(2026, 1, 10, 11, tzinfo=UTC),  # inside the 10th's instance
        before=datetime(2026, 1, 12, 10, tzinfo=UTC),  # exactly the 12th's start: excluded
        calendar_zone="UTC",
    )
    assert [moment.day for moment in found] == [10, 11]


def test_exdate_with_a_zone_removes_that_instance() -> None:
    start = EventTime(date_time="2026-10-19T10:00:00+02:00", time_zone=BERLIN)
    rules = ruleset(["RRULE:FREQ=WEEKLY;COUNT=3", "EXDATE;TZID=Europe/Berlin:20261026T100000"], start, BERLIN)
    assert rules is not None
    assert [moment.day for moment in rules] == [19, 2]


def test_a_date_only_until_on_a_timed_series_and_a_utc_until_on_an_all_day_series_parse() -> None:
    timed = EventTime(date_time="2026-06-01T09:00:00+02:00", time_zone=BERLIN)
    rules = ruleset(["RRULE:FREQ=DAILY;UNTIL=20260603"], timed, BERLIN)
    assert rules is not None
    assert len(list(rules)) == 3
    day = EventTime(date="2026-06-01")
    rules = ruleset(["RRULE:FREQ=DAILY;UNTIL=20260603T000000Z"], day, "UTC")
    assert rules is not None
    assert len(list(rules)) == 3


@pytest.mark.parametrize("line", ["DTSTART:20260101T000000Z", "RRULE:FREQ=SOMETIMES", "hello"])
def test_rules_that_do_not_parse_are_refused(line: str) -> None:
    assert ruleset([line], EventTime(date_time="2026-01-01T00:00:00Z", time_zone="UTC"), "UTC") is None


def test_series_spans_are_bounded_by_until_or_count_and_open_otherwise() -> None:
    start = EventTime(date_time="2026-01-05T10:00:00Z", time_zone="UTC")
    first, last = series_span(["RRULE:FREQ=WEEKLY;COUNT=4"], start, timedelta(hours=1), "UTC")
    assert (first, last) == (datetime(2026, 1, 5, 10, tzinfo=UTC), datetime(2026, 1, 26, 11, tzinfo=UTC))
    assert series_span(["RRULE:FREQ=WEEKLY"], start, timedelta(hours=1), "UTC")[1] == SERIES_OPEN_END


def test_instance_ids_follow_googles_form() -> None:
    timed = EventTime(date_time="2026-03-30T10:00:00+02:00", time_zone=BERLIN)
    assert instance_id("abc123", timed, BERLIN) == "abc123_20260330T080000Z"
    assert instance_id("abc123", EventTime(date="2026-03-30"), BERLIN) == "abc123_20260330"


def test_this_and_following_ends_each_rule_a_second_before_the_instance() -> None:
    cut = EventTime(date_time="2026-02-02T10:00:00Z", time_zone="UTC")
    assert rule_until(["RRULE:FREQ=WEEKLY;COUNT=10", "EXDATE:20260112T100000Z"], cut, "UTC") == [
        "RRULE:FREQ=WEEKLY;UNTIL=20260202T095959Z",
        "EXDATE:20260112T100000Z",
    ]
    assert rule_until(["RRULE:FREQ=DAILY"], EventTime(date="2026-02-02"), "UTC") == [
        "RRULE:FREQ=DAILY;UNTIL=20260201"
    ]


def test_a_cancelled_instance_stores_what_it_has() -> None:
    fields = stored_fields(
        {
            "id": "series_20260202T100000Z",
            "status": "cancelled",
            "recurringEventId": "series",
            "originalStartTime": {"dateTime": "2026-02-02T10:00:00Z"},
        },
        connection_id="user-1",
        calendar_id="primary",
        calendar_zone="UTC",
    )
    assert (fields["kind"], fields["status"], fields["range_kind"]) == ("exception", "cancelled", "short")
    assert fields["original_start_at"] == datetime(2026, 2, 2, 10, tzinfo=UTC)


# --- what the CRM may send ----------------------------------------------------------------------------


def _errors(error: ValidationError) -> list[tuple[str, ...]]:
    return [tuple(str(part) for part in item["loc"]) for item in error.errors()]


def test_a_new_event_needs_start_and_end_of_one_kind_and_in_order() -> None:
    with pytest.raises(ValidationError):
        NewEvent.model_validate({"summary": "x"})
    with pytest.raises(ValidationError):
        NewEvent.model_validate(
            {"start": {"date": "2026-01-02"}, "end": {"date_time": "2026-01-03T00:00:00Z"}}
        )
    with pytest.raises(ValidationError):
        NewEvent.model_validate({"start": {"date": "2026-01-02"}, "end": {"date": "2026-01-02"}})
    NewEvent.model_validate({"start": {"date": "2026-01-02"}, "end": {"date": "2026-01-03"}})


@pytest.mark.parametrize(
    ("start", "field"),
    [
        ({"date_time": "2026-01-02T10:00:00"}, "date_time"),  # no offset
        ({"date": "2026-02-30"}, "date"),
        ({"date_time": "2026-01-02T10:00:00Z", "time_zone": "Mars/Olympus"}, "time_zone"),
    ],
)
def test_times_are_checked_field_by_field(start: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        NewEvent.model_validate({"start": start, "end": {"date_time": "2026-01-03T00:00:00Z"}})
    assert ("start", field) in _errors(raised.value)


def test_a_recurring_event_needs_a_zone_and_readable_rules() -> None:
    times = {"start": {"date_time": "2026-01-02T10:00:00Z"}, "end": {"date_time": "2026-01-02T11:00:00Z"}}
    with pytest.raises(ValidationError, match="time_zone"):
        NewEvent.model_validate({**times, "recurrence": ["RRULE:FREQ=WEEKLY"]})
    zoned = {"start": {**times["start"], "time_zone": "UTC"}, "end": times["end"]}
    with pytest.raises(ValidationError, match="recurrence"):
        NewEvent.model_validate({**zoned, "recurrence": ["RRULE:FREQ=NEVER"]})
    event = NewEvent.model_validate({**zoned, "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=3"]})
    assert event.google_body()["end"]["timeZone"] == "UTC"


def test_attendees_are_addresses_named_once() -> None:
    times = {"start": {"date": "2026-01-02"}, "end": {"date": "2026-01-03"}}
    with pytest.raises(ValidationError):
        NewEvent.model_validate({**times, "attendees": [{"email": "not-an-address"}]})
    with pytest.raises(ValidationError):
        NewEvent.model_validate({**times, "attendees": [{"email": "a@b.co"}, {"email": "A@b.co"}]})


def test_a_change_names_something_and_an_instance_change_sets_no_rules() -> None:
    with pytest.raises(ValidationError):
        EventChange.model_validate({"notify_guests": True})
    with pytest.raises(ValidationError):
        EventChange.model_validate(
            {
                "recurrence": ["RRULE:FREQ=DAILY"],
                "occurrence": {"original_start": {"date": "2026-01-02"}},
            }
        )
    change = EventChange.model_validate({"summary": "Renamed"})
    assert change.fields().google_body() == {"summary": "Renamed"}


def test_a_delete_of_instances_names_the_original_start() -> None:
    with pytest.raises(ValidationError):
        EventRemoval.model_validate({"scope": "this"})
    with pytest.raises(ValidationError):
        EventRemoval.model_validate({"original_start": "2026-01-02"})
    removal = EventRemoval.model_validate({"scope": "following", "original_start": "2026-01-02T10:00:00Z"})
    occurrence = removal.occurrence()
    assert occurrence is not None
    assert occurrence.scope == "following"
