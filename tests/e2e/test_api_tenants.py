"""The CRM-facing API over functions-framework's HTTP stack, against the Firestore emulator."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from local_stack.crm_backend import CrmBackend
from tests.e2e.helpers import assert_problem, put_tenant
from tests.firestore_reads import all_document_paths, client


def test_health_answers_without_a_token(api: FlaskClient) -> None:
    response = api.get("/v1/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_creating_a_tenant_stores_it_and_repeating_is_a_no_op(
    api: FlaskClient, crm_backend: CrmBackend
) -> None:
    first = put_tenant(api, crm_backend, "acme")
    assert first.status_code == 201
    assert first.get_json()["plan"] == "Standard"
    again = put_tenant(api, crm_backend, "acme")
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    stored = client().document("tenants/acme").get().to_dict()
    assert stored["tenant_id"] == "acme"
    assert stored["plan"] == "Standard"


def test_creating_a_tenant_that_exists_differently_is_a_conflict_and_changes_nothing(
    api: FlaskClient, crm_backend: CrmBackend
) -> None:
    put_tenant(api, crm_backend, "acme", plan="Standard")
    before = client().document("tenants/acme").get().to_dict()
    assert_problem(put_tenant(api, crm_backend, "acme", plan="NFR"), 409, "tenant_exists")
    assert client().document("tenants/acme").get().to_dict() == before


def test_reading_a_tenant(api: FlaskClient, crm_backend: CrmBackend) -> None:
    put_tenant(api, crm_backend, "acme", plan="CRM+", name="Acme Ltd")
    response = api.get("/v1/tenants/acme", headers=crm_backend.authorization("acme"))
    assert response.status_code == 200
    assert response.get_json()["name"] == "Acme Ltd"
    assert response.get_json()["plan"] == "CRM+"


def test_reading_a_tenant_never_created_is_404(api: FlaskClient, crm_backend: CrmBackend) -> None:
    assert_problem(
        api.get("/v1/tenants/ghost", headers=crm_backend.authorization("ghost")), 404, "tenant_not_found"
    )


@pytest.mark.parametrize("plan", ["Free", "CRM+", "Demo", "Standard", "Professional", "NFR"])
def test_changing_the_plan_to_each_known_plan(api: FlaskClient, crm_backend: CrmBackend, plan: str) -> None:
    put_tenant(api, crm_backend, "acme", plan="Demo")
    response = api.put(
        "/v1/tenants/acme/plan", json={"plan": plan}, headers=crm_backend.authorization("acme")
    )
    assert response.status_code == 200
    assert response.get_json()["plan"] == plan
    assert client().document("tenants/acme").get().to_dict()["plan"] == plan


def test_an_unknown_plan_is_400_and_writes_nothing(api: FlaskClient, crm_backend: CrmBackend) -> None:
    put_tenant(api, crm_backend, "acme")
    before = client().document("tenants/acme").get().to_dict()
    response = api.put(
        "/v1/tenants/acme/plan", json={"plan": "Gold"}, headers=crm_backend.authorization("acme")
    )
    assert_problem(response, 400, "validation_failed")
    assert response.get_json()["errors"][0]["location"] == ["body", "plan"]
    assert client().document("tenants/acme").get().to_dict() == before


def test_an_unknown_plan_on_creation_is_400_and_creates_nothing(
    api: FlaskClient, crm_backend: CrmBackend
) -> None:
    assert_problem(put_tenant(api, crm_backend, "acme", plan="Enterprise"), 400, "validation_failed")
    assert all_document_paths() == []


def test_changing_the_plan_of_a_tenant_never_created_is_404_and_creates_nothing(
    api: FlaskClient, crm_backend: CrmBackend
) -> None:
    response = api.put(
        "/v1/tenants/ghost/plan", json={"plan": "NFR"}, headers=crm_backend.authorization("ghost")
    )
    assert_problem(response, 404, "tenant_not_found")
    assert all_document_paths() == []


# --- Authentication: every refusal is 401 problem+json and writes nothing -------------------------------


def _expired(crm: CrmBackend) -> dict[str, str]:
    return crm.authorization("acme", issued_at=1_000_000_000, lifetime_seconds=60)


def _other_key(crm: CrmBackend) -> dict[str, str]:
    return CrmBackend(key_id=crm.key_id).authorization("acme")  # same kid, a key we do not trust


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        (lambda crm: {}, "missing_token"),
        (lambda crm: {"Authorization": "Basic dXNlcjpwYXNz"}, "missing_token"),
        (lambda crm: {"Authorization": "Bearer not-a-jwt"}, "invalid_token"),
        (
            lambda crm: {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJ0ZW5hbnRfaWQiOiJhY21lIn0."},
            "invalid_token",
        ),
        (_expired, "expired_token"),
        (_other_key, "invalid_token"),
        (lambda crm: crm.authorization("acme", claims={"aud": "someone-else"}), "invalid_token"),
        (lambda crm: crm.authorization("acme", claims={"iss": "impostor"}), "invalid_token"),
        (lambda crm: crm.authorization("acme", claims={"tenant_id": None}), "invalid_token"),
        (lambda crm: crm.authorization("acme", lifetime_seconds=86_400), "invalid_token"),
    ],
    ids=[
        "none",
        "basic",
        "malformed",
        "alg-none",
        "expired",
        "untrusted-key",
        "audience",
        "issuer",
        "no-tenant",
        "too-long-lived",
    ],
)
def test_bad_tokens_are_401_and_write_nothing(
    api: FlaskClient, crm_backend: CrmBackend, headers, code: str
) -> None:
    response = api.put(
        "/v1/tenants/acme", json={"name": "Acme", "plan": "Standard"}, headers=headers(crm_backend)
    )
    assert_problem(response, 401, code)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert all_document_paths() == []


def test_another_tenants_token_gets_404_and_reads_and_writes_nothing(
    api: FlaskClient, crm_backend: CrmBackend
) -> None:
    put_tenant(api, crm_backend, "tenant-b", plan="Standard")
    before = all_document_paths(), client().document("tenants/tenant-b").get().to_dict()
    as_a = crm_backend.authorization("tenant-a")
    assert_problem(api.get("/v1/tenants/tenant-b", headers=as_a), 404, "tenant_not_found")
    assert_problem(
        api.put("/v1/tenants/tenant-b/plan", json={"plan": "Free"}, headers=as_a), 404, "tenant_not_found"
    )
    created = api.put("/v1/tenants/tenant-c", json={"name": "C", "plan": "NFR"}, headers=as_a)
    assert_problem(created, 404, "tenant_not_found")
    assert_problem(api.get("/v1/tenants/tenant-b/connections", headers=as_a), 404, "tenant_not_found")
    assert (all_document_paths(), client().document("tenants/tenant-b").get().to_dict()) == before


# --- Bad input ------------------------------------------------------------------------------------------


def test_unknown_body_fields_are_refused(api: FlaskClient, crm_backend: CrmBackend) -> None:
    response = api.put(
        "/v1/tenants/acme",
        json={"name": "A", "plan": "NFR", "owner": "x"},
        headers=crm_backend.authorization("acme"),
    )
    assert_problem(response, 400, "validation_failed")
    assert all_document_paths() == []


def test_a_body_that_is_not_json_is_refused(api: FlaskClient, crm_backend: CrmBackend) -> None:
    headers = {**crm_backend.authorization("acme"), "Content-Type": "application/json"}
    assert_problem(api.put("/v1/tenants/acme", data=b"{not json", headers=headers), 400, "malformed_json")
    assert_problem(api.put("/v1/tenants/acme", data=b"\xff\xfe", headers=headers), 400, "malformed_json")
    assert all_document_paths() == []


def test_a_body_of_another_content_type_is_415(api: FlaskClient, crm_backend: CrmBackend) -> None:
    headers = {**crm_backend.authorization("acme"), "Content-Type": "text/plain"}
    body = b'{"name": "A", "plan": "NFR"}'
    assert_problem(api.put("/v1/tenants/acme", data=body, headers=headers), 415, "unsupported_media_type")
    assert all_document_paths() == []


def test_an_oversized_body_is_413(api: FlaskClient, crm_backend: CrmBackend) -> None:
    body = {"name": "A" * 2_000_000, "plan": "NFR"}
    assert_problem(
        api.put("/v1/tenants/acme", json=body, headers=crm_backend.authorization("acme")),
        413,
        "payload_too_large",
    )
    assert all_document_paths() == []


def test_wrong_types_are_refused_with_the_field_named(api: FlaskClient, crm_backend: CrmBackend) -> None:
    response = api.put(
        "/v1/tenants/acme", json={"name": 42, "plan": ["NFR"]}, headers=crm_backend.authorization("acme")
    )
    assert_problem(response, 400, "validation_failed")
    locations = sorted(tuple(error["location"]) for error in response.get_json()["errors"])
    assert locations == [("body", "name"), ("body", "plan")]
    assert all_document_paths() == []


def test_unknown_routes_and_methods_are_problems(api: FlaskClient, crm_backend: CrmBackend) -> None:
    assert_problem(api.get("/v1/nothing-here"), 404, "no_such_endpoint")
    assert_problem(api.delete("/v1/health"), 405, "method_not_allowed")
