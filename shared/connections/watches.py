"""Renewing Gmail watches: Google ends a watch after 7 days and never renews it, so we do, daily.

Run by Cloud Scheduler through `renew_watches`. Each renewal refreshes the connection's grant, which is
also where a revoked or expired grant is found: the connection turns to needs-reconnect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel

from shared.connections.features import Feature
from shared.connections.records import (
    CONNECTIONS,
    ConnectionRecord,
    ConnectionStatus,
    WatchState,
    connection_ref,
)
from shared.errors import IntegrationError, NeedsReconnect
from shared.plans import PLAN_POLICIES
from shared.storage.firestore import TENANTS, translated_errors

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


def renew_gmail_watches(
    *,
    firestore: Client,
    scope_for: Callable[[str], TenantScope],
    tenants: TenantService,
    lifecycle: ConnectionLifecycle,
    gmail_for: Callable[..., GmailClient],
    topic: str,
    clock: Callable[[], datetime],
) -> RenewalReport:
    report = RenewalReport()
    if not topic:
        return report
    for tenant_id, connection in _active_connections(firestore, scope_for):
        if not connection.enabled(Feature.MAIL) or not PLAN_POLICIES[tenants.get(tenant_id).plan].email_sync:
            report.skipped += 1
            continue
        try:
            credentials = lifecycle.credentials(tenant_id, connection.connection_id)
            watch = gmail_for(credentials).watch(topic)
        except NeedsReconnect:
            report.needs_reconnect += 1
            continue
        except IntegrationError as error:
            report.failed += 1
            logger.warning(
                "gmail watch not renewed", extra={"fields": {"tenant_id": tenant_id, "code": error.code}}
            )
            continue
        scope = scope_for(tenant_id)
        state = WatchState(expires_at=watch.expires_at, history_id=watch.history_id)
        scope.update(
            connection_ref(scope, connection.connection_id),
            {"watches.gmail": state.model_dump(), "updated_at": clock()},
        )
        report.renewed += 1
    logger.info("gmail watches renewed", extra={"fields": report.model_dump()})
    return report


def _active_connections(
    firestore: Client, scope_for: Callable[[str], TenantScope]
) -> Iterator[tuple[str, ConnectionRecord]]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    with translated_errors():
        tenant_ids = [document.id for document in firestore.collection(TENANTS).list_documents()]
    for tenant_id in tenant_ids:
        query = (
            scope_for(tenant_id)
            .collection(CONNECTIONS)
            .where(filter=FieldFilter("status", "==", ConnectionStatus.ACTIVE.value))
        )
        with translated_errors():
            snapshots = list(query.stream())
        for snapshot in snapshots:
            yield tenant_id, ConnectionRecord.model_validate(snapshot.to_dict())
