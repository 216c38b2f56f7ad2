"""Google Calendar both ways, end to end: the stand-in's channels POST to calendar_push (served over real
HTTP in this process), which queues syncs that sync_worker carries out into the Firestore emulator; the
CRM reads events through api and makes, changes and deletes them through outbound_worker. No guest is
emailed unless asked, no write of ours comes back as a write, a forged or replayed notification fetches
nothing, a 410 removes exactly what Google deleted meanwhile."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import functions_framework
import pytest
from werkzeug.serving import make_server

from shared.composition import reset_container
from tests.conftest import REPO_ROOT
from tests.e2e.connect_support import ALICE, ConnectDriver, sync_requests
from tests.firestore_reads import client

CONNECTION = "/v1/tenants/acme/users/user-1/google-connection"
BOB = "bob@example.net"
NOW = datetime.now(UTC).replace(microsecond=0)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def timed(start: datetime, hours: float = 1, **fields: Any) -> dict[str, Any]:
    return {
        "start": {"dateTime": rfc3339(start)},
        "end": {"dateTime": rfc3339(start + timedelta(hours=hours))},
        **fields,
    }


class Webhook:
    """calendar_push on a loopback port, as Google's channels reach it: real HTTP POSTs."""

    def __init__(self) -> None:
        source = REPO_ROOT / "functions" / "calendar_push" / "main.py"
        app = functions_framework.create_app("calendar_push", str(source), "http")
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/"
        self.client = app.test_client()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class CalendarWorld:
    def __init__(self, driver: ConnectDriver, webhook: Webhook) -> None:
        self.driver = driver
        self.webhook = webhook
        self.standin = driver.standin
        self.api = driver.api
        self.auth = driver.crm.authorization("acme", "user-1")

    @property
    def primary(self) -> Any:
        return self.standin.calendars(ALICE).primary

    def settle(self) -> list[int]:
        """Deliver what Google pushed, then every sync it queued."""
        assert self.standin.calendar_push.drain()
        return self.driver.deliver()

    def events(self, **params: Any) -> list[dict[str, Any]]:
        query = {
            "time_min": rfc3339(NOW - timedelta(days=20)),
            "time_max": rfc3339(NOW + timedelta(days=80)),
            "page_size": 200,
            **params,
        }
        answer = self.api.get(f"{CONNECTION}/events", query_string=query, headers=self.auth)
        assert answer.status_code == 200, answer.get_json()
        return list(answer.get_json()["items"])

    def event(self, event_key: str) -> dict[str, Any]:
        answer = self.api.get(f"{CONNECTION}/events/{event_key}", headers=self.auth)
        assert answer.status_code == 200, answer.get_json()
        return dict(answer.get_json())

    def write(self, method: str, path: str, key: str, **kwargs: Any) -> Any:
        headers = {**self.auth, "Idempotency-Key": key}
        return getattr(self.api, method)(f"{CONNECTION}{path}", headers=headers, **kwargs)

    def create(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        answer = self.write("post", "/events", key, json=body)
        assert answer.status_code == 202, answer.get_json()
        return dict(answer.get_json())

    def stored(self) -> dict[str, dict[str, Any]]:
        return {doc.id: doc.to_dict() for doc in client().collection("tenants/acme/events").stream()}

    def update_times(self) -> dict[str, Any]:
        return {doc.id: doc.update_time for doc in client().collection("tenants/acme/events").stream()}

    def channels(self) -> list[Any]:
        return [c for c in self.standin.calendar_push.channels if not c.stopped]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    running = Webhook()
    yield running
    running.close()


@pytest.fixture
def world(connect_world: ConnectDriver, webhook: Webhook, monkeypatch: pytest.MonkeyPatch) -> CalendarWorld:
    """Alice connected with mail, calendar and contacts; channels POST to calendar_push; first syncs done."""
    monkeypatch.setenv("CALENDAR_PUSH_URL", webhook.url)
    reset_container()
    assert connect_world.connect(features=["mail", "calendar", "contacts"]).outcome == "connected"
    calendar = CalendarWorld(connect_world, webhook)
    assert calendar.settle()
    return calendar


def new_event(start: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "summary": "Demo with Bob",
        "start": {"date_time": rfc3339(start)},
        "end": {"date_time": rfc3339(start + timedelta(hours=1))},
        **fields,
    }


# --- Google to the CRM ------------------------------------------------------------------------------


def test_connect_opens_one_channel_and_its_sync_message_fetches_nothing(world: CalendarWorld) -> None:
    (channel,) = world.channels()
    assert channel.address == world.webhook.url
    deliveries = world.standin.calendar_push.deliveries
    assert [(d.state, d.message_number, d.status) for d in deliveries] == [("sync", 1, 200)]
    lists = len(world.standin.calls.calls(method_id="calendar.events.list"))
    assert world.settle() == []  # the sync message queued nothing
    assert len(world.standin.calls.calls(method_id="calendar.events.list")) == lists


def test_an_event_made_in_google_appears_through_a_push(world: CalendarWorld) -> None:
    made = world.primary.insert(timed(NOW + timedelta(days=2), summary="Call with Bob", location="Berlin"))
    assert world.settle() == [200]
    (event,) = world.events()
    assert (event["event_id"], event["summary"], event["location"]) == (made["id"], "Call with Bob", "Berlin")
    assert event["kind"] == "single"
    assert world.event(event["event_key"])["etag"] == made["etag"]
    world.primary.patch(made["id"], {"summary": "Call with Bob (moved)"})
    world.settle()
    assert world.event(event["event_key"])["summary"] == "Call with Bob (moved)"
    world.primary.delete(made["id"])
    world.settle()
    assert world.events() == []


def test_an_expired_sync_token_removes_exactly_the_events_deleted_meanwhile(world: CalendarWorld) -> None:
    made = [world.primary.insert(timed(NOW + timedelta(days=day), summary=f"E{day}")) for day in range(1, 6)]
    other = world.standin.calendars(ALICE).add_calendar("Team")
    select = world.api.put(
        f"{CONNECTION}/calendar-selection", json={"calendar_ids": [other.id]}, headers=world.auth
    )
    assert select.status_code == 200, select.get_json()
    other.insert(timed(NOW + timedelta(days=3), summary="Team day"))
    world.settle()
    by_id = {event["event_id"]: event for event in world.events()}
    assert len(by_id) == 6
    attached = by_id[made[1]["id"]]["event_key"]
    answer = world.api.post(
        f"{CONNECTION}/events/{attached}/attachments-to-crm",
        json={"entity": {"type": "deal", "id": "D-7"}},
        headers=world.auth,
    )
    assert answer.status_code == 200
    team_events = {e["event_id"] for e in by_id.values() if e["calendar_id"] == other.id}
    team_before = {
        k: v for k, v in world.update_times().items() if world.stored()[k]["calendar_id"] == other.id
    }
    # Two events are deleted; before the sync their pushes queued runs, Google drops the token.
    for event in made[:2]:
        world.primary.delete(event["id"])
    world.primary.expire_sync_tokens()
    assert world.settle() == [200]
    left = {event["event_id"] for event in world.events()}
    assert left == {e["id"] for e in made[2:]} | team_events
    kept = world.event(attached)
    assert kept["deleted_in_google"] is True  # attached to a deal: it stays, flagged
    team_after = {k: v for k, v in world.update_times().items() if k in team_before}
    assert team_after == team_before  # the other calendar was not touched


def test_a_weekly_series_with_a_moved_and_a_cancelled_instance(world: CalendarWorld) -> None:
    start = (NOW + timedelta(days=1)).replace(hour=9, minute=0, second=0)
    master = world.primary.insert(
        {
            "summary": "Weekly sync",
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "Europe/Berlin"},
            "end": {
                "dateTime": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": "Europe/Berlin",
            },
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=6"],
        }
    )
    instances = world.standin.calendars(ALICE).primary.events(include_cancelled=False)
    assert len(instances) == 1
    world.settle()
    expanded = world.events()
    assert [event["kind"] for event in expanded] == ["instance"] * 6
    second, fourth = expanded[1], expanded[3]
    moved_to = datetime.fromisoformat(second["start"]["date_time"]) + timedelta(hours=3)
    world.primary.patch(
        second["event_id"],
        {
            "start": {"dateTime": moved_to.isoformat()},
            "end": {"dateTime": (moved_to + timedelta(hours=1)).isoformat()},
        },
    )
    world.primary.delete(fourth["event_id"])
    world.settle()
    expanded = world.events()
    assert len(expanded) == 5
    kinds = [event["kind"] for event in expanded]
    assert kinds.count("exception") == 1
    moved = next(event for event in expanded if event["kind"] == "exception")
    assert moved["original_start"]["date_time"] is not None
    assert datetime.fromisoformat(moved["start"]["date_time"]) == moved_to
    assert fourth["event_id"] not in {event["event_id"] for event in expanded}
    stored = world.events(expand="false")
    assert sorted(event["kind"] for event in stored) == ["exception", "master"]
    assert next(e for e in stored if e["kind"] == "master")["event_id"] == master["id"]


