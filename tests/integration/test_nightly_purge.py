"""The nightly purge against the Firestore emulator: exactly the eligible copies, nothing else, ever."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from shared.composition import get_container, reset_container
from shared.mail.shapes import QUERY_SHAPES
from shared.mail.store import delete_unattached_copies
from shared.plans import PLAN_POLICIES, Plan
from shared.retention.nightly import PURGE_REPORTS, PurgeRequest, purge_tenant
from shared.storage.shapes import RangeFilter, build_query
from shared.sync.crash import CrashPointReached
from tests.firestore_reads import client

NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
DEAL = {"type": "deal", "id": "d-1"}


def seed_tenant(tenant: str, plan: str) -> None:
    client().document(f"tenants/{tenant}").set(
        {"tenant_id": tenant, "name": tenant, "plan": plan, "created_at": NOW, "updated_at": NOW}
    )


def seed_copy(
    tenant: str, key: str, received_at: datetime, *, attached: bool = False, chunks: int = 0
) -> None:
    reference = client().document(f"tenants/{tenant}/messages/{key}")
    reference.set(
        {
            "tenant_id": tenant,
            "connection_id": "u1",
            "gmail_id": key,
            "received_at": received_at,
            "attached_to": [DEAL] if attached else [],
            "body_chunk_count": chunks,
        }
    )
    for index in range(chunks):
        reference.collection("body_chunks").document(str(index)).set({"tenant_id": tenant, "data": b"x"})


def copies(tenant: str) -> set[str]:
    return {document.id for document in client().collection(f"tenants/{tenant}/messages").stream()}


def purge(tenant: str, run_id: str = "run1", **kwargs: object) -> object:
    scope = get_container().tenant_scope(tenant)
    request = PurgeRequest(tenant_id=tenant, run_id=run_id, dry_run=bool(kwargs.pop("dry_run", False)))
    return purge_tenant(
        scope, request, clock=lambda: NOW, time_budget_seconds=float(kwargs.pop("budget", 60.0))
    )


@pytest.fixture
def corpus(stack_environment: dict[str, str]) -> dict[str, set[str]]:
    """Every plan; for each, copies a second either side of its cutoff, attached or not. Returns the
    copies each tenant must keep."""
    expected: dict[str, set[str]] = {}
    for plan in Plan:
        tenant = "t-" + plan.value.lower().replace("+", "plus")
        seed_tenant(tenant, plan.value)
        cutoff = NOW - timedelta(days=PLAN_POLICIES[plan].retention_days)
        seed_copy(tenant, "old-loose", cutoff - timedelta(seconds=1), chunks=2)
        seed_copy(tenant, "old-attached", cutoff - timedelta(seconds=1), attached=True)
        seed_copy(tenant, "new-loose", cutoff + timedelta(seconds=1))
        seed_copy(tenant, "new-attached", cutoff + timedelta(seconds=1), attached=True)
        expected[tenant] = {"old-attached", "new-loose", "new-attached"}
    return expected


def test_a_purge_over_a_mixed_corpus_deletes_exactly_the_eligible_copies(corpus: dict[str, set[str]]) -> None:
    for tenant, keep in corpus.items():
        report = purge(tenant)
        assert copies(tenant) == keep, tenant
        assert (report.deleted, report.kept_attached, report.scanned, report.status) == (1, 1, 2, "done")
        chunks = list(client().collection(f"tenants/{tenant}/messages/old-loose/body_chunks").stream())
        assert chunks == []  # what the copy stored beside it goes with it


def test_a_rerun_deletes_nothing(corpus: dict[str, set[str]]) -> None:
    purge("t-standard")
    report = purge("t-standard", run_id="run2")
    assert report.deleted == 0
    assert copies("t-standard") == corpus["t-standard"]


def test_a_dry_run_counts_without_deleting(corpus: dict[str, set[str]]) -> None:
    before = copies("t-nfr")
    report = purge("t-nfr", dry_run=True)
    assert (report.deleted, report.kept_attached, report.status) == (1, 1, "done")
    assert copies("t-nfr") == before


def test_an_attach_that_races_the_purge_wins(stack_environment: dict[str, str]) -> None:
    seed_tenant("acme", "Standard")
    for key in ("a", "b", "c"):
        seed_copy("acme", key, NOW - timedelta(days=90))
    scope = get_container().tenant_scope("acme")
    eligible = build_query(
        scope.collection("messages"),
        QUERY_SHAPES["purge"],
        equal={"attached_to": []},
        ranges=[RangeFilter("received_at", "<", NOW - timedelta(days=60))],
    )
    snapshots = scope.stream(eligible)  # the purge has read its batch...
    client().document("tenants/acme/messages/b").update({"attached_to": [DEAL]})  # ...a user attaches one...
    report_ref = scope.document(PURGE_REPORTS, "race")
    scope.set(report_ref, {"deleted": 0})
    deleted = delete_unattached_copies(scope, snapshots, counter=report_ref)  # ...and the purge commits
    assert deleted == 2
    assert copies("acme") == {"b"}
    assert client().document(report_ref.path).get().to_dict()["deleted"] == 2


def test_a_crash_mid_purge_then_a_rerun_ends_in_the_same_state_with_right_counts(
    corpus: dict[str, set[str]],
) -> None:
    os.environ["CRASH_POINTS"] = "purge.after_batch"
    reset_container()
    with pytest.raises(CrashPointReached):
        purge("t-crmplus")
    del os.environ["CRASH_POINTS"]
    reset_container()
    report = purge("t-crmplus")  # the redelivery: same run
    assert copies("t-crmplus") == corpus["t-crmplus"]
    assert (report.deleted, report.kept_attached, report.status) == (1, 1, "done")


def test_a_tenant_moved_to_free_loses_every_unattached_copy_and_keeps_the_attached(
    corpus: dict[str, set[str]],
) -> None:
    client().document("tenants/t-professional").update({"plan": "Free"})
    purge("t-professional")
    assert copies("t-professional") == {"old-attached", "new-attached"}


@pytest.mark.parametrize("plan", ["Gold", None])
def test_a_tenant_with_an_unknown_or_missing_plan_loses_nothing(
    stack_environment: dict[str, str], plan: str | None
) -> None:
    seed_tenant("odd", "Standard")
    client().document("tenants/odd").update({"plan": plan})
    seed_copy("odd", "ancient", NOW - timedelta(days=3650))
    report = purge("odd")
    assert copies("odd") == {"ancient"}
    assert (report.status, report.errors) == ("refused", ["plan_unknown_or_missing"])
    stored = client().document("tenants/odd/purge_reports/run1").get().to_dict()
    assert stored["errors"] == ["plan_unknown_or_missing"]


def test_a_purge_request_for_a_tenant_that_does_not_exist_writes_nothing(
    stack_environment: dict[str, str],
) -> None:
    # Copies left under a deleted tenant make list_documents() name it every night: its purge must not
    # write a report (that would keep the ghost alive) nor delete what no plan governs.
    seed_copy("ghost", "ancient", NOW - timedelta(days=3650))
    report = purge("ghost")
    assert report.status == "skipped"
    assert copies("ghost") == {"ancient"}
    assert not client().document("tenants/ghost/purge_reports/run1").get().exists


def test_an_exhausted_time_budget_continues_and_finishes(
    stack_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.retention import nightly

    monkeypatch.setattr(nightly, "BATCH_SIZE", 2)  # five copies: three pages
    seed_tenant("big", "Demo")
    for index in range(5):
        seed_copy("big", f"m{index}", NOW - timedelta(days=40))
    first = purge("big", budget=0.0)
    assert first.status == "continued"
    final = purge("big")
    assert (final.status, final.deleted) == ("done", 5)
    assert copies("big") == set()


def test_a_second_delivery_starting_the_same_run_never_resets_the_reports_counter(
    stack_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two deliveries of one run start together: the other one writes the report (and counts 5 deletes
    in it) after this one looked for it and before this one writes it. Its count survives."""
    from google.cloud.firestore_v1.document import DocumentReference

    seed_tenant("acme", "Standard")
    seed_copy("acme", "old", NOW - timedelta(days=90))
    path = "tenants/acme/purge_reports/run1"
    other_delivery = {
        "tenant_id": "acme",
        "run_id": "run1",
        "dry_run": False,
        "status": "running",
        "plan": "Standard",
        "retention_days": 60,
        "cutoff": NOW - timedelta(days=60),
        "deleted": 5,
        "started_at": NOW,
    }
    interleaved: list[str] = []

    def racing(method: str):
        original = getattr(DocumentReference, method)

        def write(self: DocumentReference, *args: object, **kwargs: object) -> object:
            if self.path == path and not interleaved:  # this delivery's first write of its report...
                interleaved.append(method)
                client().document(path).set(other_delivery)  # ...comes just after the other one's
            return original(self, *args, **kwargs)

        return write

    for method in ("set", "create"):
        monkeypatch.setattr(DocumentReference, method, racing(method))
    report = purge("acme")
    assert interleaved
    assert copies("acme") == set()
    assert (report.deleted, report.status) == (6, "done")
    assert client().document(path).get().to_dict()["deleted"] == 6


