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
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import BadInput, Conflict
from shared.ids import ExternalId
from shared.mail.records import MESSAGES
from shared.mail.shapes import QUERY_SHAPES
from shared.mail.store import DELETE_FIELDS, delete_unattached_copies
from shared.messaging.ports import Publisher, parse_pubsub_model
from shared.plans import PLAN_POLICIES, Plan
from shared.storage.documents import DocRef, Snapshot, Transaction
from shared.storage.scope import TenantScope
from shared.storage.shapes import RangeFilter, build_query
from shared.sync.crash import crash_point

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
    # running, continued (out of time, going on), done, refused (no known plan: nothing deleted),
    # skipped (no such tenant: nothing written either, so a deleted tenant leaves no report behind)
    status: str = "running"
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
    tenant = scope.get(scope.tenant_document())
    if tenant is None:  # deleted since the fan-out, or an id that only names leftover documents
        skipped = PurgeReport(
            run_id=request.run_id, tenant_id=request.tenant_id, dry_run=request.dry_run, status="skipped"
        )
        logger.info("purge report", extra={"fields": skipped.model_dump(mode="json", include=_LOGGED)})
        return skipped
    plan = _plan_of(tenant)
    report = _open_report(scope, report_ref, request, now, plan)
    cutoff = report.cutoff  # a continuation keeps its run's cutoff
    if plan is None or cutoff is None:
        report = report.model_copy(update={"status": "refused", "errors": ["plan_unknown_or_missing"]})
        return _close(scope, report_ref, report, now, started, monotonic)
    eligible = build_query(
        scope.collection(MESSAGES),
        QUERY_SHAPES["purge"],
        equal={"attached_to": []},
        ranges=[RangeFilter("received_at", "<", cutoff)],
    )
    if request.dry_run:
        report.deleted = scope.count(eligible)
    else:
        # Only what the delete needs: the update time (precondition), chunks, and the cursor's field.
        page = eligible.select([*DELETE_FIELDS, "received_at"]).limit(BATCH_SIZE)
        last: Snapshot | None = None
        while True:
            snapshots = scope.stream(page.start_after(last) if last is not None else page)
            if snapshots:
                report.deleted += delete_unattached_copies(scope, snapshots, counter=report_ref)
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
    remaining = scope.count(older)
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


def _plan_of(tenant: dict[str, Any]) -> Plan | None:
    try:
        return Plan(str(tenant.get("plan")))
    except ValueError:
        return None  # never a default that deletes more (invariant 8)


def _open_report(
    scope: TenantScope,
    reference: DocRef,
    request: PurgeRequest,
    now: datetime,
    plan: Plan | None,
) -> PurgeReport:
    """The run's report, created with its plan, retention and cutoff in one atomic create (of two
    deliveries starting together, one creates it and the other goes on with it); a continuation or a
    redelivery goes on with the stored one: its counter as counted, the cutoff its run fixed."""
    decided: dict[str, Any] = {}
    if plan is not None:
        retention = PLAN_POLICIES[plan].retention_days
        decided = {"plan": plan.value, "retention_days": retention, "cutoff": now - timedelta(days=retention)}
    report = PurgeReport(
        run_id=request.run_id, tenant_id=request.tenant_id, dry_run=request.dry_run, started_at=now, **decided
    )
    try:
        scope.create(reference, report.model_dump())
        return report
    except Conflict:
        pass

    def go_on(transaction: Transaction) -> PurgeReport:
        stored = PurgeReport.model_validate(transaction.get(reference).to_dict())
        if stored.cutoff is None and decided:  # the run was refused (no known plan then); it has one now
            transaction.update(reference, decided)
            stored = stored.model_copy(update=decided)
        return stored

    return scope.transaction(go_on)


def _stored_deleted(scope: TenantScope, reference: DocRef) -> int:
    data = scope.get(reference) or {}
    return int(data.get("deleted", 0))


def _close(
    scope: TenantScope,
    reference: DocRef,
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
    logger.info("purge report", extra={"fields": closed.model_dump(mode="json", include=_LOGGED)})
    return closed


# What a "purge report" log line carries (ids, counts, status: nothing of the mail).
_LOGGED = {
    "tenant_id",
    "run_id",
    "status",
    "plan",
    "deleted",
    "kept_attached",
    "scanned",
    "dry_run",
    "errors",
}


def parse_purge_request(event_data: Any) -> PurgeRequest:
    """The request inside a Pub/Sub CloudEvent's data; anything else is acknowledged as bad input."""
    return parse_pubsub_model(
        event_data, PurgeRequest, code="malformed_purge_request", message="The event is not a purge request."
    )


def dry_run_from_query(query: Mapping[str, list[str]]) -> bool:
    """``daily_purge``'s query string: nothing (a real run) or ``dry_run=true|false``. Anything else is
    refused rather than read as "not a dry run": a typo must never turn a count into a deletion."""
    values = query.get("dry_run", [])
    unknown = sorted(set(query) - {"dry_run"})
    if unknown or len(values) > 1 or (values and values[0].lower() not in ("true", "false")):
        raise BadInput(
            "The only parameter is dry_run, once, true or false.",
            code="bad_purge_query",
        )
    return bool(values) and values[0].lower() == "true"


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
    """The tenant's purge reports, newest run first: run ids are YYYYMMDD[-dry], so the greatest id is
    the latest night (that night's dry run before its real one)."""
    page = scope.list_page(PURGE_REPORTS, page_size=page_size, page_token=page_token, descending=True)
    return PurgeReportPage(
        items=[PurgeReport.model_validate(item) for item in page.items], next_page_token=page.next_page_token
    )


class NightlyPurge:
    """The nightly purge's two steps: ``daily_purge`` fans out one request per tenant; ``purge_worker``
    purges one tenant, and queues its own continuation when it runs out of time."""

    def __init__(
        self,
        *,
        tenant_ids: Callable[[], list[str]],
        scope_for: Callable[[str], TenantScope],
        publisher: Callable[[], Publisher],
        topic: str,
        time_budget_seconds: float,
        clock: Callable[[], datetime],
    ) -> None:
        self._tenant_ids = tenant_ids
        self._scope_for = scope_for
        self._publisher = publisher
        self._topic = topic
        self._time_budget_seconds = time_budget_seconds
        self._clock = clock

    def fan_out(self, *, dry_run: bool) -> FanOut:
        # One run id per night (a rerun the same night continues the same reports); dry runs apart.
        run_id = self._clock().strftime("%Y%m%d") + ("-dry" if dry_run else "")
        return fan_out(
            self._tenant_ids(),
            run_id=run_id,
            dry_run=dry_run,
            publish=lambda request: self._publisher().publish(self._topic, request),
        )

    def run(self, request: PurgeRequest) -> PurgeReport:
        report = purge_tenant(
            self._scope_for(request.tenant_id),
            request,
            clock=self._clock,
            time_budget_seconds=self._time_budget_seconds,
        )
        if report.status == "continued":
            self._publisher().publish(self._topic, request)
        return report