# --- the CRM to Google --------------------------------------------------------------------------------


def test_an_event_made_in_the_crm_appears_in_google_once_and_emails_no_guest(world: CalendarWorld) -> None:
    body = new_event(NOW + timedelta(days=3), attendees=[{"email": BOB}], crm_id="ACT-42")
    queued = [world.create(body, "create-demo-0001") for _ in range(2)]  # the CRM's call and a retry
    assert queued[0]["write_id"] == queued[1]["write_id"]
    event_key = queued[0]["event_key"]
    assert world.event(event_key)["last_write"]["status"] == "pending"
    assert world.driver.deliver_writes(times=2) == [200] * 4  # queued twice, each delivered twice
    (google,) = world.primary.events()
    assert google["summary"] == "Demo with Bob"
    assert google["extendedProperties"]["private"]["crmId"] == "ACT-42"
    (insert,) = world.standin.calls.calls(method_id="calendar.events.insert")
    assert insert.details is not None
    assert (insert.details["sendUpdates"], insert.details["notified"]) == ("none", [])
    shown = world.event(event_key)
    assert (shown["etag"], shown["crm_id"], shown["last_write"]["status"]) == (
        google["etag"],
        "ACT-42",
        "done",
    )
    before = world.update_times()[event_key]
    assert world.settle() == [200]  # the push for our own insert: its echo
    assert world.update_times()[event_key] == before


