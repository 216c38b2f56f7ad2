"""Gmail push notifications: a hint that a mailbox changed, turned into (at most) one sync request.

The notification's historyId is not used: the stored cursor is the truth (pitfall 6). Unknown or
disconnected addresses are acknowledged, so Pub/Sub stops redelivering them.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.connections.features import Feature
from shared.connections.records import CONNECTIONS, ConnectionRecord, ConnectionStatus
from shared.errors import BadInput
from shared.storage.firestore import translated_errors

if TYPE_CHECKING:
    from shared.composition import Container

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


def handle_gmail_push(container: Container, body: bytes) -> int:
    """Returns how many sync requests were queued (0 for unknown, paused or already pending mailboxes)."""
    notification = parse_push(body)
    queued = 0
    for tenant_id, connection in _connections_for(container, notification.emailAddress.lower()):
        if connection.status is not ConnectionStatus.ACTIVE or not connection.enabled(Feature.MAIL):
            continue
        queued += container.request_gmail_sync(tenant_id, connection.connection_id, reason="push")
    logger.info("gmail push handled", extra={"fields": {"queued": queued}})
    return queued


def _connections_for(container: Container, email: str) -> list[tuple[str, ConnectionRecord]]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = container.firestore.collection_group(CONNECTIONS).where(
        filter=FieldFilter("google_email", "==", email)
    )
    with translated_errors():
        snapshots = list(query.stream())
    found: list[tuple[str, Any]] = []
    for snapshot in snapshots:
        data = snapshot.to_dict() or {}
        tenant_id = data.get("tenant_id")
        # The document's path must agree with its stamp: a connection lives below its own tenant.
        if isinstance(tenant_id, str) and snapshot.reference.path.startswith(f"tenants/{tenant_id}/"):
            found.append((tenant_id, ConnectionRecord.model_validate(data)))
    return found
