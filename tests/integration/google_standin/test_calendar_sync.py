"""events.list as a sync client meets it: pages, sync tokens and their expiry, tombstones, time windows
and filters."""

from __future__ import annotations

from typing import Any

import pytest

from local_stack.google_standin.calendar_store import CalendarSettings
from local_stack.google_standin.standin import GoogleStandIn, StandInSettings
from tests.integration.google_standin.calendar_helpers import all_day, reason, refused, timed
from tests.integration.helpers import ALICE

TOKEN_LIFETIME = 3600.0


@pytest.fixture
def standin_settings() -> StandInSettings:
    return StandInSettings(calendar=CalendarSettings(sync_token_lifetime_seconds=TOKEN_LIFETIME))


def hour_on(day: int, hour: int = 10, **fields: Any) -> dict[str, Any]:
    return timed(f"2026-11-{day:02d}T{hour:02d}:00:00Z", f"2026-11-{day:02d}T{hour + 1:02d}:00:00Z", **fields)


def seed(standin: GoogleStandIn, count: int) -> list[str]:
    calendar = standin.calendars(ALICE).primary
    return [
        calendar.insert(hour_on(1 + index % 28, summary=f"event {index}"))["id"] for index in range(count)
    ]


def full_sync(service: Any, **params: Any) -> tuple[list[dict[str, Any]], str, list[dict[str, Any]]]:
    """Every page: (items, the sync token, the pages themselves)."""
    pages = []
    request = service.events().list(calendarId="primary", **params)
    while request is not None:
        pages.append(request.execute())
        request = service.events().list_next(request, pages[-1])
    return [item for page in pages for item in page["items"]], pages[-1]["nextSyncToken"], pages


def test_a_full_list_pages_every_event_once_and_the_sync_token_comes_on_the_last_page_only(
    standin: GoogleStandIn, calendar_service: Any
) -> None:
    ids = seed(standin, 7)
    items, token, pages = full_sync(calendar_service, maxResults=3)
    assert [item["id"] for item in items] == ids
    assert [len(page["items"]) for page in pages] == [3, 3, 1]
    assert ["nextPageToken" in page for page in pages] == [True, True, False]
    assert ["nextSyncToken" in page for page in pages] == [False, False, True]
    first = pages[0]
    assert (first["kind"], first["summary"], first["timeZone"], first["accessRole"]) == (
        "calendar#events",
        ALICE,
        "UTC",
        "owner",
    )
    assert token


def test_max_results_defaults_to_250_and_never_exceeds_2500(
    standin: GoogleStandIn, calendar_service: Any
) -> None:
    seed(standin, 2501)
    assert len(calendar_service.events().list(calendarId="primary").execute()["items"]) == 250
    page = calendar_service.events().list(calendarId="primary", maxResults=5000).execute()
    assert (len(page["items"]), "nextPageToken" in page) == (2500, True)


def test_an_incremental_list_holds_changes_and_tombstones_and_a_fresh_token(
    standin: GoogleStandIn, calendar_service: Any
) -> None:
    kept, changed, deleted_id = seed(standin, 3)
    _, token, _ = full_sync(calendar_service)
    calendar = standin.calendars(ALICE).primary
    calendar.patch(changed, {"summary": "changed elsewhere"})
    calendar.delete(deleted_id)
    added = calendar_service.events().insert(calendarId="primary", body=hour_on(9)).execute()
    items, next_token, _ = full_sync(calendar_service, syncToken=token)
    assert [item["id"] for item in items] == [changed, deleted_id, added["id"]]
    assert items[0]["summary"] == "changed elsewhere"
    tombstone = items[1]
    assert tombstone == {
        "kind": "calendar#event",
        "etag": tombstone["etag"],
        "id": deleted_id,
        "status": "cancelled",
        "updated": tombstone["updated"],
    }
    assert kept not in [item["id"] for item in items]
    assert next_token != token
    assert full_sync(calendar_service, syncToken=next_token)[0] == []


