"""The registry of push channels: one document per (connection, source, partition) for each way Google
tells us about changes: a Gmail watch, a Calendar events channel, a Drive changes channel.

tenants/{t}/push_channels/{key}   channel id, the SHA-256 of its random token (never the token),
                                  Google's resource id, expiry, when started and renewed, the last
                                  message number a notification carried (replays are refused)

Google ends every channel on its own (Gmail after 7 days; Calendar and Drive at their expiration) and
never renews one, so ``reconcile`` brings a connection's channels to what it should have: it starts
those missing, renews those that end within the renewal window, and stops those no longer wanted (a
feature off, a plan without it). Disconnecting stops them all at Google; a revoked grant only forgets
them (Google refuses the grant, and the channels lapse by themselves). Each source plugs in a
``ChannelProvider``: how to start and stop its kind of channel.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import DocumentMissing, IntegrationError, NeedsReconnect, PreconditionFailed
from shared.plans import PlanPolicy
from shared.storage.documents import DocRef, DocumentStore, Maximum, Query
from shared.storage.scope import TenantScope
from shared.sync.engine import SyncedConnection
from shared.sync.requests import Source, SyncKey

logger = logging.getLogger(__name__)

PUSH_CHANNELS = "push_channels"


class Channel(BaseModel):
    model_config = ConfigDict(extra="ignore")

    connection_id: str
    source: Source
    partition: str
    channel_id: str
    token_sha256: str | None = None  # Calendar and Drive echo a token back: only its hash is kept
    resource_id: str | None = None
    expires_at: datetime
    started_at: datetime
    renewed_at: datetime | None = None
    details: dict[str, str] = Field(default_factory=dict)  # the source's own (a watch's historyId)
    last_message_number: int = 0  # Calendar and Drive number each channel's notifications

    @property
    def key(self) -> SyncKey:
        return SyncKey(self.connection_id, self.source, self.partition)

    def token_matches(self, token: str) -> bool:
        """Constant-time comparison of a presented token with the stored hash."""
        if self.token_sha256 is None:
            return False
        return hmac.compare_digest(self.token_sha256, _sha256(token))


@dataclass(frozen=True)
class ChannelGrant:
    """What Google answered when a channel started."""

    expires_at: datetime
    resource_id: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)


class ChannelProvider(Protocol):
    source: Source

    def wanted(self, connection: SyncedConnection, policy: PlanPolicy) -> list[str]:
        """The partitions that should have a channel now (none when the feature is off, the plan
        excludes it, or push is not configured)."""
        ...

    def start(
        self, tenant_id: str, connection: SyncedConnection, partition: str, channel_id: str, token: str
    ) -> ChannelGrant:
        """Start (or, for Gmail, renew in place) a channel at Google."""
        ...

    def stop(self, tenant_id: str, connection: SyncedConnection, channel: Channel) -> None: ...


class ReconcileReport(BaseModel):
    started: int = 0
    renewed: int = 0
    stopped: int = 0
    failed: int = 0


class ChannelRegistry:
    def __init__(
        self,
        *,
        scope_for: Callable[[str], TenantScope],
        providers: Mapping[Source, ChannelProvider],
        renew_within: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self._scope_for = scope_for
        self._providers = providers
        self._renew_within = renew_within
        self._clock = clock

    def _ref(self, scope: TenantScope, key: SyncKey) -> DocRef:
        return scope.document(PUSH_CHANNELS, key.document_id)

    def of_connection(self, tenant_id: str, connection_id: str) -> list[Channel]:
        scope = self._scope_for(tenant_id)
        query = scope.collection(PUSH_CHANNELS).query().where("connection_id", "==", connection_id)
        return [Channel.model_validate(snapshot.to_dict()) for snapshot in scope.stream(query)]

    def reconcile(self, tenant_id: str, connection: SyncedConnection, policy: PlanPolicy) -> ReconcileReport:
        """Start what is missing, renew what ends soon, stop what is no longer wanted. A grant Google
        refuses raises ``NeedsReconnect`` (the caller's lifecycle has already condemned it)."""
        report = ReconcileReport()
        current = {
            channel.key: channel for channel in self.of_connection(tenant_id, connection.connection_id)
        }
        wanted = {
            SyncKey(connection.connection_id, source, partition)
            for source, provider in self._providers.items()
            for partition in (provider.wanted(connection, policy) if connection.is_active else [])
        }
        due = self._clock() + self._renew_within
        for key in sorted(wanted, key=lambda k: k.document_id):
            channel = current.get(key)
            if channel is not None and channel.expires_at > due:
                continue
            try:
                self._start(tenant_id, connection, key, replacing=channel)
            except NeedsReconnect:
                raise
            except IntegrationError as error:
                report.failed += 1
                _warn("push channel not started", tenant_id, key, error)
                continue
            if channel is None:
                report.started += 1
            else:
                report.renewed += 1
        for key, channel in current.items():
            if key not in wanted:
                self._stop(tenant_id, connection, channel)
                report.stopped += 1
        return report

    def stop_all(self, tenant_id: str, connection: SyncedConnection) -> None:
        """Stop every channel of the connection at Google (best effort: one Google refuses lapses by
        itself) and forget it."""
        for channel in self.of_connection(tenant_id, connection.connection_id):
            self._stop(tenant_id, connection, channel)

    def forget_all(self, tenant_id: str, connection_id: str) -> None:
        """Forget the connection's channels without calling Google (its grant is dead)."""
        scope = self._scope_for(tenant_id)
        channels = self.of_connection(tenant_id, connection_id)
        if channels:
            batch = scope.batch()
            for channel in channels:
                batch.delete(self._ref(scope, channel.key))
            batch.commit()

    # --- one channel ---------------------------------------------------------------------------------

    def _start(
        self, tenant_id: str, connection: SyncedConnection, key: SyncKey, *, replacing: Channel | None
    ) -> None:
        provider = self._providers[key.source]
        channel_id, token = uuid.uuid4().hex, secrets.token_urlsafe(32)
        grant = provider.start(tenant_id, connection, key.partition, channel_id, token)
        now = self._clock()
        channel = Channel(
            connection_id=key.connection_id,
            source=key.source,
            partition=key.partition,
            channel_id=channel_id,
            token_sha256=_sha256(token),
            resource_id=grant.resource_id,
            expires_at=grant.expires_at,
            started_at=replacing.started_at if replacing is not None else now,
            renewed_at=now if replacing is not None else None,
            details=dict(grant.details),
        )
        scope = self._scope_for(tenant_id)
        scope.set(self._ref(scope, key), channel.model_dump(mode="python"))
        if replacing is not None and replacing.channel_id != channel_id and replacing.resource_id is not None:
            self._stop_at_google(tenant_id, connection, replacing)  # channels renew by replacement

    def _stop(self, tenant_id: str, connection: SyncedConnection, channel: Channel) -> None:
        if connection.is_active:
            self._stop_at_google(tenant_id, connection, channel)
        scope = self._scope_for(tenant_id)
        scope.delete(self._ref(scope, channel.key))

    def _stop_at_google(self, tenant_id: str, connection: SyncedConnection, channel: Channel) -> None:
        try:
            self._providers[channel.source].stop(tenant_id, connection, channel)
        except IntegrationError as error:
            _warn("push channel not stopped", tenant_id, channel.key, error)


def note_message(scope: TenantScope, channel: Channel, number: int, version: datetime | None) -> bool:
    """Whether a notification numbered ``number`` is news: False when the channel has seen it or a later
    one (a replay), or is no longer this channel (replaced meanwhile). Otherwise the number is recorded
    as the channel's highest, conditioned on the document as read (``version``) rather than in a
    transaction, so a burst of notifications does not pile up on one document's lock."""
    reference = scope.document(PUSH_CHANNELS, channel.key.document_id)
    last = channel.last_message_number
    for _ in range(5):
        if number <= last:
            return False
        try:
            scope.update(reference, {"last_message_number": Maximum(number)}, if_updated_at=version)
            return True
        except (PreconditionFailed, DocumentMissing):
            snapshot = scope.snapshot(reference)  # another notification got there first: look again
            if not snapshot.exists or snapshot.get("channel_id") != channel.channel_id:
                return False
            last, version = int(snapshot.get("last_message_number") or 0), snapshot.update_time
    return True  # still racing after several rounds: news, and the requester coalesces it


def channel_by_id(store: DocumentStore, channel_id: str) -> tuple[str, Channel, datetime | None] | None:
    """The channel with this id, in whichever tenant (a notification names only the channel), and the
    version of its document as read."""
    query = Query.collection_group(PUSH_CHANNELS).where("channel_id", "==", channel_id).limit(2)
    for snapshot in store.stream(query):
        data = snapshot.to_dict()
        tenant_id = data.get("tenant_id")
        # The document's path must agree with its stamp: a channel lives below its own tenant.
        if isinstance(tenant_id, str) and snapshot.ref.path.startswith(
            f"tenants/{tenant_id}/{PUSH_CHANNELS}/"
        ):
            return tenant_id, Channel.model_validate(data), snapshot.update_time
    return None


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _warn(message: str, tenant_id: str, key: SyncKey, error: IntegrationError) -> None:
    fields: dict[str, Any] = {"tenant_id": tenant_id, "source": key.source.value, "code": error.code}
    logger.warning(message, extra={"fields": fields})
