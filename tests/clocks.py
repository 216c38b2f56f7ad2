"""A clock for tests: it moves only when told, so expiry and caching are tested without sleeping."""

from __future__ import annotations


class FakeClock:
    """Seconds since the epoch, as ``time.time`` answers them; ``advance`` is the only way time passes."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