def test_changes_made_while_the_pages_are_read_come_again_with_the_next_token(
    standin: GoogleStandIn, calendar_service: Any
) -> None:
    ids = seed(standin, 4)
    first = calendar_service.events().list(calendarId="primary", maxResults=2).execute()
    standin.calendars(ALICE).primary.patch(ids[0], {"summary": "changed between pages"})
    rest = (
        calendar_service.events()
        .list(calendarId="primary", maxResults=2, pageToken=first["nextPageToken"])
        .execute()
    )
    while "nextPageToken" in rest:
        rest = (
            calendar_service.events()
            .list(calendarId="primary", maxResults=2, pageToken=rest["nextPageToken"])
            .execute()
        )
    changes, _, _ = full_sync(calendar_service, syncToken=rest["nextSyncToken"])
    assert ids[0] in [item["id"] for item in changes]


def test_a_sync_token_cannot_be_combined_with_filters(standin: GoogleStandIn, calendar_service: Any) -> None:
    _, token, _ = full_sync(calendar_service)
    for extra in (
        {"timeMin": "2026-11-01T00:00:00Z"},
        {"updatedMin": "2026-11-01T00:00:00Z"},
        {"iCalUID": "x"},
    ):
        error = refused(calendar_service.events().list(calendarId="primary", syncToken=token, **extra))
        assert (error.status_code, reason(error)) == (400, "badRequest")


def test_expired_sync_tokens_answer_410_full_sync_required(
    standin: GoogleStandIn, calendar_service: Any
) -> None:
    kept, deleted_id = seed(standin, 2)
    _, token, _ = full_sync(calendar_service)
    standin.calendars(ALICE).primary.delete(deleted_id)
    standin.calendars(ALICE).primary.expire_sync_tokens()
    error = refused(calendar_service.events().list(calendarId="primary", syncToken=token))
    assert (error.status_code, reason(error)) == (410, "fullSyncRequired")
    assert error.error_details[0]["message"] == "Sync token is no longer valid, a full sync is required."
    assert error.error_details[0]["location"] == "syncToken"
    items, fresh, _ = full_sync(calendar_service)
    assert [item["id"] for item in items] == [kept]  # a full list carries no tombstones
    assert full_sync(calendar_service, syncToken=fresh)[0] == []


def test_sync_tokens_expire_after_their_lifetime_on_the_standin_clock(
    standin: GoogleStandIn, calendar_service: Any
) -> None:
    _, token, _ = full_sync(calendar_service)
    standin.advance_clock(TOKEN_LIFETIME - 60)
    assert full_sync(calendar_service, syncToken=token)[0] == []
    standin.advance_clock(120)
    error = refused(calendar_service.events().list(calendarId="primary", syncToken=token))
    assert (error.status_code, reason(error)) == (410, "fullSyncRequired")


def test_an_unknown_sync_token_is_410_and_a_page_token_is_not_a_sync_token(
    standin: GoogleStandIn, calendar_service: Any
) -> None:
    seed(standin, 2)
    page = calendar_service.events().list(calendarId="primary", maxResults=1).execute()
    for token in ("not-a-token", page["nextPageToken"]):
        assert (
            refused(calendar_service.events().list(calendarId="primary", syncToken=token)).status_code == 410
        )


def test_show_deleted_lists_tombstones_in_a_full_list(standin: GoogleStandIn, calendar_service: Any) -> None:
    kept, deleted_id = seed(standin, 2)
    standin.calendars(ALICE).primary.delete(deleted_id)
    assert [item["id"] for item in full_sync(calendar_service)[0]] == [kept]
    shown = full_sync(calendar_service, showDeleted=True)[0]
    assert [(item["id"], item["status"]) for item in shown] == [
        (kept, "confirmed"),
        (deleted_id, "cancelled"),
    ]


def test_updated_min_lists_what_changed_since_with_deletions(
    standin: GoogleStandIn, calendar_service: Any
) -> None:
    old, deleted_id = seed(standin, 2)
    standin.advance_clock(60)
    standin.calendars(ALICE).primary.delete(deleted_id)
    updated = calendar_service.events().get(calendarId="primary", eventId=deleted_id).execute()["updated"]
    items = full_sync(calendar_service, updatedMin=updated)[0]
    assert [(item["id"], item["status"]) for item in items] == [(deleted_id, "cancelled")]
    assert old not in [item["id"] for item in items]
    standin.advance_clock(TOKEN_LIFETIME + 1)
    error = refused(calendar_service.events().list(calendarId="primary", updatedMin=updated))
    assert (error.status_code, reason(error)) == (410, "updatedMinTooLongAgo")


