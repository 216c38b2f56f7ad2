"""Reading connections for the CRM: a tenant's list, one connection with its sync and watch state, and
the lookups the daily round and Gmail's pushes make (connecting: connect.py; its life: lifecycle.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.connections.features import FeatureState
from shared.connections.records import CONNECTIONS, ConnectionRecord, ConnectionStatus, connection_ref
from shared.errors import NotFound
from shared.ids import ExternalId
from shared.plans import Feature
from shared.storage.documents import DocumentStore, Query
from shared.storage.scope import TenantScope
from shared.sync.channels import ChannelRegistry
from shared.sync.requests import Source
from shared.sync.state import LastError, SyncStates


class Connection(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    connection_id: ExternalId
    user_id: ExternalId
    status: str
    created_at: datetime


class ConnectionPage(BaseModel):
    items: list[Connection]
    next_page_token: str | None


class SyncStateView(BaseModel):
    source: Source
    partition: str = Field(description="What of the source: Gmail's mailbox, a calendar's id.")
    generation: int = Field(description="Full syncs begun so far.")
    full_sync_in_progress: bool
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_error: LastError | None = Field(description="The last sync's failure, null after a success.")
    lag_seconds: float | None = Field(description="From the oldest change notice served to its storing.")


class WatchView(BaseModel):
    source: Source
    partition: str
    expires_at: datetime = Field(description="Google ends the channel then, unless renewed first.")
    started_at: datetime
    renewed_at: datetime | None


class ConnectionView(BaseModel):
    connection_id: ExternalId
    user_id: ExternalId
    status: ConnectionStatus
    needs_reconnect_reason: str | None
    google_email: str
    granted_scopes: list[str]
    requested_features: list[Feature]
    features: dict[Feature, FeatureState]
    sync: list[SyncStateView] = Field(description="One entry per synced source and partition.")
    watches: list[WatchView] = Field(description="Google's push channels (a Gmail watch) and their expiry.")
    created_at: datetime
    connected_at: datetime
    updated_at: datetime


class ConnectionService:
    def __init__(
        self,
        scope_for: Callable[[str], TenantScope],
        *,
        channels: Callable[[], ChannelRegistry],
        clock: Callable[[], datetime],
    ) -> None:
        self._scope_for = scope_for
        self._channels = channels
        self._clock = clock

    def list(self, tenant_id: str, *, page_size: int, page_token: str | None) -> ConnectionPage:
        page = self._scope_for(tenant_id).list_page(CONNECTIONS, page_size=page_size, page_token=page_token)
        return ConnectionPage(
            items=[Connection.model_validate(item) for item in page.items],
            next_page_token=page.next_page_token,
        )

    def view(self, tenant_id: str, connection_id: str) -> ConnectionView:
        scope = self._scope_for(tenant_id)
        data = scope.get(connection_ref(scope, connection_id))
        if data is None:
            raise NotFound("This CRM user has no Google connection.", code="connection_not_found")
        connection = ConnectionRecord.model_validate(data)
        states = SyncStates(scope, clock=self._clock).of_connection(connection_id)
        channels = self._channels().of_connection(tenant_id, connection_id)
        return ConnectionView(
            **connection.model_dump(exclude={"grant_id"}),
            sync=[
                SyncStateView(
                    source=state.source,
                    partition=state.partition,
                    generation=state.generation,
                    full_sync_in_progress=state.full_sync is not None,
                    last_attempt_at=state.last_attempt_at,
                    last_success_at=state.last_success_at,
                    last_error=state.last_error,
                    lag_seconds=state.lag_seconds,
                )
                for state in sorted(states, key=lambda s: (s.source.value, s.partition))
            ],
            watches=[
                WatchView(
                    **channel.model_dump(
                        include={"source", "partition", "expires_at", "started_at", "renewed_at"}
                    )
                )
                for channel in sorted(channels, key=lambda c: (c.source.value, c.partition))
            ],
        )


def active_connections(scope: TenantScope) -> list[ConnectionRecord]:
    query = scope.collection(CONNECTIONS).query().where("status", "==", ConnectionStatus.ACTIVE.value)
    return [ConnectionRecord.model_validate(snapshot.to_dict()) for snapshot in scope.stream(query)]


def connections_by_email(store: DocumentStore, email: str) -> list[tuple[str, ConnectionRecord]]:
    """Every tenant's connection of a Google address (a push names only the address)."""
    found: list[tuple[str, ConnectionRecord]] = []
    for snapshot in store.stream(Query.collection_group(CONNECTIONS).where("google_email", "==", email)):
        data = snapshot.to_dict()
        tenant_id = data.get("tenant_id")
        # The document's path must agree with its stamp: a connection lives below its own tenant.
        if isinstance(tenant_id, str) and snapshot.ref.path.startswith(f"tenants/{tenant_id}/{CONNECTIONS}/"):
            found.append((tenant_id, ConnectionRecord.model_validate(data)))
    return found
