"""Page tokens: one codec for every listing; a token resumes only the listing (and kind) that issued it."""

from __future__ import annotations

import base64
import json

import pytest

from shared.errors import BadInput
from shared.storage.page_tokens import decode_ordered_page_token, decode_page_token, encode_page_token


def raw_token(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_tokens_round_trip_with_and_without_an_order_value() -> None:
    assert decode_page_token(encode_page_token("c-1", listing="connections"), listing="connections") == "c-1"
    token = encode_page_token("u1_18f", listing="messages:abc", at=1_700_000_000_000_000)
    assert decode_ordered_page_token(token, listing="messages:abc") == (1_700_000_000_000_000, "u1_18f")
    assert decode_page_token(None, listing="x") is None
    assert decode_ordered_page_token(None, listing="x") is None


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        "%%%",
        raw_token([1]),
        raw_token({"v": 2, "l": "connections", "id": "c-1"}),
        raw_token({"v": 1, "l": "tasks", "id": "c-1"}),  # another listing's
        raw_token({"v": 1, "l": "connections", "id": "../c-1"}),
        raw_token({"v": 1, "l": "connections", "id": 7}),
        raw_token({"v": 1, "l": "connections", "id": "c-1", "at": 5}),  # an ordered listing's
    ],
)
def test_an_id_listing_refuses_what_it_did_not_issue(token: str) -> None:
    with pytest.raises(BadInput) as refused:
        decode_page_token(token, listing="connections")
    assert refused.value.code == "invalid_page_token"


@pytest.mark.parametrize(
    "payload",
    [
        {"v": 1, "l": "contacts:h", "id": "c"},  # an id listing's: no order value
        {"v": 1, "l": "contacts:h", "id": "c", "at": -1},
        {"v": 1, "l": "contacts:h", "id": "c", "at": True},
        {"v": 1, "l": "contacts:h", "id": "c", "at": "5"},
        {"v": 1, "l": "contacts:h", "id": "c", "at": 10**20},
        {"v": 1, "l": "contacts:other", "id": "c", "at": 5},
    ],
)
def test_an_ordered_listing_refuses_what_it_did_not_issue(payload: dict[str, object]) -> None:
    with pytest.raises(BadInput) as refused:
        decode_ordered_page_token(raw_token(payload), listing="contacts:h")
    assert refused.value.code == "invalid_page_token"