def test_time_min_bounds_the_end_and_time_max_the_start_both_exclusive(
    standin: GoogleStandIn, calendar_service: Any
) -> None:
    calendar = standin.calendars(ALICE).primary
    calendar.insert(timed("2026-11-02T08:00:00Z", "2026-11-02T10:00:00Z"))  # ends at timeMin
    inside = calendar.insert(timed("2026-11-02T09:00:00Z", "2026-11-02T10:30:00Z"))["id"]
    after = calendar.insert(timed("2026-11-02T12:00:00Z", "2026-11-02T13:00:00Z"))["id"]  # starts at timeMax
    holiday = calendar.insert(all_day("2026-11-02", "2026-11-03"))["id"]
    window = {"timeMin": "2026-11-02T10:00:00Z", "timeMax": "2026-11-02T12:00:00Z"}
    listed = [item["id"] for item in full_sync(calendar_service, **window)[0]]
    assert listed == [inside, holiday]  # not `before` (ends at timeMin), nor `after` (starts at timeMax)
    # The same window from 10:00Z, written with an offset, a second longer: `after` starts inside it.
    offset = {"timeMin": "2026-11-02T11:00:00+01:00", "timeMax": "2026-11-02T13:00:01+01:00"}
    assert [item["id"] for item in full_sync(calendar_service, **offset)[0]] == [inside, after, holiday]
    error = refused(calendar_service.events().list(calendarId="primary", timeMin="2026-11-02T10:00:00"))
    assert error.status_code == 400
    empty = refused(
        calendar_service.events().list(
            calendarId="primary", **{"timeMin": window["timeMax"], "timeMax": window["timeMin"]}
        )
    )
    assert (empty.status_code, reason(empty)) == (400, "timeRangeEmpty")


def test_all_day_events_fall_in_windows_by_the_calendars_time_zone(
    standin: GoogleStandIn, calendar_service: Any
) -> None:
    calendar = standin.calendars(ALICE).primary
    calendar.time_zone = "Asia/Tokyo"  # 2026-11-02 there is 2026-11-01T15:00Z to 2026-11-02T15:00Z
    holiday = calendar.insert(all_day("2026-11-02", "2026-11-03"))["id"]
    early = {"timeMin": "2026-11-01T14:00:00Z", "timeMax": "2026-11-01T15:30:00Z"}
    late = {"timeMin": "2026-11-02T15:00:00Z", "timeMax": "2026-11-02T16:00:00Z"}
    assert [item["id"] for item in full_sync(calendar_service, **early)[0]] == [holiday]
    assert full_sync(calendar_service, **late)[0] == []


def test_private_extended_property_constraints_must_all_match(
    standin: GoogleStandIn, calendar_service: Any
) -> None:
    calendar = standin.calendars(ALICE).primary
    both = calendar.insert(hour_on(2, extendedProperties={"private": {"crm": "acme", "kind": "meeting"}}))[
        "id"
    ]
    calendar.insert(hour_on(3, extendedProperties={"private": {"crm": "acme"}}))
    calendar.insert(hour_on(4, extendedProperties={"shared": {"crm": "acme", "kind": "meeting"}}))
    items = full_sync(calendar_service, privateExtendedProperty=["crm=acme", "kind=meeting"])[0]
    assert [item["id"] for item in items] == [both]


def test_ical_uid_and_order_by_updated(standin: GoogleStandIn, calendar_service: Any) -> None:
    calendar = standin.calendars(ALICE).primary
    first, second = (calendar.insert(hour_on(day))["id"] for day in (2, 3))
    calendar.patch(first, {"summary": "touched"})
    assert [item["id"] for item in full_sync(calendar_service, orderBy="updated")[0]] == [second, first]
    assert [item["id"] for item in full_sync(calendar_service, iCalUID=f"{second}@google.com")[0]] == [second]
    error = refused(calendar_service.events().list(calendarId="primary", orderBy="startTime"))
    assert error.status_code == 400  # startTime needs singleEvents
