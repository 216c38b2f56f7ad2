"""The tenant-scoped Firestore layer, against the Firestore emulator."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.composition import get_container
from shared.errors import BadInput, Conflict, NotFound
from shared.plans import Plan
from shared.storage.page_tokens import encode_page_token
from tests.firestore_reads import all_document_paths, client


@pytest.fixture
def scope_for(stack_environment: dict[str, str]):
    return get_container().tenant_scope


def test_documents_live_under_their_tenant_and_carry_its_id(scope_for) -> None:
    scope = scope_for("acme")
    scope.create(scope.document("connections", "c1"), {"status": "active"})
    assert all_document_paths() == ["tenants/acme/connections/c1"]
    assert client().document("tenants/acme/connections/c1").get().to_dict() == {
        "status": "active",
        "tenant_id": "acme",
    }


@pytest.mark.parametrize("bad_id", ["", "a/b", "..", "__name__", "x" * 400, "café"])
def test_ids_that_could_escape_the_tenants_path_are_refused(scope_for, bad_id: str) -> None:
    with pytest.raises(BadInput):
        scope_for(bad_id)
    with pytest.raises(BadInput):
        scope_for("acme").document("connections", bad_id)


def test_a_copy_of_the_longest_user_id_has_a_valid_document_id(scope_for) -> None:
    # User ids may have 128 characters; a copy's id adds "_<Gmail id>", which must not make it invalid
    # (its mail would be refused as bad input, never synced, with nothing to tell).
    from shared.mail.records import message_doc_id

    user = "u" * 128
    assert (
        scope_for("acme").document("messages", message_doc_id(user, "18c2f0a1b2c3d4e5")).id.startswith(user)
    )
    with pytest.raises(BadInput):
        scope_for("u" * 129)  # an external id itself stays within 128


def test_a_document_stamped_with_another_tenant_is_never_served(scope_for) -> None:
    client().document("tenants/acme/connections/c1").set({"tenant_id": "intruder", "status": "active"})
    scope = scope_for("acme")
    with pytest.raises(NotFound):
        scope.get(scope.document("connections", "c1"))


def test_create_is_atomic_and_refuses_an_existing_document(scope_for) -> None:
    scope = scope_for("acme")
    reference = scope.document("connections", "c1")
    scope.create(reference, {"status": "first"})
    with pytest.raises(Conflict):
        scope.create(reference, {"status": "second"})
    assert scope.get(reference) == {"status": "first", "tenant_id": "acme"}


def test_updating_a_missing_document_writes_nothing(scope_for) -> None:
    scope = scope_for("acme")
    with pytest.raises(NotFound):
        scope.update(scope.document("connections", "ghost"), {"status": "x"})
    assert all_document_paths() == []


def test_listing_pages_are_scoped_and_tokens_are_bound_to_their_listing(scope_for) -> None:
    for tenant in ("acme", "other"):
        scope = scope_for(tenant)
        for index in range(3):
            scope.create(scope.document("connections", f"c{index}"), {"n": index})
    first = scope_for("acme").list_page("connections", page_size=2, page_token=None)
    assert [item["n"] for item in first.items] == [0, 1]
    second = scope_for("acme").list_page("connections", page_size=2, page_token=first.next_page_token)
    assert ([item["n"] for item in second.items], second.next_page_token) == ([2], None)
    with pytest.raises(BadInput):
        scope_for("acme").list_page(
            "connections", page_size=2, page_token=encode_page_token("c0", listing="tasks")
        )


def test_tenant_creation_is_idempotent_and_a_plan_change_to_the_same_plan_writes_nothing(
    stack_environment: dict[str, str],
) -> None:
    times = iter(
        [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)]
    )
    from shared.tenants.service import TenantService

    service = TenantService(get_container().tenant_scope, clock=lambda: next(times))
    tenant, created = service.create("acme", name="Acme", plan=Plan.STANDARD)
    assert created
    again, created_again = service.create("acme", name="Acme", plan=Plan.STANDARD)
    assert (again, created_again) == (tenant, False)
    before, unchanged = service.change_plan("acme", Plan.STANDARD)
    assert before is Plan.STANDARD
    assert unchanged.updated_at == tenant.updated_at
    before, moved = service.change_plan("acme", Plan.FREE)
    assert before is Plan.STANDARD
    assert moved.plan is Plan.FREE
    assert service.get("acme") == moved
