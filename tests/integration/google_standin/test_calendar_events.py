"""Calendar v3 event writes as google-api-python-client meets them: ids, validation, etags, patch and
update semantics, deletion, and what the call log records about whom Google would email."""

from __future__ import annotations

import re
from typing import Any

import pytest

from local_stack.google_standin.standin import GoogleStandIn
from tests.integration.google_standin.calendar_helpers import all_day, reason, refused, timed
from tests.integration.helpers import ALICE, BOB

MEETING = timed("2026-11-02T10:00:00Z", "2026-11-02T11:00:00Z", summary="Kick-off")


def insert(service: Any, body: dict[str, Any], **params: Any) -> dict[str, Any]:
    return dict(service.events().insert(calendarId="primary", body=body, **params).execute())


def with_if_match(request: Any, etag: str) -> Any:
    request.headers["If-Match"] = etag
    return request


def test_an_insert_answers_with_googles_fields(standin: GoogleStandIn, calendar_service: Any) -> None:
    event = insert(calendar_service, {**MEETING, "id": "kickoff2026", "location": "Room 1"})
    assert event["kind"] == "calendar#event"
    assert (event["id"], event["status"], event["iCalUID"]) == (
        "kickoff2026",
        "confirmed",
        "kickoff2026@google.com",
    )
    assert re.fullmatch(r'"\d+"', event["etag"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["updated"])
    assert event["created"] == event["updated"]
    assert event["creator"] == event["organizer"] == {"email": ALICE, "self": True}
    assert event["start"] == {"dateTime": "2026-11-02T10:00:00Z"}
    assert (event["sequence"], event["reminders"], event["eventType"]) == (0, {"useDefault": True}, "default")
    assert event["htmlLink"].startswith("https://www.google.com/calendar/event?eid=")
    assert calendar_service.events().get(calendarId=ALICE, eventId="kickoff2026").execute() == event
    assert standin.calendars(ALICE).primary.get("kickoff2026") == event


def test_an_insert_without_an_id_gets_a_base32hex_one(calendar_service: Any) -> None:
    event = insert(calendar_service, MEETING)
    assert re.fullmatch(r"[a-v0-9]{5,1024}", event["id"])
    assert event["iCalUID"] == f"{event['id']}@google.com"


def test_a_repeated_insert_of_a_client_id_is_409_even_after_the_delete(calendar_service: Any) -> None:
    insert(calendar_service, {**MEETING, "id": "0123456789abcdef"})
    duplicate = refused(
        calendar_service.events().insert(calendarId="primary", body={**MEETING, "id": "0123456789abcdef"})
    )
    assert (duplicate.status_code, reason(duplicate)) == (409, "duplicate")
    assert "The requested identifier already exists." in str(duplicate)
    calendar_service.events().delete(calendarId="primary", eventId="0123456789abcdef").execute()
    again = refused(
        calendar_service.events().insert(calendarId="primary", body={**MEETING, "id": "0123456789abcdef"})
    )
    assert again.status_code == 409


@pytest.mark.parametrize("event_id", ["abcd", "ABCDEF123", "0f9e-4c2b-9a11", "wxyz12345", "a" * 1025])
def test_an_id_outside_base32hex_or_5_to_1024_characters_is_400(calendar_service: Any, event_id: str) -> None:
    error = refused(calendar_service.events().insert(calendarId="primary", body={**MEETING, "id": event_id}))
    assert (error.status_code, reason(error)) == (400, "invalid")
    assert "Invalid resource id value." in str(error)


@pytest.mark.parametrize(
    ("body", "wanted_reason", "message"),
    [
        ({"start": MEETING["start"]}, "required", "Missing end time."),
        (
            timed("2026-11-02T11:00:00Z", "2026-11-02T10:00:00Z"),
            "timeRangeEmpty",
            "The specified time range is empty.",
        ),
        (
            timed("2026-11-02T10:00:00", "2026-11-02T11:00:00"),
            "invalid",
            "Missing time zone definition for start time.",
        ),
        (
            {"start": {"date": "2026-11-02"}, "end": MEETING["end"]},
            "badRequest",
            "both be date or both be dateTime",
        ),
        (
            {**MEETING, "recurrence": ["RRULE:FREQ=WEEKLY"]},
            "invalid",
            "Missing time zone definition for start time.",
        ),
        (
            {
                **timed("2026-11-02T10:00:00", "2026-11-02T11:00:00", zone="UTC"),
                "recurrence": ["RRULE:FREQ=SOMETIMES"],
            },
            "invalid",
            "Invalid recurrence rule",
        ),
        (
            {
                **timed("2026-11-02T10:00:00", "2026-11-02T11:00:00", zone="UTC"),
                "recurrence": ["DTSTART:20261102T100000Z", "RRULE:FREQ=DAILY"],
            },
            "invalid",
            "DTSTART is not allowed",
        ),
        (
            timed("2026-11-02T10:00:00", "2026-11-02T11:00:00", zone="Mars/Olympus"),
            "invalid",
            "Invalid time zone",
        ),
    ],
)
def test_writes_are_checked_as_google_checks_them(
    calendar_service: Any, body: dict[str, Any], wanted_reason: str, message: str
) -> None:
    error = refused(calendar_service.events().insert(calendarId="primary", body=body))
    assert (error.status_code, reason(error)) == (400, wanted_reason)
    assert message in str(error)


def test_an_all_day_event_keeps_its_dates_with_an_exclusive_end(calendar_service: Any) -> None:
    event = insert(calendar_service, all_day("2026-12-24", "2026-12-26", summary="Holidays"))
    assert (event["start"], event["end"]) == ({"date": "2026-12-24"}, {"date": "2026-12-26"})


def test_a_stale_if_match_is_412_for_patch_update_and_delete(calendar_service: Any) -> None:
    first = insert(calendar_service, {**MEETING, "id": "etagged01"})
    changed = (
        calendar_service.events()
        .patch(calendarId="primary", eventId="etagged01", body={"summary": "New"})
        .execute()
    )
    assert changed["etag"] != first["etag"]
    events = calendar_service.events()
    for request in (
        events.patch(calendarId="primary", eventId="etagged01", body={"summary": "Mine"}),
        events.update(calendarId="primary", eventId="etagged01", body=MEETING),
        events.delete(calendarId="primary", eventId="etagged01"),
    ):
        error = refused(with_if_match(request, first["etag"]))
        assert (error.status_code, reason(error)) == (412, "conditionNotMet")
    current = with_if_match(
        events.patch(calendarId="primary", eventId="etagged01", body={"summary": "Mine"}), changed["etag"]
    )
    assert current.execute()["summary"] == "Mine"


def test_a_get_with_the_current_etag_in_if_none_match_is_304(calendar_service: Any) -> None:
    event = insert(calendar_service, MEETING)
    request = calendar_service.events().get(calendarId="primary", eventId=event["id"])
    request.headers["If-None-Match"] = event["etag"]
    assert refused(request).status_code == 304


def test_patch_merges_extended_properties_key_by_key_and_null_deletes_one(calendar_service: Any) -> None:
    event = insert(
        calendar_service,
        {
            **MEETING,
            "extendedProperties": {"private": {"crmId": "42", "owner": "x"}, "shared": {"topic": "sales"}},
        },
    )
    patched = (
        calendar_service.events()
        .patch(
            calendarId="primary",
            eventId=event["id"],
            body={"summary": "Renamed", "extendedProperties": {"private": {"owner": None, "stage": "won"}}},
        )
        .execute()
    )
    assert patched["summary"] == "Renamed"
    assert patched["extendedProperties"] == {
        "private": {"crmId": "42", "stage": "won"},
        "shared": {"topic": "sales"},
    }
    assert patched["start"] == event["start"]


def test_update_replaces_the_whole_event_so_omitted_attendees_are_removed(calendar_service: Any) -> None:
    event = insert(
        calendar_service, {**MEETING, "attendees": [{"email": "carol@example.org"}], "location": "Room 1"}
    )
    assert event["attendees"] == [{"email": "carol@example.org", "responseStatus": "needsAction"}]
    updated = (
        calendar_service.events().update(calendarId="primary", eventId=event["id"], body=MEETING).execute()
    )
    assert "attendees" not in updated
    assert "location" not in updated


def test_the_organizers_own_attendee_entry_is_marked(calendar_service: Any) -> None:
    event = insert(
        calendar_service, {**MEETING, "attendees": [{"email": ALICE}, {"email": BOB, "optional": True}]}
    )
    assert event["attendees"] == [
        {"email": ALICE, "responseStatus": "needsAction", "organizer": True, "self": True},
        {"email": BOB, "optional": True, "responseStatus": "needsAction"},
    ]


def test_the_sequence_rises_when_the_time_changes_but_not_for_a_new_title(calendar_service: Any) -> None:
    event = insert(calendar_service, MEETING)
    events = calendar_service.events()
    retitled = events.patch(calendarId="primary", eventId=event["id"], body={"summary": "Other"}).execute()
    moved = events.patch(
        calendarId="primary", eventId=event["id"], body=timed("2026-11-03T10:00:00Z", "2026-11-03T11:00:00Z")
    ).execute()
    assert (retitled["sequence"], moved["sequence"]) == (0, 1)
    assert len({event["etag"], retitled["etag"], moved["etag"]}) == 3


def test_a_deleted_event_stays_as_cancelled_and_a_second_delete_is_410(calendar_service: Any) -> None:
    event = insert(calendar_service, MEETING)
    assert calendar_service.events().delete(calendarId="primary", eventId=event["id"]).execute() == ""
    cancelled = calendar_service.events().get(calendarId="primary", eventId=event["id"]).execute()
    assert (cancelled["id"], cancelled["status"]) == (event["id"], "cancelled")
    again = refused(calendar_service.events().delete(calendarId="primary", eventId=event["id"]))
    assert (again.status_code, reason(again)) == (410, "deleted")
    assert "Resource has been deleted" in str(again)


def test_unknown_events_and_calendars_are_404(standin: GoogleStandIn, calendar_service: Any) -> None:
    assert (
        refused(calendar_service.events().get(calendarId="primary", eventId="nosuchevent")).status_code == 404
    )
    for calendar_id in ("nobody@example.com", BOB, "abc@group.calendar.google.com"):
        error = refused(calendar_service.events().list(calendarId=calendar_id))
        assert (error.status_code, reason(error)) == (404, "notFound")
    secondary = standin.calendars(ALICE).add_calendar("Team", time_zone="Europe/Berlin")
    assert secondary.id.endswith("@group.calendar.google.com")
    listed = calendar_service.events().list(calendarId=secondary.id).execute()
    assert (listed["summary"], listed["timeZone"], listed["items"]) == ("Team", "Europe/Berlin", [])


def test_calendar_list_names_the_primary_and_the_secondary_calendars(
    standin: GoogleStandIn, calendar_service: Any
) -> None:
    standin.calendars(ALICE).primary.time_zone = "America/New_York"
    secondary = standin.calendars(ALICE).add_calendar("Team")
    first = calendar_service.calendarList().list(maxResults=1).execute()
    second = calendar_service.calendarList().list(maxResults=1, pageToken=first["nextPageToken"]).execute()
    assert first["items"] == [
        {
            "kind": "calendar#calendarListEntry",
            "etag": first["items"][0]["etag"],
            "id": ALICE,
            "summary": ALICE,
            "timeZone": "America/New_York",
            "accessRole": "owner",
            "defaultReminders": [],
            "selected": True,
            "primary": True,
        }
    ]
    assert [(item["id"], item.get("primary")) for item in second["items"]] == [(secondary.id, None)]
    assert "nextPageToken" not in second


def test_writes_log_the_event_its_attendees_and_whom_google_would_email(
    standin: GoogleStandIn, calendar_service: Any
) -> None:
    guests = [{"email": "carol@example.org"}, {"email": BOB}, {"email": ALICE}]
    event = insert(calendar_service, {**MEETING, "id": "guests0001", "attendees": guests}, sendUpdates="all")
    events = calendar_service.events()
    events.patch(
        calendarId="primary", eventId=event["id"], body={"summary": "x"}, sendUpdates="externalOnly"
    ).execute()
    events.patch(calendarId="primary", eventId=event["id"], body={"summary": "y"}).execute()
    details = [call.details for call in standin.calls.calls(prefix="calendar.events.")]
    assert details == [
        {
            "calendarId": ALICE,
            "eventId": "guests0001",
            "sendUpdates": "all",
            "attendees": ["carol@example.org", BOB, ALICE],
            "notified": ["carol@example.org", BOB],
        },
        {
            "calendarId": ALICE,
            "eventId": "guests0001",
            "sendUpdates": "externalOnly",
            "attendees": ["carol@example.org", BOB, ALICE],
            "notified": ["carol@example.org"],  # Bob is a Google Calendar user (an account of the stand-in)
        },
        {
            "calendarId": ALICE,
            "eventId": "guests0001",
            "sendUpdates": None,  # absent: Google's default sends nothing
            "attendees": ["carol@example.org", BOB, ALICE],
            "notified": [],
        },
    ]
    assert standin.calls.calls(prefix="calendar.events.")[0].to_json()["details"]["notified"] == [
        "carol@example.org",
        BOB,
    ]


def test_guests_an_update_removes_are_notified_under_all_and_not_under_none(
    standin: GoogleStandIn, calendar_service: Any
) -> None:
    guests = [{"email": "carol@example.org"}, {"email": "dan@example.org"}]
    event = insert(calendar_service, {**MEETING, "attendees": guests})
    events = calendar_service.events()
    kept = {**MEETING, "attendees": [{"email": "dan@example.org"}]}
    events.update(calendarId="primary", eventId=event["id"], body=kept, sendUpdates="none").execute()
    events.update(calendarId="primary", eventId=event["id"], body=MEETING, sendUpdates="all").execute()
    quiet, loud = (call.details for call in standin.calls.calls(method_id="calendar.events.update"))
    removed_quietly = {"sendUpdates": "none", "attendees": ["dan@example.org"], "notified": []}
    removed_loudly = {"sendUpdates": "all", "attendees": [], "notified": ["dan@example.org"]}
    assert quiet == {"calendarId": ALICE, "eventId": event["id"], **removed_quietly}
    assert loud == {"calendarId": ALICE, "eventId": event["id"], **removed_loudly}


def test_a_deletion_notifies_every_guest_but_the_organizer_under_all(
    standin: GoogleStandIn, calendar_service: Any
) -> None:
    event = insert(
        calendar_service, {**MEETING, "attendees": [{"email": "eve@example.org"}, {"email": ALICE}]}
    )
    calendar_service.events().delete(calendarId="primary", eventId=event["id"], sendUpdates="all").execute()
    assert standin.calls.calls(method_id="calendar.events.delete")[-1].details == {
        "calendarId": ALICE,
        "eventId": event["id"],
        "sendUpdates": "all",
        "attendees": ["eve@example.org", ALICE],
        "notified": ["eve@example.org"],
    }


def test_gmail_calls_carry_no_details_and_the_python_api_is_not_logged(
    standin: GoogleStandIn, gmail: Any, calendar_service: Any
) -> None:
    gmail.users().getProfile(userId="me").execute()
    standin.calendars(ALICE).primary.insert(MEETING)
    assert [(call.method_id, call.details) for call in standin.calls.calls(prefix="gmail.")] == [
        ("gmail.users.getProfile", None)
    ]
    assert standin.calls.calls(prefix="calendar.") == []
