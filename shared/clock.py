"""The time: one function every composition passes on as the ``clock`` of what it builds."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)
