"""Publishes JSON messages to this system's Pub/Sub topics and waits for Pub/Sub to accept them, and
reads them back out of the CloudEvents our push subscriptions deliver."""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared.errors import BadInput, Retryable

if TYPE_CHECKING:
    from google.cloud.pubsub_v1 import PublisherClient

    from shared.config import Settings

# Pub/Sub's own limit is 10 MB; our requests are small, so anything large is a bug, not a payload.
MAX_MESSAGE_BYTES = 1_000_000
M = TypeVar("M", bound=BaseModel)


def build_publisher_client() -> PublisherClient:
    from google.cloud import pubsub_v1

    # Our publishes are one-at-a-time and awaited: send at once instead of waiting to fill a batch.
    return pubsub_v1.PublisherClient(batch_settings=pubsub_v1.types.BatchSettings(max_latency=0.0))


class Publisher:
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
        data = (
            payload.model_dump_json().encode()
            if isinstance(payload, BaseModel)
            else json.dumps(payload, separators=(",", ":"), default=str).encode()
        )
        if len(data) > MAX_MESSAGE_BYTES:
            raise BadInput("The message is larger than a request message may be.", code="message_too_large")
        from google.api_core import exceptions as gexc

        try:
            future = self._publisher().publish(self.topic_path(topic), data, **dict(attributes or {}))
            return str(future.result(timeout=self._timeout_seconds))
        except (gexc.GoogleAPICallError, TimeoutError) as error:
            # Not accepted means not sent: the caller's request fails and is retried, nothing is half-done.
            raise Retryable(f"Pub/Sub did not accept the message for topic {topic}.") from error


def publisher_from_settings(settings: Settings) -> Publisher:
    return Publisher(
        build_publisher_client,
        project=settings.google_cloud_project,
        timeout_seconds=settings.pubsub_publish_timeout_seconds,
    )


def parse_pubsub_model(event_data: Any, model: type[M], *, code: str, message: str) -> M:
    """The ``model`` published as JSON inside a Pub/Sub CloudEvent's data (``message.data``, base64).
    Anything else is ``BadInput(message, code=code)``: acknowledged, logged, never retried."""
    try:
        return model.model_validate_json(base64.b64decode(event_data["message"]["data"], validate=True))
    except (KeyError, TypeError, ValueError, binascii.Error, ValidationError):
        raise BadInput(message, code=code) from None
