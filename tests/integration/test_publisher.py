"""The Pub/Sub publisher, against the Pub/Sub emulator."""

from __future__ import annotations

import json

import pytest
from google.cloud import pubsub_v1

from shared.composition import get_container
from shared.errors import BadInput, Retryable
from tests.conftest import TEST_PROJECT


@pytest.fixture
def subscription(stack_environment: dict[str, str]) -> str:
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = publisher.topic_path(TEST_PROJECT, "sync-requests")
    publisher.create_topic(name=topic)
    path = subscriber.subscription_path(TEST_PROJECT, "probe")
    subscriber.create_subscription(name=path, topic=topic)
    return path


def pull(subscription: str) -> list[pubsub_v1.types.PubsubMessage]:
    subscriber = pubsub_v1.SubscriberClient()
    response = subscriber.pull(subscription=subscription, max_messages=10, timeout=10)
    return [received.message for received in response.received_messages]


def test_a_published_payload_arrives_as_json_with_its_attributes(subscription: str) -> None:
    message_id = get_container().publisher.publish(
        "sync-requests", {"tenant_id": "acme", "source": "gmail"}, attributes={"kind": "sync"}
    )
    (message,) = pull(subscription)
    assert message.message_id == message_id
    assert json.loads(message.data) == {"tenant_id": "acme", "source": "gmail"}
    assert dict(message.attributes) == {"kind": "sync"}


def test_publishing_to_a_missing_topic_is_retryable(stack_environment: dict[str, str]) -> None:
    with pytest.raises(Retryable):
        get_container().publisher.publish("no-such-topic", {"x": 1})


def test_an_oversized_message_is_refused_and_nothing_is_published(subscription: str) -> None:
    publisher = get_container().publisher
    with pytest.raises(BadInput):
        publisher.publish("sync-requests", {"blob": "x" * 1_100_000})
    publisher.publish("sync-requests", {"marker": True})
    # The marker is the only message: the refused one never reached the topic.
    assert [json.loads(message.data) for message in pull(subscription)] == [{"marker": True}]
