"""Calendar push channels: events.watch, the webhook POSTs a loopback receiver gets, expiry, and
channels.stop."""

from __future__ import annotations

import email.utils
from collections.abc import Iterator
from typing import Any

import pytest

from local_stack.google_standin.calendar_store import CalendarSettings
from local_stack.google_standin.standin import GoogleStandIn, StandInSettings
from tests.integration.google_standin.admin_client import admin
from tests.integration.google_standin.calendar_helpers import WebhookReceiver, reason, refused, timed
from tests.integration.helpers import ALICE, BOB

MEETING = timed("2026-11-02T10:00:00Z", "2026-11-02T11:00:00Z", summary="Kick-off")
DAY = 24 * 3600


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    running = WebhookReceiver()
    yield running
    running.close()


def watch(service: Any, address: str, channel_id: str = "channel-1", **body: Any) -> dict[str, Any]:
    request = service.events().watch(
        calendarId="primary", body={"id": channel_id, "type": "web_hook", "address": address, **body}
    )
    return dict(request.execute())


def delivered(standin: GoogleStandIn, receiver: WebhookReceiver) -> list[tuple[str, str, str]]:
    """(channel id, resource state, message number) of every POST the receiver got."""
    assert standin.calendar_push.drain()
    return [
        (headers["X-Goog-Channel-Id"], headers["X-Goog-Resource-State"], headers["X-Goog-Message-Number"])
        for headers in receiver.headers()
    ]


def test_watch_answers_a_channel_then_sync_then_exists_with_googles_headers(
    standin: GoogleStandIn, calendar_service: Any, receiver: WebhookReceiver
) -> None:
    channel = watch(calendar_service, receiver.url, token="tenant=acme")
    now_ms = standin.clock.now() * 1000
    assert (channel["kind"], channel["id"], channel["token"]) == ("api#channel", "channel-1", "tenant=acme")
    assert channel["resourceUri"] == f"{standin.base_url}/calendar/v3/calendars/{ALICE}/events?alt=json"
    assert isinstance(channel["expiration"], str)
    assert abs(int(channel["expiration"]) - (now_ms + 7 * DAY * 1000)) < 5000  # the default ttl: 7 days
    calendar_service.events().insert(calendarId="primary", body=MEETING).execute()
    standin.calendars(ALICE).primary.insert(MEETING)  # another client's change notifies too
    assert delivered(standin, receiver) == [
        ("channel-1", "sync", "1"),
        ("channel-1", "exists", "2"),
        ("channel-1", "exists", "3"),
    ]
    headers, body = receiver.received[1]
    assert body == b""
    assert headers["X-Goog-Channel-Token"] == "tenant=acme"
    assert headers["X-Goog-Resource-Id"] == channel["resourceId"]
    assert headers["X-Goog-Resource-Uri"] == channel["resourceUri"]
    expiration = email.utils.parsedate_to_datetime(headers["X-Goog-Channel-Expiration"])
    assert headers["X-Goog-Channel-Expiration"].endswith(" GMT")
    assert int(expiration.timestamp()) == int(channel["expiration"]) // 1000
    assert [
        (d.channel_id, d.state, d.message_number, d.status) for d in standin.calendar_push.deliveries
    ] == [
        ("channel-1", "sync", 1, 200),
        ("channel-1", "exists", 2, 200),
        ("channel-1", "exists", 3, 200),
    ]


def test_a_channel_without_a_token_sends_no_token_header(
    standin: GoogleStandIn, calendar_service: Any, receiver: WebhookReceiver
) -> None:
    channel = watch(calendar_service, receiver.url)
    assert "token" not in channel
    delivered(standin, receiver)
    assert "X-Goog-Channel-Token" not in receiver.received[0][0]


def test_every_channel_on_the_calendar_is_notified_and_others_are_not(
    standin: GoogleStandIn, calendar_service_for: Any, receiver: WebhookReceiver
) -> None:
    alice, bob = calendar_service_for(ALICE), calendar_service_for(BOB)
    first, second = watch(alice, receiver.url, "alice-1"), watch(alice, receiver.url, "alice-2")
    watch(bob, receiver.url, "bob-1")
    assert first["resourceId"] == second["resourceId"]
    delivered(standin, receiver)
    receiver.received.clear()
    status, _ = admin(standin, "POST", f"/standin/accounts/{ALICE}/calendars/{ALICE}/events", MEETING)
    assert status == 201
    assert sorted(delivered(standin, receiver)) == [("alice-1", "exists", "2"), ("alice-2", "exists", "2")]


