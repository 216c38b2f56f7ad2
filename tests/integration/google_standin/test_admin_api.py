"""The admin HTTP API: the Python API's levers, for processes that do not hold the stand-in object."""

from __future__ import annotations

from typing import Any

from local_stack.google_standin.standin import GoogleStandIn
from tests.integration.google_standin.admin_client import admin
from tests.integration.helpers import ALICE


def test_accounts_messages_faults_and_calls_over_http(standin: GoogleStandIn, gmail: Any) -> None:
    assert admin(standin, "POST", "/standin/accounts", {"email": "carol@example.org"})[0] == 201
    assert "carol@example.org" in standin.accounts

    status, generated = admin(
        standin, "POST", f"/standin/accounts/{ALICE}/messages", {"generate": {"count": 12}}
    )
    assert status == 201
    assert len(generated["messages"]) == 12
    assert int(gmail.users().getProfile(userId="me").execute()["messagesTotal"]) == 12

    first = generated["messages"][0]["id"]
    assert (
        admin(standin, "POST", f"/standin/accounts/{ALICE}/messages/{first}/labels", {"add": ["STARRED"]})[0]
        == 200
    )
    assert admin(standin, "DELETE", f"/standin/accounts/{ALICE}/messages/{first}")[0] == 200

    assert (
        admin(standin, "POST", "/standin/faults", {"target": "gmail.users.getProfile", "status": 500})[0]
        == 201
    )
    status, calls = admin(standin, "GET", "/standin/calls?method_id=gmail.users.getProfile")
    assert [call["status"] for call in calls["calls"]] == [200]
    assert (
        admin(standin, "PUT", "/standin/limits", {"price_list": "legacy", "latency_seconds": 0.0})[0] == 200
    )
    assert standin.limits.price_list.value == "legacy"


def test_bad_admin_requests_are_400(standin: GoogleStandIn) -> None:
    assert admin(standin, "POST", "/standin/faults", {"target": "x", "colour": "red"})[0] == 400
    assert admin(standin, "PUT", "/standin/limits", {"warp_speed": 9})[0] == 400
    assert admin(standin, "POST", "/standin/accounts/nobody@example.com/messages", {"generate": {}})[0] == 404
