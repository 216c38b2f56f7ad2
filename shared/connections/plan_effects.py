"""What a plan change does to a tenant's connections, at once: features recomputed from the new plan,
then each active connection's sync brought in line (channels stopped where a feature is now excluded,
started and a sync queued where one is allowed again).

Retention follows at the next nightly purge; nothing is deleted here.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.connections.features import feature_states
from shared.connections.records import CONNECTIONS, ConnectionRecord, connection_ref
from shared.plans import PLAN_POLICIES, Plan
from shared.storage.scope import TenantScope
from shared.sync.activation import SyncActivation


class PlanEffects:
    def __init__(
        self,
        *,
        scope_for: Callable[[str], TenantScope],
        activation: SyncActivation,
        write_back: bool,
    ) -> None:
        self._scope_for = scope_for
        self._activation = activation
        self._write_back = write_back

    def apply(self, tenant_id: str, before: Plan, after: Plan) -> None:
        if PLAN_POLICIES[before].features == PLAN_POLICIES[after].features:
            return
        scope = self._scope_for(tenant_id)
        for snapshot in scope.stream(scope.collection(CONNECTIONS).query()):
            connection = ConnectionRecord.model_validate(snapshot.to_dict())
            features = feature_states(
                connection.requested_features, connection.granted_scopes, after, write_back=self._write_back
            )
            scope.update(
                connection_ref(scope, connection.connection_id),
                {"features": {name.value: state.model_dump() for name, state in features.items()}},
            )
            if connection.is_active:
                updated = connection.model_copy(update={"features": features})
                self._activation.activate(tenant_id, updated, after, reason="plan_change")
