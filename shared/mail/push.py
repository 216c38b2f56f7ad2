"""Gmail push notifications: a hint that a mailbox changed, turned into (at most) one sync request.

The notification's historyId is not used: the stored cursor is the truth (pitfall 6). Unknown or
disconnected addresses are acknowledged, so Pub/Sub stops redelivering them.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.errors import BadInput
from shared.plans import Feature
from shared.sync.engine import SyncedConnection
from shared.sync.requester import SyncRequester
from shared.sync.requests import DEFAULT_PARTITIONS, Source, SyncKey

logger = logging.getLogger(__name__)

MAX_ENVELOPE_BYTES = 64 * 1024  # a Gmail notification is a few hundred bytes


class _PushMessage(BaseModel):
    data: str


class _Envelope(BaseModel):
    message: _PushMessage
    subscription: str | None = None


class GmailNotification(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    emailAddress: str
    historyId: int


def parse_push(body: bytes) -> GmailNotification:
    """The notification inside a Pub/Sub push envelope; anything else is a 400 that names no payload."""
    malformed = BadInput("The push envelope is not a Gmail notification.", code="malformed_envelope")
    if len(body) > MAX_ENVELOPE_BYTES:
        raise malformed
    try:
        envelope = _Envelope.model_validate_json(body)
        decoded = base64.b64decode(envelope.message.data, validate=True)
        notification = GmailNotification.model_validate(json.loads(decoded))
    except (ValidationError, ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise malformed from None
    if "@" not in notification.emailAddress or notification.historyId < 0:
        raise malformed
    return notification


class GmailPushHandler:
    """A Gmail notification, turned into at most one sync request per connection of its address."""

    def __init__(
        self,
        *,
        connections_of: Callable[[str], Sequence[tuple[str, SyncedConnection]]],
        requester: Callable[[], SyncRequester],
    ) -> None:
        self._connections_of = connections_of
        self._requester = requester

    def handle(self, body: bytes) -> int:
        """Returns how many sync requests were queued (0 for unknown, paused or already pending mailboxes)."""
        notification = parse_push(body)
        queued = 0
        for tenant_id, connection in self._connections_of(notification.emailAddress.lower()):
            if not connection.is_active or not connection.enabled(Feature.MAIL):
                continue
            key = SyncKey(connection.connection_id, Source.GMAIL, DEFAULT_PARTITIONS[Source.GMAIL])
            queued += self._requester().request(tenant_id, key, reason="push")
        logger.info("gmail push handled", extra={"fields": {"queued": queued}})
        return queued
