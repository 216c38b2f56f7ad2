"""Calendar's push channels, one per synced calendar, as channels of the registry (shared.sync.channels).

``events.watch`` opens a channel that POSTs to ``calendar_push`` until its expiration; Google never
renews one, so the registry opens a new one (a new id and token) before the old ends and stops the old.
The channel carries a random token of ours, only its hash is kept, and Google's resource id.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from shared.calendar.calendars import synced_calendars
from shared.plans import Feature, PlanPolicy
from shared.sync.channels import Channel, ChannelGrant
from shared.sync.engine import SyncedConnection
from shared.sync.requests import Source


class CalendarWatcher(Protocol):
    """What channels need from Calendar (shared.google_apis.calendar.CalendarClient provides it)."""

    def watch(
        self, calendar_id: str, *, channel_id: str, address: str, token: str, ttl_seconds: int
    ) -> tuple[str, datetime]: ...

    def stop_channel(self, channel_id: str, resource_id: str) -> None: ...


class CalendarChannelProvider:
    source = Source.CALENDAR

    def __init__(
        self,
        *,
        address: str,
        ttl_seconds: int,
        calendar_for: Callable[[str, SyncedConnection], CalendarWatcher],
    ) -> None:
        self._address = address  # calendar_push's public URL; empty: push is not set up, no channel
        self._ttl_seconds = ttl_seconds
        self._calendar_for = calendar_for

    def wanted(self, connection: SyncedConnection, policy: PlanPolicy) -> list[str]:
        if self._address and policy.allows(Feature.CALENDAR) and connection.enabled(Feature.CALENDAR):
            return synced_calendars(connection)
        return []

    def start(
        self, tenant_id: str, connection: SyncedConnection, partition: str, channel_id: str, token: str
    ) -> ChannelGrant:
        resource_id, expires_at = self._calendar_for(tenant_id, connection).watch(
            partition,
            channel_id=channel_id,
            address=self._address,
            token=token,
            ttl_seconds=self._ttl_seconds,
        )
        return ChannelGrant(expires_at=expires_at, resource_id=resource_id)

    def stop(self, tenant_id: str, connection: SyncedConnection, channel: Channel) -> None:
        if channel.resource_id is not None:
            self._calendar_for(tenant_id, connection).stop_channel(channel.channel_id, channel.resource_id)
