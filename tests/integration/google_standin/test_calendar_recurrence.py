"""Recurring events: expansion in the series' zone across DST, instance ids, exceptions (moved and
cancelled instances), events.instances, "this and following", and what lists and sync tokens show."""

from __future__ import annotations

from typing import Any

import pytest

from local_stack.google_standin.standin import GoogleStandIn
from tests.integration.google_standin.calendar_helpers import all_day, reason, refused, timed

BERLIN = "Europe/Berlin"  # summer time from 2026-03-29: 10:00 is 09:00Z before and 08:00Z after
SERIES = "series0001"
WEEKLY = {
    "id": SERIES,
    "summary": "Weekly sync",
    **timed("2026-03-17T10:00:00", "2026-03-17T11:00:00", zone=BERLIN),
    "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=4"],
}
INSTANCE_IDS = [
    f"{SERIES}_20260317T090000Z",
    f"{SERIES}_20260324T090000Z",
    f"{SERIES}_20260331T080000Z",
    f"{SERIES}_20260407T080000Z",
]


@pytest.fixture
def series(calendar_service: Any) -> dict[str, Any]:
    return dict(calendar_service.events().insert(calendarId="primary", body=WEEKLY).execute())


def listed(service: Any, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    request = service.events().list(calendarId="primary", **params)
    while request is not None:
        page = request.execute()
        items += page["items"]
        request = service.events().list_next(request, page)
    return items


def sync_token(service: Any) -> str:
    request = service.events().list(calendarId="primary")
    while True:
        page = request.execute()
        if "nextSyncToken" in page:
            return str(page["nextSyncToken"])
        request = service.events().list_next(request, page)


def test_a_weekly_series_expands_in_its_zone_across_the_dst_change(
    series: dict[str, Any], calendar_service: Any
) -> None:
    instances = listed(calendar_service, singleEvents=True)
    assert [item["id"] for item in instances] == INSTANCE_IDS
    assert [item["start"]["dateTime"] for item in instances] == [
        "2026-03-17T10:00:00+01:00",
        "2026-03-24T10:00:00+01:00",
        "2026-03-31T10:00:00+02:00",
        "2026-04-07T10:00:00+02:00",
    ]
    assert [item["end"]["dateTime"][11:] for item in instances] == ["11:00:00+01:00"] * 2 + [
        "11:00:00+02:00"
    ] * 2
    third = instances[2]
    assert third["recurringEventId"] == SERIES
    assert third["originalStartTime"] == {"dateTime": "2026-03-31T10:00:00+02:00", "timeZone": BERLIN}
    assert third["iCalUID"] == series["iCalUID"]
    assert "recurrence" not in third
    assert [item["id"] for item in listed(calendar_service)] == [SERIES]  # without singleEvents: the master


def test_an_instance_can_be_read_by_its_id(series: dict[str, Any], calendar_service: Any) -> None:
    instance = calendar_service.events().get(calendarId="primary", eventId=INSTANCE_IDS[1]).execute()
    assert instance["start"] == {"dateTime": "2026-03-24T10:00:00+01:00", "timeZone": BERLIN}
    error = refused(calendar_service.events().get(calendarId="primary", eventId=f"{SERIES}_20260318T090000Z"))
    assert error.status_code == 404  # the rule makes no instance on a Wednesday


def test_a_moved_and_a_cancelled_instance_show_in_lists_and_in_the_incremental_list(
    series: dict[str, Any], calendar_service: Any
) -> None:
    token = sync_token(calendar_service)
    events = calendar_service.events()
    moved = events.patch(
        calendarId="primary",
        eventId=INSTANCE_IDS[1],
        body={"summary": "Moved", **timed("2026-03-25T15:00:00", "2026-03-25T16:00:00", zone=BERLIN)},
    ).execute()
    assert (moved["id"], moved["recurringEventId"]) == (INSTANCE_IDS[1], SERIES)
    assert moved["originalStartTime"] == {"dateTime": "2026-03-24T10:00:00+01:00", "timeZone": BERLIN}
    events.delete(calendarId="primary", eventId=INSTANCE_IDS[2]).execute()

    singles = listed(calendar_service, singleEvents=True, orderBy="startTime")
    assert [(item["id"], item.get("summary")) for item in singles] == [
        (INSTANCE_IDS[0], "Weekly sync"),
        (INSTANCE_IDS[1], "Moved"),
        (INSTANCE_IDS[3], "Weekly sync"),
    ]
    with_deleted = listed(calendar_service, singleEvents=True, showDeleted=True)
    assert (INSTANCE_IDS[2], "cancelled") in [(item["id"], item["status"]) for item in with_deleted]

    # Without singleEvents: the master, the exception, and (discovery: even without showDeleted) the
    # cancelled instance of the live series.
    assert [(item["id"], item["status"]) for item in listed(calendar_service)] == [
        (SERIES, "confirmed"),
        (INSTANCE_IDS[1], "confirmed"),
        (INSTANCE_IDS[2], "cancelled"),
    ]

    changes = listed(calendar_service, syncToken=token)
    assert [item["id"] for item in changes] == [INSTANCE_IDS[1], INSTANCE_IDS[2]]
    cancelled = changes[1]
    assert cancelled == {
        "kind": "calendar#event",
        "etag": cancelled["etag"],
        "id": INSTANCE_IDS[2],
        "status": "cancelled",
        "recurringEventId": SERIES,
        "originalStartTime": {"dateTime": "2026-03-31T10:00:00+02:00", "timeZone": BERLIN},
        "updated": cancelled["updated"],
    }


def test_instances_lists_the_series_with_its_exceptions_in_place(
    series: dict[str, Any], calendar_service: Any
) -> None:
    events = calendar_service.events()
    events.patch(calendarId="primary", eventId=INSTANCE_IDS[0], body={"summary": "First"}).execute()
    events.delete(calendarId="primary", eventId=INSTANCE_IDS[3]).execute()
    every = events.instances(calendarId="primary", eventId=SERIES).execute()
    assert [(item["id"], item.get("summary")) for item in every["items"]] == [
        (INSTANCE_IDS[0], "First"),
        (INSTANCE_IDS[1], "Weekly sync"),
        (INSTANCE_IDS[2], "Weekly sync"),
    ]
    # events.instances reads timeMin as inclusive (its discovery text): the instance ending at 10:00Z is in.
    window = events.instances(
        calendarId="primary",
        eventId=SERIES,
        timeMin="2026-03-24T10:00:00Z",
        timeMax="2026-04-07T08:00:00Z",
        showDeleted=True,
    ).execute()
    assert [(item["id"], item["status"]) for item in window["items"]] == [
        (INSTANCE_IDS[1], "confirmed"),
        (INSTANCE_IDS[2], "confirmed"),
    ]
    late = events.instances(calendarId="primary", eventId=SERIES, timeMin="2026-04-01T00:00:00Z").execute()
    assert late["items"] == []  # the last instance is cancelled, and showDeleted is off
    one = events.instances(
        calendarId="primary", eventId=SERIES, originalStart="2026-04-07T10:00:00+02:00", showDeleted=True
    ).execute()
    assert [(item["id"], item["status"]) for item in one["items"]] == [(INSTANCE_IDS[3], "cancelled")]
    paged = events.instances(calendarId="primary", eventId=SERIES, maxResults=2).execute()
    assert len(paged["items"]) == 2
    rest = events.instances(
        calendarId="primary", eventId=SERIES, maxResults=2, pageToken=paged["nextPageToken"]
    ).execute()
    assert [item["id"] for item in rest["items"]] == [INSTANCE_IDS[2]]


def test_this_and_following_ends_the_rule_and_cancels_the_later_exceptions(
    series: dict[str, Any], calendar_service: Any
) -> None:
    events = calendar_service.events()
    events.patch(calendarId="primary", eventId=INSTANCE_IDS[0], body={"summary": "Early change"}).execute()
    events.patch(calendarId="primary", eventId=INSTANCE_IDS[3], body={"summary": "Late change"}).execute()
    token = sync_token(calendar_service)
    # How Google clients change "this and following" from the third instance: end the old rule
    # before it, and start a new series there.
    ended = events.patch(
        calendarId="primary",
        eventId=SERIES,
        body={"recurrence": ["RRULE:FREQ=WEEKLY;UNTIL=20260331T075959Z"]},
    ).execute()
    assert ended["sequence"] == series["sequence"] + 1
    assert ended["etag"] != series["etag"]
    events.insert(
        calendarId="primary",
        body={
            "id": "series0002",
            "summary": "Weekly sync, later",
            **timed("2026-03-31T11:00:00", "2026-03-31T12:00:00", zone=BERLIN),
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=2"],
        },
    ).execute()

    changes = listed(calendar_service, syncToken=token)
    assert [(item["id"], item["status"]) for item in changes] == [
        (SERIES, "confirmed"),
        (INSTANCE_IDS[3], "cancelled"),
        ("series0002", "confirmed"),
    ]
    singles = listed(calendar_service, singleEvents=True, orderBy="startTime")
    assert [(item["id"], item["summary"]) for item in singles] == [
        (INSTANCE_IDS[0], "Early change"),
        (INSTANCE_IDS[1], "Weekly sync"),
        ("series0002_20260331T090000Z", "Weekly sync, later"),
        ("series0002_20260407T090000Z", "Weekly sync, later"),
    ]


def test_deleting_the_master_cancels_the_series_and_its_exceptions(
    series: dict[str, Any], calendar_service: Any
) -> None:
    events = calendar_service.events()
    events.patch(calendarId="primary", eventId=INSTANCE_IDS[1], body={"summary": "Changed"}).execute()
    token = sync_token(calendar_service)
    events.delete(calendarId="primary", eventId=SERIES).execute()
    changes = listed(calendar_service, syncToken=token)
    assert [(item["id"], item["status"]) for item in changes] == [
        (SERIES, "cancelled"),
        (INSTANCE_IDS[1], "cancelled"),
    ]
    assert listed(calendar_service) == []
    assert listed(calendar_service, singleEvents=True) == []
    gone = refused(events.patch(calendarId="primary", eventId=INSTANCE_IDS[0], body={"summary": "x"}))
    assert (gone.status_code, reason(gone)) == (410, "deleted")


def test_a_master_is_listed_when_any_instance_overlaps_the_window(
    series: dict[str, Any], calendar_service: Any
) -> None:
    assert [item["id"] for item in listed(calendar_service, timeMin="2026-04-07T08:30:00Z")] == [SERIES]
    assert listed(calendar_service, timeMin="2026-04-07T09:00:00Z") == []  # the last instance ends then
    assert listed(calendar_service, timeMax="2026-03-17T09:00:00Z") == []  # the first starts then


def test_an_all_day_series_has_date_ids_and_exdates_are_left_out(
    standin: GoogleStandIn, calendar_service: Any
) -> None:
    body = {
        "id": "birthdate1",
        **all_day("2026-12-30", "2026-12-31"),
        "recurrence": ["RRULE:FREQ=DAILY;UNTIL=20270102", "EXDATE;VALUE=DATE:20261231"],
    }
    calendar_service.events().insert(calendarId="primary", body=body).execute()
    instances = listed(calendar_service, singleEvents=True)
    assert [(item["id"], item["start"]) for item in instances] == [
        ("birthdate1_20261230", {"date": "2026-12-30"}),
        ("birthdate1_20270101", {"date": "2027-01-01"}),
        ("birthdate1_20270102", {"date": "2027-01-02"}),
    ]
    assert instances[1]["originalStartTime"] == {"date": "2027-01-01"}
    assert instances[1]["end"] == {"date": "2027-01-02"}


def test_exdate_with_a_tzid_removes_that_instance(calendar_service: Any) -> None:
    body = {**WEEKLY, "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=4", f"EXDATE;TZID={BERLIN}:20260331T100000"]}
    calendar_service.events().insert(calendarId="primary", body=body).execute()
    assert [item["id"] for item in listed(calendar_service, singleEvents=True)] == [
        INSTANCE_IDS[0],
        INSTANCE_IDS[1],
        INSTANCE_IDS[3],
    ]
