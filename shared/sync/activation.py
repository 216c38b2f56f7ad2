"""Bringing a connection's sync to what it should be, after anything that changes what it should be:
a connect (first syncs), a plan change (a source allowed again, or no longer). Its push channels are
reconciled with what its features and plan want, and a sync is queued for each source that is on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from shared.errors import IntegrationError
from shared.plans import PLAN_POLICIES, Plan
from shared.sync.channels import ChannelRegistry
from shared.sync.engine import SyncedConnection, SyncEngine
from shared.sync.requester import SyncRequester
from shared.sync.requests import Source, SyncKey

logger = logging.getLogger(__name__)


class SyncActivation:
    def __init__(
        self,
        *,
        engines: Mapping[Source, SyncEngine],
        channels: Callable[[], ChannelRegistry],
        requester: Callable[[], SyncRequester],
    ) -> None:
        self._engines = engines
        self._channels = channels
        self._requester = requester

    def synced_keys(self, connection: SyncedConnection, plan: Plan) -> list[SyncKey]:
        """What of the connection is synced now: every partition of every source that is on."""
        policy = PLAN_POLICIES[plan]
        if not connection.is_active:
            return []
        return [
            SyncKey(connection.connection_id, source, partition)
            for source, engine in self._engines.items()
            if policy.allows(engine.feature) and connection.enabled(engine.feature)
            for partition in engine.partitions(connection)
        ]

    def activate(self, tenant_id: str, connection: SyncedConnection, plan: Plan, *, reason: str) -> None:
        """Channels reconciled and a sync queued for what is on. Failures leave the connection as it is:
        the daily round renews channels and queues safety-net syncs."""
        try:
            self._channels().reconcile(tenant_id, connection, PLAN_POLICIES[plan])
        except IntegrationError as error:
            _warn("push channels not reconciled", tenant_id, error)
        for key in self.synced_keys(connection, plan):
            try:
                self._requester().request(tenant_id, key, reason=reason, force=True)
            except IntegrationError as error:
                _warn("sync not queued", tenant_id, error)


def _warn(message: str, tenant_id: str, error: IntegrationError) -> None:
    logger.warning(message, extra={"fields": {"tenant_id": tenant_id, "code": error.code}})
