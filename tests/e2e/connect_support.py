"""Playing every party of a Google connect: the CRM backend (api calls), the user's browser (cookies,
redirects), and Google (the stand-in's consent step), around the real functions and emulators."""

from __future__ import annotations

import base64
import json
import os
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import functions_framework
import pytest
from flask.testing import FlaskClient
from google.cloud import pubsub_v1

from local_stack.crm_backend import CrmBackend
from local_stack.google_standin.standin import GoogleStandIn
from local_stack.secret_manager import LocalSecretManager, seed_secrets
from local_stack.stack import google_environment
from local_stack.user_browser import UserBrowser
from shared.composition import reset_container
from tests.conftest import TEST_PROJECT
from tests.e2e.functions import function_client

CALLBACK_URL = "http://oauth.test"
RETURN_URL = "https://crm.test/settings/google"
CLIENT_ID = "crm-integration.apps.googleusercontent.com"
CLIENT_SECRET = "e2e-client-secret"
ALICE = "alice@example.com"
ALICE_OTHER = "alice.private@example.org"
GMAIL_TOPIC = f"projects/{TEST_PROJECT}/topics/gmail-notifications"
SYNC_SUBSCRIPTION = f"projects/{TEST_PROJECT}/subscriptions/sync-probe"
OUTBOUND_SUBSCRIPTION = f"projects/{TEST_PROJECT}/subscriptions/outbound-probe"
SCHEDULER_ACCOUNT = "scheduler@crm-google-test.iam.gserviceaccount.com"
SCHEDULER_AUDIENCE = "http://renew-watches.test"
GMAIL_SEND = "https://www.googleapis.com/auth/gmail.send"
PUSH_AUDIENCE = "http://gmail-push.test"
PUSH_ACCOUNT = "gmail-push@crm-google-test.iam.gserviceaccount.com"


@dataclass
class Browser:
    """One user's browser: its own cookie jar, following our redirects but stopping at the CRM."""

    client: FlaskClient
    pages: list[str] = field(default_factory=list)


@dataclass
class Callback:
    status: int
    location: str | None
    body: str

    @property
    def outcome(self) -> str | None:
        if self.location is None:
            return None
        return urllib.parse.parse_qs(urllib.parse.urlparse(self.location).query).get(
            "google_connection", [None]
        )[0]


class ConnectDriver:
    def __init__(self, standin: GoogleStandIn, crm: CrmBackend, tenant: str) -> None:
        self.standin = standin
        self.crm = crm
        self.tenant = tenant
        self.api = function_client("api")

    def browser(self) -> Browser:
        return Browser(function_client("oauth_callback"))

    def authorize(self, user: str, features: list[str] | None = None, return_url: str = RETURN_URL) -> Any:
        return self.api.post(
            f"/v1/tenants/{self.tenant}/users/{user}/google-connection:authorize",
            json={"features": features or ["mail", "contacts"], "return_url": return_url},
            headers=self.crm.authorization(self.tenant, user),
        )

    def start(self, browser: Browser, authorization_url: str) -> Any:
        parsed = urllib.parse.urlparse(authorization_url)
        assert f"{parsed.scheme}://{parsed.netloc}" == CALLBACK_URL
        return browser.client.get(f"{parsed.path}?{parsed.query}")

    def consent(
        self,
        google_url: str,
        *,
        decision: str = "allow",
        account: str = ALICE,
        grant: list[str] | None = None,
    ) -> str:
        """Google's consent step, answered at once by the stand-in's test path; returns the callback URL."""
        extra = {"standin_decision": decision, "standin_account": account}
        if grant is not None:
            extra["standin_grant"] = " ".join(grant)
        status, location = UserBrowser().visit(f"{google_url}&{urllib.parse.urlencode(extra)}")
        if status == 302:
            return str(location)
        if status < 300:
            raise AssertionError("the consent step did not redirect")
        raise AssertionError(f"the consent step answered {status}")

    def callback(self, browser: Browser, callback_url: str) -> Callback:
        parsed = urllib.parse.urlparse(callback_url)
        response = browser.client.get(f"{parsed.path}?{parsed.query}")
        return Callback(
            response.status_code, response.headers.get("Location"), response.get_data(as_text=True)
        )

    def connect(
        self,
        user: str = "user-1",
        *,
        features: list[str] | None = None,
        account: str = ALICE,
        grant: list[str] | None = None,
        decision: str = "allow",
        browser: Browser | None = None,
    ) -> Callback:
        browser = browser or self.browser()
        authorization_url = self.authorize(user, features).get_json()["authorization_url"]
        google_url = self.start(browser, authorization_url).headers["Location"]
        return self.callback(
            browser, self.consent(google_url, decision=decision, account=account, grant=grant)
        )

    def status(self, user: str = "user-1") -> Any:
        return self.api.get(
            f"/v1/tenants/{self.tenant}/users/{user}/google-connection",
            headers=self.crm.authorization(self.tenant, user),
        )

    def disconnect(self, user: str = "user-1") -> Any:
        return self.api.delete(
            f"/v1/tenants/{self.tenant}/users/{user}/google-connection",
            headers=self.crm.authorization(self.tenant, user),
        )

    def renew_watches(self) -> Any:
        token = self.standin.oauth.mint_id_token(audience=SCHEDULER_AUDIENCE, email=SCHEDULER_ACCOUNT)
        return function_client("renew_watches").post("/", headers={"Authorization": f"Bearer {token}"})

    def push(self, email: str = ALICE, history_id: int = 1) -> Any:
        """Gmail's notification, as Pub/Sub pushes it: an envelope and an OIDC token."""
        data = base64.b64encode(
            json.dumps({"emailAddress": email, "historyId": history_id}).encode()
        ).decode()
        envelope = {
            "message": {"data": data, "messageId": "1"},
            "subscription": "projects/p/subscriptions/gmail",
        }
        token = self.standin.oauth.mint_id_token(audience=PUSH_AUDIENCE, email=PUSH_ACCOUNT)
        return function_client("gmail_push").post(
            "/", json=envelope, headers={"Authorization": f"Bearer {token}"}
        )

    def deliver(self, *, limit: int = 50) -> list[int]:
        """Plays our push subscription: queued sync requests go to sync_worker until none is left.
        Returns each delivery's status; a failed one (5xx) is delivered again, as Pub/Sub would."""
        return _deliver("sync_worker", SYNC_SUBSCRIPTION, limit=limit)

    def deliver_writes(self, *, limit: int = 50, times: int = 1) -> list[int]:
        """The same for outbound_worker and its queued writes; ``times``: each message is delivered
        that many times (Pub/Sub delivers at least once)."""
        return _deliver("outbound_worker", OUTBOUND_SUBSCRIPTION, limit=limit, times=times)


