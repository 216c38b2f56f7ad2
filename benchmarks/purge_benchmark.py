"""The nightly purge's figures (shared/handbook/performance.md): purge throughput against a bare batched
delete of the same documents, and purge scaling (time for E expired copies among T = 10 E and T = 100 E).

What runs where: the Firestore emulator is its own process (started with the Pub/Sub emulator by
``local_stack.emulators.running_emulators``); the purge runs in this process, as ``purge_worker`` runs it:
``purge_tenant(get_container().tenant_scope(tenant), PurgeRequest(...), clock=..., time_budget_seconds=...)``
with a budget no run reaches (no continuation). Each run starts emulators of its own (their heap fills
across resets, see ``start_bench``) and warms them up with a small purge; inside a run Firestore is wiped
(``Emulators.reset``: the emulator's DELETE documents endpoint) before every case. Seeding uses batched
writes of 400 and is never timed.

- Purge throughput: a Standard tenant (60 days' retention) holds E unattached copies received 100 days
  ago, plus E/10 attached copies as old and E/10 unattached recent ones (kept). The purge deletes the E;
  then, in the same run, the same E documents are written again and deleted by a bare batched delete
  (``WriteBatch.delete`` of exactly those references, 300 a batch: no query, no precondition, no
  report). The order of the two alternates from run to run. Figures: deleted/s of each, and their ratio.
- Purge scaling: E expired unattached copies among T in all, T = 10 E and T = 100 E; the T - E kept are
  80% recent unattached, 10% recent attached and 10% old attached (``KEPT_MIX``). Figure: the purge's
  time at each T and their ratio, measured in the same run (the order of the two alternates).
- Every purge's time is split by the Firestore RPCs it waited on (the generated client's methods are
  wrapped): the purge queries (the waits for their responses), the commits that delete, the count
  aggregation, other RPCs (the report's reads and writes, the plan read), and the rest (our code and the
  client library's, decoding the documents the queries return included).

Copies carry no body chunks (``body_chunk_count`` 0): the bare delete could not know about them.

    python -m benchmarks.purge_benchmark [--expired 1000] [--scaling-expired 300] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks._report import machine, median, progress
from local_stack.emulators import Emulators, running_emulators
from shared.retention.nightly import BATCH_SIZE as DELETE_BATCH  # the bare delete batches as the purge does

if TYPE_CHECKING:
    from google.cloud.firestore import Client, DocumentReference

    from shared.mail.store import MailStore

PROJECT = "crm-google-bench"
TENANT = "bench"
CONNECTION = "u1"
OWN_ADDRESS = "user-1@example.com"  # the connected account's
PLAN = "Standard"  # 60 days' retention
SEED_BATCH = 400
EXPIRED_AGE = timedelta(days=100)
RECENT_AGE = timedelta(days=10)
DEAL = {"type": "deal", "id": "d-1"}
# What the T - E kept copies of the scaling corpus are: (kind, share).
KEPT_MIX: tuple[tuple[str, float], ...] = (("recent", 0.8), ("recent_attached", 0.1), ("old_attached", 0.1))
PHASES = ("query", "delete commits", "count", "other RPCs")

log = progress("purge-benchmark")


# --- where the time goes -----------------------------------------------------------------------------


@dataclass
class RpcClock:
    """Wall seconds spent inside Firestore RPCs, by kind, measured at the generated client's methods
    (every query, aggregation, get and commit goes through these). A streamed answer counts the call and
    the waits for each of its responses, up to the last one; decoding them is the caller's time."""

    seconds: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def add(self, phase: str, elapsed: float) -> None:
        self.seconds[phase] = self.seconds.get(phase, 0.0) + elapsed
        self.calls[phase] = self.calls.get(phase, 0) + 1

    def install(self, stack: ExitStack) -> None:
        from google.cloud.firestore_v1.services.firestore.client import FirestoreClient

        originals = {
            name: getattr(FirestoreClient, name)
            for name in ("commit", "run_query", "run_aggregation_query", "batch_get_documents")
        }

        def commit(client: Any, *args: Any, **kwargs: Any) -> Any:
            request: Any = kwargs.get("request", args[0] if args else None)
            writes = request.get("writes", []) if isinstance(request, dict) else request.writes
            deletes = any(write.delete for write in writes)
            started = time.perf_counter()
            try:
                return originals["commit"](client, *args, **kwargs)
            finally:
                self.add("delete commits" if deletes else "other RPCs", time.perf_counter() - started)

        def streamed(name: str, phase: str) -> Callable[..., Any]:
            def call(client: Any, *args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                responses = iter(originals[name](client, *args, **kwargs))
                waited = [time.perf_counter() - started]

                def timed() -> Iterator[Any]:
                    # Only the waits for the next response count: decoding each one happens in the
                    # caller between two of them, and is left to "rest".
                    try:
                        while True:
                            began = time.perf_counter()
                            try:
                                response = next(responses)
                            except StopIteration:
                                return
                            finally:
                                waited[0] += time.perf_counter() - began
                            yield response
                    finally:
                        self.add(phase, waited[0])

                return timed()

            return call

        replacements = {
            "commit": commit,
            "run_query": streamed("run_query", "query"),
            "run_aggregation_query": streamed("run_aggregation_query", "count"),
            "batch_get_documents": streamed("batch_get_documents", "other RPCs"),
        }
        for name, replacement in replacements.items():
            setattr(FirestoreClient, name, replacement)
            stack.callback(setattr, FirestoreClient, name, originals[name])


@dataclass
class Timing:
    seconds: float
    phases: dict[str, float]
    calls: dict[str, int]

    @property
    def unscanned(self) -> float:
        """Wall time less the waits for queries and counts (what the emulator's full scans inflate)."""
        return self.seconds - self.phases.get("query", 0.0) - self.phases.get("count", 0.0)

    @property
    def rest(self) -> float:
        """Wall time outside the RPCs: our code and the client library's (building requests, decoding
        the documents a query returns)."""
        return self.seconds - sum(self.phases.values())


# --- corpus ------------------------------------------------------------------------------------------


def _copy(store: MailStore, kind: str, index: int, now: datetime) -> tuple[str, dict[str, Any]]:
    """A synced copy as the store writes one (``MailStore._copy`` builds it; no bodies, so no chunks):
    its id and fields, attached to a deal for the ``*attached`` kinds."""
    from shared.mail.records import Address, ParsedMessage

    old = kind in ("expired", "old_attached")
    gmail_id = f"{kind.replace('_', '')}{index:07d}"
    received_at = now - (EXPIRED_AGE if old else RECENT_AGE) - timedelta(seconds=index)
    resource = {
        "id": gmail_id,
        "threadId": f"t{index // 3:07d}",
        "labelIds": ["INBOX"],
        "snippet": "Hello, following up on our call about the renewal and the figures we discussed " * 2,
        "internalDate": str(int(received_at.timestamp() * 1000)),
    }
    parsed = ParsedMessage(
        subject=f"Quarterly review, item {index}",
        sender=[Address(email="pat@example.net", name="Pat Sender")],
        to=[Address(email=OWN_ADDRESS)],
    )
    copy = store._copy(resource, parsed, generation=1)
    return copy.reference.id, {**copy.document, "attached_to": [DEAL] if kind.endswith("attached") else []}


def seed(db: Client, copies: list[tuple[str, dict[str, Any]]]) -> None:
    """Write copies with batched writes of ``SEED_BATCH`` (not timed)."""
    collection = db.collection(f"tenants/{TENANT}/messages")
    for start in range(0, len(copies), SEED_BATCH):
        batch = db.batch()
        for document_id, data in copies[start : start + SEED_BATCH]:
            batch.set(collection.document(document_id), data)
        batch.commit()


def seed_tenant(db: Client, now: datetime) -> None:
    db.document(f"tenants/{TENANT}").set(
        {"tenant_id": TENANT, "name": "Bench", "plan": PLAN, "created_at": now, "updated_at": now}
    )


def kept_copies(store: MailStore, total: int, now: datetime) -> list[tuple[str, dict[str, Any]]]:
    """``total`` kept copies in the shares of ``KEPT_MIX`` (the last kind takes the rounding)."""
    copies: list[tuple[str, dict[str, Any]]] = []
    left = total
    for position, (kind, share) in enumerate(KEPT_MIX):
        count = left if position == len(KEPT_MIX) - 1 else round(total * share)
        copies += [_copy(store, kind, index, now) for index in range(count)]
        left -= count
    return copies


def count_messages(db: Client) -> int:
    collection: Any = db.collection(f"tenants/{TENANT}/messages")  # count() is untyped
    return int(collection.count().get()[0][0].value)


# --- the bench ---------------------------------------------------------------------------------------


@dataclass
class Bench:
    emulators: Emulators
    db: Client
    store: MailStore  # builds the copies the corpus is seeded with
    clock: RpcClock
    purges: int = 0

    def reset(self) -> None:
        self.emulators.reset(PROJECT)

    def purge(self, now: datetime, expect_deleted: int) -> Timing:
        from shared.composition import get_container
        from shared.retention.nightly import PurgeRequest, purge_tenant

        self.purges += 1
        request = PurgeRequest(tenant_id=TENANT, run_id=f"bench-{self.purges}")
        scope = get_container().tenant_scope(TENANT)
        self.clock.reset()
        started = time.perf_counter()
        report = purge_tenant(scope, request, clock=lambda: now, time_budget_seconds=3600.0)
        elapsed = time.perf_counter() - started
        timing = Timing(elapsed, dict(self.clock.seconds), dict(self.clock.calls))
        if (report.status, report.deleted) != ("done", expect_deleted):
            raise RuntimeError(f"the purge ended {report.status} with {report.deleted} deleted")
        return timing

    def bare_delete(self, references: list[DocumentReference]) -> Timing:
        """The baseline: exactly these documents, plain batched deletes of ``DELETE_BATCH``."""
        self.clock.reset()
        started = time.perf_counter()
        for start in range(0, len(references), DELETE_BATCH):
            batch = self.db.batch()
            for reference in references[start : start + DELETE_BATCH]:
                batch.delete(reference)
            batch.commit()
        elapsed = time.perf_counter() - started
        return Timing(elapsed, dict(self.clock.seconds), dict(self.clock.calls))


def start_bench(emulators: Emulators, clock: RpcClock) -> Bench:
    """Point this process at freshly started emulators (a new container, so a new Firestore client).

    Each run gets emulators of its own: the Firestore emulator's heap (512 MiB, local_stack.emulators)
    is not given back by a reset; after a few 100 E corpora queries slow down and it dies of
    OutOfMemoryError (measured: at the fourth corpus of 30,000 copies)."""
    from shared.composition import get_container, reset_container
    from shared.mail.store import MailStore

    os.environ.update({**emulators.environment, "GOOGLE_CLOUD_PROJECT": PROJECT, "LOG_LEVEL": "WARNING"})
    reset_container()
    container = get_container()
    store = MailStore(
        container.tenant_scope(TENANT), CONNECTION, own_address=OWN_ADDRESS, harvest_contacts=True
    )
    return Bench(emulators, _client(), store, clock)


def _client() -> Client:
    """A raw Firestore client of its own, for the seeding and the bare batched delete it is compared to."""
    from google.cloud import firestore

    return firestore.Client(project=PROJECT)


@dataclass
class ThroughputRun:
    expired: int
    purge: Timing
    bare: Timing
    purge_first: bool

    @property
    def ratio(self) -> float:
        """Purge rate over bare rate: bare seconds over purge seconds (same documents, same run)."""
        return self.bare.seconds / self.purge.seconds

    @property
    def write_ratio(self) -> float:
        return self.bare.phases.get("delete commits", 0.0) / self.purge.phases.get("delete commits", 0.0)


def throughput_run(bench: Bench, expired: int, *, purge_first: bool) -> ThroughputRun:
    now = datetime.now(UTC)
    extra = max(1, expired // 10)
    targets = [_copy(bench.store, "expired", index, now) for index in range(expired)]
    kept = [_copy(bench.store, "old_attached", index, now) for index in range(extra)]
    kept += [_copy(bench.store, "recent", index, now) for index in range(extra)]
    bench.reset()
    seed_tenant(bench.db, now)
    seed(bench.db, targets + kept)
    collection = bench.db.collection(f"tenants/{TENANT}/messages")
    references = [collection.document(document_id) for document_id, _ in targets]
    timings: dict[str, Timing] = {}
    for step in ("purge", "bare") if purge_first else ("bare", "purge"):
        if step == "purge":
            timings["purge"] = bench.purge(now, expired)
        else:
            timings["bare"] = bench.bare_delete(references)
        left = count_messages(bench.db)
        if left != len(kept):
            raise RuntimeError(f"{step}: {left} copies left, expected {len(kept)}")
        if len(timings) == 1:
            seed(bench.db, targets)  # the same E documents again, for the other one
    return ThroughputRun(expired, timings["purge"], timings["bare"], purge_first)


@dataclass
class ScalingRun:
    expired: int
    small: Timing  # T = 10 E
    large: Timing  # T = 100 E

    @property
    def ratio(self) -> float:
        return self.large.seconds / self.small.seconds


def scaling_case(bench: Bench, expired: int, total: int) -> Timing:
    now = datetime.now(UTC)
    bench.reset()
    seed_tenant(bench.db, now)
    seed(
        bench.db,
        [_copy(bench.store, "expired", index, now) for index in range(expired)]
        + kept_copies(bench.store, total - expired, now),
    )
    timing = bench.purge(now, expired)
    left = count_messages(bench.db)
    if left != total - expired:
        raise RuntimeError(f"T={total}: {left} copies left, expected {total - expired}")
    return timing


def scaling_run(bench: Bench, expired: int, *, small_first: bool) -> ScalingRun:
    totals = (10 * expired, 100 * expired) if small_first else (100 * expired, 10 * expired)
    timings = {total: scaling_case(bench, expired, total) for total in totals}
    return ScalingRun(expired, timings[10 * expired], timings[100 * expired])


# --- report ------------------------------------------------------------------------------------------


def _split(timings: list[Timing]) -> str:
    """Median seconds per phase, and per-purge call counts (from the first)."""
    parts = [
        f"{phase} {median([t.phases.get(phase, 0.0) for t in timings]):.3f} s"
        f" ({timings[0].calls.get(phase, 0)})"
        for phase in PHASES
        if any(phase in t.phases for t in timings)
    ]
    parts.append(f"rest {median([t.rest for t in timings]):.3f} s")
    return ", ".join(parts)


def report(runs: int, throughput: list[ThroughputRun], scaling: list[ScalingRun]) -> str:
    e = throughput[0].expired
    s = scaling[0].expired
    purge_rate = median([r.expired / r.purge.seconds for r in throughput])
    bare_rate = median([r.expired / r.bare.seconds for r in throughput])
    small = median([r.small.seconds for r in scaling])
    large = median([r.large.seconds for r in scaling])
    unscanned = (
        f"{median([r.small.unscanned for r in scaling]):.3f} s; "
        f"{median([r.large.unscanned for r in scaling]):.3f} s; "
        f"{median([r.large.unscanned / r.small.unscanned for r in scaling]):.2f}"
    )
    lines = [
        f"Purge benchmark, medians of {runs} run(s) ({machine()}; Firestore emulator)",
        "",
        "| figure | value | goal |",
        "|---|---|---|",
        f"| purge throughput: E={e} expired unattached copies deleted by purge_tenant (Standard; "
        f"{max(1, e // 10)} old attached and {max(1, e // 10)} recent kept) | {purge_rate:.0f} deleted/s | |",
        f"| bare batched delete of the same {e} documents (WriteBatch.delete, {DELETE_BATCH} a batch) "
        f"| {bare_rate:.0f} deleted/s | |",
        f"| purge / bare, same run | {median([r.ratio for r in throughput]):.2f} | at least 0.8 |",
        f"| purge scaling: E={s} expired among T=10E={10 * s:,} | {small:.3f} s | |",
        f"| purge scaling: E={s} expired among T=100E={100 * s:,} | {large:.3f} s | |",
        f"| T=100E / T=10E, same run | {median([r.ratio for r in scaling]):.2f} | within 20% (at most 1.2) |",
        "| diagnostic: the write side alone, bare delete s / the purge's delete-commit s (preconditions and "
        f"the report's increment in each batch) | {median([r.write_ratio for r in throughput]):.2f} | |",
        "| diagnostic: purge time less its query and count waits (the emulator scans the whole collection "
        f"for each; production reads an index), T=10E; T=100E; ratio | {unscanned} | |",
        "",
        "Where a purge's time goes (medians; seconds inside each kind of Firestore RPC, calls per purge in "
        "brackets; rest: outside RPCs)",
        "",
        "| case | total s | split |",
        "|---|---:|---|",
        f"| purge, E={e} | {median([r.purge.seconds for r in throughput]):.3f} | "
        f"{_split([r.purge for r in throughput])} |",
        f"| bare delete, E={e} | {median([r.bare.seconds for r in throughput]):.3f} | "
        f"{_split([r.bare for r in throughput])} |",
        f"| purge, E={s}, T={10 * s:,} | {small:.3f} | {_split([r.small for r in scaling])} |",
        f"| purge, E={s}, T={100 * s:,} | {large:.3f} | {_split([r.large for r in scaling])} |",
        "",
        "Raw seconds per run",
        "",
        f"| run | purge E={e} | bare E={e} | first | ratio | T={10 * s:,} | T={100 * s:,} | ratio |",
        "|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for index, (t, c) in enumerate(zip(throughput, scaling, strict=True), start=1):
        lines.append(
            f"| {index} | {t.purge.seconds:.3f} | {t.bare.seconds:.3f} | "
            f"{'purge' if t.purge_first else 'bare'} | {t.ratio:.2f} | "
            f"{c.small.seconds:.3f} | {c.large.seconds:.3f} | {c.ratio:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--expired", type=int, default=None, help="E for throughput (default 1000)")
    parser.add_argument(
        "--scaling-expired", type=int, default=None, help="E for scaling: T up to 100 E (default 300)"
    )
    parser.add_argument("--runs", type=int, default=None, help="runs per figure (default 3)")
    parser.add_argument("--quick", action="store_true", help="E=100 for both figures, 3 runs")
    parser.add_argument("--log-dir", type=Path, default=None, help="keep the emulators' logs here")
    args = parser.parse_args(argv)
    expired = args.expired or (100 if args.quick else 1000)
    scaling_expired = args.scaling_expired or (100 if args.quick else 300)
    runs = args.runs or 3
    began = time.perf_counter()
    saved = dict(os.environ)
    throughput: list[ThroughputRun] = []
    scaling: list[ScalingRun] = []
    try:
        with ExitStack() as stack:
            logs = args.log_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
            from shared.composition import reset_container

            stack.callback(reset_container)
            clock = RpcClock()
            clock.install(stack)
            for run in range(runs):  # the order inside a run alternates, so drift hits both cases alike
                with running_emulators(logs / f"run-{run + 1}") as emulators:
                    bench = start_bench(emulators, clock)
                    log(f"run {run + 1}: emulators up")
                    throughput_run(bench, min(expired, 300), purge_first=True)  # warm-up, not kept
                    throughput.append(throughput_run(bench, expired, purge_first=run % 2 == 0))
                    t = throughput[-1]
                    log(f"run {run + 1}: purge {t.purge.seconds:.3f} s, bare {t.bare.seconds:.3f} s")
                    scaling.append(scaling_run(bench, scaling_expired, small_first=run % 2 == 0))
                    c = scaling[-1]
                    log(f"run {run + 1}: T=10E {c.small.seconds:.3f} s, T=100E {c.large.seconds:.3f} s")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    print(report(runs, throughput, scaling))
    log(f"done in {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
