"""Carrying out one sync request, for any source: the gates (the source exists, the tenant's plan allows
its feature, the connection is active and the feature on), the lease, the engine's run within the time
budget, the state's bookkeeping (last success, last error, lag), and what comes after: a continuation
when time ran out, one more run when one was asked for meanwhile."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import datetime

from shared.errors import IntegrationError, LeaseLost, Retryable
from shared.plans import PLAN_POLICIES, Plan
from shared.storage.scope import TenantScope
from shared.sync.engine import SyncedConnection, SyncEngine, SyncJob, SyncReport
from shared.sync.requester import SyncRequester
from shared.sync.requests import Source, SyncRequest
from shared.sync.state import SyncStates

logger = logging.getLogger(__name__)

PlanOf = Callable[[str], Plan | None]  # a tenant's plan; None: no such tenant
ConnectionOf = Callable[[str, str], SyncedConnection | None]  # (tenant, connection); None: gone


class SyncRunner:
    def __init__(
        self,
        *,
        engines: Mapping[Source, SyncEngine],
        scope_for: Callable[[str], TenantScope],
        plan_of: PlanOf,
        connection_of: ConnectionOf,
        requester: SyncRequester,
        lease_seconds: float,
        time_budget_seconds: float,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engines = engines
        self._scope_for = scope_for
        self._plan_of = plan_of
        self._connection_of = connection_of
        self._requester = requester
        self._lease_seconds = lease_seconds
        self._time_budget_seconds = time_budget_seconds
        self._clock = clock
        self._monotonic = monotonic

    def run(self, request: SyncRequest) -> SyncReport:
        engine = self._engines.get(request.source)
        if engine is None:
            return _skipped(request, "source_not_supported")
        plan = self._plan_of(request.tenant_id)
        connection = self._connection_of(request.tenant_id, request.connection_id)
        if plan is None or connection is None:
            return _skipped(request, "gone")  # disconnected or deleted since the request was queued
        if not PLAN_POLICIES[plan].allows(engine.feature):
            return _skipped(request, "plan_excludes")
        if not connection.is_active:
            return _skipped(request, "needs_reconnect")
        if not connection.enabled(engine.feature):
            return _skipped(request, "feature_off")
        if request.key.partition not in engine.partitions(connection):
            return _skipped(request, "partition_not_synced")

        key = request.key
        states = SyncStates(self._scope_for(request.tenant_id), clock=self._clock)
        lease = states.lease(key, holder=uuid.uuid4().hex, ttl_seconds=self._lease_seconds)
        if not lease.acquire():
            # Another sync runs now; it will run once more for us. Redelivery later makes sure of it.
            raise Retryable("A sync of this source is running.", code="sync_busy")
        rerun = False
        try:
            state = lease.state or states.load(key)  # read by the lease's transaction: no second read
            job = SyncJob(
                tenant_id=request.tenant_id,
                connection=connection,
                key=key,
                state=state,
                scope=states.scope,
                retention_days=PLAN_POLICIES[plan].retention_days,
                lease=lease,
                clock=self._clock,
                deadline=self._monotonic() + self._time_budget_seconds,
                monotonic=self._monotonic,
            )
            started = self._clock()
            # From here a push queues a sync of its own: this run may already be past its change.
            job.save({"pending_until": None, "pending_since": None, "last_attempt_at": started})
            report = engine.run(job)
            if not report.continued:
                lag = (self._clock() - state.pending_since).total_seconds() if state.pending_since else None
                job.save({"last_success_at": self._clock(), "last_error": None, "lag_seconds": lag})
        except LeaseLost:
            report = _skipped(request, "lease_lost")  # reset, disconnected or taken over: not ours now
        except IntegrationError as error:
            states.record_error(key, error.code)
            raise
        finally:
            rerun = lease.release()
        if report.continued or rerun:
            self._requester.follow_up(
                request.tenant_id, key, reason="continuation" if report.continued else "pending"
            )
        logger.info(
            "sync done",
            extra={
                "fields": {
                    "tenant_id": request.tenant_id,
                    "connection_id": request.connection_id,
                    "source": request.source.value,
                    **asdict(report),
                }
            },
        )
        return report


def _skipped(request: SyncRequest, reason: str) -> SyncReport:
    logger.info(
        "sync skipped",
        extra={
            "fields": {
                "tenant_id": request.tenant_id,
                "connection_id": request.connection_id,
                "source": request.source.value,
                "reason": reason,
            }
        },
    )
    return SyncReport(mode="skipped", notes=[reason])
