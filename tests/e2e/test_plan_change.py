"""A plan change takes effect at once for Gmail: watches stop on a plan without email sync and start,
with a first sync, when email sync comes back. Retention follows at the next nightly purge."""

from __future__ import annotations

from tests.e2e.connect_support import ConnectDriver, sync_requests


def change_plan(world: ConnectDriver, plan: str) -> None:
    answer = world.api.put(
        "/v1/tenants/acme/plan", json={"plan": plan}, headers=world.crm.authorization("acme")
    )
    assert answer.status_code == 200


def test_moving_to_free_stops_gmail_at_once_and_a_paid_plan_starts_it_again(
    connect_world: ConnectDriver,
) -> None:
    connect_world.connect()
    sync_requests()  # the first syncs of the connect
    calls = connect_world.standin.calls

    change_plan(connect_world, "Free")
    status = connect_world.status().get_json()
    assert status["features"]["mail"]["reason"] == "plan_excludes"
    assert status["watches"] == []
    assert len(calls.calls(method_id="gmail.users.stop")) == 1
    assert sync_requests() == []

    change_plan(connect_world, "Standard")
    status = connect_world.status().get_json()
    assert status["features"]["mail"]["enabled"] is True
    assert [watch["source"] for watch in status["watches"]] == ["gmail"]
    assert len(calls.calls(method_id="gmail.users.watch")) == 2
    assert [(r["source"], r["reason"]) for r in sync_requests()] == [("gmail", "plan_change")]


def test_a_change_between_paid_plans_touches_no_watch(connect_world: ConnectDriver) -> None:
    connect_world.connect()
    change_plan(connect_world, "Professional")
    assert connect_world.standin.calls.calls(method_id="gmail.users.stop") == []
    assert len(connect_world.standin.calls.calls(method_id="gmail.users.watch")) == 1
