"""Gmail push: through the real Pub/Sub emulator, and delivered directly with an OIDC token."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from google.auth.transport.requests import Request as AuthRequest
from google.cloud import pubsub_v1
from google.oauth2 import id_token
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from local_stack.emulators import Emulators
from local_stack.google_standin.mime_factory import MessageFactory
from local_stack.google_standin.push import PushSettings
from local_stack.google_standin.standin import GoogleStandIn, StandInSettings
from tests.conftest import TEST_PROJECT
from tests.integration.helpers import ALICE

TOPIC = f"projects/{TEST_PROJECT}/topics/gmail-notifications"
SUBSCRIPTION = f"projects/{TEST_PROJECT}/subscriptions/probe"


class Receiver:
    """A push endpoint on loopback that records what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], str]] = []

        def app(environ: dict[str, Any], start_response: Any) -> Any:
            request = Request(environ)
            self.received.append((json.loads(request.get_data()), request.headers.get("Authorization", "")))
            return Response(status=204)(environ, start_response)

        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/push/gmail"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def standin_settings(
    emulators: Emulators, stack_environment: dict[str, str], receiver: Receiver
) -> StandInSettings:
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    publisher.create_topic(name=TOPIC)
    subscriber.create_subscription(name=SUBSCRIPTION, topic=TOPIC)
    return StandInSettings(
        push=PushSettings(pubsub_emulator_host=emulators.pubsub.address, push_endpoint=receiver.url)
    )


def pulled() -> list[dict[str, Any]]:
    response = pubsub_v1.SubscriberClient().pull(subscription=SUBSCRIPTION, max_messages=10, timeout=10)
    return [json.loads(received.message.data) for received in response.received_messages]


def test_a_change_to_a_watched_mailbox_is_published_to_the_topic(
    standin: GoogleStandIn, gmail: Any, factory: MessageFactory
) -> None:
    gmail.users().watch(userId="me", body={"topicName": TOPIC}).execute()
    standin.mailbox(ALICE).insert(factory.plain(to=[ALICE]).raw)
    assert standin.push.drain()
    assert pulled() == [{"emailAddress": ALICE, "historyId": standin.mailbox(ALICE).history_id}]


def test_at_most_one_notification_per_second_per_user(
    standin: GoogleStandIn, gmail: Any, factory: MessageFactory
) -> None:
    gmail.users().watch(userId="me", body={"topicName": TOPIC}).execute()
    for _ in range(5):
        standin.mailbox(ALICE).insert(factory.plain(to=[ALICE]).raw)
    assert (len(standin.push.sent), standin.push.dropped) == (1, 4)
    standin.advance_clock(1.0)
    standin.mailbox(ALICE).insert(factory.plain(to=[ALICE]).raw)
    assert len(standin.push.sent) == 2


def test_an_unwatched_mailbox_sends_nothing(standin: GoogleStandIn, factory: MessageFactory) -> None:
    standin.mailbox(ALICE).insert(factory.plain(to=[ALICE]).raw)
    assert standin.push.sent == []


def test_direct_delivery_carries_an_oidc_token_that_google_auth_verifies(
    standin: GoogleStandIn, gmail: Any, factory: MessageFactory, receiver: Receiver
) -> None:
    gmail.users().watch(userId="me", body={"topicName": TOPIC}).execute()
    standin.mailbox(ALICE).insert(factory.plain(to=[ALICE]).raw)
    assert standin.push.drain()
    deadline = time.monotonic() + 5
    while not receiver.received and time.monotonic() < deadline:
        time.sleep(0.01)
    envelope, authorization = receiver.received[0]
    assert json.loads(base64.b64decode(envelope["message"]["data"]))["emailAddress"] == ALICE
    claims = id_token.verify_token(
        authorization.removeprefix("Bearer "),
        AuthRequest(),
        audience=receiver.url,
        certs_url=standin.certs_url,
    )
    assert claims["email"] == standin.settings.push.push_service_account
    assert claims["email_verified"] is True
    assert claims["iss"] == "https://accounts.google.com"