def test_notify_guests_is_the_only_way_a_guest_is_emailed(world: CalendarWorld) -> None:
    world.create(
        new_event(NOW + timedelta(days=4), attendees=[{"email": BOB}], notify_guests=True), "create-notify-1"
    )
    world.driver.deliver_writes()
    (insert,) = world.standin.calls.calls(method_id="calendar.events.insert")
    assert insert.details is not None
    assert (insert.details["sendUpdates"], insert.details["notified"]) == ("all", [BOB])


def test_a_hundred_crm_writes_make_no_echo_write_and_email_nobody(world: CalendarWorld) -> None:
    keys = [
        world.create(
            new_event(NOW + timedelta(days=1, hours=i), attendees=[{"email": BOB}]), f"bulk-create-{i:04d}"
        )["event_key"]
        for i in range(40)
    ]
    world.driver.deliver_writes(limit=200)
    for i, key in enumerate(keys):
        answer = world.write(
            "patch", f"/events/{key}", f"bulk-update-{i:04d}", json={"summary": f"Renamed {i}"}
        )
        assert answer.status_code == 202, answer.get_json()
    world.driver.deliver_writes(limit=200)
    for i, key in enumerate(keys[:20]):
        answer = world.write("delete", f"/events/{key}", f"bulk-delete-{i:04d}")
        assert answer.status_code == 202, answer.get_json()
    world.driver.deliver_writes(limit=200)
    writes = [
        call
        for call in world.standin.calls.calls(prefix="calendar.events.")
        if call.method_id.rsplit(".", 1)[1] in ("insert", "patch", "delete")
    ]
    assert len(writes) == 100
    assert all(call.details and call.details["sendUpdates"] == "none" for call in writes)
    assert all(call.details and call.details["notified"] == [] for call in writes)
    before = world.update_times()
    assert len(before) == 20
    world.settle()  # every push our writes caused, and the syncs they queue
    assert world.update_times() == before  # no echo wrote anything
    assert {e["summary"] for e in world.events()} == {f"Renamed {i}" for i in range(20, 40)}


def test_a_change_google_made_meanwhile_wins_and_shows_as_a_conflict(world: CalendarWorld) -> None:
    made = world.primary.insert(timed(NOW + timedelta(days=5), summary="Budget review"))
    world.settle()
    (event,) = world.events()
    world.primary.patch(made["id"], {"summary": "Budget review (room 4)"})  # before the CRM's change lands
    queued = world.write(
        "patch", f"/events/{event['event_key']}", "change-conflict-1", json={"summary": "Budget"}
    )
    assert queued.status_code == 202
    world.driver.deliver_writes()
    status = world.api.get(
        f"{CONNECTION}/writes/{queued.get_json()['write_id']}", headers=world.auth
    ).get_json()
    assert (status["status"], status["failure"]["code"]) == ("failed", "calendar_conflict")
    shown = world.event(event["event_key"])
    assert shown["summary"] == "Budget review (room 4)"  # Google's version
    assert shown["conflict"]["crm"]["summary"] == "Budget"
    assert shown["conflict"]["google"]["summary"] == "Budget review (room 4)"
    assert shown["last_write"]["status"] == "conflict"
    assert world.primary.get(made["id"])["summary"] == "Budget review (room 4)"
    # The CRM applies its change again on Google's version: it lands, the conflict clears.
    again = world.write(
        "patch", f"/events/{event['event_key']}", "change-conflict-2", json={"summary": "Budget"}
    )
    assert again.status_code == 202
    world.driver.deliver_writes()
    shown = world.event(event["event_key"])
    assert (shown["summary"], shown["conflict"]) == ("Budget", None)


