"""The nightly purge: per tenant, synced copies not attached to a CRM record or task, received before
now minus the plan's retention, are deleted. Originals in Gmail are never touched: no Google call here.

- Each delete is conditioned on the copy being unchanged since it was read (an update-time
  precondition), so an attach that races the purge wins; a batch that meets one falls back to
  per-copy transactions.
- The report's counter is incremented in the same atomic batch as the deletes it counts, so a crash
  and a redelivery neither lose nor double a count; the query itself is the resume point.
- A tenant whose plan is unknown or missing loses nothing; its report says why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from shared.ids import ExternalId
from shared.mail.queries import QUERY_SHAPES, RangeFilter, build_query
from shared.mail.records import BODY_CHUNKS, MESSAGES
from shared.plans import PLAN_POLICIES, Plan
from shared.storage.firestore import translated_errors
from shared.sync.crash import crash_point

if TYPE_CHECKING:
    from google.cloud.firestore import DocumentReference, DocumentSnapshot

    Snapshot = DocumentSnapshot[DocumentReference]

    from shared.storage.firestore import TenantScope

logger = logging.getLogger(__name__)

PURGE_REPORTS = "purge_reports"
BATCH_SIZE = 300


class PurgeRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: ExternalId
    run_id: ExternalId
    dry_run: bool = False


class PurgeReport(BaseModel):
    model_config = ConfigDict(extra="ignore")

    run_id: str
    tenant_id: str
    dry_run: bool
    status: str = "running"  # running, continued (out of time, going on), done, refused
    plan: str | None = None
    retention_days: int | None = None
    cutoff: datetime | None = None
    scanned: int = 0  # copies older than the cutoff: deleted + kept because attached
    deleted: int = 0  # in a dry run: how many would be
    kept_attached: int = 0
    errors: list[str] = Field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_seconds: float = 0.0


def purge_tenant(
    scope: TenantScope,
    request: PurgeRequest,
    *,
    clock: Callable[[], datetime],
    time_budget_seconds: float,
    monotonic: Callable[[], float] = time.monotonic,
) -> PurgeReport:
    """Purge one tenant (or count, in a dry run). ``status == "continued"`` asks for a continuation."""
    deadline = monotonic() + time_budget_seconds
    started = monotonic()
    report_ref = scope.document(PURGE_REPORTS, request.run_id)
    now = clock()
    report = _open_report(scope, report_ref, request, now)
    plan = _plan_of(scope)
    if plan is None:
        report = report.model_copy(update={"status": "refused", "errors": ["plan_unknown_or_missing"]})
        return _close(scope, report_ref, report, now, started, monotonic)
    retention = PLAN_POLICIES[plan].retention_days
    cutoff = report.cutoff or now - timedelta(days=retention)  # a continuation keeps its run's cutoff
    report = report.model_copy(update={"plan": plan.value, "retention_days": retention, "cutoff": cutoff})
    scope.update(report_ref, {"plan": plan.value, "retention_days": retention, "cutoff": cutoff})
    eligible = build_query(
        scope.collection(MESSAGES),
        QUERY_SHAPES["purge"],
        equal={"attached_to": []},
        ranges=[RangeFilter("received_at", "<", cutoff)],
    )
    if request.dry_run:
        report.deleted = _count(eligible)
    else:
        # Only what the delete needs: the update time (precondition), chunks, and the cursor's field.
        page = eligible.select(["body_chunk_count", "received_at"]).limit(BATCH_SIZE)
        last: Snapshot | None = None
        while True:
            with translated_errors():
                snapshots = list((page.start_after(last) if last is not None else page).stream())
            if snapshots:
                report.deleted += _delete_batch(scope, report_ref, snapshots)
                last = snapshots[-1]  # resume after it: kept (attached meanwhile) copies are not re-read
            crash_point("purge.after_batch")
            if len(snapshots) < BATCH_SIZE:
                break
            if monotonic() >= deadline:
                report = report.model_copy(update={"status": "continued"})
                return _close(scope, report_ref, report, now, started, monotonic, final=False)
    older = build_query(
        scope.collection(MESSAGES),
        QUERY_SHAPES["purge_older"],
        equal={},
        ranges=[RangeFilter("received_at", "<", cutoff)],
    )
    remaining = _count(older)
    kept = remaining - report.deleted if request.dry_run else remaining  # what is left old is attached
    stored_deleted = report.deleted if request.dry_run else _stored_deleted(scope, report_ref)
    report = report.model_copy(
        update={
            "status": "done",
            "kept_attached": kept,
            "deleted": stored_deleted,
            "scanned": stored_deleted + kept,
        }
    )
    return _close(scope, report_ref, report, now, started, monotonic)


def _plan_of(scope: TenantScope) -> Plan | None:
    data = scope.get(scope.tenant_document()) or {}
    try:
        return Plan(str(data.get("plan")))
    except ValueError:
        return None  # never a default that deletes more (invariant 8)


def _open_report(
    scope: TenantScope, reference: DocumentReference, request: PurgeRequest, now: datetime
) -> PurgeReport:
    existing = scope.get(reference)
    if existing is not None:  # a continuation or a redelivery: the same report goes on
        return PurgeReport.model_validate(existing)
    report = PurgeReport(
        run_id=request.run_id, tenant_id=request.tenant_id, dry_run=request.dry_run, started_at=now
    )
    scope.client.document(reference.path).set(scope.stamp(report.model_dump()))
    return report


def _delete_batch(scope: TenantScope, report_ref: DocumentReference, snapshots: list[Snapshot]) -> int:
    from google.api_core import exceptions as gexc
    from google.cloud import firestore

    batch = scope.client.batch()
    for snapshot in snapshots:
        for chunk in _chunks(snapshot):
            batch.delete(chunk)
        # Deleted only if unchanged since read: an attach in between fails the precondition.
        batch.delete(
            snapshot.reference, option=scope.client.write_option(last_update_time=snapshot.update_time)
        )
    batch.update(report_ref, {"deleted": firestore.Increment(len(snapshots))})
    try:
        with translated_errors():
            batch.commit()
        return len(snapshots)
    except gexc.FailedPrecondition:
        pass  # someone changed a copy meanwhile: decide copy by copy, in transactions
    return sum(_delete_one_counted(scope, snapshot.reference, report_ref) for snapshot in snapshots)


def _delete_one_counted(
    scope: TenantScope, reference: DocumentReference, report_ref: DocumentReference
) -> int:
    """In one transaction: re-read the copy; if still unattached, delete it (and its chunks) and count
    it in the report. The count and the delete commit together, so a crash can lose neither."""
    from google.cloud import firestore

    @firestore.transactional
    def remove(transaction: firestore.Transaction) -> int:
        snapshot = reference.get(transaction=transaction)
        data = snapshot.to_dict() if snapshot.exists else None
        if data is None or data.get("attached_to"):
            return 0
        for index in range(int(data.get("body_chunk_count") or 0)):
            transaction.delete(reference.collection(BODY_CHUNKS).document(str(index)))
        transaction.delete(reference)
        transaction.update(report_ref, {"deleted": firestore.Increment(1)})
        return 1

    with translated_errors():
        return int(remove(scope.client.transaction()))


def _chunks(snapshot: Snapshot) -> list[DocumentReference]:
    data: dict[str, Any] = snapshot.to_dict() or {}
    count = int(data.get("body_chunk_count") or 0)
    return [snapshot.reference.collection(BODY_CHUNKS).document(str(index)) for index in range(count)]


def _count(query: Any) -> int:
    with translated_errors():
        return int(query.count().get()[0][0].value)


def _stored_deleted(scope: TenantScope, reference: DocumentReference) -> int:
    data = scope.get(reference) or {}
    return int(data.get("deleted", 0))


def _close(
    scope: TenantScope,
    reference: DocumentReference,
    report: PurgeReport,
    now: datetime,
    started: float,
    monotonic: Callable[[], float],
    *,
    final: bool = True,
) -> PurgeReport:
    duration = report.duration_seconds + (monotonic() - started)
    changes: dict[str, Any] = {"status": report.status, "errors": report.errors, "duration_seconds": duration}
    if final:
        changes.update(
            finished_at=now,
            scanned=report.scanned,
            kept_attached=report.kept_attached,
            deleted=report.deleted,
        )
    scope.update(reference, changes)
    closed = report.model_copy(update={"duration_seconds": duration, "finished_at": now if final else None})
    logger.info(
        "purge report",
        extra={
            "fields": closed.model_dump(
                mode="json",
                include={
                    "tenant_id",
                    "run_id",
                    "status",
                    "plan",
                    "deleted",
                    "kept_attached",
                    "scanned",
                    "dry_run",
                    "errors",
                },
            )
        },
    )
    return closed


def parse_purge_request(event_data: Any) -> PurgeRequest:
    """The request inside a Pub/Sub CloudEvent's data; anything else is acknowledged as bad input."""
    import base64
    import binascii

    from pydantic import ValidationError

    from shared.errors import BadInput

    try:
        return PurgeRequest.model_validate_json(
            base64.b64decode(event_data["message"]["data"], validate=True)
        )
    except (KeyError, TypeError, ValueError, binascii.Error, ValidationError):
        raise BadInput("The event is not a purge request.", code="malformed_purge_request") from None


