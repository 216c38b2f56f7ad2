"""Calendar: a first sync of N events against Calendar's per-user quota bound, and push to stored.

- First sync at Google's own limits: N events spread over the sync window, listed in pages of 2,500
  (the most Google gives) at 600 requests a minute a user, 5 ms latency. Calendar counts requests, not
  events, so the quota bound of a first sync is a handful of requests: T_min = requests / 10 per second.
  The figure says how far storing, not the quota, sets the pace (and the events stored a second).
- Pacing, the quota made to bind: pages of 10 (101 requests for 1,000 events) and the quota scaled
  so the requests take about ``TARGET_SECONDS`` at it; efficiency T_min / T_actual against the paced
  bound (the client's first burst, one batch's worth, taken off), and refusals (403/429): none.
- Push to stored: `calendar_push` and `sync_worker` served under functions-framework, Calendar's channel
  POSTing to calendar_push, the Pub/Sub emulator pushing to sync_worker; one event inserted at a time,
  the time until its document exists, p50 and p95.

    python -m benchmarks.calendar_benchmark [--events 1000,5000] [--pushes 20] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks._report import machine, median, progress
from benchmarks.sync_benchmark import (
    LATENCY_SECONDS,
    TENANT,
    USER,
    Bench,
    _percentile,
    _wait,
    connect,
    running_bench,
)

LIST = "calendar.events.list"
TARGET_SECONDS = 8.0
REAL_BUDGET = 600  # requests per user per minute
log = progress("calendar-benchmark")


@dataclass
class SyncRun:
    events: int
    page_size: int
    budget: int  # requests a minute, at the stand-in and in the client
    burst: float  # requests the client's bucket grants without waiting
    requests: int
    t_actual: float
    stored: int
    refusals: int

    @property
    def t_min(self) -> float:
        """The larger of the quota bound and the latency bound (10 in flight)."""
        return max(self.requests / self.budget * 60, self.requests * LATENCY_SECONDS / 10)

    @property
    def t_paced(self) -> float:
        return max(self.requests - self.burst, 0.0) / self.budget * 60


def fill(bench: Bench, email: str, events: int) -> None:
    """``events`` single events, one every few hours across the sync window."""
    calendar = bench.google.calendars(email).primary
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=25)
    step = timedelta(days=300) / max(events, 1)
    for n in range(events):
        begin = start + step * n
        calendar.insert(
            {
                "summary": f"Meeting {n}",
                "start": {"dateTime": begin.isoformat()},
                "end": {"dateTime": (begin + timedelta(minutes=45)).isoformat()},
            }
        )


def first_sync(bench: Bench, events: int, *, page_size: int, budget: int) -> SyncRun:
    from shared.google_apis.rate_limit import QuotaSettings
    from shared.plans import Plan
    from shared.sync.requests import Source, SyncRequest

    limits = bench.google.limits
    limits.calendar_user_requests_per_minute = budget
    limits.latency_seconds = LATENCY_SECONDS
    limits.enforce_quota = True
    container = bench.container(
        CALENDAR_LIST_PAGE_SIZE=str(page_size), CALENDAR_USER_REQUESTS_PER_MINUTE=str(budget)
    )
    bench.wipe_firestore()
    email = bench.new_account("calendar")
    fill(bench, email, events)
    container.tenants.create(TENANT, name="Bench", plan=Plan.PROFESSIONAL)
    connect(container, email, ("calendar",))
    bench.google.calls.clear()
    started = time.perf_counter()
    stored, reason = 0, "connected"
    while True:
        request = SyncRequest(
            tenant_id=TENANT, connection_id=USER, source=Source.CALENDAR, partition="primary", reason=reason
        )
        report = container.sync_runner.run(request)
        stored += report.created
        if not report.continued:
            break
        reason = "continuation"
    elapsed = time.perf_counter() - started
    calls = bench.google.calls.calls(account=email, prefix="calendar.")
    return SyncRun(
        events=events,
        page_size=page_size,
        budget=budget,
        burst=QuotaSettings(api="calendar", user_units_per_minute=budget).bucket().capacity_units,
        requests=sum(1 for c in calls if c.method_id == LIST and c.status == 200),
        t_actual=elapsed,
        stored=stored,
        refusals=sum(1 for c in calls if c.status in (403, 429)),
    )


@dataclass
class PushResult:
    latencies: list[float]
    timeouts: int
    cold: float


def push_latency(bench: Bench, pushes: int, timeout: float = 20.0) -> PushResult:
    from google.cloud import firestore

    from local_stack.emulators import free_port
    from local_stack.stack import PROJECT, serve_functions
    from shared.calendar.events import EVENTS, event_doc_id
    from shared.plans import Plan

    limits = bench.google.limits
    limits.calendar_user_requests_per_minute = REAL_BUDGET
    limits.latency_seconds = LATENCY_SECONDS
    with ExitStack() as stack:
        ports = {target: free_port() for target in ("calendar_push", "sync_worker")}
        serve_functions(bench.stack, ports, log_dir=bench.log_dir, cleanup=stack)
        container = bench.container(CALENDAR_PUSH_URL=f"http://127.0.0.1:{ports['calendar_push']}/")
        bench.wipe_firestore()
        email = bench.new_account("push")
        container.tenants.create(TENANT, name="Bench", plan=Plan.PROFESSIONAL)
        connect(container, email, ("calendar",))  # opens the channel; the first sync is pushed to sync_worker
        db = firestore.Client(project=PROJECT)
        calendar = bench.google.calendars(email).primary
        latencies: list[float] = []
        timeouts = 0
        soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
        for n in range(pushes + 1):  # the first meets cold instances: reported apart
            began = time.perf_counter()
            made = calendar.insert(
                {
                    "summary": f"Pushed {n}",
                    "start": {"dateTime": (soon + timedelta(hours=n)).isoformat()},
                    "end": {"dateTime": (soon + timedelta(hours=n, minutes=30)).isoformat()},
                }
            )
            document = db.collection(f"tenants/{TENANT}/{EVENTS}").document(
                event_doc_id(USER, "primary", made["id"])
            )
            if _wait(lambda document=document: document.get().exists, timeout=timeout) is None:  # type: ignore[misc]
                timeouts += 1
                continue
            latencies.append(time.perf_counter() - began)
        log("push to stored, ms: " + ", ".join(f"{seconds * 1000:.0f}" for seconds in latencies))
        cold = latencies.pop(0) if latencies else math.nan
        return PushResult(latencies, timeouts, cold)


def report(real: list[SyncRun], paced: list[SyncRun], push: PushResult) -> str:
    lines = [
        f"Machine: {machine()}. 5 ms latency per request, 10 in flight.",
        "",
        "| first sync at Google's limits (pages of 2,500, 600 requests/min) | "
        + " | ".join(f"N = {n}" for n in sorted({r.events for r in real}))
        + " |",
        "|---|" + "---:|" * len({r.events for r in real}),
    ]
    sizes = sorted({r.events for r in real})

    def row(name: str, value: object) -> str:
        return f"| {name} | " + " | ".join(str(value(n)) for n in sizes) + " |"  # type: ignore[operator]

    def runs(n: int) -> list[SyncRun]:
        return [r for r in real if r.events == n]

    lines += [
        row("requests", lambda n: runs(n)[0].requests),
        row("quota bound T_min, s", lambda n: f"{median([r.t_min for r in runs(n)]):.2f}"),
        row("T_actual, s (median)", lambda n: f"{median([r.t_actual for r in runs(n)]):.2f}"),
        row("T_min / T_actual", lambda n: f"{median([r.t_min / r.t_actual for r in runs(n)]):.3f}"),
        row("events stored a second", lambda n: f"{median([r.stored / r.t_actual for r in runs(n)]):.0f}"),
        row("refusals (403/429)", lambda n: sum(r.refusals for r in runs(n))),
        "",
        "| pacing, the quota made to bind (pages of 10) | value |",
        "|---|---|",
        f"| events, requests, budget a minute | {paced[0].events}, {paced[0].requests}, {paced[0].budget} |",
        f"| T_min / T_actual (handbook's bound), median of {len(paced)} | "
        f"{median([r.t_min / r.t_actual for r in paced]):.2f} |",
        "| against the paced bound (first burst off) | "
        f"{median([r.t_paced / r.t_actual for r in paced]):.2f} |",
        f"| refusals (403/429) | {sum(r.refusals for r in paced)} |",
        "",
        "| push to stored (calendar_push, Pub/Sub emulator, sync_worker) | value |",
        "|---|---|",
        f"| p50 / p95 ms, {len(push.latencies)} events | {_percentile(push.latencies, 0.5) * 1000:.0f} / "
        f"{_percentile(push.latencies, 0.95) * 1000:.0f} |",
        f"| the first (cold instances) ms | {push.cold * 1000:.0f} |",
        f"| timeouts | {push.timeouts} |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", default=None, help="comma-separated N (default 1000,5000)")
    parser.add_argument("--pushes", type=int, default=None, help="events pushed one at a time (default 20)")
    parser.add_argument("--runs", type=int, default=None, help="runs per figure (default 3)")
    parser.add_argument("--quick", action="store_true", help="N = 500, 8 pushes, one run")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in (args.events or ("500" if args.quick else "1000,5000")).split(",")]
    pushes = args.pushes or (8 if args.quick else 20)
    runs = args.runs or (1 if args.quick else 3)
    real: list[SyncRun] = []
    paced: list[SyncRun] = []
    with tempfile.TemporaryDirectory() as logs, running_bench(Path(logs)) as bench:
        for run in range(runs):
            for n in sizes:
                real.append(first_sync(bench, n, page_size=2500, budget=REAL_BUDGET))
                log(f"run {run + 1}: N={n}: {real[-1].requests} requests, {real[-1].t_actual:.2f} s")
            # Pages of 10: 101 requests, twice the client's first burst of 50, so the pacing binds.
            events, page = 1000, 10
            requests = math.ceil(events / page) + 1
            budget = max(1, math.ceil((requests - 50) * 60 / TARGET_SECONDS))
            paced.append(first_sync(bench, events, page_size=page, budget=budget))
            done = paced[-1]
            log(
                f"run {run + 1}: paced: {done.requests} requests in {done.t_actual:.2f} s "
                f"(bound {done.t_min:.2f} s)"
            )
        push = push_latency(bench, pushes)
    print(report(real, paced, push))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
