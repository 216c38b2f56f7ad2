"""The main job, run locally: the whole stack, an end-to-end scenario, and a readable report.

Run by ``scripts/demo``. Every step states what a user of the system expects and what happened; the
exit status is non-zero if any step did not go as expected. The report is also saved to reports/.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from local_stack.crm_backend import CrmBackend
from local_stack.functions import REPO_ROOT
from local_stack.stack import CRM_ORIGIN, GMAIL_TOPIC, PROJECT, SCHEDULER_ACCOUNT, Stack, running_stack


@dataclass
class Step:
    section: str
    name: str
    expected: str
    actual: str
    ms: float

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


@dataclass
class Answer:
    status: int
    body: dict[str, Any]


class Scenario:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.api = stack.functions["api"].url
        self.crm: CrmBackend = stack.crm_backend
        self.steps: list[Step] = []
        self.section = ""
        self.requests = 0  # calls to api: each is a line in its log (checked by "The api function's own log")
        # Lines written before the scenario (the readiness probe's) are not the scenario's.
        self.log_lines_before = len(stack.functions["api"].log_path.read_text().splitlines())

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        base: str = "",
    ) -> Answer:
        """One request to ``base`` (api unless given); those to api are counted in ``requests``."""
        target = base or self.api
        if target == self.api:
            self.requests += 1
        data = None if body is None else json.dumps(body).encode()
        url = f"{target}{path}"
        request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Answer(response.status, json.loads(response.read() or b"{}"))
        except urllib.error.HTTPError as error:
            return Answer(error.code, json.loads(error.read() or b"{}"))

    def expect(self, name: str, expected: str, action: Callable[[], str]) -> None:
        started = time.perf_counter()
        try:
            actual = action()
        except Exception as error:  # noqa: BLE001 - a failed step is reported, and the run goes on
            actual = f"error: {type(error).__name__}: {error}"
        self.steps.append(Step(self.section, name, expected, actual, (time.perf_counter() - started) * 1000))

    def http(
        self, name: str, expected: str, method: str, path: str, body: Any = None, **headers: str
    ) -> None:
        def action() -> str:
            answer = self.call(method, path, body, headers)
            code = answer.body.get("code")
            return f"{answer.status} {code}" if code else str(answer.status)

        self.expect(name, expected, action)


def run_scenario(scenario: Scenario) -> None:
    crm, http = scenario.crm, scenario.http
    acme, globex = crm.authorization("acme"), crm.authorization("globex")

    scenario.section = "CRM backend calls the api function"
    http("health check", "200", "GET", "/v1/health")
    http(
        "create tenant acme on Standard",
        "201",
        "PUT",
        "/v1/tenants/acme",
        {"name": "Acme", "plan": "Standard"},
        **acme,
    )
    http(
        "repeat the same creation (idempotent)",
        "200",
        "PUT",
        "/v1/tenants/acme",
        {"name": "Acme", "plan": "Standard"},
        **acme,
    )
    http(
        "create tenant globex on Free",
        "201",
        "PUT",
        "/v1/tenants/globex",
        {"name": "Globex", "plan": "Free"},
        **globex,
    )
    http("read tenant acme", "200", "GET", "/v1/tenants/acme", **acme)
    http("move acme to Professional", "200", "PUT", "/v1/tenants/acme/plan", {"plan": "Professional"}, **acme)
    http(
        "list acme's Google connections (none yet)",
        "200",
        "GET",
        "/v1/tenants/acme/connections?page_size=10",
        **acme,
    )

    scenario.section = "Refusals: clear problem+json, nothing written"
    http("an unknown plan", "400 validation_failed", "PUT", "/v1/tenants/acme/plan", {"plan": "Gold"}, **acme)
    http("no token", "401 missing_token", "GET", "/v1/tenants/acme")
    http(
        "an expired token",
        "401 expired_token",
        "GET",
        "/v1/tenants/acme",
        **crm.authorization("acme", issued_at=time.time() - 7200, lifetime_seconds=600),
    )
    http(
        "a token signed by a key we do not trust",
        "401 invalid_token",
        "GET",
        "/v1/tenants/acme",
        **CrmBackend(key_id=crm.key_id).authorization("acme"),
    )
    http(
        "acme's token on globex's URL",
        "404 tenant_not_found",
        "PUT",
        "/v1/tenants/globex/plan",
        {"plan": "NFR"},
        **acme,
    )
    http(
        "an unknown field in the body",
        "400 validation_failed",
        "PUT",
        "/v1/tenants/acme/plan",
        {"plan": "NFR", "discount": 100},
        **acme,
    )
    http(
        "a forged page token",
        "400 invalid_page_token",
        "GET",
        "/v1/tenants/acme/connections?page_token=Zm9v",
        **acme,
    )

    scenario.section = "What Firestore holds afterwards (read from the emulator)"
    from google.cloud import firestore

    db = firestore.Client(project=PROJECT)
    scenario.expect(
        "tenant documents",
        "acme, globex",
        lambda: ", ".join(sorted(d.id for d in db.collection("tenants").stream())),
    )
    scenario.expect(
        "acme's plan (the refused changes left it alone)",
        "Professional",
        lambda: str(db.document("tenants/acme").get().get("plan")),
    )
    scenario.expect(
        "globex's plan (acme could not touch it)",
        "Free",
        lambda: str(db.document("tenants/globex").get().get("plan")),
    )

    scenario.section = "Secret Manager (local stand-in, real client) and Pub/Sub (emulator)"
    from shared.composition import get_container

    container = get_container()
    secret_value = os.urandom(16).hex()

    def secret_round_trip() -> str:
        container.secrets.ensure_secret("demo-probe-secret")
        container.secrets.add_version("demo-probe-secret", secret_value.encode())
        first = container.secrets.get_text("demo-probe-secret")
        reads_before = scenario.stack.secret_manager.calls("AccessSecretVersion")
        second = container.secrets.get_text("demo-probe-secret")
        cached = scenario.stack.secret_manager.calls("AccessSecretVersion") == reads_before
        return "read back, second read cached" if first == second == secret_value and cached else "mismatch"

    scenario.expect("store a secret, read it twice", "read back, second read cached", secret_round_trip)

    def publish_round_trip() -> str:
        from google.cloud import pubsub_v1

        subscriber = pubsub_v1.SubscriberClient()
        subscription = subscriber.create_subscription(
            name=subscriber.subscription_path(PROJECT, "demo-probe"),
            topic=f"projects/{PROJECT}/topics/sync-requests",
        ).name
        container.publisher.publish("sync-requests", {"tenant_id": "acme", "source": "gmail"})
        received = subscriber.pull(subscription=subscription, max_messages=1, timeout=10).received_messages
        return json.dumps(json.loads(received[0].message.data)) if received else "nothing arrived"

    scenario.expect(
        "publish a sync request, pull it back", '{"tenant_id": "acme", "source": "gmail"}', publish_round_trip
    )

    google_standin_section(scenario)
    connect_section(scenario)

    scenario.section = "The api function's own log"

    def log_is_clean() -> str:
        all_lines = scenario.stack.functions["api"].log_path.read_text().splitlines()
        lines = all_lines[scenario.log_lines_before :]
        entries = [json.loads(line) for line in lines]  # a line that is not JSON fails the step
        handled = sum(entry["message"] == "request handled" for entry in entries)
        without_severity = sum("severity" not in entry for entry in entries)
        canaries = (acme["Authorization"][7:], globex["Authorization"][7:], secret_value)
        leaked = sum(any(canary in line for line in lines) for canary in canaries)
        return f"{handled} requests logged, {without_severity} lines without severity, {leaked} secrets"

    scenario.expect(
        "one JSON line per request, each with severity, no token or secret",
        f"{scenario.requests} requests logged, 0 lines without severity, 0 secrets",
        log_is_clean,
    )

    purge_section(scenario)  # last: the run ends with the nightly purge's report


def google_standin_section(scenario: Scenario) -> None:
    """The Google stand-in, driven through google-auth and google-api-python-client as the product will."""
    from google.auth.exceptions import RefreshError
    from google.auth.transport.requests import Request
    from google.cloud import pubsub_v1
    from googleapiclient.errors import HttpError

    from local_stack.google_standin.admin_http import generate_messages
    from shared.google_apis.discovery import build_service

    scenario.section = "Google stand-in: OAuth, Gmail, batch, push and quotas, through Google's own clients"
    google, owner, count = scenario.stack.google, "owner@example.com", 120
    google.add_account(owner)
    generate_messages(google, owner, count=count, seed=1, days=60)
    scopes = ["openid", "email", "https://www.googleapis.com/auth/gmail.readonly"]
    credentials = google.credentials(owner, scopes)
    gmail = build_service("gmail", "v1", credentials, root_url=google.api_root)

    def profile() -> str:
        answer = gmail.users().getProfile(userId="me").execute()
        return f"own profile, {answer['messagesTotal']} messages"

    scenario.expect(
        "consent (test path), code exchange, getProfile",
        f"own profile, {count} messages",
        profile,
    )

    def batch_fetch() -> str:
        google.calls.clear()
        ids = [
            m["id"] for m in gmail.users().messages().list(userId="me", maxResults=50).execute()["messages"]
        ]
        fetched: list[str] = []
        batch = gmail.new_batch_http_request(
            callback=lambda _id, response, error: fetched.append(response["id"])
        )
        for message_id in ids:
            batch.add(gmail.users().messages().get(userId="me", id=message_id))
        batch.execute()
        units = google.calls.units(account=owner)
        return f"{len(fetched)} fetched, {units / len(fetched):.1f} units per message"

    scenario.expect(
        "list 50 newest, fetch them in one batch (new price list)",
        "50 fetched, 20.1 units per message",
        batch_fetch,
    )

    def push_round_trip() -> str:
        topic = GMAIL_TOPIC
        subscriber = pubsub_v1.SubscriberClient()
        subscription = subscriber.create_subscription(
            name=f"projects/{PROJECT}/subscriptions/gmail-probe", topic=topic
        ).name
        start = gmail.users().watch(userId="me", body={"topicName": topic}).execute()["historyId"]
        generate_messages(google, owner, count=1, seed=2, days=0.01)
        google.push.drain()
        pushed = subscriber.pull(subscription=subscription, max_messages=5, timeout=10).received_messages
        history = gmail.users().history().list(userId="me", startHistoryId=start).execute().get("history", [])
        current = google.mailbox(owner).history_id
        data = json.loads(pushed[0].message.data) if pushed else {}
        same = "=" if data.get("historyId") == current else "!="
        return f"pushed historyId {same} mailbox's, {len(history)} new in history"

    scenario.expect(
        "watch, a new arrival, push through the Pub/Sub emulator, history.list",
        "pushed historyId = mailbox's, 1 new in history",
        push_round_trip,
    )

    def quota() -> str:
        # Its own mailbox, so the minute's window holds only these calls.
        google.add_account("busy@example.com")
        generate_messages(google, "busy@example.com", count=1, seed=3, days=1)
        busy = build_service(
            "gmail", "v1", google.credentials("busy@example.com", scopes), root_url=google.api_root
        )
        google.limits.user_units_per_minute = 40
        message_id = busy.users().messages().list(userId="me", maxResults=1).execute()["messages"][0]["id"]
        try:
            for _ in range(3):
                busy.users().messages().get(userId="me", id=message_id).execute()
            return "no refusal"
        except HttpError as error:
            return f"{error.status_code} {error.error_details[0]['reason']}"
        finally:
            google.limits.user_units_per_minute = None

    scenario.expect(
        "a per-user quota of 40 units a minute, three gets of 20", "403 userRateLimitExceeded", quota
    )

    def revoked() -> str:
        google.oauth.revoke_account(owner)
        try:
            credentials.refresh(Request())  # type: ignore[no-untyped-call]  # google-auth: unannotated
            return "refreshed"
        except RefreshError as error:
            return f"RefreshError, retryable={error.retryable}"

    scenario.expect("the user revokes access; the next refresh", "RefreshError, retryable=False", revoked)


def connect_section(scenario: Scenario) -> None:
    """A CRM user connects Google through the consent page, then revokes; the CRM disconnects."""
    from google.cloud import firestore, pubsub_v1

    from local_stack.google_standin.admin_http import generate_messages
    from local_stack.google_standin.faults import FaultRule
    from local_stack.google_standin.mime_factory import MessageFactory
    from local_stack.user_browser import UserBrowser, answer_consent

    stack, crm, http = scenario.stack, scenario.crm, scenario.http
    google, user, account = stack.google, "u-alice", "alice@example.com"
    google.add_account(account)
    # Alice's Gmail before she connects: 40 messages of the last month, 5 from long ago.
    generate_messages(google, account, count=40, seed=7, days=30)
    old_mail = MessageFactory(8)
    for _ in range(5):
        old = old_mail.plain(to=[account], date=datetime.now(UTC) - timedelta(days=200))
        google.mailbox(account).insert(old.raw, internal_date_ms=int(old.date.timestamp() * 1000))
    subscriber = pubsub_v1.SubscriberClient()
    probe = subscriber.create_subscription(
        name=f"projects/{PROJECT}/subscriptions/first-syncs", topic=f"projects/{PROJECT}/topics/sync-requests"
    ).name
    as_alice = crm.authorization("acme", user)
    connection = f"/v1/tenants/acme/users/{user}/google-connection"
    browser = UserBrowser()
    flow: dict[str, str] = {}

    scenario.section = "A CRM user connects Google: api, browser, the stand-in's consent page, oauth_callback"

    def authorize() -> str:
        answer = scenario.call(
            "POST",
            f"{connection}:authorize",
            {
                "features": ["mail", "calendar", "contacts", "drive"],
                "return_url": f"{CRM_ORIGIN}/settings/google",
            },
            as_alice,
        )
        flow["url"] = str(answer.body.get("authorization_url", ""))
        return (
            f"{answer.status}, a URL on oauth_callback"
            if flow["url"].startswith(scenario.stack.url("oauth_callback"))
            else str(answer.status)
        )

    scenario.expect(
        "the CRM asks for an authorization URL (mail, calendar, contacts, drive)",
        "200, a URL on oauth_callback",
        authorize,
    )

    def start() -> str:
        status, location = browser.visit(flow["url"])
        flow["google"] = location or ""
        bound = any(cookie.name.startswith("crm_google_oauth_") for cookie in browser.cookies)
        on_google = flow["google"].startswith(google.auth_uri)
        return f"{status} to Google's consent page, browser bound: {bound and on_google}"

    scenario.expect(
        "the browser opens it: a cookie binds the attempt, on to Google",
        "302 to Google's consent page, browser bound: True",
        start,
    )

    def consent() -> str:
        callback, offered = answer_consent(flow["google"], account=account)
        flow["callback"] = callback
        short = sorted(scope.rsplit("/", 1)[-1] for scope in offered)
        return ", ".join(short)

    scenario.expect(
        "the consent page asks for the least scopes",
        "calendar.calendarlist.readonly, calendar.events, drive.file, gmail.modify, gmail.send",
        consent,
    )

    def callback() -> str:
        status, location = browser.visit(flow["callback"])
        return f"{status} {location}"

    scenario.expect(
        "Google sends the browser back; oauth_callback connects and returns to the CRM",
        f"302 {CRM_ORIGIN}/settings/google?google_connection=connected",
        callback,
    )

    def status_summary() -> str:
        answer = scenario.call("GET", connection, headers=as_alice)
        body = answer.body
        features = body.get("features", {})
        on = sorted(name for name, state in features.items() if state["enabled"])
        watches = sorted(watch["source"] for watch in body.get("watches", []))
        return f"{body.get('status')}; on: {', '.join(on)}; push from: {', '.join(watches)}"

    scenario.expect(
        "the connection's status: a Gmail watch, channels on the primary calendar and Drive's changes",
        "active; on: calendar, contacts, drive, mail; push from: calendar, drive, gmail",
        status_summary,
    )

    def first_syncs() -> str:
        received = subscriber.pull(subscription=probe, max_messages=10, timeout=10).received_messages
        return ", ".join(sorted(json.loads(message.message.data)["source"] for message in received))

    scenario.expect("first syncs queued on sync-requests", "calendar, drive, gmail", first_syncs)

    def no_plaintext() -> str:
        db = firestore.Client(project=PROJECT)
        documents = [doc.to_dict() for doc in db.collection_group("grant").stream()]
        everything = json.dumps(
            [doc.to_dict() for doc in db.collection("tenants/acme/connections").stream()] + documents,
            default=str,
        )
        leaked = sum(marker in everything for marker in ("1//", "ya29."))
        return f"{len(documents)} sealed grant, {leaked} plaintext tokens"

    scenario.expect("what Firestore holds of the grant", "1 sealed grant, 0 plaintext tokens", no_plaintext)

    db = firestore.Client(project=PROJECT)
    messages = db.collection("tenants/acme/messages")

    scenario.section = "Mail flows in: Gmail push, the Pub/Sub emulator, gmail_push, sync_worker, Firestore"

    def first_sync() -> str:
        count = _wait_for(lambda: len(list(messages.select([]).stream())), until=lambda n: n >= 40)
        return f"{count} copies of the last 90 days; the 5 older ones stay in Gmail only"

    scenario.expect(
        "the first sync (queued at connect) imports within the plan's retention",
        "40 copies of the last 90 days; the 5 older ones stay in Gmail only",
        first_sync,
    )

    def push_to_stored() -> str:
        carol = MessageFactory(9).plain(
            sender="Carol <carol@example.org>", to=[account], subject="Contract", date=datetime.now(UTC)
        )
        gmail_id = google.mailbox(account).insert(carol.raw)["id"]
        document = messages.document(f"{user}_{gmail_id}")
        found = _wait_for(lambda: document.get().exists, until=bool)
        sender = document.get().get("sender")[0]["email"] if found else "?"
        return f"stored: {found}, from {sender}"

    scenario.expect(
        "a new message arrives in Gmail (the ms column is push to stored)",
        "stored: True, from carol@example.org",
        push_to_stored,
    )

    def read_back() -> str:
        page = scenario.call("GET", f"{connection}/messages?page_size=5", headers=as_alice).body
        items = page.get("items", [])
        dates = [item["received_at"] for item in items]
        thread = scenario.call("GET", f"{connection}/threads/{items[0]['thread_id']}", headers=as_alice)
        return f"{len(items)} newest first: {dates == sorted(dates, reverse=True)}; thread {thread.status}"

    scenario.expect("the CRM reads the mailbox and a thread", "5 newest first: True; thread 200", read_back)

    def contact_list() -> str:
        body = scenario.call("GET", "/v1/tenants/acme/contacts?page_size=200", headers=as_alice).body
        emails = [item["email"] for item in body.get("items", [])]
        unique = len(emails) == len({email.lower() for email in emails})
        carol = "carol@example.org" in emails
        return f"carol listed: {carol}, one per address: {unique}, own address: {account in emails}"

    scenario.expect(
        "correspondents become contacts",
        "carol listed: True, one per address: True, own address: False",
        contact_list,
    )

    reconnect_section(scenario, messages)
    write_back_section(scenario)
    sending_section(scenario, messages)
    calendar_section(scenario)
    drive_section(scenario)

    scenario.section = "The user revokes access at Google; the CRM disconnects"

    def revoked() -> str:
        google.oauth.revoke_account(account)
        # Gmail drops a second notification within a second of the last (the safety net covers those).
        google.advance_clock(1.1)
        google.mailbox(account).insert(MessageFactory(10).plain(to=[account]).raw)  # a push, then a sync

        def read_status() -> dict[str, Any]:
            return scenario.call("GET", connection, headers=as_alice).body

        status = _wait_for(read_status, until=lambda body: body.get("status") != "active")
        return f"status {status.get('status')} ({status.get('needs_reconnect_reason')})"

    scenario.expect("the next sync meets invalid_grant", "status needs_reconnect (invalid_grant)", revoked)
    google.faults.add(FaultRule("oauth.revoke", status=503, times=2))
    http("disconnect while Google's revoke endpoint fails twice", "200", "DELETE", connection, **as_alice)
    http("disconnect again (nothing left: a no-op)", "200", "DELETE", connection, **as_alice)
    http("the status afterwards", "404 connection_not_found", "GET", connection, **as_alice)


def reconnect_section(scenario: Scenario, messages: Any) -> None:
    """The user disconnects and connects again while every function stays up (warm instances holding the
    first grant in memory): the new grant is used, mail syncs again, contacts count each copy once."""
    from local_stack.google_standin.mime_factory import MessageFactory
    from local_stack.user_browser import UserBrowser, answer_consent

    stack, crm = scenario.stack, scenario.crm
    google, user, account = stack.google, "u-alice", "alice@example.com"
    as_alice = crm.authorization("acme", user)
    connection = f"/v1/tenants/acme/users/{user}/google-connection"

    def count_copies() -> int:
        return sum(1 for _ in messages.where("connection_id", "==", user).select([]).stream())

    def carol() -> tuple[int, int]:
        body = scenario.call(
            "GET", "/v1/tenants/acme/contacts?query=carol@&page_size=5", headers=as_alice
        ).body
        items = [item for item in body.get("items", []) if item["email"] == "carol@example.org"]
        return (items[0]["received_count"], items[0]["sent_count"]) if items else (0, 0)

    scenario.section = "The user disconnects and connects again; the workers stay warm"
    synced: dict[str, Any] = {"copies": count_copies(), "carol": carol()}

    def disconnect() -> str:
        answer = scenario.call("DELETE", connection, headers=as_alice)
        return f"{answer.status}, copies left: {count_copies()}, carol counted: {carol()}"

    scenario.expect(
        "disconnect: unattached copies purged, their contacts uncounted",
        "200, copies left: 0, carol counted: (0, 0)",
        disconnect,
    )

    def reconnect() -> str:
        start = scenario.call(
            "POST",
            f"{connection}:authorize",
            {
                "features": ["mail", "calendar", "contacts", "drive"],
                "return_url": f"{CRM_ORIGIN}/settings/google",
            },
            as_alice,
        ).body["authorization_url"]
        browser = UserBrowser()
        _, google_url = browser.visit(start)
        callback, _ = answer_consent(str(google_url), account=account)
        _, landing = browser.visit(callback)
        return "connected" if str(landing).endswith("google_connection=connected") else str(landing)

    scenario.expect("the same user connects the same account again", "connected", reconnect)

    def synced_again() -> str:
        count = _wait_for(count_copies, until=lambda n: n >= synced["copies"])
        body = scenario.call("GET", connection, headers=as_alice).body
        return f"{body.get('status')}, {count} copies, carol counted: {carol()}"

    scenario.expect(
        "the warm sync_worker uses the new grant: every copy back, each counted once",
        f"active, {synced['copies']} copies, carol counted: {synced['carol']}",
        synced_again,
    )

    def new_mail() -> str:
        google.advance_clock(1.1)
        raw = (
            MessageFactory(12)
            .plain(sender="Carol <carol@example.org>", to=[account], subject="Again", date=datetime.now(UTC))
            .raw
        )
        gmail_id = google.mailbox(account).insert(raw)["id"]
        document = messages.document(f"{user}_{gmail_id}")
        found = _wait_for(lambda: document.get().exists, until=bool)
        return f"stored: {found}, carol counted: {carol()}"

    received, sent = synced["carol"]
    scenario.expect(
        "a new message arrives through the push path",
        f"stored: True, carol counted: ({received + 1}, {sent})",
        new_mail,
    )


def write_back_section(scenario: Scenario) -> None:
    """The CRM marks a message read: api records the write under the CRM's key and queues it,
    outbound_worker changes Gmail once, whatever the CRM retries and Pub/Sub redelivers."""
    from google.cloud import pubsub_v1

    stack, crm = scenario.stack, scenario.crm
    google, user, account = stack.google, "u-alice", "alice@example.com"
    as_alice = crm.authorization("acme", user)
    connection = f"/v1/tenants/acme/users/{user}/google-connection"
    scenario.section = "The CRM marks a message read: api, outbound-requests, outbound_worker, Gmail"
    page = scenario.call("GET", f"{connection}/messages?label=UNREAD&page_size=1", headers=as_alice).body
    target = page["items"][0]["gmail_id"]
    key = {**as_alice, "Idempotency-Key": "demo-read-0001"}
    write: dict[str, Any] = {}

    def mark_read() -> str:
        answers = [
            scenario.call("PATCH", f"{connection}/messages/{target}", {"read": True}, key) for _ in range(3)
        ]
        write["id"] = answers[0].body.get("write_id")
        same = len({answer.body.get("write_id") for answer in answers}) == 1
        return f"{', '.join(str(answer.status) for answer in answers)}; one write: {same}"

    scenario.expect(
        "the CRM's call, and two retries with the same key", "202, 202, 202; one write: True", mark_read
    )

    def carried_out() -> str:
        body = _wait_for(
            lambda: scenario.call("GET", f"{connection}/writes/{write['id']}", headers=as_alice).body,
            until=lambda b: b.get("status") == "done",
        )
        publisher = pubsub_v1.PublisherClient()
        data = json.dumps({"tenant_id": "acme", "write_id": write["id"]}).encode()
        for _ in range(3):  # Pub/Sub delivers at least once: three redeliveries
            publisher.publish(f"projects/{PROJECT}/topics/outbound-requests", data).result(timeout=10)
        time.sleep(1.0)
        modifies = len(google.calls.calls(method_id="gmail.users.messages.modify"))
        unread = "UNREAD" in google.mailbox(account).get_message(target, format="minimal")["labelIds"]
        return f"{body.get('status')}; Gmail modified {modifies} time(s); unread in Gmail: {unread}"

    scenario.expect(
        "outbound_worker carries it out; three redeliveries change nothing more",
        "done; Gmail modified 1 time(s); unread in Gmail: False",
        carried_out,
    )


def sending_section(scenario: Scenario, messages: Any) -> None:
    """The CRM replies to Carol from Alice's Gmail: one message in Sent, in Carol's thread, stored once."""
    stack, crm = scenario.stack, scenario.crm
    google, user, account = stack.google, "u-alice", "alice@example.com"
    as_alice = crm.authorization("acme", user)
    connection = f"/v1/tenants/acme/users/{user}/google-connection"
    scenario.section = "The CRM sends a reply through Gmail: api, outbound_worker, messages.send, the sync"
    page = scenario.call(
        "GET", f"{connection}/messages?correspondent=carol@example.org&page_size=1", headers=as_alice
    ).body
    carols = page["items"][0]
    sent: dict[str, Any] = {}

    def send_reply() -> str:
        body = {
            "to": [{"email": "carol@example.org", "name": "Carol"}],
            "text": "Signed, thank you.",
            "reply_to": carols["gmail_id"],
        }
        key = {**as_alice, "Idempotency-Key": "demo-reply-0001"}
        answers = [scenario.call("POST", f"{connection}/outbound-messages", body, key) for _ in range(2)]
        sent["id"] = answers[0].body.get("id")
        one = answers[0].body.get("id") == answers[1].body.get("id")
        return f"{answers[0].status}, {answers[1].status}; one mail: {one}"

    scenario.expect(
        "the CRM sends a reply to Carol (and retries the call)", "202, 202; one mail: True", send_reply
    )

    def threaded() -> str:
        body = _wait_for(
            lambda: (
                scenario.call("GET", f"{connection}/outbound-messages/{sent['id']}", headers=as_alice).body
            ),
            until=lambda b: b.get("status") in ("sent", "failed"),
        )
        mailbox = google.mailbox(account)
        in_sent = mailbox.list_messages(q=f"rfc822msgid:{body.get('message_id_header', '')}").get(
            "messages", []
        )
        gmail_id = body.get("gmail_id")
        subject = ""
        if gmail_id:
            headers = mailbox.get_message(gmail_id, format="metadata", metadata_headers=["Subject"])[
                "payload"
            ]["headers"]
            subject = headers[0]["value"] if headers else ""
        same_thread = body.get("thread_id") == carols["thread_id"]
        return f"{body.get('status')}; {len(in_sent)} in Sent; in Carol's thread: {same_thread}; {subject}"

    scenario.expect(
        "outbound_worker sends it once, into the thread",
        f"sent; 1 in Sent; in Carol's thread: True; Re: {carols.get('subject')}",
        threaded,
    )

    def stored_once() -> str:
        body = scenario.call("GET", f"{connection}/outbound-messages/{sent['id']}", headers=as_alice).body
        gmail_id = body.get("gmail_id")
        stored = (
            sum(1 for d in messages.where("gmail_id", "==", gmail_id).select([]).stream()) if gmail_id else 0
        )
        thread = scenario.call("GET", f"{connection}/threads/{carols['thread_id']}", headers=as_alice).body
        return f"copies of it: {stored}; the thread in the CRM holds {len(thread.get('messages', []))}"

    scenario.expect(
        "the sent copy is stored at once, once, beside Carol's message",
        "copies of it: 1; the thread in the CRM holds 2",
        stored_once,
    )


def calendar_section(scenario: Scenario) -> None:
    """Calendar both ways: an event made in Google arrives through its channel; one made in the CRM lands
    in Google once, emailing nobody, and its echo writes nothing; a change Google made meanwhile wins."""
    from google.cloud import firestore

    stack, crm = scenario.stack, scenario.crm
    google, user, account = stack.google, "u-alice", "alice@example.com"
    as_alice = crm.authorization("acme", user)
    connection = f"/v1/tenants/acme/users/{user}/google-connection"
    calendar = google.calendars(account).primary
    events = firestore.Client(project=PROJECT).collection("tenants/acme/events")
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    window = {"time_min": _rfc3339(soon - timedelta(days=7)), "time_max": _rfc3339(soon + timedelta(days=7))}
    made: dict[str, Any] = {}

    def listed() -> list[dict[str, Any]]:
        query = urllib.parse.urlencode(window)
        return list(
            scenario.call("GET", f"{connection}/events?{query}", headers=as_alice).body.get("items", [])
        )

    scenario.section = "Calendar both ways: channels, calendar_push, sync_worker; the CRM's events, once"

    def from_google() -> str:
        calendar.insert(
            {
                "summary": "Kick-off with Carol",
                "start": {"dateTime": _rfc3339(soon)},
                "end": {"dateTime": _rfc3339(soon + timedelta(hours=1))},
            }
        )
        found = _wait_for(
            listed, until=lambda items: any(i["summary"] == "Kick-off with Carol" for i in items)
        )
        return f"in the CRM: {[item['summary'] for item in found]}"

    scenario.expect(
        "an event made in Google Calendar arrives through its channel (ms: to stored)",
        "in the CRM: ['Kick-off with Carol']",
        from_google,
    )

    def from_crm() -> str:
        body = {
            "summary": "Contract signing",
            "start": {"date_time": _rfc3339(soon + timedelta(days=1))},
            "end": {"date_time": _rfc3339(soon + timedelta(days=1, hours=1))},
            "attendees": [{"email": "carol@example.org"}],
            "crm_id": "ACT-1001",
        }
        key = {**as_alice, "Idempotency-Key": "demo-event-0001"}
        answers = [scenario.call("POST", f"{connection}/events", body, key) for _ in range(2)]
        made.update(answers[0].body)
        one = answers[0].body.get("write_id") == answers[1].body.get("write_id")
        return f"{answers[0].status}, {answers[1].status}; one write: {one}"

    scenario.expect(
        "the CRM makes an event with a guest (and retries the call)", "202, 202; one write: True", from_crm
    )

    def in_google() -> str:
        write = _wait_for(
            lambda: scenario.call("GET", f"{connection}/writes/{made['write_id']}", headers=as_alice).body,
            until=lambda body: body.get("status") in ("done", "failed"),
        )
        copies = [
            e for e in calendar.events(include_cancelled=False) if e.get("summary") == "Contract signing"
        ]
        inserts = google.calls.calls(method_id="calendar.events.insert")
        emailed = sum(len((call.details or {}).get("notified", [])) for call in inserts)
        modes = sorted({str((call.details or {}).get("sendUpdates")) for call in inserts})
        status, sent_as = write.get("status"), ", ".join(modes)
        return f"{status}; {len(copies)} in Google; sendUpdates {sent_as}; guests emailed: {emailed}"

    scenario.expect(
        "outbound_worker puts it in Google Calendar once, and no guest is emailed",
        "done; 1 in Google; sendUpdates none; guests emailed: 0",
        in_google,
    )

    def echo() -> str:
        document = events.document(str(made["event_key"]))
        before = document.get().update_time
        states = firestore.Client(project=PROJECT).collection("tenants/acme/sync_states")

        def calendar_synced() -> bool:
            return any(
                ((doc.to_dict() or {}).get("last_success_at") or datetime.min.replace(tzinfo=UTC)) > before
                for doc in states.where("source", "==", "calendar").stream()
            )

        synced = _wait_for(calendar_synced, until=bool, seconds=10.0)
        return f"its push synced: {synced}; the event rewritten: {document.get().update_time != before}"

    scenario.expect(
        "the push our own insert caused: synced, and its echo writes nothing",
        "its push synced: True; the event rewritten: False",
        echo,
    )

    def conflict() -> str:
        shown = scenario.call("GET", f"{connection}/events/{made['event_key']}", headers=as_alice).body
        calendar.patch(str(shown["event_id"]), {"location": "Room 4"})  # someone edits it in Google first
        key = {**as_alice, "Idempotency-Key": "demo-event-0002"}
        change = {"summary": "Contract signing (final)", "etag": shown["etag"]}
        write = scenario.call("PATCH", f"{connection}/events/{made['event_key']}", change, key).body
        ended = _wait_for(
            lambda: scenario.call("GET", f"{connection}/writes/{write['write_id']}", headers=as_alice).body,
            until=lambda body: body.get("status") in ("done", "failed"),
        )
        after = scenario.call("GET", f"{connection}/events/{made['event_key']}", headers=as_alice).body
        both = after.get("conflict") or {}
        return (
            f"{ended.get('status')} {(ended.get('failure') or {}).get('code')}; shows Google's: "
            f"{after.get('location') == 'Room 4'}; both versions: {'crm' in both and 'google' in both}"
        )

    scenario.expect(
        "Google changed it meanwhile: Google's version wins, the CRM sees a conflict",
        "failed calendar_conflict; shows Google's: True; both versions: True",
        conflict,
    )


def drive_section(scenario: Scenario) -> None:
    """Drive with drive.file: a picked file attached to a deal and shared with its team, an unpicked one
    refused, a Doc from the deal template (exactly once) opened by its link and exported as PDF, and a
    rename in Drive reaching the CRM through drive_push."""
    import io

    from google.cloud import firestore
    from pypdf import PdfReader

    stack, crm = scenario.stack, scenario.crm
    google, user, account = stack.google, "u-alice", "alice@example.com"
    as_alice = crm.authorization("acme", user)
    connection = f"/v1/tenants/acme/users/{user}/google-connection"
    drive = google.drive(account)
    deal = {"type": "deal", "id": "D-7"}
    team = [{"email": "bob@example.com", "role": "writer"}, {"email": "dana@example.com", "role": "reader"}]
    doc_type = "application/vnd.google-apps.document"
    files = firestore.Client(project=PROJECT).collection("tenants/acme/drive_files")
    made: dict[str, Any] = {}
    scenario.section = "Drive and Google Docs: drive.file, sharing with the deal's team, a template, PDF"

    def picked() -> str:
        brief = drive.create("Deal brief", doc_type, text="Scope and price.")
        drive.grant_to_app(brief["id"])  # Alice picks it in the CRM with the Google Picker
        made["brief"] = brief["id"]
        body = {"file_id": brief["id"], "entity": deal, "team": team}
        answer = scenario.call("POST", f"{connection}/drive-files", body, as_alice)
        people = sorted(
            f"{p.get('emailAddress')}:{p['role']}"
            for p in drive.permissions(brief["id"])
            if p["role"] != "owner"
        )
        links = [p for p in drive.permissions(brief["id"]) if p["type"] in ("anyone", "domain")]
        return f"{answer.status}; shared with {', '.join(people)}; links for anyone: {len(links)}"

    scenario.expect(
        "a file Alice picked is attached to the deal and shared with its team (people only)",
        "200; shared with bob@example.com:writer, dana@example.com:reader; links for anyone: 0",
        picked,
    )

    def not_picked() -> str:
        other = drive.create("Payroll", "application/vnd.google-apps.spreadsheet")
        body = {"file_id": other["id"], "entity": deal, "team": team}
        answer = scenario.call("POST", f"{connection}/drive-files", body, as_alice)
        stored = any((doc.to_dict() or {}).get("file_id") == other["id"] for doc in files.stream())
        return f"{answer.status} {answer.body.get('code')}; stored: {stored}"

    scenario.expect(
        "a file she never picked is refused, and nothing is stored",
        "404 drive_file_not_accessible; stored: False",
        not_picked,
    )

    def from_template() -> str:
        template = drive.create("Offer template", doc_type, text="Dear customer,\nOur offer: 1,000 EUR.")
        drive.grant_to_app(template["id"])
        body = {"name": "Offer for ACME", "template_file_id": template["id"], "entity": deal, "team": team}
        key = {**as_alice, "Idempotency-Key": "demo-doc-0001"}
        answers = [scenario.call("POST", f"{connection}/drive-docs", body, key) for _ in range(2)]
        made["doc"] = answers[0].body.get("file_id")
        copies = [f for f in drive.files() if f["name"] == "Offer for ACME"]
        link = str(answers[0].body.get("web_view_link", ""))
        opens = link == drive.get(made["doc"])["webViewLink"] and "/edit" in link
        statuses = f"{answers[0].status}, {answers[1].status}"
        return f"{statuses}; Docs made: {len(copies)}; opens in the editor: {opens}"

    scenario.expect(
        "a Doc from the deal template, for the deal and its team (and a retry)",
        "201, 201; Docs made: 1; opens in the editor: True",
        from_template,
    )

    def exported() -> str:
        url = f"{scenario.stack.url('api')}{connection}/drive-files/{made['doc']}/export?format=pdf"
        request = urllib.request.Request(url, headers=as_alice)
        scenario.requests += 1  # a download, not JSON: fetched here, counted as every api request is
        with urllib.request.urlopen(request, timeout=30) as response:
            data, kind = response.read(), response.headers.get("Content-Type")
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
        return f"{kind}; a real PDF: {data.startswith(b'%PDF-')}; says the offer: {'1,000 EUR' in text}"

    scenario.expect(
        "exported as PDF, read back with pypdf",
        "application/pdf; a real PDF: True; says the offer: True",
        exported,
    )

    def renamed() -> str:
        drive.rename(made["brief"], "Deal brief (signed)")
        document = files.document(f"{user}_{made['brief']}")
        name = _wait_for(lambda: document.get().get("name"), until=lambda n: n == "Deal brief (signed)")
        return f"in the CRM: {name}"

    scenario.expect(
        "renamed in Drive: drive_push and the changes sync bring it to the CRM (ms: to stored)",
        "in the CRM: Deal brief (signed)",
        renamed,
    )


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def purge_section(scenario: Scenario) -> None:
    """A plan moves to a shorter retention; the next nightly purge removes what is past it, but not what
    is attached to a CRM record. Its report closes the run."""
    from google.cloud import firestore

    from local_stack.google_standin.admin_http import generate_messages
    from local_stack.user_browser import UserBrowser, answer_consent

    stack, crm = scenario.stack, scenario.crm
    google, user, account = stack.google, "u-bob", "bob@example.com"
    google.add_account(account)
    generated = generate_messages(google, account, count=60, seed=21, days=120)
    now_ms = datetime.now(UTC).timestamp() * 1000
    received_ms = {
        m["id"]: int(google.mailbox(account).get_message(m["id"], format="minimal")["internalDate"])
        for m in generated
    }
    age_days = {gmail_id: (now_ms - at) / 86_400_000 for gmail_id, at in received_ms.items()}
    imported = sorted((days, gmail_id) for gmail_id, days in age_days.items() if days < 90)
    past_60 = [gmail_id for days, gmail_id in imported if days > 60.01]
    as_bob = crm.authorization("acme", user)
    connection = f"/v1/tenants/acme/users/{user}/google-connection"
    messages = firestore.Client(project=PROJECT).collection("tenants/acme/messages")

    scenario.section = "The nightly purge: the plan's retention, attached copies kept, a report"

    def connect_and_sync() -> str:
        start = scenario.call(
            "POST",
            f"{connection}:authorize",
            {"features": ["mail"], "return_url": f"{CRM_ORIGIN}/settings"},
            as_bob,
        ).body["authorization_url"]
        browser = UserBrowser()
        _, google_url = browser.visit(start)
        callback, _ = answer_consent(str(google_url), account=account)
        browser.visit(callback)
        count = _wait_for(
            lambda: sum(1 for d in messages.where("connection_id", "==", user).select([]).stream()),
            until=lambda n: n >= len(imported),
        )
        return f"{count} copies (the plan keeps 90 days)"

    scenario.expect(
        "bob connects; his first sync", f"{len(imported)} copies (the plan keeps 90 days)", connect_and_sync
    )

    keep = past_60[:2]

    def attach() -> str:
        statuses = [
            scenario.call(
                "POST",
                f"{connection}/messages/{gmail_id}/attachments-to-crm",
                {"entity": {"type": "deal", "id": "d-42"}},
                as_bob,
            ).status
            for gmail_id in keep
        ]
        return f"{statuses.count(200)} attached"

    scenario.expect("two old messages are attached to a deal", "2 attached", attach)
    scenario.http(
        "the tenant moves to Standard (60 days)",
        "200",
        "PUT",
        "/v1/tenants/acme/plan",
        {"plan": "Standard"},
        **crm.authorization("acme"),
    )

    def nightly() -> str:
        token = google.oauth.mint_id_token(audience=stack.url("daily_purge"), email=SCHEDULER_ACCOUNT)
        fanned = scenario.call(
            "POST", "", None, {"Authorization": f"Bearer {token}"}, base=stack.url("daily_purge")
        ).body
        run_id = fanned.get("run_id")

        def report() -> dict[str, Any]:
            items = scenario.call(
                "GET", "/v1/tenants/acme/purge-reports", headers=crm.authorization("acme")
            ).body
            return next((r for r in items.get("items", []) if r["run_id"] == run_id), {})

        done = _wait_for(report, until=lambda r: r.get("status") == "done")
        return (
            f"{done.get('plan')}, {done.get('retention_days')} days: deleted {done.get('deleted')}, "
            f"kept {done.get('kept_attached')} attached"
        )

    scenario.expect(
        "Cloud Scheduler runs daily_purge; purge_worker purges; the report",
        f"Standard, 60 days: deleted {len(past_60) - len(keep)}, kept {len(keep)} attached",
        nightly,
    )


def _wait_for(read: Callable[[], Any], *, until: Callable[[Any], bool], seconds: float = 30.0) -> Any:
    """Poll ``read`` until ``until`` holds or time is up; returns the last value read (asynchronous paths)."""
    deadline = time.monotonic() + seconds
    value = read()
    while not until(value) and time.monotonic() < deadline:
        time.sleep(0.05)
        value = read()
    return value


def render(steps: list[Step], started_ms: float, total_ms: float, functions: str) -> str:
    passed = sum(step.ok for step in steps)
    out = [
        "# Local run: CRM Google integration",
        "",
        f"Stack up in {started_ms / 1000:.1f} s (Firestore and Pub/Sub emulators, Secret Manager and Google "
        f"stand-ins, {functions} under functions-framework); whole run {total_ms / 1000:.1f} s.",
        "",
    ]
    section = None
    for step in steps:
        if step.section != section:
            section = step.section
            out += ["", f"## {section}", "", "| | step | expected | got | ms |", "|---|---|---|---|---:|"]
        mark = "ok" if step.ok else "FAIL"
        out.append(f"| {mark} | {step.name} | {step.expected} | {step.actual} | {step.ms:.0f} |")
    out += [
        "",
        f"**{passed} of {len(steps)} steps as expected.**",
        "",
        "Every feature of the seeds is in this run.",
    ]
    return "\n".join(out) + "\n"


def main() -> int:
    log_dir = REPO_ROOT / ".cache" / "demo-logs"
    began = time.perf_counter()
    # The tenant writes read state back to Gmail (so connecting asks for gmail.modify).
    with running_stack(log_dir, settings={"MAIL_READ_STATE_WRITE_BACK": "true"}) as stack:
        started_ms = (time.perf_counter() - began) * 1000
        os.environ.update(stack.environment)  # this process's own clients talk to the same stack
        scenario = Scenario(stack)
        run_scenario(scenario)
    functions = ", ".join(f"`{name}`" for name in stack.functions)
    report = render(scenario.steps, started_ms, (time.perf_counter() - began) * 1000, functions)
    reports = REPO_ROOT / "reports"
    reports.mkdir(exist_ok=True)
    (reports / "demo-report.md").write_text(report)
    sys.stdout.write(
        report + f"\n(saved to {Path('reports') / 'demo-report.md'}; logs in .cache/demo-logs)\n"
    )
    return 0 if all(step.ok for step in scenario.steps) else 1


if __name__ == "__main__":
    raise SystemExit(main())
