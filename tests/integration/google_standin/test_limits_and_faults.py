"""Quotas, concurrency, fault scripts, batch and the call log, as google-api-python-client meets them."""

from __future__ import annotations

import threading
import time
from typing import Any

import httplib2
import pytest
from googleapiclient.errors import HttpError

from local_stack.google_standin.faults import FaultAction, FaultRule
from local_stack.google_standin.limits import PriceList
from local_stack.google_standin.mime_factory import MessageFactory
from local_stack.google_standin.standin import GoogleStandIn
from tests.integration.helpers import ALICE, BOB, seed_messages


def reason(error: HttpError) -> str:
    return str(error.error_details[0]["reason"]) if error.error_details else ""


def test_each_call_is_logged_with_the_units_of_the_new_price_list(
    standin: GoogleStandIn, gmail: Any, factory: MessageFactory
) -> None:
    ids = seed_messages(standin, factory, 3)
    standin.calls.clear()
    gmail.users().messages().list(userId="me").execute()
    for message_id in ids:
        gmail.users().messages().get(userId="me", id=message_id).execute()
    gets = standin.calls.calls(method_id="gmail.users.messages.get")
    assert [(call.account, call.units, call.status) for call in gets] == [(ALICE, 20, 200)] * 3
    assert standin.calls.units(account=ALICE) == 3 * 20 + 5


def test_the_legacy_price_list_charges_five_units_per_get(
    standin: GoogleStandIn, gmail: Any, factory: MessageFactory
) -> None:
    standin.limits.price_list = PriceList.LEGACY
    (message_id,) = seed_messages(standin, factory, 1)
    gmail.users().messages().get(userId="me", id=message_id).execute()
    assert standin.calls.calls(method_id="gmail.users.messages.get")[-1].units == 5


def test_the_per_user_quota_answers_403_user_rate_limit_until_the_window_rolls(
    standin: GoogleStandIn, gmail: Any, factory: MessageFactory
) -> None:
    (message_id,) = seed_messages(standin, factory, 1)
    standin.limits.user_units_per_minute = 100  # five gets of 20 units
    for _ in range(5):
        gmail.users().messages().get(userId="me", id=message_id).execute()
    with pytest.raises(HttpError) as refused:
        gmail.users().messages().get(userId="me", id=message_id).execute()
    assert refused.value.status_code == 403
    assert reason(refused.value) == "userRateLimitExceeded"
    assert int(refused.value.resp["retry-after"]) > 0
    assert standin.calls.calls(method_id="gmail.users.messages.get")[-1].units == 0  # refused: not charged
    standin.advance_clock(61)
    gmail.users().messages().get(userId="me", id=message_id).execute()


def test_the_project_quota_is_shared_by_all_users(
    standin: GoogleStandIn, gmail_for: Any, factory: MessageFactory
) -> None:
    (alice_message,) = seed_messages(standin, factory, 1, ALICE)
    (bob_message,) = seed_messages(standin, factory, 1, BOB)
    standin.limits.project_units_per_minute = 40
    gmail_for(ALICE).users().messages().get(userId="me", id=alice_message).execute()
    gmail_for(BOB).users().messages().get(userId="me", id=bob_message).execute()
    with pytest.raises(HttpError) as refused:
        gmail_for(BOB).users().messages().get(userId="me", id=bob_message).execute()
    assert (refused.value.status_code, reason(refused.value)) == (403, "rateLimitExceeded")


def test_requests_beyond_the_concurrency_cap_get_429(
    standin: GoogleStandIn, gmail_for: Any, factory: MessageFactory
) -> None:
    (message_id,) = seed_messages(standin, factory, 1)
    standin.limits.user_concurrency = 1
    standin.faults.add(FaultRule("gmail.users.messages.get", FaultAction.DELAY, delay_seconds=0.5, times=1))
    clients = [gmail_for() for _ in range(2)]  # httplib2 is not thread-safe: one client per thread
    outcomes: list[int] = []

    def fetch(client: Any) -> None:
        try:
            client.users().messages().get(userId="me", id=message_id).execute()
            outcomes.append(200)
        except HttpError as error:
            outcomes.append(error.status_code)

    first = threading.Thread(target=fetch, args=(clients[0],))
    first.start()
    while not standin.server.concurrency.peak.get(ALICE):
        time.sleep(0.005)  # wait until the slow call holds the only slot
    fetch(clients[1])
    first.join()
    assert sorted(outcomes) == [200, 429]


