"""What a plan change does to a tenant's connections, at once: features recomputed, and Gmail watches
stopped (no email sync on the new plan) or started with a first sync (email sync again).

Retention follows at the next nightly purge; nothing is deleted here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from shared.connections.features import Feature, feature_states
from shared.connections.records import (
    CONNECTIONS,
    ConnectionRecord,
    ConnectionStatus,
    connection_ref,
    record_gmail_watch,
)
from shared.errors import IntegrationError
from shared.plans import PLAN_POLICIES, Plan
from shared.storage.firestore import translated_errors
from shared.sync.requests import Source, SyncRequest

if TYPE_CHECKING:
    from shared.composition import Container

logger = logging.getLogger(__name__)


def apply_plan_change(container: Container, tenant_id: str, before: Plan, after: Plan) -> None:
    if PLAN_POLICIES[before].email_sync == PLAN_POLICIES[after].email_sync:
        return
    scope = container.tenant_scope(tenant_id)
    with translated_errors():
        snapshots = list(scope.collection(CONNECTIONS).stream())
    for snapshot in snapshots:
        connection = ConnectionRecord.model_validate(snapshot.to_dict())
        features = feature_states(
            connection.requested_features,
            connection.granted_scopes,
            after,
            write_back=container.settings.mail_read_state_write_back,
        )
        scope.update(
            connection_ref(scope, connection.connection_id),
            {"features": {name.value: state.model_dump() for name, state in features.items()}},
        )
        if connection.status is not ConnectionStatus.ACTIVE:
            continue
        if features[Feature.MAIL].enabled:
            _start_mail(container, tenant_id, connection)
        else:
            _stop_mail(container, tenant_id, connection)


def _stop_mail(container: Container, tenant_id: str, connection: ConnectionRecord) -> None:
    scope = container.tenant_scope(tenant_id)
    if "gmail" in connection.watches:
        try:
            credentials = container.lifecycle.credentials(
                tenant_id, connection.connection_id, connection=connection
            )
            container.gmail(credentials).stop()
        except IntegrationError as error:  # it lapses within 7 days anyway; syncs are gated by plan already
            logger.warning(
                "gmail watch not stopped", extra={"fields": {"tenant_id": tenant_id, "code": error.code}}
            )
    from google.cloud import firestore

    scope.update(connection_ref(scope, connection.connection_id), {"watches.gmail": firestore.DELETE_FIELD})


def _start_mail(container: Container, tenant_id: str, connection: ConnectionRecord) -> None:
    scope = container.tenant_scope(tenant_id)
    topic = container.settings.gmail_push_topic
    try:
        if topic:
            credentials = container.lifecycle.credentials(
                tenant_id, connection.connection_id, connection=connection
            )
            watch = container.gmail(credentials).watch(topic)
            record_gmail_watch(scope, connection.connection_id, watch)
        request = SyncRequest(
            tenant_id=tenant_id,
            connection_id=connection.connection_id,
            source=Source.GMAIL,
            reason="plan_change",
        )
        container.publisher.publish(container.settings.sync_requests_topic, request)
    except IntegrationError as error:  # the daily round renews watches and queues safety-net syncs
        logger.warning(
            "gmail mail not restarted", extra={"fields": {"tenant_id": tenant_id, "code": error.code}}
        )
