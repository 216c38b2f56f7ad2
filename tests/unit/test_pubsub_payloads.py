"""Requests read out of a Pub/Sub CloudEvent: the model, or bad input (acknowledged) with its code."""

from __future__ import annotations

import base64

import pytest

from shared.errors import BadInput
from shared.messaging.ports import parse_pubsub_model
from shared.retention.nightly import PurgeRequest, parse_purge_request
from shared.sync.requests import Source, SyncRequest, parse_sync_request


def event(data: bytes) -> dict[str, object]:
    return {"message": {"data": base64.b64encode(data).decode()}}


def test_the_published_model_is_read_back() -> None:
    request = SyncRequest(tenant_id="acme", connection_id="u1", source=Source.GMAIL, reason="push")
    assert parse_sync_request(event(request.model_dump_json().encode())) == request
    purge = PurgeRequest(tenant_id="acme", run_id="20261121")
    assert parse_purge_request(event(purge.model_dump_json().encode())) == purge


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {"message": {}},
        {"message": {"data": "***"}},
        {"message": {"data": 7}},
        event(b"not json"),
        event(b'{"tenant_id": "acme"}'),
        event(b'{"tenant_id": "../x", "run_id": "r"}'),
        event(b'{"tenant_id": "acme", "run_id": "r", "extra": 1}'),
    ],
)
def test_anything_else_is_bad_input_with_the_callers_code(data: object) -> None:
    with pytest.raises(BadInput) as refused:
        parse_pubsub_model(data, PurgeRequest, code="malformed_purge_request", message="Not a purge request.")
    assert (refused.value.code, str(refused.value)) == ("malformed_purge_request", "Not a purge request.")
    with pytest.raises(BadInput) as refused_sync:
        parse_sync_request(data)
    assert refused_sync.value.code == "malformed_sync_request"
