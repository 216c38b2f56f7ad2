"""The nightly purge through its functions: Cloud Scheduler calls daily_purge, which fans out over
Pub/Sub to purge_worker; the API serves the reports. No Google call is made along the way."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from google.cloud import pubsub_v1

from tests.conftest import TEST_PROJECT
from tests.e2e.connect_support import (
    SCHEDULER_ACCOUNT,
    SCHEDULER_AUDIENCE,
    ConnectDriver,
    cloud_event_client,
    pull_now,
    push_envelope,
)
from tests.e2e.functions import function_client
from tests.firestore_reads import client

TOPIC = f"projects/{TEST_PROJECT}/topics/purge-requests"
SUBSCRIPTION = f"projects/{TEST_PROJECT}/subscriptions/purge-probe"


def run_nightly_purge(world: ConnectDriver, *, dry_run: bool = False) -> dict:
    token = world.standin.oauth.mint_id_token(audience=SCHEDULER_AUDIENCE, email=SCHEDULER_ACCOUNT)
    path = "/?dry_run=true" if dry_run else "/"
    answer = function_client("daily_purge").post(path, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    subscriber = pubsub_v1.SubscriberClient()
    pulled = pull_now(subscriber, max_messages=50, subscription=SUBSCRIPTION)
    worker = cloud_event_client("purge_worker")
    for received in pulled.received_messages:
        assert worker.post("/", json=push_envelope(received.message.data)).status_code == 200
        subscriber.acknowledge(subscription=SUBSCRIPTION, ack_ids=[received.ack_id])
    return answer.get_json()


def test_the_nightly_purge_runs_per_tenant_makes_no_google_call_and_reports(
    connect_world: ConnectDriver,
) -> None:
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    publisher.create_topic(name=TOPIC)
    subscriber.create_subscription(name=SUBSCRIPTION, topic=TOPIC)
    connect_world.connect()
    long_ago = datetime.now(UTC) - timedelta(days=200)
    for key, attached in (("u1_old", []), ("u1_kept", [{"type": "deal", "id": "d-9"}])):
        client().document(f"tenants/acme/messages/{key}").set(
            {"tenant_id": "acme", "connection_id": "user-1", "received_at": long_ago, "attached_to": attached}
        )
    connect_world.standin.calls.clear()

    dry = run_nightly_purge(connect_world, dry_run=True)
    assert dry["tenants"] == 1
    assert {doc.id for doc in client().collection("tenants/acme/messages").stream()} == {"u1_old", "u1_kept"}

    started = datetime.now(UTC)
    fanned = run_nightly_purge(connect_world)
    finished = datetime.now(UTC)
    # The run is named after its UTC day: either reading's, should the run straddle midnight.
    assert fanned["run_id"] in {started.strftime("%Y%m%d"), finished.strftime("%Y%m%d")}
    assert {doc.id for doc in client().collection("tenants/acme/messages").stream()} == {"u1_kept"}
    # Not one Gmail call, no token used: the originals are untouched. (Google's signing certificates
    # are read to verify the scheduler's token: that is authentication, not a use of the user's grant.)
    calls = [call.method_id for call in connect_world.standin.calls.calls()]
    assert [method for method in calls if method != "oauth.certs_v1"] == []

    answer = connect_world.api.get(
        "/v1/tenants/acme/purge-reports", headers=connect_world.crm.authorization("acme")
    )
    assert answer.status_code == 200
    reports = {report["run_id"]: report for report in answer.get_json()["items"]}
    real = reports[fanned["run_id"]]
    assert (real["plan"], real["retention_days"], real["deleted"], real["kept_attached"]) == (
        "Standard",
        60,
        1,
        1,
    )
    assert reports[dry["run_id"]]["dry_run"] is True
    assert json.dumps(reports).count("d-9") == 0  # reports count, they do not list what they kept


def test_daily_purge_refuses_a_call_without_the_schedulers_token(connect_world: ConnectDriver) -> None:
    assert function_client("daily_purge").post("/").status_code == 401


@pytest.mark.parametrize("query", ["dry_run=1", "dry_run=yes", "dryrun=true", "dry_run=true&dry_run=false"])
def test_daily_purge_refuses_a_query_it_cannot_read_and_queues_nothing(
    connect_world: ConnectDriver, query: str
) -> None:
    # Read loosely, each of these once meant "not a dry run": a real, deleting purge.
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    publisher.create_topic(name=TOPIC)
    subscriber.create_subscription(name=SUBSCRIPTION, topic=TOPIC)
    connect_world.connect()
    token = connect_world.standin.oauth.mint_id_token(audience=SCHEDULER_AUDIENCE, email=SCHEDULER_ACCOUNT)
    answer = function_client("daily_purge").post(f"/?{query}", headers={"Authorization": f"Bearer {token}"})
    assert (answer.status_code, answer.get_json()["code"]) == (400, "bad_purge_query")
    assert pull_now(subscriber, max_messages=10, subscription=SUBSCRIPTION).received_messages == []
