"""Creating tenants, reading them, and moving them between plans."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.clock import utc_now
from shared.errors import Conflict, NotFound
from shared.ids import ExternalId
from shared.plans import Plan
from shared.storage.scope import TenantScope


class Tenant(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant_id: ExternalId
    name: str = Field(min_length=1, max_length=200)
    plan: Plan
    created_at: datetime
    updated_at: datetime


Clock = Callable[[], datetime]


class TenantService:
    def __init__(self, scope_for: Callable[[str], TenantScope], *, clock: Clock = utc_now) -> None:
        self._scope_for = scope_for
        self._clock = clock

    def create(self, tenant_id: str, *, name: str, plan: Plan) -> tuple[Tenant, bool]:
        """Create the tenant; returns (tenant, created).

        Idempotent: repeating the same creation returns the stored tenant with ``created=False``; a
        creation that differs from what is stored is a ``Conflict`` and changes nothing.
        """
        scope = self._scope_for(tenant_id)
        now = self._clock()
        document: dict[str, Any] = {"name": name, "plan": plan.value, "created_at": now, "updated_at": now}
        try:
            scope.create(scope.tenant_document(), document)
        except Conflict:
            existing = self.get(tenant_id)
            if existing.name == name and existing.plan == plan:
                return existing, False
            raise Conflict(
                "A tenant with this id exists with another name or plan.", code="tenant_exists"
            ) from None
        return Tenant(tenant_id=tenant_id, **document), True

    def plan_of(self, tenant_id: str) -> Plan | None:
        """The tenant's plan; None when there is no such tenant."""
        try:
            return self.get(tenant_id).plan
        except NotFound:
            return None

    def get(self, tenant_id: str) -> Tenant:
        scope = self._scope_for(tenant_id)
        data = scope.get(scope.tenant_document())
        if data is None:
            raise NotFound("No such tenant.", code="tenant_not_found")
        return Tenant.model_validate(data)

    def change_plan(self, tenant_id: str, plan: Plan) -> tuple[Plan, Tenant]:
        """Move the tenant to ``plan``; returns the plan it had and the tenant as stored now. Setting the
        plan it already has changes nothing. The plan before is read in the same transaction, so the
        effects of a change (shared.connections.plan_effects) follow from what the change replaced."""
        scope = self._scope_for(tenant_id)
        reference = scope.tenant_document()

        def apply(transaction: Any) -> tuple[Plan, Tenant]:
            snapshot = transaction.get(reference)
            if not snapshot.exists:
                raise NotFound("No such tenant.", code="tenant_not_found")
            current = Tenant.model_validate(snapshot.to_dict())
            if current.plan == plan:
                return current.plan, current
            changed = current.model_copy(update={"plan": plan, "updated_at": self._clock()})
            transaction.update(reference, {"plan": plan.value, "updated_at": changed.updated_at})
            return current.plan, changed

        return scope.transaction(apply)
