"""The API's tenant endpoints: create and read the caller's tenant, move it to another plan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from shared.api.routing import Call, Reply, Route
from shared.plans import Plan
from shared.tenants.service import Tenant, TenantService


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Display name of the tenant.")
    plan: Plan = Field(description="The CRM plan the tenant is on.")


class PlanChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: Plan


@dataclass(frozen=True)
class TenantApi:
    tenants: TenantService
    apply_plan_change: Callable[[str, Plan, Plan], None]  # what the change does to connections, at once


def put_tenant(api: TenantApi, call: Call) -> Reply:
    request = call.body_as(TenantCreate)
    tenant, created = api.tenants.create(call.path["tenant_id"], name=request.name, plan=request.plan)
    return Reply(tenant, status=201 if created else 200)


def get_tenant(api: TenantApi, call: Call) -> Reply:
    return Reply(api.tenants.get(call.path["tenant_id"]))


def put_tenant_plan(api: TenantApi, call: Call) -> Reply:
    tenant_id = call.path["tenant_id"]
    before, tenant = api.tenants.change_plan(tenant_id, call.body_as(PlanChange).plan)
    api.apply_plan_change(tenant_id, before, tenant.plan)  # watches stop or start, syncs queue, at once
    return Reply(tenant)


ROUTES: list[Route[TenantApi]] = [
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
        "Move the tenant to another plan; what each feature may do follows at once.",
        put_tenant_plan,
        Tenant,
        body_model=PlanChange,
    ),
]
