"""The stored shapes of the connect lifecycle, and where each lives.

tenants/{tenant}/oauth_states/{state_id}                   one connect attempt (10 minutes, one use)
tenants/{tenant}/connections/{user_id}                     a CRM user's Google connection (no secret)
tenants/{tenant}/connections/{user_id}/grant/refresh_token the sealed refresh token, alone, so that
                                                           reading a connection never loads it

Sync state and push channels live in documents of their own (shared.sync.state, shared.sync.channels).
"""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.connections.features import FeatureState
from shared.ids import ExternalId
from shared.plans import Feature
from shared.storage.documents import DocRef
from shared.storage.scope import TenantScope

CONNECTIONS = "connections"
OAUTH_STATES = "oauth_states"
GRANT = "grant"
REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a document id, not a secret


class ConnectionStatus(enum.StrEnum):
    ACTIVE = "active"
    NEEDS_RECONNECT = "needs_reconnect"


class ConnectionRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    connection_id: ExternalId
    user_id: ExternalId
    status: ConnectionStatus
    needs_reconnect_reason: str | None = None
    google_subject: str = Field(description="Google's stable id of the connected account.")
    google_email: str
    # A new one for every grant Google gives us (each consent): credentials are cached per grant, and a
    # grant found dead condemns the connection only while it is still the connection's grant.
    grant_id: str = ""
    granted_scopes: list[str]
    requested_features: list[Feature]
    features: dict[Feature, FeatureState]
    calendar_ids: list[str] = Field(
        default_factory=list, description="Calendars synced beside the primary one (the CRM's choice)."
    )
    created_at: datetime
    connected_at: datetime
    updated_at: datetime

    def enabled(self, feature: Feature) -> bool:
        state = self.features.get(feature)
        return state is not None and state.enabled

    @property
    def is_active(self) -> bool:
        return self.status is ConnectionStatus.ACTIVE


class OAuthState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    state_id: str
    user_id: ExternalId
    features: list[Feature]
    requested_scopes: list[str]
    return_url: str
    code_verifier: str
    browser_binding: str | None = None  # sha256 of the secret in the browser's cookie, set at /start
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


def connection_ref(scope: TenantScope, user_id: str) -> DocRef:
    # One Google connection per CRM user: the user's id is the connection's id.
    return scope.document(CONNECTIONS, user_id)


def grant_ref(scope: TenantScope, user_id: str) -> DocRef:
    return connection_ref(scope, user_id).collection(GRANT).document(REFRESH_TOKEN)


def state_ref(scope: TenantScope, state_id: str) -> DocRef:
    return scope.document(OAUTH_STATES, state_id)
