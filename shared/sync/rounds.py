"""The daily round of every active connection, run by Cloud Scheduler through `renew_watches`.

- Push channels: Google ends each one and never renews it; those ending within the renewal window are
  renewed, missing ones started, unwanted ones stopped (shared.sync.channels). Renewing refreshes the
  grant, which is also where a revoked grant is found: the connection turns to needs-reconnect.
- Safety net: pushes are hints and can be lost; each synced source without a successful sync for a
  while gets a sync request (coalesced like a push).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from pydantic import BaseModel

from shared.errors import IntegrationError, NeedsReconnect
from shared.plans import PLAN_POLICIES, Plan
from shared.storage.scope import TenantScope
from shared.sync.activation import SyncActivation
from shared.sync.channels import ChannelRegistry
from shared.sync.engine import SyncedConnection
from shared.sync.requester import SyncRequester
from shared.sync.state import SyncStates

logger = logging.getLogger(__name__)


class RoundReport(BaseModel):
    renewed: int = 0
    started: int = 0
    stopped: int = 0
    needs_reconnect: int = 0
    failed: int = 0
    skipped: int = 0  # connections with nothing to sync (features off, or the plan excludes them)
    safety_net_syncs: int = 0


class DailyRound:
    def __init__(
        self,
        *,
        tenant_ids: Callable[[], list[str]],
        plan_of: Callable[[str], Plan | None],
        active_connections: Callable[[str], Iterable[SyncedConnection]],
        scope_for: Callable[[str], TenantScope],
        activation: SyncActivation,
        channels: ChannelRegistry,
        requester: SyncRequester,
        safety_net_after: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self._tenant_ids = tenant_ids
        self._plan_of = plan_of
        self._active_connections = active_connections
        self._scope_for = scope_for
        self._activation = activation
        self._channels = channels
        self._requester = requester
        self._safety_net_after = safety_net_after
        self._clock = clock

    def run(self) -> RoundReport:
        report = RoundReport()
        for tenant_id in self._tenant_ids():
            plan = self._plan_or_none(tenant_id)
            for connection in self._active_connections(tenant_id):
                self._visit(tenant_id, connection, plan, report)
        logger.info("daily round of connections done", extra={"fields": report.model_dump()})
        return report

    def _plan_or_none(self, tenant_id: str) -> Plan | None:
        """Read once per tenant. A tenant that cannot be read (its document deleted under remaining
        data, or a plan this code does not know) syncs nothing, and the round goes on with the others."""
        try:
            return self._plan_of(tenant_id)
        except (IntegrationError, ValueError):
            logger.warning("tenant skipped in the daily round", extra={"fields": {"tenant_id": tenant_id}})
            return None

    def _visit(
        self, tenant_id: str, connection: SyncedConnection, plan: Plan | None, report: RoundReport
    ) -> None:
        keys = self._activation.synced_keys(connection, plan) if plan is not None else []
        if not keys:
            report.skipped += 1
        if plan is not None:
            try:
                reconciled = self._channels.reconcile(tenant_id, connection, PLAN_POLICIES[plan])
            except NeedsReconnect:
                report.needs_reconnect += 1
                return
            report.renewed += reconciled.renewed
            report.started += reconciled.started
            report.stopped += reconciled.stopped
            report.failed += reconciled.failed
        states = {
            state.key: state
            for state in SyncStates(self._scope_for(tenant_id), clock=self._clock).of_connection(
                connection.connection_id
            )
        }
        stale_before = self._clock() - self._safety_net_after
        for key in keys:
            state = states.get(key)
            if state is None or state.last_success_at is None or state.last_success_at < stale_before:
                try:
                    report.safety_net_syncs += self._requester.request(tenant_id, key, reason="safety_net")
                except IntegrationError as error:
                    logger.warning(
                        "sync not queued", extra={"fields": {"tenant_id": tenant_id, "code": error.code}}
                    )
