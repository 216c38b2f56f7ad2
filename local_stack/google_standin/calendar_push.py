"""Calendar push: channels opened by events.watch and closed by channels.stop, on the stand-in's one
channel registry (push_channels.py, which Drive's changes.watch shares).

``sync`` once when a channel opens, then ``exists`` on every change to the calendar's events. Nothing is
coalesced unless ``min_interval_seconds`` says so (Google may send several ``exists`` for one change:
receivers must treat them as hints).
"""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from collections.abc import Callable
from typing import Any

from local_stack.google_standin.calendar_store import Calendar, CalendarSettings
from local_stack.google_standin.push_channels import (
    MAX_CHANNEL_ID_LENGTH,
    Channel,
    ChannelRegistry,
    Delivery,
    read_watch_body,
)

__all__ = ["DEFAULT_TTL_SECONDS", "MAX_CHANNEL_ID_LENGTH", "CalendarPush", "Channel", "Delivery"]

DEFAULT_TTL_SECONDS = 604_800  # params.ttl's default: 7 days
API = "calendar"


class CalendarPush:
    """Calendar's view of the channel registry: its channels, its deliveries, its notifications."""

    def __init__(
        self,
        settings: CalendarSettings,
        *,
        clock: Callable[[], float],
        registry: ChannelRegistry | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._owns_registry = registry is None
        self.registry = registry or ChannelRegistry(clock=clock)

    @property
    def channels(self) -> list[Channel]:
        return self.registry.channels(API)

    @property
    def deliveries(self) -> list[Delivery]:
        return self.registry.deliveries(API)

    @property
    def dropped(self) -> int:
        """`exists` messages dropped by min_interval_seconds."""
        return self.registry.dropped.get(API, 0)

    # --- events.watch and channels.stop -------------------------------------------------------------

    def watch(self, calendar: Calendar, body: Any, *, api_root: str) -> dict[str, Any]:
        """Open a channel on ``calendar``'s events; the answer is Google's Channel resource."""
        asked = read_watch_body(body)
        ttl = min(asked.ttl_seconds or DEFAULT_TTL_SECONDS, self.settings.max_channel_ttl_seconds)
        channel = Channel(
            id=asked.channel_id,
            api=API,
            watched=calendar.id,
            resource_id=_resource_id(calendar.id),
            resource_uri=f"{api_root.rstrip('/')}/calendar/v3/calendars/"
            f"{urllib.parse.quote(calendar.id, safe='@')}/events?alt=json",
            account=calendar.account,
            address=asked.address,
            token=asked.token,
            expiration_ms=int((self._clock() + ttl) * 1000),
        )
        self.registry.open(channel)
        answer: dict[str, Any] = {
            "kind": "api#channel",
            "id": channel.id,
            "resourceId": channel.resource_id,
            "resourceUri": channel.resource_uri,
            "expiration": str(channel.expiration_ms),  # an int64: a string in JSON, as Google sends it
        }
        if asked.token is not None:
            answer["token"] = asked.token
        return answer

    def stop(self, account: str, body: Any) -> None:
        """channels.stop: the account's channel with this id and resource id; 404 for any other."""
        self.registry.stop(API, account, body)

    # --- notifications ------------------------------------------------------------------------------

    def on_change(self, calendar: Calendar) -> None:
        """Calendar.on_change hook: `exists` to every live channel on the calendar's events."""
        self.registry.notify(
            API,
            lambda channel: channel.watched == calendar.id,
            "exists",
            min_interval_seconds=self.settings.min_interval_seconds,
        )

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every message queued so far was delivered (or failed). False on timeout."""
        return self.registry.drain(timeout)

    def close(self) -> None:
        if self._owns_registry:
            self.registry.close()


def _resource_id(calendar_id: str) -> str:
    """Opaque, and stable for one calendar's events collection (every channel on it shares it)."""
    digest = hashlib.sha256(f"events:{calendar_id}".encode()).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode()
