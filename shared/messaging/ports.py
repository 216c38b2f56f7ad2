"""The messaging port: what capabilities may ask of Pub/Sub, and reading our messages back out of the
CloudEvents our push subscriptions deliver. No Google library here (shared.messaging.pubsub is the
adapter; ``MemoryPublisher`` stands in for it in unit tests)."""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from shared.errors import BadInput

# Pub/Sub's own limit is 10 MB; our requests are small, so anything large is a bug, not a payload.
MAX_MESSAGE_BYTES = 1_000_000
M = TypeVar("M", bound=BaseModel)


class Publisher(Protocol):
    def publish(
        self,
        topic: str,
        payload: BaseModel | Mapping[str, Any],
        *,
        attributes: Mapping[str, str] | None = None,
    ) -> str:
        """Publish ``payload`` as JSON and wait for Pub/Sub to accept it; returns its message id.
        ``Retryable`` when it was not accepted (then it was not sent)."""
        ...


def encode_payload(payload: BaseModel | Mapping[str, Any]) -> bytes:
    data = (
        payload.model_dump_json().encode()
        if isinstance(payload, BaseModel)
        else json.dumps(payload, separators=(",", ":"), default=str).encode()
    )
    if len(data) > MAX_MESSAGE_BYTES:
        raise BadInput("The message is larger than a request message may be.", code="message_too_large")
    return data


def parse_pubsub_model(event_data: Any, model: type[M], *, code: str, message: str) -> M:
    """The ``model`` published as JSON inside a Pub/Sub CloudEvent's data (``message.data``, base64).
    Anything else is ``BadInput(message, code=code)``: acknowledged, logged, never retried."""
    try:
        return model.model_validate_json(base64.b64decode(event_data["message"]["data"], validate=True))
    except (KeyError, TypeError, ValueError, binascii.Error, ValidationError):
        raise BadInput(message, code=code) from None


@dataclass(frozen=True)
class Published:
    topic: str
    data: bytes
    attributes: Mapping[str, str]

    def json(self) -> Any:
        return json.loads(self.data)


class MemoryPublisher:
    """Keeps what is published, in order (unit tests); ``fail`` makes the next publishes refused."""

    def __init__(self) -> None:
        self.published: list[Published] = []
        self.fail = False
        self._lock = threading.Lock()

    def publish(
        self,
        topic: str,
        payload: BaseModel | Mapping[str, Any],
        *,
        attributes: Mapping[str, str] | None = None,
    ) -> str:
        from shared.errors import Retryable

        data = encode_payload(payload)
        with self._lock:
            if self.fail:
                raise Retryable(f"Pub/Sub did not accept the message for topic {topic}.")
            self.published.append(Published(topic, data, dict(attributes or {})))
            return str(len(self.published))

    def messages(self, topic: str) -> list[Any]:
        with self._lock:
            return [item.json() for item in self.published if item.topic == topic]
