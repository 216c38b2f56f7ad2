"""The API's connection endpoints: a tenant's connections; authorize, read and disconnect one user's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.api.pagination import PageQuery
from shared.api.routing import Call, Reply, Route
from shared.connections.connect import ConnectFlow
from shared.connections.features import missing_prerequisites
from shared.connections.lifecycle import ConnectionLifecycle
from shared.connections.service import ConnectionPage, ConnectionService, ConnectionView
from shared.plans import Feature
from shared.tenants.service import TenantService

CONNECTION = "/v1/tenants/<tenant_id>/users/<user_id>/google-connection"


class AuthorizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    features: list[Feature] = Field(
        min_length=1,
        max_length=4,
        description="What the connection is for. contacts come from synced mail: they require mail.",
    )
    return_url: str = Field(
        min_length=1, max_length=2048, description="Where the browser returns; an allow-listed CRM origin."
    )

    @field_validator("features")
    @classmethod
    def _prerequisites(cls, value: list[Feature]) -> list[Feature]:
        missing = missing_prerequisites(value)
        if missing:
            raise ValueError("; ".join(f"{f.value} requires {n.value}" for f, n in sorted(missing.items())))
        return value


class AuthorizeResponse(BaseModel):
    authorization_url: str = Field(description="Send the user's browser here (our page, then Google's).")
    expires_at: datetime


class Disconnected(BaseModel):
    disconnected: bool = Field(description="False when there was nothing to disconnect (a repeat).")


@dataclass(frozen=True)
class ConnectionApi:
    tenants: TenantService
    connections: ConnectionService
    connect_flow: ConnectFlow
    lifecycle: ConnectionLifecycle


def list_connections(api: ConnectionApi, call: Call) -> Reply:
    page = call.query_as(PageQuery)
    api.tenants.get(call.path["tenant_id"])  # an unknown tenant is a 404, not an empty list
    return Reply(
        api.connections.list(call.path["tenant_id"], page_size=page.page_size, page_token=page.page_token)
    )


def authorize_connection(api: ConnectionApi, call: Call) -> Reply:
    request = call.body_as(AuthorizeRequest)
    start = api.connect_flow.begin(
        call.path["tenant_id"], call.path["user_id"], request.features, request.return_url
    )
    return Reply(AuthorizeResponse(authorization_url=start.authorization_url, expires_at=start.expires_at))


def get_connection(api: ConnectionApi, call: Call) -> Reply:
    return Reply(api.connections.view(call.path["tenant_id"], call.path["user_id"]))


def delete_connection(api: ConnectionApi, call: Call) -> Reply:
    return Reply(
        Disconnected(disconnected=api.lifecycle.disconnect(call.path["tenant_id"], call.path["user_id"]))
    )


ROUTES: list[Route[ConnectionApi]] = [
    Route(
        "GET",
        "/v1/tenants/<tenant_id>/connections",
        "listConnections",
        "List the tenant's Google connections, a page at a time.",
        list_connections,
        ConnectionPage,
        query_model=PageQuery,
    ),
    Route(
        "POST",
        f"{CONNECTION}:authorize",
        "authorizeGoogleConnection",
        "Start connecting the user's Google account: a one-time URL for their browser (10 minutes).",
        authorize_connection,
        AuthorizeResponse,
        body_model=AuthorizeRequest,
    ),
    Route(
        "GET",
        CONNECTION,
        "getGoogleConnection",
        "The user's Google connection: features, granted scopes, sync and watch state, reconnect reason.",
        get_connection,
        ConnectionView,
    ),
    Route(
        "DELETE",
        CONNECTION,
        "deleteGoogleConnection",
        "Disconnect: revoke at Google, stop watches, delete the grant, purge unattached copies. Idempotent.",
        delete_connection,
        Disconnected,
    ),
]
