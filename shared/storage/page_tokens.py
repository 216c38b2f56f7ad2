"""Opaque page tokens of every listing.

base64url JSON of {"v": 1, "l": the listing, "id": the last document served, and, for a listing ordered
on a value before the id, "at": that value of the last document (an integer: microseconds or milliseconds
since the epoch)}. The listing name (for filtered listings a hash of the listing, tenant and filters)
keeps a token from one listing from being replayed on another. Tokens are not secret (the cursor is the
last item served) but name no address.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from shared.errors import BadInput

_TOKEN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,299}")
_MAX_AT = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z in microseconds


def invalid_page_token() -> BadInput:
    return BadInput("The page_token is not one this listing issued.", code="invalid_page_token")


def listing_key(kind: str, *parts: Any) -> str:
    """The name of one filtered listing (its kind, tenant, filters), for its tokens: a hash, so a token
    names no address and fits the token's size."""
    material = json.dumps([kind, *parts], default=str)
    return f"{kind}:{hashlib.sha256(material.encode()).hexdigest()[:24]}"


def encode_page_token(last_id: str, *, listing: str, at: int | None = None) -> str:
    payload: dict[str, Any] = {"v": 1, "l": listing, "id": last_id}
    if at is not None:
        payload["at"] = at
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str | None, *, listing: str) -> str | None:
    """The last id served, from a token of ``listing`` (ordered by id only); None: the first page."""
    if token is None:
        return None
    document_id, at = _decode_page_token(token, listing)
    if at is not None:
        raise invalid_page_token()
    return document_id


def decode_ordered_page_token(token: str | None, *, listing: str) -> tuple[int, str] | None:
    """(the order value, the id) of the last item served, from a token of ``listing`` (ordered by a
    value, then id); None: the first page."""
    if token is None:
        return None
    document_id, at = _decode_page_token(token, listing)
    if at is None:
        raise invalid_page_token()
    return at, document_id


def _decode_page_token(token: str, listing: str) -> tuple[str, int | None]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise invalid_page_token() from error
    if not isinstance(decoded, dict) or decoded.get("v") != 1 or decoded.get("l") != listing:
        raise invalid_page_token()
    document_id, at = decoded.get("id"), decoded.get("at")
    if not isinstance(document_id, str) or not _TOKEN_ID.fullmatch(document_id):
        raise invalid_page_token()
    if at is not None and (not isinstance(at, int) or isinstance(at, bool) or not 0 <= at <= _MAX_AT):
        raise invalid_page_token()
    return document_id, at


def micros(value: Any) -> int:
    """A timestamp as the integer a page token carries: microseconds since the epoch (UTC)."""
    if not isinstance(value, datetime):
        raise TypeError("a listing's order field is not a timestamp")
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    delta = aware - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    seconds, fraction = divmod(value, 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=fraction)
