"""What Google does around a Calendar call: scopes, batch, Calendar's own request budgets, faults, and
the call log's count of requests."""

from __future__ import annotations

from typing import Any

from local_stack.google_standin.faults import FaultRule
from local_stack.google_standin.mime_factory import MessageFactory
from local_stack.google_standin.standin import GoogleStandIn
from tests.integration.google_standin.calendar_helpers import (
    CALENDAR_EVENTS,
    CALENDAR_LIST_READ,
    WebhookReceiver,
    reason,
    refused,
    timed,
)
from tests.integration.helpers import ALICE, BOB, seed_messages

MEETING = timed("2026-11-02T10:00:00Z", "2026-11-02T11:00:00Z", summary="Kick-off")


def batch_of_gets(service: Any, event_id: str, count: int) -> list[Any]:
    """``count`` events.get in one batch request: what each part answered (a dict, or an HttpError)."""
    answers: list[Any] = []
    batch = service.new_batch_http_request(
        callback=lambda _id, response, exception: answers.append(exception or response)
    )
    for index in range(count):
        batch.add(service.events().get(calendarId="primary", eventId=event_id), request_id=str(index))
    batch.execute()
    return answers


def test_the_events_scope_lists_inserts_and_watches_but_does_not_list_calendars(
    calendar_service_for: Any,
) -> None:
    service = calendar_service_for(scopes=[CALENDAR_EVENTS])
    service.events().insert(calendarId="primary", body=MEETING).execute()
    assert len(service.events().list(calendarId="primary").execute()["items"]) == 1
    receiver = WebhookReceiver()
    try:
        body = {"id": "scoped", "type": "web_hook", "address": receiver.url}
        assert service.events().watch(calendarId="primary", body=body).execute()["id"] == "scoped"
    finally:
        receiver.close()
    error = refused(service.calendarList().list())
    assert (error.status_code, reason(error)) == (403, "insufficientPermissions")
    lister = calendar_service_for(scopes=[CALENDAR_LIST_READ])
    assert [item["id"] for item in lister.calendarList().list().execute()["items"]] == [ALICE]
    assert refused(lister.events().list(calendarId="primary")).status_code == 403


def test_a_batch_serves_and_logs_each_part_on_its_own(standin: GoogleStandIn, calendar_service: Any) -> None:
    event = calendar_service.events().insert(calendarId="primary", body=MEETING).execute()
    standin.calls.clear()
    standin.faults.add(FaultRule("calendar.events.get", status=503, after=1, times=1))
    answers = batch_of_gets(calendar_service, event["id"], 3)
    assert [answer["id"] if isinstance(answer, dict) else answer.status_code for answer in answers] == [
        event["id"],
        503,
        event["id"],
    ]
    parts = standin.calls.calls(method_id="calendar.events.get")
    assert [(call.in_batch, call.status, call.units) for call in parts] == [
        (True, 200, 1),
        (True, 503, 0),  # a scripted fault answers before the quota counts the request
        (True, 200, 1),
    ]


def test_the_601st_calendar_request_in_a_minute_is_refused_per_user_until_the_window_rolls(
    standin: GoogleStandIn, calendar_service: Any, calendar_service_for: Any
) -> None:
    event = calendar_service.events().insert(calendarId="primary", body=MEETING).execute()
    for _ in range(5):
        answers = batch_of_gets(calendar_service, event["id"], 100)
        assert all(isinstance(answer, dict) for answer in answers)
    assert all(isinstance(answer, dict) for answer in batch_of_gets(calendar_service, event["id"], 99))  # 600
    error = refused(calendar_service.events().get(calendarId="primary", eventId=event["id"]))
    assert (error.status_code, reason(error)) == (403, "userRateLimitExceeded")
    assert error.error_details[0]["domain"] == "usageLimits"
    assert int(error.resp["retry-after"]) > 0
    assert standin.calls.calls(method_id="calendar.events.get")[-1].units == 0  # refused: not counted
    assert (
        calendar_service_for(BOB).events().list(calendarId="primary").execute()["items"] == []
    )  # Bob's own budget
    standin.advance_clock(61)
    calendar_service.events().get(calendarId="primary", eventId=event["id"]).execute()


def test_a_gmail_heavy_minute_leaves_calendars_budget_whole(
    standin: GoogleStandIn, gmail: Any, calendar_service: Any, factory: MessageFactory
) -> None:
    (message_id,) = seed_messages(standin, factory, 1)
    standin.limits.user_units_per_minute = 40  # two messages.get
    standin.limits.calendar_user_requests_per_minute = 3
    for _ in range(2):
        gmail.users().messages().get(userId="me", id=message_id).execute()
    assert refused(gmail.users().messages().get(userId="me", id=message_id)).status_code == 403
    for _ in range(3):
        calendar_service.events().list(calendarId="primary").execute()
    error = refused(calendar_service.events().list(calendarId="primary"))
    assert (error.status_code, reason(error)) == (403, "userRateLimitExceeded")
    assert standin.calls.units(account=ALICE) == 2 * 20 + 3  # Gmail's units; one per Calendar request


def test_the_project_budget_is_shared_by_all_users(standin: GoogleStandIn, calendar_service_for: Any) -> None:
    standin.limits.calendar_project_requests_per_minute = 2
    calendar_service_for(ALICE).events().list(calendarId="primary").execute()
    calendar_service_for(BOB).events().list(calendarId="primary").execute()
    error = refused(calendar_service_for(BOB).events().list(calendarId="primary"))
    assert (error.status_code, reason(error)) == (403, "rateLimitExceeded")


def test_faults_target_calendar_method_ids(standin: GoogleStandIn, calendar_service: Any) -> None:
    standin.faults.add(FaultRule("calendar.events.list", status=500, times=1))
    standin.faults.add(FaultRule("calendar.events.*", reason="rateLimitExceeded", status=403, times=1))
    assert refused(calendar_service.events().list(calendarId="primary")).status_code == 500
    error = refused(calendar_service.events().insert(calendarId="primary", body=MEETING))
    assert (error.status_code, reason(error)) == (403, "rateLimitExceeded")
    assert calendar_service.events().list(calendarId="primary").execute()["items"] == []
    assert [call.status for call in standin.calls.calls(prefix="calendar.")] == [500, 403, 200]