def test_an_expired_channel_sends_nothing_more(
    standin: GoogleStandIn, calendar_service: Any, receiver: WebhookReceiver
) -> None:
    watch(calendar_service, receiver.url, params={"ttl": "3600"})
    standin.calendars(ALICE).primary.insert(MEETING)
    standin.advance_clock(3601)
    standin.calendars(ALICE).primary.insert(MEETING)
    assert delivered(standin, receiver) == [("channel-1", "sync", "1"), ("channel-1", "exists", "2")]
    watch(calendar_service, receiver.url)  # an expired channel's id can be used again


def test_the_ttl_is_capped_at_the_maximum(
    standin: GoogleStandIn, calendar_service: Any, receiver: WebhookReceiver
) -> None:
    channel = watch(calendar_service, receiver.url, params={"ttl": str(365 * DAY)})
    ttl_ms = int(channel["expiration"]) - standin.clock.now() * 1000
    assert abs(ttl_ms - standin.settings.calendar.max_channel_ttl_seconds * 1000) < 5000


def test_a_stopped_channel_sends_nothing_more_and_stop_needs_the_right_resource_id(
    standin: GoogleStandIn, calendar_service: Any, calendar_service_for: Any, receiver: WebhookReceiver
) -> None:
    channel = watch(calendar_service, receiver.url)
    channels = calendar_service.channels()
    for wrong in (
        {"id": "channel-1", "resourceId": "not-it"},
        {"id": "other", "resourceId": channel["resourceId"]},
    ):
        error = refused(channels.stop(body=wrong))
        assert (error.status_code, reason(error)) == (404, "notFound")
    stranger = (
        calendar_service_for(BOB)
        .channels()
        .stop(body={"id": "channel-1", "resourceId": channel["resourceId"]})
    )
    assert refused(stranger).status_code == 404
    assert channels.stop(body={"id": "channel-1", "resourceId": channel["resourceId"]}).execute() == ""
    standin.calendars(ALICE).primary.insert(MEETING)
    assert delivered(standin, receiver) == [("channel-1", "sync", "1")]
    assert [(c.id, c.stopped, c.calendar_id, c.account) for c in standin.calendar_push.channels] == [
        ("channel-1", True, ALICE, ALICE)
    ]
    assert (
        refused(channels.stop(body={"id": "channel-1", "resourceId": channel["resourceId"]})).status_code
        == 404
    )


def test_watch_refuses_a_live_duplicate_id_a_plain_http_address_and_a_missing_id(
    calendar_service: Any, receiver: WebhookReceiver
) -> None:
    watch(calendar_service, receiver.url)
    duplicate = refused(
        calendar_service.events().watch(
            calendarId="primary", body={"id": "channel-1", "type": "web_hook", "address": receiver.url}
        )
    )
    assert (duplicate.status_code, reason(duplicate)) == (400, "channelIdNotUnique")
    plain = refused(
        calendar_service.events().watch(
            calendarId="primary",
            body={"id": "channel-2", "type": "web_hook", "address": "http://example.com/hook"},
        )
    )
    assert (plain.status_code, reason(plain)) == (400, "push.webhookUrlNotHttps")
    nameless = refused(
        calendar_service.events().watch(
            calendarId="primary", body={"type": "web_hook", "address": receiver.url}
        )
    )
    assert nameless.status_code == 400
    long_id = refused(
        calendar_service.events().watch(
            calendarId="primary", body={"id": "c" * 65, "type": "web_hook", "address": receiver.url}
        )
    )
    assert long_id.status_code == 400


def test_a_failing_receiver_is_recorded_and_not_retried(
    standin: GoogleStandIn, calendar_service: Any, receiver: WebhookReceiver
) -> None:
    receiver.status = 500
    watch(calendar_service, receiver.url)
    assert standin.calendar_push.drain()
    assert [(d.state, d.status) for d in standin.calendar_push.deliveries] == [("sync", 500)]
    assert len(receiver.received) == 1


class TestThrottled:
    @pytest.fixture
    def standin_settings(self) -> StandInSettings:
        return StandInSettings(calendar=CalendarSettings(min_interval_seconds=5.0))

    def test_min_interval_drops_exists_messages_that_come_too_soon(
        self, standin: GoogleStandIn, calendar_service: Any, receiver: WebhookReceiver
    ) -> None:
        watch(calendar_service, receiver.url)
        calendar = standin.calendars(ALICE).primary
        calendar.insert(MEETING)  # within 5 s of the sync message: dropped
        standin.advance_clock(5)
        calendar.insert(MEETING)
        calendar.insert(MEETING)  # dropped
        assert delivered(standin, receiver) == [("channel-1", "sync", "1"), ("channel-1", "exists", "2")]
        assert standin.calendar_push.dropped == 2