def test_one_instance_and_this_and_following_from_the_crm(world: CalendarWorld) -> None:
    start = (NOW + timedelta(days=1)).replace(hour=8, minute=0, second=0)
    body = new_event(start, recurrence=["RRULE:FREQ=DAILY;COUNT=6"])
    body["start"]["time_zone"] = "UTC"
    key = world.create(body, "series-create-1")["event_key"]
    world.driver.deliver_writes()
    instances = world.events()
    assert len(instances) == 6
    third = instances[2]["original_start"]
    changed = world.write(
        "patch",
        f"/events/{key}",
        "series-one-1",
        json={"summary": "Only this one", "occurrence": {"original_start": third, "scope": "this"}},
    )
    assert changed.status_code == 202, changed.get_json()
    fifth = instances[4]["original_start"]["date_time"]
    cut = world.write(
        "delete",
        f"/events/{key}",
        "series-cut-1",
        query_string={"scope": "following", "original_start": fifth},
    )
    assert cut.status_code == 202, cut.get_json()
    world.driver.deliver_writes()
    world.settle()
    shown = world.events()
    assert len(shown) == 4
    assert [event["summary"] for event in shown].count("Only this one") == 1
    master = next(e for e in world.primary.events() if e.get("recurrence"))
    assert "UNTIL=" in master["recurrence"][0]
    assert "COUNT" not in master["recurrence"][0]


# --- channels -----------------------------------------------------------------------------------------


def notification(
    channel: Any, *, number: int, token: str | None = None, state: str = "exists"
) -> dict[str, str]:
    return {
        "X-Goog-Channel-ID": channel.id,
        "X-Goog-Channel-Token": channel.token if token is None else token,
        "X-Goog-Resource-ID": channel.resource_id,
        "X-Goog-Resource-State": state,
        "X-Goog-Message-Number": str(number),
        "X-Goog-Resource-URI": "https://www.googleapis.com/calendar/v3/calendars/primary/events",
    }


def test_a_forged_token_or_a_replayed_message_fetches_nothing(world: CalendarWorld) -> None:
    (channel,) = world.channels()
    lists = len(world.standin.calls.calls(method_id="calendar.events.list"))
    forged = world.webhook.client.post("/", headers=notification(channel, number=50, token="guess"))
    assert forged.status_code == 403
    assert forged.get_json()["code"] == "channel_token_mismatch"
    wrong = {**notification(channel, number=51), "X-Goog-Resource-ID": "other"}
    assert world.webhook.client.post("/", headers=wrong).status_code == 403
    unknown = {**notification(channel, number=52), "X-Goog-Channel-ID": "not-ours"}
    assert world.webhook.client.post("/", headers=unknown).status_code == 200
    assert sync_requests() == []
    # A genuine notification syncs once; the same message again, or an older one, is a replay.
    assert world.webhook.client.post("/", headers=notification(channel, number=60)).status_code == 200
    assert world.driver.deliver() == [200]
    for number in (60, 59):
        assert world.webhook.client.post("/", headers=notification(channel, number=number)).status_code == 200
    assert sync_requests() == []
    assert len(world.standin.calls.calls(method_id="calendar.events.list")) == lists + 1
    missing = world.webhook.client.post("/", headers={"X-Goog-Channel-ID": channel.id})
    assert missing.status_code == 400
    assert missing.get_json()["errors"][0]["location"] == ["header", "X-Goog-Resource-ID"]


def test_duplicate_and_concurrent_pushes_leave_one_copy(world: CalendarWorld) -> None:
    made = world.primary.insert(timed(NOW + timedelta(days=6), summary="Once"))
    assert world.standin.calendar_push.drain()  # Google's own push: it queued one sync
    (channel,) = world.channels()
    numbers = [100 + n for n in range(24)] + [100] * 8  # a burst, and duplicates of one message
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(
            pool.map(
                lambda n: world.webhook.client.post("/", headers=notification(channel, number=n)).status_code,
                numbers,
            )
        )
    assert set(answers) == {200}
    assert world.driver.deliver() == [200]  # every one of them coalesced into the pending sync
    assert [event["event_id"] for event in world.events()] == [made["id"]]
    assert len(world.stored()) == 1


