"""The admin HTTP API's Calendar levers, over plain HTTP, as another process uses them."""

from __future__ import annotations

from typing import Any

import pytest
from googleapiclient.errors import HttpError

from local_stack.google_standin.standin import GoogleStandIn
from tests.integration.google_standin.admin_client import admin
from tests.integration.google_standin.calendar_helpers import WebhookReceiver, timed
from tests.integration.helpers import ALICE

MEETING = timed("2026-11-02T10:00:00Z", "2026-11-02T11:00:00Z", summary="Kick-off")


def test_calendars_and_events_over_http(standin: GoogleStandIn, calendar_service: Any) -> None:
    status, entry = admin(
        standin,
        "POST",
        f"/standin/accounts/{ALICE}/calendars",
        {"summary": "Team", "timeZone": "Europe/Paris"},
    )
    assert status == 201
    assert (entry["summary"], entry["timeZone"], entry["accessRole"]) == ("Team", "Europe/Paris", "owner")
    events = f"/standin/accounts/{ALICE}/calendars/{entry['id']}/events"
    status, event = admin(standin, "POST", events, {**MEETING, "id": "admin0001"})
    assert (status, event["id"], event["organizer"]["displayName"]) == (201, "admin0001", "Team")
    status, patched = admin(standin, "PATCH", f"{events}/admin0001", {"summary": "Renamed"})
    assert (status, patched["summary"]) == (200, "Renamed")
    assert (
        calendar_service.events().get(calendarId=entry["id"], eventId="admin0001").execute()["summary"]
        == "Renamed"
    )
    assert admin(standin, "DELETE", f"{events}/admin0001") == (200, {})
    status, listed = admin(standin, "GET", events)
    assert (status, [(item["id"], item["status"]) for item in listed["items"]]) == (
        200,
        [("admin0001", "cancelled")],
    )
    assert admin(standin, "GET", f"/standin/accounts/{ALICE}/calendars/primary/events") == (
        200,
        {"items": []},
    )
    assert (
        standin.calls.calls(prefix="calendar.events.insert") == []
    )  # the admin API is not Google's: not logged


def test_expire_sync_tokens_over_http(standin: GoogleStandIn, calendar_service: Any) -> None:
    token = calendar_service.events().list(calendarId="primary").execute()["nextSyncToken"]
    assert admin(standin, "POST", f"/standin/accounts/{ALICE}/calendars/{ALICE}/expire-sync-tokens") == (
        200,
        {},
    )
    with pytest.raises(HttpError) as refused:
        calendar_service.events().list(calendarId="primary", syncToken=token).execute()
    assert refused.value.status_code == 410


def test_channels_and_deliveries_over_http(standin: GoogleStandIn, calendar_service: Any) -> None:
    receiver = WebhookReceiver()
    try:
        body = {"id": "admin-channel", "type": "web_hook", "address": receiver.url, "token": "t"}
        channel = calendar_service.events().watch(calendarId="primary", body=body).execute()
        assert standin.calendar_push.drain()
    finally:
        receiver.close()
    status, channels = admin(standin, "GET", "/standin/calendar/channels")
    assert status == 200
    assert channels["channels"] == [
        {
            "id": "admin-channel",
            "resource_id": channel["resourceId"],
            "calendar_id": ALICE,
            "account": ALICE,
            "address": receiver.url,
            "token": "t",
            "expiration_ms": int(channel["expiration"]),
            "stopped": False,
        }
    ]
    status, deliveries = admin(standin, "GET", "/standin/calendar/deliveries")
    assert (status, deliveries["deliveries"]) == (
        200,
        [{"channel_id": "admin-channel", "state": "sync", "message_number": 1, "status": 200, "error": None}],
    )


def test_bad_calendar_admin_requests_are_400_or_404(standin: GoogleStandIn) -> None:
    assert (
        admin(
            standin,
            "POST",
            f"/standin/accounts/{ALICE}/calendars",
            {"summary": "X", "timeZone": "Nowhere/Land"},
        )[0]
        == 400
    )
    assert (
        admin(standin, "POST", "/standin/accounts/nobody@example.com/calendars", {"summary": "X"})[0] == 404
    )
    assert (
        admin(standin, "GET", f"/standin/accounts/{ALICE}/calendars/nope@group.calendar.google.com/events")[0]
        == 404
    )
    status, error = admin(
        standin, "POST", f"/standin/accounts/{ALICE}/calendars/primary/events", {"summary": "no times"}
    )
    assert (status, error["error"]["errors"][0]["reason"]) == (400, "required")
    assert admin(standin, "PUT", "/standin/limits", {"calendar_user_requests_per_minute": 10})[0] == 200
    assert standin.limits.calendar_user_requests_per_minute == 10