def _deliver(target: str, subscription: str, *, limit: int, times: int = 1) -> list[int]:
    worker = cloud_event_client(target)
    statuses: list[int] = []
    subscriber = pubsub_v1.SubscriberClient()
    while len(statuses) < limit:
        response = pull_now(subscriber, max_messages=1, subscription=subscription)
        if not response.received_messages:
            return statuses
        received = response.received_messages[0]
        envelope = push_envelope(received.message.data, received.message.message_id)
        answers = [worker.post("/", json=envelope).status_code for _ in range(times)]
        statuses.extend(answers)
        if answers[-1] < 300:
            subscriber.acknowledge(subscription=subscription, ack_ids=[received.ack_id])
        else:  # nack: redelivered at once
            subscriber.modify_ack_deadline(
                subscription=subscription, ack_ids=[received.ack_id], ack_deadline_seconds=0
            )
    return statuses


def push_envelope(data: bytes, message_id: str = "1") -> dict[str, Any]:
    """What a Pub/Sub push subscription POSTs; functions-framework turns it into a CloudEvent."""
    return {
        "message": {
            "data": base64.b64encode(data).decode(),
            "messageId": message_id,
            "publishTime": "2026-11-21T00:00:00Z",
        },
        "subscription": f"projects/{TEST_PROJECT}/subscriptions/sync-worker",
    }


def pull_now(
    subscriber: pubsub_v1.SubscriberClient, *, max_messages: int, subscription: str = SYNC_SUBSCRIPTION
) -> Any:
    """What is queued now. Without return_immediately the emulator holds an empty pull for seconds."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return subscriber.pull(
            subscription=subscription, max_messages=max_messages, return_immediately=True, timeout=10
        )


def cloud_event_client(target: str) -> FlaskClient:
    from tests.conftest import REPO_ROOT

    source = REPO_ROOT / "functions" / target / "main.py"
    return functions_framework.create_app(target, str(source), "cloudevent").test_client()


def sync_requests() -> list[dict[str, Any]]:
    subscriber = pubsub_v1.SubscriberClient()
    response = pull_now(subscriber, max_messages=20)
    if response.received_messages:
        subscriber.acknowledge(
            subscription=SYNC_SUBSCRIPTION,
            ack_ids=[received.ack_id for received in response.received_messages],
        )
    return [json.loads(received.message.data) for received in response.received_messages]


@pytest.fixture
def connect_world(
    stack_environment: dict[str, str], crm_backend: CrmBackend, secret_manager: LocalSecretManager
) -> Iterator[ConnectDriver]:
    """The stand-ins configured as production would configure Google, and a tenant on Standard. The
    session's Secret Manager stand-in: each test seeds new latest versions of both secrets."""
    with GoogleStandIn() as standin:
        standin.add_account(ALICE)
        standin.add_account(ALICE_OTHER)
        standin.oauth.register_client(CLIENT_ID, CLIENT_SECRET, [f"{CALLBACK_URL}/callback"])
        environment = {
            "SECRET_MANAGER_ENDPOINT": secret_manager.address,
            **google_environment(standin, client_id=CLIENT_ID),
            "OAUTH_CALLBACK_URL": CALLBACK_URL,
            "CRM_RETURN_ORIGINS": "https://crm.test",
            "GMAIL_PUSH_TOPIC": GMAIL_TOPIC,
            "SCHEDULER_AUDIENCES": SCHEDULER_AUDIENCE,
            "SCHEDULER_SERVICE_ACCOUNTS": SCHEDULER_ACCOUNT,
            "PUSH_AUDIENCES": PUSH_AUDIENCE,
            "PUSH_SERVICE_ACCOUNTS": PUSH_ACCOUNT,
        }
        os.environ.update(environment)
        reset_container()
        seed_secrets(
            secret_manager.address,
            TEST_PROJECT,
            {"oauth-client-secret": CLIENT_SECRET.encode(), "token-encryption-key": os.urandom(32)},
        )
        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        topic = publisher.create_topic(name=f"projects/{TEST_PROJECT}/topics/sync-requests").name
        subscriber.create_subscription(name=SYNC_SUBSCRIPTION, topic=topic)
        outbound = publisher.create_topic(name=f"projects/{TEST_PROJECT}/topics/outbound-requests").name
        subscriber.create_subscription(name=OUTBOUND_SUBSCRIPTION, topic=outbound)
        driver = ConnectDriver(standin, crm_backend, "acme")
        created = driver.api.put(
            "/v1/tenants/acme",
            json={"name": "Acme", "plan": "Standard"},
            headers=crm_backend.authorization("acme"),
        )
        assert created.status_code == 201
        yield driver
