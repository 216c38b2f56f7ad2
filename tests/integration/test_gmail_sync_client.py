"""GmailClient against the real Google stand-in: paging, batches, quota pacing, retries, dead grants.

Nothing here sleeps: the client's clock is the stand-in's, and its sleep moves the stand-in's clock on.
"""

from __future__ import annotations

import base64
import random
from typing import Any

import pytest

from local_stack.google_standin.faults import FaultAction, FaultRule
from local_stack.google_standin.limits import WINDOW_SECONDS
from local_stack.google_standin.mime_factory import MessageFactory
from local_stack.google_standin.standin import GoogleStandIn
from shared.errors import NeedsReconnect, NeedsResync, Permanent
from shared.google_apis.gmail import GmailClient
from shared.google_apis.rate_limit import QuotaSettings, TokenBucket
from tests.integration.helpers import ALICE, GMAIL_READ, seed_messages

SCOPES = ["openid", "email", GMAIL_READ]
GET = "gmail.users.messages.get"


class StandInTime:
    """The stand-in's clock as the client's clock; sleeping advances it instead of waiting."""

    def __init__(self, standin: GoogleStandIn) -> None:
        self._standin = standin
        self.slept: list[float] = []

    def now(self) -> float:
        return self._standin.clock.now()

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self._standin.advance_clock(seconds)


@pytest.fixture
def fake_time(standin: GoogleStandIn) -> StandInTime:
    return StandInTime(standin)


def make_client(
    standin: GoogleStandIn,
    fake_time: StandInTime,
    quota: QuotaSettings | None = None,
    **options: Any,
) -> GmailClient:
    quota = quota or QuotaSettings()
    return GmailClient(
        standin.credentials(ALICE, SCOPES),
        root_url=standin.api_root,
        quota=quota,
        bucket=quota.bucket(clock=fake_time.now, sleep=fake_time.sleep),
        sleep=fake_time.sleep,
        rng=random.Random(7),  # noqa: S311 - reproducible jitter
        **options,
    )


def statuses(standin: GoogleStandIn, method_id: str) -> list[int]:
    return [call.status for call in standin.calls.calls(method_id=method_id)]


# --- listing --------------------------------------------------------------------------------------


def test_list_pages_cover_every_id_once(
    standin: GoogleStandIn, fake_time: StandInTime, factory: MessageFactory
) -> None:
    ids = seed_messages(standin, factory, 7)
    client = make_client(standin, fake_time)
    listed: list[dict[str, Any]] = []
    token: str | None = None
    pages = 0
    while True:
        page, token = client.list_message_ids(query=None, page_token=token, max_results=3)
        listed += page
        pages += 1
        if token is None:
            break
    assert pages == 3
    assert sorted(item["id"] for item in listed) == sorted(ids)
    assert all(item["threadId"] for item in listed)
    assert client.units_spent == 3 * 5 == standin.calls.units(account=ALICE)


def test_history_pages_list_what_arrived_after_the_cursor(
    standin: GoogleStandIn, fake_time: StandInTime, factory: MessageFactory
) -> None:
    client = make_client(standin, fake_time)
    cursor = str(client.profile()["historyId"])
    arrived = seed_messages(standin, factory, 5)
    added: list[str] = []
    token: str | None = None
    while True:
        page = client.list_history(start_history_id=cursor, page_token=token, max_results=2)
        added += [
            item["message"]["id"] for record in page.get("history", []) for item in record["messagesAdded"]
        ]
        token = page.get("nextPageToken")
        if token is None:
            break
    assert added == arrived
    assert int(page["historyId"]) == standin.mailbox(ALICE).history_id
    assert len(standin.calls.calls(method_id="gmail.users.history.list")) == 3


def test_forgotten_history_raises_needs_resync_without_retrying(
    standin: GoogleStandIn, fake_time: StandInTime, factory: MessageFactory
) -> None:
    client = make_client(standin, fake_time)
    cursor = str(client.profile()["historyId"])
    seed_messages(standin, factory, 2)
    standin.mailbox(ALICE).forget_history()
    with pytest.raises(NeedsResync) as resync:
        client.list_history(start_history_id=cursor, page_token=None)
    assert resync.value.code == "history_expired"
    assert statuses(standin, "gmail.users.history.list") == [404]
    assert client.retries == 0


