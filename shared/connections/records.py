"""The stored shapes of the connect lifecycle, and where each lives in Firestore.

tenants/{tenant}/oauth_states/{state_id}                   one connect attempt (10 minutes, one use)
tenants/{tenant}/connections/{user_id}                     a CRM user's Google connection (no secret)
tenants/{tenant}/connections/{user_id}/grant/refresh_token the sealed refresh token, alone, so that
                                                           reading a connection never loads it
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from shared.connections.features import Feature, FeatureState
from shared.ids import ExternalId

if TYPE_CHECKING:
    from google.cloud.firestore import DocumentReference

    from shared.google_apis.gmail import GmailWatch
    from shared.storage.firestore import TenantScope

CONNECTIONS = "connections"
OAUTH_STATES = "oauth_states"
GRANT = "grant"
REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a document id, not a secret


class ConnectionStatus(enum.StrEnum):
    ACTIVE = "active"
    NEEDS_RECONNECT = "needs_reconnect"


class WatchState(BaseModel):
    model_config = ConfigDict(frozen=True)

    expires_at: datetime
    history_id: str | None = None


class SourceSync(BaseModel):
    """Sync progress of one source (gmail, calendar, drive). The sync issues add their cursors here."""

    model_config = ConfigDict(extra="allow")

    last_success_at: datetime | None = None


class ConnectionRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    connection_id: ExternalId
    user_id: ExternalId
    status: ConnectionStatus
    needs_reconnect_reason: str | None = None
    google_subject: str = Field(description="Google's stable id of the connected account.")
    google_email: str
    granted_scopes: list[str]
    requested_features: list[Feature]
    features: dict[Feature, FeatureState]
    sync: dict[str, SourceSync] = {}
    watches: dict[str, WatchState] = {}
    created_at: datetime
    connected_at: datetime
    updated_at: datetime

    def enabled(self, feature: Feature) -> bool:
        state = self.features.get(feature)
        return state is not None and state.enabled


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


def record_gmail_watch(
    scope: TenantScope, connection_id: str, watch: GmailWatch, *, at: datetime | None = None
) -> WatchState:
    """Store the Gmail watch Google just granted (connect, daily renewal, plan change): the one writer."""
    state = WatchState(expires_at=watch.expires_at, history_id=watch.history_id)
    changes: dict[str, object] = {"watches.gmail": state.model_dump()}
    if at is not None:
        changes["updated_at"] = at
    scope.update(connection_ref(scope, connection_id), changes)
    return state


def connection_ref(scope: TenantScope, user_id: str) -> DocumentReference:
    # One Google connection per CRM user: the user's id is the connection's id.
    return scope.document(CONNECTIONS, user_id)


def grant_ref(scope: TenantScope, user_id: str) -> DocumentReference:
    reference: DocumentReference = connection_ref(scope, user_id).collection(GRANT).document(REFRESH_TOKEN)
    return reference


def state_ref(scope: TenantScope, state_id: str) -> DocumentReference:
    return scope.document(OAUTH_STATES, state_id)