class FanOut(BaseModel):
    run_id: str
    dry_run: bool
    tenants: int


def fan_out(
    tenant_ids: list[str], *, run_id: str, dry_run: bool, publish: Callable[[PurgeRequest], object]
) -> FanOut:
    """One purge request per tenant; each tenant's purge then runs, and continues, on its own."""
    for tenant_id in tenant_ids:
        publish(PurgeRequest(tenant_id=tenant_id, run_id=run_id, dry_run=dry_run))
    logger.info(
        "purge fanned out",
        extra={"fields": {"run_id": run_id, "tenants": len(tenant_ids), "dry_run": dry_run}},
    )
    return FanOut(run_id=run_id, dry_run=dry_run, tenants=len(tenant_ids))


class PurgeReportPage(BaseModel):
    items: list[PurgeReport]
    next_page_token: str | None


def list_purge_reports(scope: TenantScope, *, page_size: int, page_token: str | None) -> PurgeReportPage:
    """The tenant's purge reports, newest run first."""
    from google.cloud.firestore_v1.field_path import FieldPath

    from shared.errors import BadInput
    from shared.storage.firestore import decode_page_token, encode_page_token

    collection = scope.collection(PURGE_REPORTS)
    query = (
        collection.order_by("started_at", direction="DESCENDING")
        .order_by(FieldPath.document_id(), direction="DESCENDING")
        .limit(page_size + 1)
    )
    after = decode_page_token(page_token, listing=PURGE_REPORTS)
    with translated_errors():
        if after is not None:
            last = collection.document(after).get()
            if not last.exists:
                raise BadInput("The page_token is not one this listing issued.", code="invalid_page_token")
            query = query.start_after(last)  # resume after the last report served (its started_at and id)
        snapshots = list(query.stream())
    items = [PurgeReport.model_validate(snapshot.to_dict()) for snapshot in snapshots[:page_size]]
    more = len(snapshots) > page_size
    token = encode_page_token(snapshots[page_size - 1].id, listing=PURGE_REPORTS) if more else None
    return PurgeReportPage(items=items, next_page_token=token)
