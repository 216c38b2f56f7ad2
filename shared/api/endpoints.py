"""The endpoints of the CRM-facing API: request and response models, and one small handler each."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.api.pagination import PageQuery
from shared.api.routing import Call, Reply, Route
from shared.connections.features import Feature
from shared.connections.records import ConnectionRecord
from shared.connections.service import ConnectionPage
from shared.plans import Plan
from shared.tenants.service import Tenant

if TYPE_CHECKING:
    from shared.composition import Container


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Display name of the tenant.")
    plan: Plan = Field(description="The CRM plan the tenant is on.")


class AuthorizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    features: list[Feature] = Field(min_length=1, max_length=4, description="What the connection is for.")
    return_url: str = Field(
        min_length=1, max_length=2048, description="Where the browser returns; an allow-listed CRM origin."
    )


class AuthorizeResponse(BaseModel):
    authorization_url: str = Field(description="Send the user's browser here (our page, then Google's).")
    expires_at: datetime


class Disconnected(BaseModel):
    disconnected: bool = Field(description="False when there was nothing to disconnect (a repeat).")


class PlanChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: Plan


def get_health(services: Container, call: Call) -> Reply:
    return Reply(Health())


def put_tenant(services: Container, call: Call) -> Reply:
    request = call.body_as(TenantCreate)
    tenant, created = services.tenants.create(call.path["tenant_id"], name=request.name, plan=request.plan)
    return Reply(tenant, status=201 if created else 200)


def get_tenant(services: Container, call: Call) -> Reply:
    return Reply(services.tenants.get(call.path["tenant_id"]))


def put_tenant_plan(services: Container, call: Call) -> Reply:
    return Reply(services.tenants.change_plan(call.path["tenant_id"], call.body_as(PlanChange).plan))


def list_connections(services: Container, call: Call) -> Reply:
    page = call.query_as(PageQuery)
    services.tenants.get(call.path["tenant_id"])  # an unknown tenant is a 404, not an empty list
    return Reply(
        services.connections.list(
            call.path["tenant_id"], page_size=page.page_size, page_token=page.page_token
        )
    )


def authorize_connection(services: Container, call: Call) -> Reply:
    request = call.body_as(AuthorizeRequest)
    start = services.connect_flow.begin(
        call.path["tenant_id"], call.path["user_id"], request.features, request.return_url
    )
    return Reply(AuthorizeResponse(authorization_url=start.authorization_url, expires_at=start.expires_at))


def get_connection(services: Container, call: Call) -> Reply:
    return Reply(services.lifecycle.get(call.path["tenant_id"], call.path["user_id"]))


def delete_connection(services: Container, call: Call) -> Reply:
    return Reply(
        Disconnected(disconnected=services.lifecycle.disconnect(call.path["tenant_id"], call.path["user_id"]))
    )


CONNECTION = "/v1/tenants/<tenant_id>/users/<user_id>/google-connection"

ROUTES: list[Route[Container]] = [
    Route("GET", "/v1/health", "getHealth", "Liveness of the API.", get_health, Health, authenticated=False),
    Route(
        "PUT",
        "/v1/tenants/<tenant_id>",
        "putTenant",
        "Create the caller's tenant; repeating the same creation is a no-op (200).",
        put_tenant,
        Tenant,
        success_statuses=(200, 201),
        body_model=TenantCreate,
        problem_statuses=(409,),
    ),
    Route("GET", "/v1/tenants/<tenant_id>", "getTenant", "Read the caller's tenant.", get_tenant, Tenant),
    Route(
        "PUT",
        "/v1/tenants/<tenant_id>/plan",
        "putTenantPlan",
        "Move the tenant to another plan; email sync gating follows at once.",
        put_tenant_plan,
        Tenant,
        body_model=PlanChange,
    ),
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
        ConnectionRecord,
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
