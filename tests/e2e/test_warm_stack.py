"""The whole stack as it runs in production, every function a real functions-framework process that
stays up (warm instances, their caches) between the steps, Pub/Sub's push subscriptions feeding the
workers, a user's browser on the consent page: a user connects, mail flows in through Gmail's push,
the user disconnects and reconnects, and mail flows again. Then the CRM marks a message read, retries
its call, and Pub/Sub redelivers the write: Gmail is changed once. A second user connects Calendar:
an event made in Google arrives through its channel and calendar_push, one made in the CRM lands in
Google once and emails nobody, and disconnecting stops the channel.

Through public surfaces only: the CRM API, the browser, the stand-in's mailbox and call log, and the
Pub/Sub topic the write was queued on."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from local_stack.google_standin.mime_factory import MessageFactory
from local_stack.stack import CRM_ORIGIN, PROJECT, Stack, running_stack
from local_stack.user_browser import UserBrowser, answer_consent

T = TypeVar("T")
USER, ACCOUNT = "u-alice", "alice@example.com"
CONNECTION = f"/v1/tenants/acme/users/{USER}/google-connection"
factory = MessageFactory(seed=41)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = {"MAIL_READ_STATE_WRITE_BACK": "true", "PUSH_COALESCE_SECONDS": "0.5"}
    with running_stack(tmp_path_factory.mktemp("warm-stack"), settings=settings) as running:
        running.google.add_account(ACCOUNT)
        yield running


class Crm:
    """The CRM backend calling api over HTTP."""

    def __init__(self, stack: Stack, user: str = USER) -> None:
        self.stack = stack
        self.user = user

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.stack.url('api')}{path}",
            data=data,
            method=method,
            headers={**self.stack.crm_backend.authorization("acme", self.user), **(headers or {})},
        )
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def connect(self, features: tuple[str, ...] = ("mail", "contacts"), account: str = ACCOUNT) -> str:
        status, body = self.call(
            "POST",
            f"/v1/tenants/acme/users/{self.user}/google-connection:authorize",
            {"features": list(features), "return_url": f"{CRM_ORIGIN}/settings/google"},
        )
        assert status == 200, body
        browser = UserBrowser()
        _, google_url = browser.visit(body["authorization_url"])
        callback, _ = answer_consent(str(google_url), account=account)
        _, landing = browser.visit(callback)
        return str(landing)

    def gmail_ids(self) -> set[str]:
        status, page = self.call("GET", f"{CONNECTION}/messages?page_size=200")
        return {item["gmail_id"] for item in page.get("items", [])} if status == 200 else set()

    def contacts(self) -> dict[str, tuple[int, int]]:
        _, page = self.call("GET", "/v1/tenants/acme/contacts?page_size=200")
        return {
            item["email"]: (item["received_count"], item["sent_count"])
            for item in page["items"]
            if item["received_count"] or item["sent_count"]
        }


def wait_for(read: Callable[[], T], until: Callable[[T], bool], seconds: float = 30.0) -> T:
    deadline = time.monotonic() + seconds
    value = read()
    while not until(value) and time.monotonic() < deadline:
        time.sleep(0.2)
        value = read()
    return value


def receive(stack: Stack, sender: str, count: int = 1) -> set[str]:
    date = datetime.now(UTC) - timedelta(hours=1)
    mailbox = stack.google.mailbox(ACCOUNT)
    ids = {
        mailbox.insert(factory.plain(sender=sender, to=[ACCOUNT], date=date).raw)["id"] for _ in range(count)
    }
    stack.google.advance_clock(1.1)  # Gmail sends at most one notification a second per mailbox
    return ids


def test_disconnect_and_reconnect_with_warm_workers_then_a_write_reaches_gmail_once(stack: Stack) -> None:
    crm = Crm(stack)
    assert crm.call("PUT", "/v1/tenants/acme", {"name": "Acme", "plan": "Standard"})[0] == 201
    first = receive(stack, "Carol <carol@example.org>", 3)
    assert crm.connect().endswith("google_connection=connected")
    assert wait_for(crm.gmail_ids, lambda ids: ids == first) == first  # first sync, by the warm sync_worker
    pushed = receive(stack, "dave@example.net")  # through Gmail's push, gmail_push and Pub/Sub
    assert wait_for(crm.gmail_ids, lambda ids: pushed <= ids) == first | pushed

    assert crm.call("DELETE", CONNECTION) == (200, {"disconnected": True})
    assert crm.gmail_ids() == set()
    assert crm.contacts() == {}
    assert crm.connect().endswith("google_connection=connected")
    later = receive(stack, "dave@example.net")
    everything = first | pushed | later
    # The same sync_worker and gmail_push processes, still holding the first grant in memory.
    assert wait_for(crm.gmail_ids, lambda ids: ids == everything) == everything
    status, connection = crm.call("GET", CONNECTION)
    assert (status, connection["status"]) == (200, "active")
    assert crm.contacts() == {"carol@example.org": (3, 0), "dave@example.net": (2, 0)}

    # The CRM marks a message read, and retries its call twice; each lands on a warm api instance.
    target = sorted(later)[0]
    key = {"Idempotency-Key": "warm-stack-write-0001"}
    answers = [crm.call("PATCH", f"{CONNECTION}/messages/{target}", {"read": True}, key) for _ in range(3)]
    assert {status for status, _ in answers} == {202}
    write_id = answers[0][1]["write_id"]
    done = wait_for(
        lambda: crm.call("GET", f"{CONNECTION}/writes/{write_id}")[1],
        lambda body: body.get("status") == "done",
    )
    assert done["status"] == "done"
    redeliver(stack, write_id, times=3)  # Pub/Sub delivers at least once: three more times
    time.sleep(1.0)
    assert len(stack.google.calls.calls(method_id="gmail.users.messages.modify")) == 1
    assert "UNREAD" not in stack.google.mailbox(ACCOUNT).get_message(target, format="minimal")["labelIds"]
    _, message = crm.call("GET", f"{CONNECTION}/messages/{target}")
    assert message["unread"] is False


def test_calendar_both_ways_through_warm_processes(stack: Stack) -> None:
    account, user = "bob@example.com", "u-bob"
    stack.google.add_account(account)
    crm = Crm(stack, user)
    crm.call(
        "PUT", "/v1/tenants/acme", {"name": "Acme", "plan": "Standard"}
    )  # 201, or 200 after the test above
    connection = f"/v1/tenants/acme/users/{user}/google-connection"
    assert crm.connect(("calendar",), account).endswith("google_connection=connected")
    channels = [c for c in stack.google.calendar_push.channels if c.account == account and not c.stopped]
    assert len(channels) == 1
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    window = urllib.parse.urlencode(
        {
            "time_min": (start - timedelta(days=2)).isoformat(),
            "time_max": (start + timedelta(days=5)).isoformat(),
        }
    )

    def summaries() -> list[str]:
        status, page = crm.call("GET", f"{connection}/events?{window}")
        return [item["summary"] for item in page.get("items", [])] if status == 200 else []

    stack.google.calendars(account).primary.insert(
        {
            "summary": "From Google",
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
        }
    )
    assert wait_for(summaries, lambda found: found == ["From Google"]) == ["From Google"]

    body = {
        "summary": "From the CRM",
        "start": {"date_time": (start + timedelta(days=1)).isoformat()},
        "end": {"date_time": (start + timedelta(days=1, hours=1)).isoformat()},
        "attendees": [{"email": "carol@example.org"}],
    }
    answers = [
        crm.call("POST", f"{connection}/events", body, {"Idempotency-Key": "warm-event-0001"})
        for _ in range(2)
    ]
    assert {status for status, _ in answers} == {202}
    write_id = answers[0][1]["write_id"]
    done = wait_for(
        lambda: crm.call("GET", f"{connection}/writes/{write_id}")[1],
        lambda found: found.get("status") == "done",
    )
    assert done["status"] == "done"
    assert wait_for(summaries, lambda found: len(found) == 2) == ["From Google", "From the CRM"]
    inserts = [
        c for c in stack.google.calls.calls(method_id="calendar.events.insert") if c.account == account
    ]
    assert len(inserts) == 1
    assert inserts[0].details is not None
    assert (inserts[0].details["sendUpdates"], inserts[0].details["notified"]) == ("none", [])

    assert crm.call("DELETE", connection) == (200, {"disconnected": True})
    assert all(c.stopped for c in stack.google.calendar_push.channels if c.account == account)


def redeliver(stack: Stack, write_id: str, *, times: int) -> None:
    """The write's message on the outbound-requests topic again, as a redelivery brings it."""
    import os

    from google.cloud import pubsub_v1

    os.environ["PUBSUB_EMULATOR_HOST"] = stack.environment["PUBSUB_EMULATOR_HOST"]
    publisher = pubsub_v1.PublisherClient()
    data = json.dumps({"tenant_id": "acme", "write_id": write_id}).encode()
    for _ in range(times):
        publisher.publish(f"projects/{PROJECT}/topics/outbound-requests", data).result(timeout=10)
