"""Listing a tenant's Google connections (connecting: connect.py; disconnecting: lifecycle.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from shared.connections.records import CONNECTIONS
from shared.ids import ExternalId

if TYPE_CHECKING:
    from shared.storage.firestore import TenantScope


class Connection(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    connection_id: ExternalId
    user_id: ExternalId
    status: str
    created_at: datetime


class ConnectionPage(BaseModel):
    items: list[Connection]
    next_page_token: str | None


class ConnectionService:
    def __init__(self, scope_for: Callable[[str], TenantScope]) -> None:
        self._scope_for = scope_for

    def list(self, tenant_id: str, *, page_size: int, page_token: str | None) -> ConnectionPage:
        page = self._scope_for(tenant_id).list_page(CONNECTIONS, page_size=page_size, page_token=page_token)
        return ConnectionPage(
            items=[Connection.model_validate(item) for item in page.items],
            next_page_token=page.next_page_token,
        )