def test_renew_watches_replaces_channels_before_they_end(
    world: CalendarWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    (old,) = world.channels()
    monkeypatch.setenv("WATCH_RENEW_WITHIN_SECONDS", str(8 * 24 * 3600))  # every channel is due
    reset_container()
    assert world.driver.renew_watches().status_code == 200
    (new,) = world.channels()
    assert new.id != old.id
    assert [c.stopped for c in world.standin.calendar_push.channels if c.id == old.id] == [True]
    world.primary.insert(timed(NOW + timedelta(days=2), summary="After renewal"))
    assert world.settle() == [200]
    assert [event["summary"] for event in world.events()] == ["After renewal"]


def test_disconnect_stops_every_channel_and_removes_unattached_events(world: CalendarWorld) -> None:
    team = world.standin.calendars(ALICE).add_calendar("Team")
    answer = world.api.put(
        f"{CONNECTION}/calendar-selection", json={"calendar_ids": [team.id]}, headers=world.auth
    )
    assert answer.status_code == 200
    assert len(world.channels()) == 2
    world.primary.insert(timed(NOW + timedelta(days=1)))
    team.insert(timed(NOW + timedelta(days=2)))
    world.settle()
    assert len(world.stored()) == 2
    assert world.driver.disconnect().status_code == 200
    assert world.channels() == []
    assert world.stored() == {}


def test_deselecting_a_calendar_stops_it(world: CalendarWorld) -> None:
    team = world.standin.calendars(ALICE).add_calendar("Team")
    listed = world.api.get(f"{CONNECTION}/calendars", headers=world.auth).get_json()["items"]
    assert {(c["id"], c["synced"]) for c in listed} == {(ALICE, True), (team.id, False)}
    world.api.put(f"{CONNECTION}/calendar-selection", json={"calendar_ids": [team.id]}, headers=world.auth)
    team.insert(timed(NOW + timedelta(days=2), summary="Team offsite"))
    world.settle()
    assert [e["summary"] for e in world.events(calendar_id=team.id)] == ["Team offsite"]
    world.api.put(f"{CONNECTION}/calendar-selection", json={"calendar_ids": []}, headers=world.auth)
    assert len(world.channels()) == 1
    assert world.events() == []


# --- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        (
            "post",
            "/events",
            {"json": {"summary": "x", "start": {"date_time": "tomorrow"}, "end": {"date": "2026-01-01"}}},
            "start",
        ),
        (
            "post",
            "/events",
            {"json": {**new_event(NOW), "calendar_id": "someone-else@example.org"}},
            "calendar_id",
        ),
        ("post", "/events", {"json": {**new_event(NOW), "attendees": [{"email": "bob"}]}}, "attendees"),
        ("post", "/events", {"json": {**new_event(NOW), "colour": "red"}}, "colour"),
        ("patch", "/events/" + "0" * 40, {"json": {}}, "body"),
        ("delete", "/events/" + "0" * 40, {"query_string": {"scope": "this"}}, "query"),
        ("patch", "/events/not-a-key", {"json": {"summary": "x"}}, "event_key"),
        ("put", "/calendar-selection", {"json": {"calendar_ids": ["nobody@example.org"]}}, "calendar_ids"),
        (
            "post",
            "/events/" + "0" * 40 + "/attachments-to-crm",
            {"json": {"entity": {"type": "Deal!", "id": "1"}}},
            "type",
        ),
        ("get", "/events/not-a-key", {}, "event_key"),
        ("get", "/events", {"query_string": {"time_min": "yesterday", "time_max": rfc3339(NOW)}}, "time_min"),
        (
            "get",
            "/events",
            {"query_string": {"time_min": rfc3339(NOW), "time_max": rfc3339(NOW - timedelta(hours=1))}},
            "query",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
    world: CalendarWorld, method: str, path: str, kwargs: dict[str, Any], field: str
) -> None:
    before = (world.stored(), list(client().collection("tenants/acme/writes").stream()))
    calls = len(world.standin.calls.calls(prefix="calendar.events."))
    answer = world.write(method, path, "bad-input-0001", **kwargs)
    assert 400 <= answer.status_code < 500, answer.get_json()
    problem = answer.get_json()
    if problem.get("errors"):
        assert any(field in [str(part) for part in error["location"]] for error in problem["errors"]), problem
    after = (world.stored(), list(client().collection("tenants/acme/writes").stream()))
    assert (after[0], len(after[1])) == (before[0], len(before[1]))
    assert len(world.standin.calls.calls(prefix="calendar.events.")) == calls
