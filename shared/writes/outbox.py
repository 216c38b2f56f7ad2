"""The write path's records: one per (tenant, idempotency key), written before any Google call.

tenants/{t}/writes/{sha256 of the key}   the operation and its payload, a fingerprint of both, the
                                        status, attempts, the claim of the worker carrying it out,
                                        and the outcome

Statuses, after Powertools' idempotency records: ``queued`` (accepted, not yet carried out, or
released after a passing failure), ``in_progress`` (claimed by a worker until ``claim_expires_at``),
``done`` (Google accepted it; ``result``), ``failed`` (refused for good; ``failure``). ``done`` and
``failed`` are final: a repeat of the API call answers the same record, a redelivery does nothing.

The CRM calls with an ``Idempotency-Key``. The same key and the same request answer the same record
(and queue it again while it is still ``queued``, in case the first publish was lost); the same key with
another request is refused with 409 ``idempotency_key_reused`` and nothing is written.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import BadInput, Conflict, NotFound
from shared.ids import ExternalId
from shared.messaging.ports import Publisher, parse_pubsub_model
from shared.storage.documents import DocRef
from shared.storage.scope import TenantScope

WRITES = "writes"
KEY_PATTERN = r"^[\x21-\x7e]{8,255}$"  # visible ASCII: a UUID, a ULID, the CRM's own request id
_KEY = re.compile(KEY_PATTERN)
RECORD_DAYS = 30  # how long a key is remembered (a TTL policy may delete records after ``expires_at``)


class WriteStatus(enum.StrEnum):
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"


class WriteFailure(BaseModel):
    code: str = Field(description="Stable reason: plan_excludes, needs_reconnect, insufficient_scope, ...")
    detail: str


class WriteRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    write_id: str
    connection_id: ExternalId
    operation: str
    payload: dict[str, Any]  # the request, as the CRM made it (fingerprinted)
    details: dict[str, Any] = Field(default_factory=dict)  # what accepting it resolved (not fingerprinted)
    fingerprint: str
    status: WriteStatus
    attempts: int = 0
    claim_holder: str | None = None
    claim_expires_at: datetime | None = None
    result: dict[str, Any] | None = None
    failure: WriteFailure | None = None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime


class WriteView(BaseModel):
    """A write as the CRM sees it."""

    write_id: str
    operation: str
    status: WriteStatus
    result: dict[str, Any] | None = Field(description="What Google answered, once done.")
    failure: WriteFailure | None = Field(description="Why it was refused, once failed.")
    attempts: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, record: WriteRecord) -> WriteView:
        return cls.model_validate(record.model_dump(include=set(cls.model_fields)))


class OutboundRequest(BaseModel):
    """What is published to the outbound-requests topic: which record to carry out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: ExternalId
    write_id: str = Field(pattern=r"^[0-9a-f]{64}$")


def parse_outbound_request(event_data: Any) -> OutboundRequest:
    return parse_pubsub_model(
        event_data, OutboundRequest, code="malformed_outbound_request", message="The event is not a write."
    )


def check_key(key: str | None) -> str:
    if key is None or not _KEY.fullmatch(key):
        raise BadInput(
            "An Idempotency-Key header of 8 to 255 visible ASCII characters is required.",
            code="validation_failed",
            errors=[
                {
                    "location": ["header", "Idempotency-Key"],
                    "message": "8 to 255 visible ASCII characters, e.g. a UUID",
                    "type": "idempotency_key",
                }
            ],
        )
    return key


def write_id_of(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def write_ref(scope: TenantScope, write_id: str) -> DocRef:
    return scope.document(WRITES, write_id)


class Outbox:
    """Accepting writes from the CRM (api) and reading them back."""

    def __init__(
        self,
        *,
        scope_for: Callable[[str], TenantScope],
        publisher: Callable[[], Publisher],
        topic: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._scope_for = scope_for
        self._publisher = publisher
        self._topic = topic
        self._clock = clock

    def submit(
        self,
        tenant_id: str,
        connection_id: str,
        key: str | None,
        operation: str,
        payload: Mapping[str, Any],
        *,
        details: Callable[[str], Mapping[str, Any]] | None = None,
    ) -> WriteRecord:
        """Record the write (or find the one this key recorded), then queue it while it is queued.
        ``details(write_id)``: what the operation resolved when it accepted the request (a Message-ID,
        a thread), stored beside the request; not part of its fingerprint."""
        return self.submit_new(tenant_id, connection_id, key, operation, payload, details=details)[0]

    def submit_new(
        self,
        tenant_id: str,
        connection_id: str,
        key: str | None,
        operation: str,
        payload: Mapping[str, Any],
        *,
        details: Callable[[str], Mapping[str, Any]] | None = None,
        publish: bool = True,
    ) -> tuple[WriteRecord, bool]:
        """``submit``, and whether this call recorded the write (False: a repeat found it).
        ``publish=False``: the caller carries the write out itself, now (and ``complete``s it); a
        retry of its request with the same key finds the record and carries it out again."""
        scope = self._scope_for(tenant_id)
        write_id = write_id_of(check_key(key))
        fingerprint = _fingerprint(connection_id, operation, payload)
        reference = write_ref(scope, write_id)
        now = self._clock()
        fresh = WriteRecord(
            write_id=write_id,
            connection_id=connection_id,
            operation=operation,
            payload=dict(payload),
            details=dict(details(write_id)) if details is not None else {},
            fingerprint=fingerprint,
            status=WriteStatus.QUEUED,
            created_at=now,
            updated_at=now,
            expires_at=now + timedelta(days=RECORD_DAYS),
        )

        def record(transaction: Any) -> tuple[WriteRecord, bool]:
            snapshot = transaction.get(reference)
            if snapshot.exists:
                existing = WriteRecord.model_validate(snapshot.to_dict())
                if existing.fingerprint != fingerprint:
                    raise Conflict(
                        "This Idempotency-Key was used for another request.", code="idempotency_key_reused"
                    )
                return existing, False
            transaction.create(reference, scope.stamp(fresh.model_dump(mode="python")))
            return fresh, True

        stored, created = scope.transaction(record)
        if stored.status is WriteStatus.QUEUED and publish:
            # Published after it is recorded: a lost publish is repaired by the CRM's retry (this path),
            # a duplicate publish by the worker (a final record is never carried out again).
            self._publisher().publish(self._topic, OutboundRequest(tenant_id=tenant_id, write_id=write_id))
        return stored, created

    def complete(self, tenant_id: str, write_id: str, result: Mapping[str, Any]) -> None:
        """A write carried out by its caller (``publish=False``) is done: a repeat answers ``result``."""
        scope = self._scope_for(tenant_id)
        scope.update(
            write_ref(scope, write_id),
            {"status": WriteStatus.DONE.value, "result": dict(result), "updated_at": self._clock()},
        )

    def get(self, tenant_id: str, connection_id: str, write_id: str) -> WriteRecord:
        scope = self._scope_for(tenant_id)
        data = scope.get(write_ref(scope, write_id))
        if data is None or data.get("connection_id") != connection_id:
            raise NotFound("No such write.", code="write_not_found")
        return WriteRecord.model_validate(data)


def _fingerprint(connection_id: str, operation: str, payload: Mapping[str, Any]) -> str:
    material = json.dumps(
        {"connection_id": connection_id, "operation": operation, "payload": payload},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(material.encode()).hexdigest()
