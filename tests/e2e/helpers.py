"""Helpers the end-to-end tests share: creating a tenant through the API, checking a refusal."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from local_stack.crm_backend import CrmBackend


def put_tenant(
    api: FlaskClient, crm: CrmBackend, tenant: str, plan: str = "Standard", name: str = "Acme"
) -> Any:
    return api.put(
        f"/v1/tenants/{tenant}", json={"name": name, "plan": plan}, headers=crm.authorization(tenant)
    )


def assert_problem(response: Any, status: int, code: str) -> None:
    """A refusal: the status, problem+json, and the problem's code, status and type."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"] == f"urn:crm-google:problem:{code}"
