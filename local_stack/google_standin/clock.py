"""The stand-in's clock: real time plus an offset that tests advance (token expiry, watches, quotas)."""

from __future__ import annotations

import threading
import time


class StandInClock:
    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds
