"""Named crash points: tests switch one on (CRASH_POINTS, local runs only) to crash a sync right there."""

from __future__ import annotations

from shared.config import get_settings


class CrashPointReached(RuntimeError):
    """Raised on purpose: the delivery fails, as if the instance died, and Pub/Sub redelivers it."""


def crash_point(name: str) -> None:
    configured = get_settings().crash_points
    if configured and name in {point.strip() for point in configured.split(",")}:
        raise CrashPointReached(name)