# --- batches --------------------------------------------------------------------------------------


def test_120_messages_come_in_three_batches(
    standin: GoogleStandIn, fake_time: StandInTime, factory: MessageFactory
) -> None:
    ids = seed_messages(standin, factory, 120)
    client = make_client(standin, fake_time)
    found, missing = client.get_messages(ids)
    assert set(found) == set(ids)
    assert missing == set()
    assert all(found[message_id]["payload"]["mimeType"] == "text/plain" for message_id in ids)
    gets = standin.calls.calls(method_id=GET)
    assert len(gets) == 120
    assert all(call.in_batch and call.status == 200 for call in gets)
    assert client.batches_sent == 3
    assert client.requests_sent == 120
    assert client.retries == 0
    assert client.units_spent == 120 * 20 == standin.calls.units(account=ALICE)


def test_parts_refused_with_429_go_again_alone_in_a_new_batch(
    standin: GoogleStandIn, fake_time: StandInTime, factory: MessageFactory
) -> None:
    ids = seed_messages(standin, factory, 120)
    client = make_client(standin, fake_time)
    standin.faults.add(FaultRule(GET, status=429, reason="resourceExhausted", after=5, times=3))
    found, missing = client.get_messages(ids)
    assert set(found) == set(ids)
    assert missing == set()
    gets = standin.calls.calls(method_id=GET)
    assert len(gets) == 123
    # The first batch (50 parts, three refused), then a batch of just those three, then the rest.
    assert [call.status for call in gets[:50]] == [200] * 5 + [429] * 3 + [200] * 42
    assert [call.status for call in gets[50:53]] == [200] * 3
    assert all(call.in_batch for call in gets)
    assert client.batches_sent == 4
    assert client.retries == 3
    assert client.units_spent == 120 * 20 == standin.calls.units(account=ALICE)


def test_a_message_deleted_after_listing_is_reported_missing(
    standin: GoogleStandIn, fake_time: StandInTime, factory: MessageFactory
) -> None:
    seed_messages(standin, factory, 6)
    client = make_client(standin, fake_time)
    page, _ = client.list_message_ids(query=None, page_token=None)
    ids = [item["id"] for item in page]
    standin.mailbox(ALICE).delete(ids[2])
    found, missing = client.get_messages(ids, format="metadata")
    assert missing == {ids[2]}
    assert set(found) == set(ids) - {ids[2]}
    assert statuses(standin, GET).count(404) == 1
    assert client.retries == 0


def test_a_user_rate_limit_refusal_of_a_part_waits_for_retry_after(
    standin: GoogleStandIn, fake_time: StandInTime, factory: MessageFactory
) -> None:
    ids = seed_messages(standin, factory, 3)
    client = make_client(standin, fake_time, QuotaSettings(backoff_initial_seconds=0.01))
    standin.faults.add(FaultRule(GET, status=403, reason="userRateLimitExceeded", after=1, times=1))
    found, _ = client.get_messages(ids)
    assert set(found) == set(ids)
    gets = standin.calls.calls(method_id=GET)
    assert [call.status for call in gets] == [200, 403, 200, 200]
    assert fake_time.slept == [1.0]  # the stand-in's Retry-After, not the 10 ms backoff
    assert gets[3].at - gets[1].at >= 1.0


def test_a_user_rate_limit_refusal_of_a_call_waits_for_retry_after(
    standin: GoogleStandIn, fake_time: StandInTime
) -> None:
    client = make_client(standin, fake_time, QuotaSettings(backoff_initial_seconds=0.01))
    standin.faults.add(FaultRule("gmail.users.getProfile", status=403, reason="userRateLimitExceeded"))
    assert client.profile()["emailAddress"] == ALICE
    assert statuses(standin, "gmail.users.getProfile") == [403, 200]
    assert fake_time.slept == [1.0]
    assert client.retries == 1


def test_a_part_refused_for_good_raises_permanent(
    standin: GoogleStandIn, fake_time: StandInTime, factory: MessageFactory
) -> None:
    ids = seed_messages(standin, factory, 3)
    client = make_client(standin, fake_time)
    standin.faults.add(FaultRule(GET, status=400, after=1, times=1))
    with pytest.raises(Permanent) as refused:
        client.get_messages(ids)
    assert refused.value.code == "gmail_400"
    assert statuses(standin, GET) == [200, 400, 200]
    assert client.retries == 0
    assert client.batches_sent == 1


