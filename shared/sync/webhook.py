"""Google's channel notifications (Calendar's ``events.watch``, Drive's ``changes.watch``), one webhook
per source (``calendar_push``, ``drive_push``): Google POSTs a channel's headers, no body, whenever what
it watches changes. A notification is a hint; the sync reads from its stored cursor.

Anyone can POST to the webhook, so a notification is believed only when its channel is one we opened,
its token (random per channel, compared in constant time with the stored hash) matches and its resource
id is the one Google gave that channel. Then:
- a message number no greater than the last one seen is a replay: acknowledged, nothing fetched;
- the ``sync`` message Google sends when a channel opens is acknowledged without a fetch;
- a channel past its expiry (Google has ended it) is acknowledged;
- the rest become (at most) one sync request of what the channel watches: duplicates and bursts
  coalesce in the requester.
Unknown channels, and channels of another source than the webhook's, are acknowledged and fetch nothing.
The webhooks hold no Google credentials: a channel is stopped at Google by the registry when it stops
being wanted (a calendar deselected, the feature off, a disconnect) and by the daily round; one we never
knew cannot be stopped by anyone but its owner, and ends at its expiry.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from shared.errors import BadInput, Forbidden
from shared.sync.channels import Channel
from shared.sync.engine import SyncedConnection
from shared.sync.requester import SyncRequester
from shared.sync.requests import Source

logger = logging.getLogger(__name__)

CHANNEL_ID = "X-Goog-Channel-ID"
CHANNEL_TOKEN = "X-Goog-Channel-Token"  # noqa: S105 - a header's name
RESOURCE_ID = "X-Goog-Resource-ID"
RESOURCE_STATE = "X-Goog-Resource-State"
MESSAGE_NUMBER = "X-Goog-Message-Number"
# Calendar: sync, exists, not_exists; Drive's changes: sync, change (its file watches: the rest).
_STATES = frozenset({"sync", "exists", "not_exists", "change", "update", "add", "remove", "trash", "untrash"})


class PushOutcome(enum.StrEnum):
    QUEUED = "queued"
    COALESCED = "coalesced"  # a sync of that calendar is pending already
    SYNC_ACKNOWLEDGED = "sync_acknowledged"
    REPLAYED = "replayed"
    UNKNOWN_CHANNEL = "unknown_channel"
    EXPIRED_CHANNEL = "expired_channel"
    NOT_SYNCED = "not_synced"  # the connection is paused, the feature off or the calendar deselected


class _Notification:
    def __init__(self, raw_headers: Mapping[str, str]) -> None:
        headers = {name.lower(): value for name, value in raw_headers.items()}  # HTTP names: any case
        self.channel_id = _header(headers, CHANNEL_ID, max_length=64)
        self.token = headers.get(CHANNEL_TOKEN.lower(), "")
        self.resource_id = _header(headers, RESOURCE_ID, max_length=256)
        self.state = _header(headers, RESOURCE_STATE, max_length=16)
        if self.state not in _STATES:
            raise _bad(RESOURCE_STATE, "one of " + ", ".join(sorted(_STATES)))
        number = _header(headers, MESSAGE_NUMBER, max_length=20)
        if not number.isdigit():
            raise _bad(MESSAGE_NUMBER, "a whole number")
        self.message_number = int(number)


def _bad(name: str, expected: str) -> BadInput:
    return BadInput(
        f"The {name} header is missing or malformed.",
        code="malformed_notification",
        errors=[{"location": ["header", name], "message": f"must be {expected}", "type": "header"}],
    )


def _header(headers: Mapping[str, str], name: str, *, max_length: int) -> str:
    value = headers.get(name.lower())
    if not value or len(value) > max_length or not value.isprintable():
        raise _bad(name, f"present, printable, at most {max_length} characters")
    return value


class ChannelWebhook:
    def __init__(
        self,
        *,
        source: Source,
        synced: Callable[[SyncedConnection, Channel], bool],
        find_channel: Callable[[str], tuple[str, Channel, datetime | None] | None],
        note_message: Callable[[str, Channel, int, datetime | None], bool],
        connection_of: Callable[[str, str], SyncedConnection | None],
        requester: Callable[[], SyncRequester],
        clock: Callable[[], datetime],
    ) -> None:
        self._source = source
        self._synced = synced  # whether what the channel watches is synced now for the connection
        self._find_channel = find_channel  # channel id -> (tenant, channel, its version), across tenants
        self._note_message = note_message  # False when the number is not past the last one seen
        self._connection_of = connection_of
        self._requester = requester
        self._clock = clock

    def handle(self, headers: Mapping[str, str]) -> PushOutcome:
        notification = _Notification(headers)
        outcome, tenant_id = self._handle(notification)
        logger.info(
            "channel notification handled",
            extra={
                "fields": {"tenant_id": tenant_id, "source": self._source.value, "outcome": outcome.value}
            },
        )
        return outcome

    def _handle(self, notification: _Notification) -> tuple[PushOutcome, str | None]:
        found = self._find_channel(notification.channel_id)
        if found is None or found[1].source is not self._source:
            return PushOutcome.UNKNOWN_CHANNEL, None
        tenant_id, channel, version = found
        if not channel.token_matches(notification.token):
            raise Forbidden("The channel token does not match.", code="channel_token_mismatch")
        if channel.resource_id != notification.resource_id:
            raise Forbidden("The resource id is not the channel's.", code="channel_resource_mismatch")
        if channel.expires_at <= self._clock():
            return PushOutcome.EXPIRED_CHANNEL, tenant_id
        if not self._note_message(tenant_id, channel, notification.message_number, version):
            return PushOutcome.REPLAYED, tenant_id
        if notification.state == "sync":
            return PushOutcome.SYNC_ACKNOWLEDGED, tenant_id
        connection = self._connection_of(tenant_id, channel.connection_id)
        if connection is None or not connection.is_active or not self._synced(connection, channel):
            return PushOutcome.NOT_SYNCED, tenant_id
        queued = self._requester().request(tenant_id, channel.key, reason="push")
        return (PushOutcome.QUEUED if queued else PushOutcome.COALESCED), tenant_id
