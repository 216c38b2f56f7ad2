"""What the `api` function writes to its log: JSON for Cloud Logging, traced, and nothing secret."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient

from local_stack.crm_backend import CrmBackend

TRACE = "105445aa7843bc8bf206b12000100000"
CANARY_ADDRESS = "canary.person@example.org"
CANARY_REFRESH_TOKEN = "1//0canaryRefreshTokenValue"


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_each_request_logs_one_json_line_with_severity_and_trace(
    api: FlaskClient, crm_backend: CrmBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    api.get(
        "/v1/tenants/acme",
        headers={**crm_backend.authorization("acme"), "X-Cloud-Trace-Context": f"{TRACE}/17;o=1"},
    )
    lines = [line for line in log_lines(capsys) if line["message"] == "request handled"]
    assert len(lines) == 1
    line = lines[0]
    assert line["severity"] == "INFO"
    assert line["status"] == 404
    assert line["code"] == "tenant_not_found"
    assert line["logging.googleapis.com/trace"] == f"projects/crm-google-test/traces/{TRACE}"
    assert line["logging.googleapis.com/spanId"] == format(17, "016x")
    assert line["logging.googleapis.com/trace_sampled"] is True
    assert line["logging.googleapis.com/labels"] == {"function": "api"}


def test_planted_secrets_never_reach_the_log(
    api: FlaskClient, crm_backend: CrmBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    token = crm_backend.token("acme")
    headers = {"Authorization": f"Bearer {token}", "X-Cloud-Trace-Context": f"{TRACE}/1;o=1"}
    # A valid call, a refused body that carries both canaries, a query string that carries one,
    # another tenant's URL, and a token that is refused: every path that logs.
    api.put("/v1/tenants/acme", json={"name": CANARY_ADDRESS, "plan": "Standard"}, headers=headers)
    api.put(
        "/v1/tenants/acme/plan", json={"plan": f"{CANARY_ADDRESS} {CANARY_REFRESH_TOKEN}"}, headers=headers
    )
    api.get(f"/v1/tenants/acme/connections?page_token={CANARY_REFRESH_TOKEN}", headers=headers)
    api.get(f"/v1/tenants/{CANARY_ADDRESS}", headers=headers)
    api.get("/v1/tenants/acme", headers={"Authorization": f"Bearer {token}x"})
    output = capsys.readouterr().out
    assert output.strip(), "the requests were expected to log"
    for canary in (CANARY_ADDRESS, CANARY_REFRESH_TOKEN, token, token.split(".")[2]):
        assert canary not in output
    for line in output.splitlines():
        assert "severity" in json.loads(line)


def test_problem_answers_do_not_echo_the_callers_values(api: FlaskClient, crm_backend: CrmBackend) -> None:
    response = api.put(
        "/v1/tenants/acme",
        json={"name": "A", "plan": CANARY_ADDRESS},
        headers=crm_backend.authorization("acme"),
    )
    assert response.status_code == 400
    assert CANARY_ADDRESS not in response.get_data(as_text=True)
