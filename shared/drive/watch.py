"""Drive's changes channel, one per connection, as a channel of the registry (shared.sync.channels):
``changes.watch`` POSTs to ``drive_push`` until its expiration, and the registry replaces it before then."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from shared.drive.engine import CHANGES
from shared.plans import Feature, PlanPolicy
from shared.sync.channels import Channel, ChannelGrant
from shared.sync.engine import SyncedConnection
from shared.sync.requests import Source


class DriveWatcher(Protocol):
    def start_page_token(self) -> str: ...

    def watch_changes(
        self, page_token: str, *, channel_id: str, address: str, token: str, ttl_seconds: int
    ) -> tuple[str, datetime]: ...

    def stop_channel(self, channel_id: str, resource_id: str) -> None: ...


class DriveChannelProvider:
    source = Source.DRIVE

    def __init__(
        self, *, address: str, ttl_seconds: int, drive_for: Callable[[str, SyncedConnection], DriveWatcher]
    ) -> None:
        self._address = address  # drive_push's public URL; empty: push is not set up, no channel
        self._ttl_seconds = ttl_seconds
        self._drive_for = drive_for

    def wanted(self, connection: SyncedConnection, policy: PlanPolicy) -> list[str]:
        if self._address and policy.allows(Feature.DRIVE) and connection.enabled(Feature.DRIVE):
            return [CHANGES]
        return []

    def start(
        self, tenant_id: str, connection: SyncedConnection, partition: str, channel_id: str, token: str
    ) -> ChannelGrant:
        drive = self._drive_for(tenant_id, connection)
        # Where the channel starts does not matter: a notification is a hint, the sync reads from its
        # own cursor. The start token is the cheapest valid one.
        resource_id, expires_at = drive.watch_changes(
            drive.start_page_token(),
            channel_id=channel_id,
            address=self._address,
            token=token,
            ttl_seconds=self._ttl_seconds,
        )
        return ChannelGrant(expires_at=expires_at, resource_id=resource_id)

    def stop(self, tenant_id: str, connection: SyncedConnection, channel: Channel) -> None:
        if channel.resource_id is not None:
            self._drive_for(tenant_id, connection).stop_channel(channel.channel_id, channel.resource_id)


def drive_synced(connection: SyncedConnection, channel: Channel) -> bool:
    """Whether a Drive channel's changes are synced now (drive_push's check)."""
    return connection.enabled(Feature.DRIVE)