def test_a_scripted_503_then_success(standin: GoogleStandIn, gmail: Any) -> None:
    standin.faults.add(FaultRule("gmail.users.getProfile", status=503, times=2))
    for _ in range(2):
        with pytest.raises(HttpError) as refused:
            gmail.users().getProfile(userId="me").execute()
        assert (refused.value.status_code, reason(refused.value)) == (503, "backendError")
    assert gmail.users().getProfile(userId="me").execute()["emailAddress"] == ALICE


def test_one_dropped_connection_is_retried_by_the_transport_and_two_fail_the_call(
    standin: GoogleStandIn, gmail: Any
) -> None:
    # httplib2 re-sends once after a connection closed without an answer, whatever httplib2.RETRIES says.
    standin.faults.add(FaultRule("gmail.users.getProfile", FaultAction.DROP, times=1))
    assert gmail.users().getProfile(userId="me").execute()["emailAddress"] == ALICE
    standin.faults.add(FaultRule("gmail.users.getProfile", FaultAction.DROP, times=2))
    with pytest.raises((ConnectionError, httplib2.HttpLib2Error, OSError)):
        gmail.users().getProfile(userId="me").execute()
    statuses = [call.status for call in standin.calls.calls(method_id="gmail.users.getProfile")]
    assert statuses == [0, 200, 0, 0]


def test_a_truncated_body_fails_the_call(standin: GoogleStandIn, gmail: Any) -> None:
    standin.faults.add(FaultRule("gmail.users.labels.list", FaultAction.TRUNCATE, times=1))
    with pytest.raises(Exception) as failed:  # noqa: PT011 - httplib2 raises several kinds for a cut body
        gmail.users().labels().list(userId="me").execute()
    assert not isinstance(failed.value, HttpError) or failed.value.status_code != 200


def test_an_expired_access_token_gets_401_and_the_client_refreshes_once(
    standin: GoogleStandIn, gmail: Any
) -> None:
    standin.oauth.expire_access_tokens(ALICE)
    standin.calls.clear()
    assert gmail.users().getProfile(userId="me").execute()["emailAddress"] == ALICE
    sequence = [(call.method_id, call.status) for call in standin.calls.calls()]
    assert sequence == [
        ("gmail.users.getProfile", 401),
        ("oauth.token", 200),
        ("gmail.users.getProfile", 200),
    ]


def test_a_batch_answers_each_part_on_its_own_and_one_part_can_get_429(
    standin: GoogleStandIn, gmail: Any, factory: MessageFactory
) -> None:
    ids = seed_messages(standin, factory, 5)
    standin.calls.clear()
    standin.faults.add(
        FaultRule("gmail.users.messages.get", reason="resourceExhausted", status=429, after=2, times=1)
    )
    answers: dict[str, Any] = {}

    def collect(request_id: str, response: Any, exception: HttpError | None) -> None:
        answers[request_id] = exception.status_code if exception else response["id"]

    batch = gmail.new_batch_http_request(callback=collect)
    for message_id in ids:
        batch.add(
            gmail.users().messages().get(userId="me", id=message_id, format="minimal"), request_id=message_id
        )
    batch.execute()
    assert [answers[message_id] for message_id in ids] == [ids[0], ids[1], 429, ids[3], ids[4]]
    parts = standin.calls.calls(method_id="gmail.users.messages.get")
    assert [(call.in_batch, call.status) for call in parts] == [(True, 200)] * 2 + [(True, 429)] + [
        (True, 200)
    ] * 2
    assert sum(call.units for call in parts) == 4 * 20


def test_a_batch_of_more_than_100_parts_is_refused(standin: GoogleStandIn, gmail: Any) -> None:
    batch = gmail.new_batch_http_request()
    for index in range(101):
        batch.add(gmail.users().labels().list(userId="me"), request_id=str(index))
    with pytest.raises(HttpError) as refused:
        batch.execute()
    assert refused.value.status_code == 400