def test_a_report_that_counts_already_goes_on_counting(stack_environment: dict[str, str]) -> None:
    seed_tenant("acme", "Standard")
    seed_copy("acme", "old", NOW - timedelta(days=90))
    client().document("tenants/acme/purge_reports/run1").set(
        {
            "tenant_id": "acme",
            "run_id": "run1",
            "dry_run": False,
            "status": "continued",
            "plan": "Standard",
            "retention_days": 60,
            "cutoff": NOW - timedelta(days=60),
            "deleted": 5,
            "started_at": NOW,
        }
    )
    report = purge("acme")
    assert (report.deleted, report.scanned, report.status) == (6, 6, "done")


def test_purge_reports_are_listed_newest_run_first_in_pages_bound_to_their_listing(
    stack_environment: dict[str, str],
) -> None:
    from shared.errors import BadInput
    from shared.retention.nightly import list_purge_reports
    from shared.storage.page_tokens import encode_page_token

    seed_tenant("acme", "Standard")
    runs = ["20261119", "20261120", "20261120-dry", "20261121"]
    for run_id in runs:
        purge("acme", run_id=run_id, dry_run=run_id.endswith("-dry"))
    client().document("tenants/acme/purge_reports/20261122").set({"tenant_id": "intruder", "run_id": "x"})
    scope = get_container().tenant_scope("acme")
    served: list[str] = []
    token: str | None = None
    while True:
        page = list_purge_reports(scope, page_size=2, page_token=token)
        served += [report.run_id for report in page.items]
        token = page.next_page_token
        if token is None:
            break
    assert served == sorted(runs, reverse=True)  # the document stamped with another tenant is not served
    ascending = scope.list_page(PURGE_REPORTS, page_size=1, page_token=None).next_page_token
    for foreign in (ascending, encode_page_token("20261121", listing="connections")):
        with pytest.raises(BadInput):
            list_purge_reports(scope, page_size=2, page_token=foreign)
