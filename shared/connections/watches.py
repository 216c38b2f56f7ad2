"""The daily round of every active Gmail connection, run by Cloud Scheduler through `renew_watches`.

- Watches: Google ends one after 7 days and never renews it; those that end within the renewal window
  are renewed. Renewing refreshes the grant, which is also where a revoked grant is found: the
  connection turns to needs-reconnect.
- Safety net: pushes are hints and can be lost; a connection without a successful sync for a while gets
  a sync request (coalesced like a push).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel, ValidationError

from shared.connections.features import Feature
from shared.connections.records import (
    CONNECTIONS,
    ConnectionRecord,
    ConnectionStatus,
    record_gmail_watch,
)
from shared.errors import IntegrationError, NeedsReconnect, NotFound
from shared.plans import PLAN_POLICIES
from shared.storage.firestore import translated_errors
from shared.tenants.service import tenant_ids

if TYPE_CHECKING:
    from google.cloud.firestore import Client

    from shared.connections.lifecycle import ConnectionLifecycle
    from shared.google_apis.gmail import GmailClient
    from shared.storage.firestore import TenantScope
    from shared.tenants.service import TenantService

logger = logging.getLogger(__name__)


class RenewalReport(BaseModel):
    renewed: int = 0
    needs_reconnect: int = 0
    failed: int = 0
    skipped: int = 0  # mail off, or the plan excludes email sync
    safety_net_syncs: int = 0


def renew_gmail_watches(
    *,
    firestore: Client,
    scope_for: Callable[[str], TenantScope],
    tenants: TenantService,
    lifecycle: ConnectionLifecycle,
    gmail_for: Callable[..., GmailClient],
    request_sync: Callable[[str, str], bool],
    topic: str,
    renew_within: timedelta,
    safety_net_after: timedelta,
    clock: Callable[[], datetime],
) -> RenewalReport:
    report = RenewalReport()
    now = clock()
    for tenant_id in tenant_ids(firestore):
        email_sync = _email_sync(tenants, tenant_id)
        for connection in _active_connections(scope_for(tenant_id)):
            if not email_sync or not connection.enabled(Feature.MAIL):
                report.skipped += 1
                continue
            watch = connection.watches.get("gmail")
            if topic and (watch is None or watch.expires_at < now + renew_within):
                outcome = _renew(tenant_id, connection, lifecycle, gmail_for, scope_for, topic, clock)
                setattr(report, outcome, getattr(report, outcome) + 1)
                if outcome == "needs_reconnect":
                    continue
            last = connection.sync.get("gmail")
            if last is None or last.last_success_at is None or last.last_success_at < now - safety_net_after:
                report.safety_net_syncs += request_sync(tenant_id, connection.connection_id)
    logger.info("daily round of gmail connections done", extra={"fields": report.model_dump()})
    return report


def _email_sync(tenants: TenantService, tenant_id: str) -> bool:
    """Whether the tenant's plan syncs email; read once per tenant. A tenant that cannot be read (its
    document deleted under remaining data, or a plan this code does not know) syncs nothing, and the
    round goes on with the others."""
    try:
        return PLAN_POLICIES[tenants.get(tenant_id).plan].email_sync
    except (NotFound, ValidationError):
        logger.warning("tenant skipped in the daily round", extra={"fields": {"tenant_id": tenant_id}})
        return False


def _renew(
    tenant_id: str,
    connection: ConnectionRecord,
    lifecycle: ConnectionLifecycle,
    gmail_for: Callable[..., GmailClient],
    scope_for: Callable[[str], TenantScope],
    topic: str,
    clock: Callable[[], datetime],
) -> str:
    try:
        credentials = lifecycle.credentials(tenant_id, connection.connection_id, connection=connection)
        watch = gmail_for(credentials).watch(topic)
    except NeedsReconnect:
        return "needs_reconnect"
    except IntegrationError as error:
        logger.warning(
            "gmail watch not renewed", extra={"fields": {"tenant_id": tenant_id, "code": error.code}}
        )
        return "failed"
    record_gmail_watch(scope_for(tenant_id), connection.connection_id, watch, at=clock())
    return "renewed"


def _active_connections(scope: TenantScope) -> Iterator[ConnectionRecord]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = scope.collection(CONNECTIONS).where(
        filter=FieldFilter("status", "==", ConnectionStatus.ACTIVE.value)
    )
    with translated_errors():
        snapshots = list(query.stream())
    for snapshot in snapshots:
        yield ConnectionRecord.model_validate(snapshot.to_dict())
