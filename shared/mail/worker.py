"""Carrying out one sync request for Gmail: gates (plan, connection, feature), the lease, the sync,
and what comes after (a continuation when time ran out, another run when one was asked for meanwhile)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict
from typing import TYPE_CHECKING

from shared.connections.features import Feature
from shared.connections.records import ConnectionRecord, ConnectionStatus
from shared.errors import NotFound, Retryable
from shared.mail.store import MailStore
from shared.mail.sync import GmailSync, GmailSyncState, SyncReport
from shared.plans import PLAN_POLICIES
from shared.sync.lease import SyncLease
from shared.sync.pending import clear_pending
from shared.sync.requests import Source, SyncRequest
from shared.tenants.service import utc_now

if TYPE_CHECKING:
    from shared.composition import Container

logger = logging.getLogger(__name__)


def run_sync_request(container: Container, request: SyncRequest) -> SyncReport:
    if request.source is not Source.GMAIL:
        return _skipped(request, "source_not_synced_yet")  # Calendar and Drive sync arrive with their issues
    try:
        tenant = container.tenants.get(request.tenant_id)
        connection = container.lifecycle.get(request.tenant_id, request.connection_id)
    except NotFound:
        return _skipped(request, "gone")  # disconnected or deleted since the request was queued
    policy = PLAN_POLICIES[tenant.plan]
    if not policy.email_sync:
        return _skipped(request, "plan_excludes_email")
    if connection.status is not ConnectionStatus.ACTIVE:
        return _skipped(request, "needs_reconnect")
    if not connection.enabled(Feature.MAIL):
        return _skipped(request, "mail_off")

    settings = container.settings
    scope = container.tenant_scope(request.tenant_id)
    lease = SyncLease(
        scope,
        request.connection_id,
        Source.GMAIL.value,
        holder=uuid.uuid4().hex,
        ttl_seconds=settings.sync_lease_seconds,
        clock=utc_now,
    )
    if not lease.acquire():
        # Another sync runs now; it will run once more for us. Redelivery later makes sure of it.
        raise Retryable("A sync of this mailbox is running.", code="sync_busy")
    rerun = False
    try:
        clear_pending(scope, request)  # pushes from now on queue a sync of their own
        report = _sync(container, request, connection, policy.retention_days)
    finally:
        rerun = lease.release()
    if report.continued or rerun:
        reason = "continuation" if report.continued else "pending"
        follow_up = SyncRequest(
            tenant_id=request.tenant_id,
            connection_id=request.connection_id,
            source=Source.GMAIL,
            reason=reason,
        )
        container.publisher.publish(settings.sync_requests_topic, follow_up)
    logger.info(
        "gmail sync done",
        extra={
            "fields": {
                "tenant_id": request.tenant_id,
                "connection_id": request.connection_id,
                **asdict(report),
            }
        },
    )
    return report


def _sync(
    container: Container, request: SyncRequest, connection: ConnectionRecord, retention_days: int
) -> SyncReport:
    settings = container.settings
    credentials = container.lifecycle.credentials(
        request.tenant_id, request.connection_id, connection=connection
    )
    gmail = container.gmail_sync(request.tenant_id, request.connection_id, credentials)
    scope = container.tenant_scope(request.tenant_id)
    raw_state = connection.sync.get(Source.GMAIL.value)
    state = GmailSyncState.model_validate(raw_state.model_dump() if raw_state else {})
    sync = GmailSync(
        scope=scope,
        connection_id=request.connection_id,
        state=state,
        gmail=gmail,
        store=MailStore(scope, request.connection_id, own_address=connection.google_email),
        retention_days=retention_days,
        time_budget_seconds=settings.sync_time_budget_seconds,
        clock=utc_now,
        page_size=settings.gmail_list_page_size,
    )
    return sync.run()


def _skipped(request: SyncRequest, reason: str) -> SyncReport:
    logger.info(
        "sync skipped",
        extra={
            "fields": {
                "tenant_id": request.tenant_id,
                "connection_id": request.connection_id,
                "reason": reason,
            }
        },
    )
    return SyncReport(mode="skipped", notes=[reason])
