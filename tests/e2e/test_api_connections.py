"""Listing a tenant's connections: the API's one pagination convention."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient

from local_stack.crm_backend import CrmBackend
from tests.e2e.helpers import assert_problem, put_tenant
from tests.firestore_reads import client


def seed_connections(tenant: str, count: int) -> None:
    # No endpoint creates connections yet (the OAuth flow does, in its own issue): write them directly.
    for index in range(count):
        client().document(f"tenants/{tenant}/connections/conn-{index:03d}").set(
            {
                "tenant_id": tenant,
                "connection_id": f"conn-{index:03d}",
                "user_id": f"user-{index}",
                "status": "active",
                "created_at": datetime(2026, 1, 1, tzinfo=UTC),
            }
        )


def test_a_new_tenant_has_no_connections(api: FlaskClient, crm_backend: CrmBackend) -> None:
    put_tenant(api, crm_backend, "acme")
    response = api.get("/v1/tenants/acme/connections", headers=crm_backend.authorization("acme"))
    assert response.status_code == 200
    assert response.get_json() == {"items": [], "next_page_token": None}


def test_pages_cover_every_connection_once(api: FlaskClient, crm_backend: CrmBackend) -> None:
    put_tenant(api, crm_backend, "acme")
    seed_connections("acme", 5)
    seed_connections("other", 3)  # another tenant's connections never show
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        query = {"page_size": 2, **({"page_token": token} if token else {})}
        body = api.get(
            "/v1/tenants/acme/connections", query_string=query, headers=crm_backend.authorization("acme")
        ).get_json()
        seen += [item["connection_id"] for item in body["items"]]
        pages += 1
        token = body["next_page_token"]
        if token is None:
            break
    assert seen == [f"conn-{index:03d}" for index in range(5)]
    assert pages == 3


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"page_size": 0}, "validation_failed"),
        ({"page_size": 10_000}, "validation_failed"),
        ({"page_size": "many"}, "validation_failed"),
        ({"page_token": "not-a-token"}, "invalid_page_token"),
        ({"colour": "blue"}, "validation_failed"),
    ],
)
def test_bad_paging_parameters_are_400(
    api: FlaskClient, crm_backend: CrmBackend, query: dict, code: str
) -> None:
    put_tenant(api, crm_backend, "acme")
    response = api.get(
        "/v1/tenants/acme/connections", query_string=query, headers=crm_backend.authorization("acme")
    )
    assert_problem(response, 400, code)


def test_a_page_token_from_another_listing_is_refused(api: FlaskClient, crm_backend: CrmBackend) -> None:
    from shared.storage.page_tokens import encode_page_token

    put_tenant(api, crm_backend, "acme")
    foreign = encode_page_token("conn-001", listing="messages")
    response = api.get(
        "/v1/tenants/acme/connections",
        query_string={"page_token": foreign},
        headers=crm_backend.authorization("acme"),
    )
    assert_problem(response, 400, "invalid_page_token")
