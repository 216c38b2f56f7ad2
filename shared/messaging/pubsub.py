"""Pub/Sub behind the messaging port (shared.messaging.ports): publishes JSON messages to this system's
topics and waits for Pub/Sub to accept them. The only module that imports Google's Pub/Sub library."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from shared.errors import Retryable
from shared.messaging.ports import encode_payload

if TYPE_CHECKING:
    from google.cloud.pubsub_v1 import PublisherClient

    from shared.config import Settings


def build_publisher_client() -> PublisherClient:
    from google.cloud import pubsub_v1

    # Our publishes are one-at-a-time and awaited: send at once instead of waiting to fill a batch.
    return pubsub_v1.PublisherClient(batch_settings=pubsub_v1.types.BatchSettings(max_latency=0.0))


class PubSubPublisher:
    """``publish(topic, payload)``: JSON-encodes, publishes and returns Pub/Sub's message id."""

    def __init__(
        self,
        client_factory: Callable[[], PublisherClient],
        *,
        project: str,
        timeout_seconds: float,
    ) -> None:
        self._client_factory = client_factory
        self._client: PublisherClient | None = None
        self._lock = threading.Lock()
        self._project = project
        self._timeout_seconds = timeout_seconds

    def _publisher(self) -> PublisherClient:
        with self._lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client

    def topic_path(self, topic: str) -> str:
        return f"projects/{self._project}/topics/{topic}"

    def publish(
        self,
        topic: str,
        payload: BaseModel | Mapping[str, Any],
        *,
        attributes: Mapping[str, str] | None = None,
    ) -> str:
        data = encode_payload(payload)
        from google.api_core import exceptions as gexc

        try:
            future = self._publisher().publish(self.topic_path(topic), data, **dict(attributes or {}))
            return str(future.result(timeout=self._timeout_seconds))
        except (gexc.GoogleAPICallError, TimeoutError) as error:
            # Not accepted means not sent: the caller's request fails and is retried, nothing is half-done.
            raise Retryable(f"Pub/Sub did not accept the message for topic {topic}.") from error


def publisher_from_settings(settings: Settings) -> PubSubPublisher:
    return PubSubPublisher(
        build_publisher_client,
        project=settings.google_cloud_project,
        timeout_seconds=settings.pubsub_publish_timeout_seconds,
    )