# --- pacing under the quota -----------------------------------------------------------------------


def test_the_bucket_paces_a_fetch_under_a_small_quota_without_a_single_403(
    standin: GoogleStandIn, fake_time: StandInTime, factory: MessageFactory
) -> None:
    ids = seed_messages(standin, factory, 100)
    budget = 600
    standin.limits.user_units_per_minute = budget
    quota = QuotaSettings(user_units_per_minute=budget)
    client = make_client(standin, fake_time, quota)

    found, missing = client.get_messages(ids)

    assert set(found) == set(ids)
    assert missing == set()
    gets = standin.calls.calls(method_id=GET)
    assert [call.status for call in gets] == [200] * 100  # no 403: the bucket, not Google, held it back
    assert client.retries == 0
    assert client.batches_sent == 4  # 30 parts (600 units) a batch at most: one batch fits the window
    units = 100 * 20
    # Bounds on the wait: the refill rate after one budget's burst ((2000 - 600) / 10 = 140 s) cannot be
    # beaten, but nor can the stand-in's 60-s sliding window: it holds at most 600 units in any 60 s, so
    # 2,000 units need four windows and the last charge comes 3 x 60 s after the first (180 s). The
    # client reaches that, plus its 1-s margin per window.
    rate_bound = (units - budget) / (budget / 60)
    window_bound = ((units - 1) // budget) * WINDOW_SECONDS
    assert rate_bound == 140.0
    assert window_bound == 180.0
    waited = client.seconds_waited_for_quota
    assert window_bound - 2.0 <= waited <= window_bound + 3 * quota.window_margin_seconds + 0.5
    # Google's own view: no 60-s window ever held more than the budget.
    for first in gets:
        in_window = [call for call in gets if first.at <= call.at < first.at + WINDOW_SECONDS]
        assert sum(call.units for call in in_window) <= budget


def test_bucket_never_exceeds_its_window_and_runs_at_the_budget() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    quota = QuotaSettings()  # 6,000 units a minute, gets of 20 units, batches of 50 (1,000 units)
    bucket = quota.bucket(clock=lambda: now[0], sleep=sleep)
    grants: list[tuple[float, float]] = []
    for index in range(60):
        if index % 10 == 0:
            bucket.acquire(5)  # a list page every ten batches, as a first sync does
            grants.append((now[0], 5))
        parts, _ = bucket.acquire_parts(20, 50)
        grants.append((now[0], 20 * parts))
    window = WINDOW_SECONDS + quota.window_margin_seconds
    for at, _ in grants:  # less float rounding of the clock sums above
        assert sum(units for when, units in grants if at <= when < at + window - 1e-6) <= 6000
    total = sum(units for _, units in grants)
    # At the quota: Google's bound for these units is total / (6,000 / 60 s) (google-facts.md); the
    # client's window holds each grant 61 s, so it may take 61/60 of that, never more.
    quota_bound = total / (6000 / WINDOW_SECONDS)
    assert now[0] <= quota_bound * window / WINDOW_SECONDS


def test_bucket_penalty_holds_every_grant_back() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    bucket = TokenBucket(100, 10, clock=lambda: now[0], sleep=sleep)
    assert bucket.acquire(100) == 0.0
    bucket.penalize(30)
    assert bucket.acquire(10) == pytest.approx(30.0)  # nothing before the penalty ends
    assert bucket.acquire(90) == 0.0  # the bucket refilled meanwhile
    assert bucket.acquire(10) == pytest.approx(1.0)  # then the refill rate again


# --- passing faults -------------------------------------------------------------------------------


def test_a_503_on_list_is_retried(
    standin: GoogleStandIn, fake_time: StandInTime, factory: MessageFactory
) -> None:
    ids = seed_messages(standin, factory, 2)
    client = make_client(standin, fake_time)
    standin.faults.add(FaultRule("gmail.users.messages.list", status=503, times=1))
    page, _ = client.list_message_ids(query=None, page_token=None)
    assert sorted(item["id"] for item in page) == sorted(ids)
    assert statuses(standin, "gmail.users.messages.list") == [503, 200]
    assert client.retries == 1
    assert len(fake_time.slept) == 1


def test_dropped_connections_are_retried(standin: GoogleStandIn, fake_time: StandInTime) -> None:
    client = make_client(standin, fake_time)
    # httplib2 re-sends once by itself; the second drop reaches the client, which tries again.
    standin.faults.add(FaultRule("gmail.users.getProfile", FaultAction.DROP, times=2))
    assert client.profile()["emailAddress"] == ALICE
    assert statuses(standin, "gmail.users.getProfile") == [0, 0, 200]
    assert client.retries == 1


def test_passing_faults_that_never_pass_end_in_retryable(
    standin: GoogleStandIn, fake_time: StandInTime
) -> None:
    from shared.errors import Retryable

    client = make_client(standin, fake_time, QuotaSettings(max_attempts=3))
    standin.faults.add(FaultRule("gmail.users.getProfile", status=503, times=None))
    with pytest.raises(Retryable):
        client.profile()
    assert statuses(standin, "gmail.users.getProfile") == [503] * 3


# --- faults that must not be retried --------------------------------------------------------------


def test_a_revoked_grant_raises_needs_reconnect_once_and_never_retries(
    standin: GoogleStandIn, fake_time: StandInTime
) -> None:
    marked: list[str] = []
    client = make_client(standin, fake_time, on_invalid_grant=lambda: marked.append("needs_reconnect"))
    standin.oauth.revoke_account(ALICE)
    standin.oauth.expire_access_tokens(ALICE)
    standin.calls.clear()
    with pytest.raises(NeedsReconnect) as reconnect:
        client.profile()
    assert reconnect.value.code == "invalid_grant"
    assert marked == ["needs_reconnect"]
    assert [(call.method_id, call.status) for call in standin.calls.calls()] == [
        ("gmail.users.getProfile", 401),
        ("oauth.token", 400),
    ]
    # The grant is dead: later calls fail at once, without calling Google or the hook again.
    with pytest.raises(NeedsReconnect):
        client.get_messages(["18c0ffee"])
    assert marked == ["needs_reconnect"]
    assert len(standin.calls.calls()) == 2
    assert client.retries == 0
    assert fake_time.slept == []


def test_a_revoked_grant_inside_a_batch_raises_needs_reconnect(
    standin: GoogleStandIn, fake_time: StandInTime, factory: MessageFactory
) -> None:
    ids = seed_messages(standin, factory, 3)
    marked: list[str] = []
    client = make_client(standin, fake_time, on_invalid_grant=lambda: marked.append("x"))
    standin.oauth.revoke_account(ALICE)
    standin.calls.clear()
    with pytest.raises(NeedsReconnect):
        client.get_messages(ids)
    assert marked == ["x"]
    assert len(standin.calls.calls(method_id="oauth.token")) == 1
    assert client.retries == 0


def test_a_400_is_not_retried(standin: GoogleStandIn, fake_time: StandInTime) -> None:
    client = make_client(standin, fake_time)
    with pytest.raises(Permanent) as refused:
        client.list_history(start_history_id="not-a-history-id", page_token=None)
    assert refused.value.code == "gmail_400"
    assert statuses(standin, "gmail.users.history.list") == [400]
    assert client.retries == 0
    assert fake_time.slept == []


# --- attachments ----------------------------------------------------------------------------------


def test_an_attachment_comes_back_as_its_bytes(standin: GoogleStandIn, fake_time: StandInTime) -> None:
    data = bytes(range(256)) * 3
    raw = MessageFactory(3).with_attachments(to=[ALICE], attachments=[("blob.bin", "application/zip", data)])
    message_id = str(standin.mailbox(ALICE).insert(raw.raw)["id"])
    client = make_client(standin, fake_time)
    found, _ = client.get_messages([message_id])
    part = next(p for p in found[message_id]["payload"]["parts"] if p.get("filename") == "blob.bin")
    assert client.get_attachment(message_id, part["body"]["attachmentId"]) == data
    assert base64.urlsafe_b64encode(data)  # the wire form was base64url; the client hands back bytes
