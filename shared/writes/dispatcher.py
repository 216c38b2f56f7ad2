"""Carrying out one write (``outbound_worker``): claim its record, make the Google call once, record
the outcome.

- A final record (``done``, ``failed``) is never carried out again: a redelivery is acknowledged.
- A record claimed by another worker whose claim has not expired: come back later (Pub/Sub retries).
- Each claim counts an attempt. From the second on, an earlier attempt may have reached Google and
  crashed before recording it: the operation is told (``WriteAttempt.may_have_happened``) and must
  look before it writes again (a Message-ID in the mailbox, a client-chosen event id, a label set).
- A passing failure releases the claim and the delivery is retried with backoff; a permanent one ends
  the record ``failed`` with a stable reason, acknowledged, never retried in a loop.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.errors import EventOutcome, IntegrationError, Retryable, mapping_for
from shared.storage.scope import TenantScope
from shared.sync.crash import crash_point
from shared.writes.outbox import OutboundRequest, WriteRecord, WriteStatus, write_ref

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriteAttempt:
    tenant_id: str
    record: WriteRecord

    @property
    def may_have_happened(self) -> bool:
        """An earlier attempt was claimed and never recorded an outcome: it may have reached Google."""
        return self.record.attempts > 1


class WriteOperation(Protocol):
    """One kind of change at Google (``name`` is the record's ``operation``)."""

    name: str

    def perform(self, attempt: WriteAttempt) -> dict[str, Any]:
        """Make the change; returns what to record as the result. Raises our errors: ``Retryable`` for a
        passing failure, anything acknowledged by the error table for a permanent refusal."""
        ...

    def on_failed(self, attempt: WriteAttempt) -> None:
        """The write ended ``failed``: undo what accepting it did ahead of Google (best effort)."""
        ...


class WriteDispatcher:
    def __init__(
        self,
        *,
        operations: Mapping[str, WriteOperation],
        scope_for: Callable[[str], TenantScope],
        claim_seconds: float,
        clock: Callable[[], datetime],
    ) -> None:
        self._operations = operations
        self._scope_for = scope_for
        self._claim = timedelta(seconds=claim_seconds)
        self._clock = clock

    def run(self, request: OutboundRequest) -> WriteStatus | None:
        """The record's status after this delivery (None: no such record)."""
        scope = self._scope_for(request.tenant_id)
        holder = uuid.uuid4().hex
        record = self._claim_record(scope, request.write_id, holder)
        if record is None or record.status is not WriteStatus.IN_PROGRESS:
            status = record.status if record is not None else None
            _log("write skipped", request, record, code=status.value if status else "write_not_found")
            return status
        operation = self._operations.get(record.operation)
        try:
            if operation is None:
                raise IntegrationError("No operation of that name.", code="unknown_operation")
            result = operation.perform(WriteAttempt(request.tenant_id, record))
        except IntegrationError as error:
            if mapping_for(error).event_outcome is EventOutcome.RETRY and error.code != "unknown_operation":
                self._finish(scope, record, holder, {"status": WriteStatus.QUEUED.value})
                raise
            failure = {"code": error.code, "detail": error.detail}
            self._finish(scope, record, holder, {"status": WriteStatus.FAILED.value, "failure": failure})
            _log("write failed", request, record, code=error.code)
            if operation is not None:
                operation.on_failed(WriteAttempt(request.tenant_id, record))
            return WriteStatus.FAILED
        crash_point("write.after_google_before_record")
        self._finish(scope, record, holder, {"status": WriteStatus.DONE.value, "result": result})
        _log("write done", request, record)
        return WriteStatus.DONE

    def _claim_record(self, scope: TenantScope, write_id: str, holder: str) -> WriteRecord | None:
        reference = write_ref(scope, write_id)

        def claim(transaction: Any) -> WriteRecord | None:
            snapshot = transaction.get(reference)
            if not snapshot.exists:
                return None
            record = WriteRecord.model_validate(snapshot.to_dict())
            if record.status in (WriteStatus.DONE, WriteStatus.FAILED):
                return record
            now = self._clock()
            if (
                record.status is WriteStatus.IN_PROGRESS
                and record.claim_expires_at is not None
                and record.claim_expires_at > now
            ):
                raise Retryable("Another worker is carrying out this write.", code="write_busy")
            changes = {
                "status": WriteStatus.IN_PROGRESS.value,
                "attempts": record.attempts + 1,
                "claim_holder": holder,
                "claim_expires_at": now + self._claim,
                "updated_at": now,
            }
            transaction.update(reference, changes)
            return record.model_copy(
                update={**changes, "status": WriteStatus.IN_PROGRESS, "attempts": record.attempts + 1}
            )

        result: WriteRecord | None = scope.transaction(claim)
        return result

    def _finish(self, scope: TenantScope, record: WriteRecord, holder: str, changes: dict[str, Any]) -> None:
        """Record the outcome, if the claim is still ours (a worker that outlived its claim and lost the
        record to another changes nothing)."""
        reference = write_ref(scope, record.write_id)

        def finish(transaction: Any) -> None:
            snapshot = transaction.get(reference)
            if snapshot.get("claim_holder") != holder:
                return
            transaction.update(
                reference,
                {**changes, "claim_holder": None, "claim_expires_at": None, "updated_at": self._clock()},
            )

        scope.transaction(finish)


def _log(
    message: str, request: OutboundRequest, record: WriteRecord | None, *, code: str | None = None
) -> None:
    fields: dict[str, Any] = {"tenant_id": request.tenant_id, "write_id": request.write_id, "code": code}
    if record is not None:
        fields.update(operation=record.operation, attempts=record.attempts)
    logger.info(message, extra={"fields": fields})
