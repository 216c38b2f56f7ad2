"""Client-side pacing for Google's per-user quotas and Gmail's concurrency cap.

Gmail meters each user in quota units per minute over a sliding 60-second window (6,000 units on
projects created from 2026-05, 15,000 before) and refuses the call that would overflow it with 403
``userRateLimitExceeded``. Calendar meters requests the same way: 600 per user per minute, each call
one "unit" here. A sync that waits for those refusals wastes calls and backs off far longer
than needed; a sync that paces itself can run *at* the quota. ``TokenBucket`` does the pacing, and
``QuotaSettings.bucket`` sizes one for a price list (see there for why it is sized as it is).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

PriceList = Literal["legacy", "2026-05"]
Api = Literal["gmail", "calendar", "drive"]

WINDOW_SECONDS = 60.0  # Gmail's per-user quota window
MAX_BATCH_PARTS = 50  # Google allows 100 calls a batch and advises 50 or fewer

# Units per call, (legacy, 2026-05). Source: shared/handbook/google-facts.md.
_UNIT_COSTS: dict[str, tuple[int, int]] = {
    "gmail.users.messages.get": (5, 20),
    "gmail.users.messages.attachments.get": (5, 20),
    "gmail.users.messages.trash": (5, 20),
    "gmail.users.threads.get": (10, 40),
    "gmail.users.messages.list": (5, 5),
    "gmail.users.history.list": (2, 2),
    "gmail.users.messages.modify": (5, 5),
    "gmail.users.messages.batchModify": (50, 50),
    "gmail.users.messages.send": (100, 100),
    "gmail.users.watch": (100, 100),
    "gmail.users.stop": (50, 50),
    "gmail.users.getProfile": (1, 1),
    "gmail.users.labels.list": (1, 1),
}
_DEFAULT_COST = (5, 5)
_USER_UNITS_PER_MINUTE: dict[str, int] = {"legacy": 15_000, "2026-05": 6_000}
CALENDAR_REQUESTS_PER_MINUTE = 600  # per user per project, both price lists (google-facts.md)
# Drive's new quota model: 325,000 units per user per minute; a files.list or changes.list page costs
# 100 (google-facts.md). Other methods' costs are unpublished: 10 is assumed, as the stand-in does.
DRIVE_UNITS_PER_MINUTE = 325_000
_DRIVE_COSTS = {"drive.files.list": 100, "drive.changes.list": 100}
_DRIVE_DEFAULT_COST = 10
_PER_MINUTE = {"calendar": CALENDAR_REQUESTS_PER_MINUTE, "drive": DRIVE_UNITS_PER_MINUTE}
# The call a sync batches, whose units size a bucket's burst: one batch of them.
_BATCHED_GET: dict[str, str] = {
    "gmail": "gmail.users.messages.get",
    "calendar": "calendar.events.get",
    "drive": "drive.files.get",
}

# Float slack when a window entry expires exactly at the moment computed from it.
_EPSILON = 1e-9


def unit_cost(method_id: str, price_list: PriceList = "2026-05") -> int:
    """Quota units Google charges for one call of ``method_id`` ("gmail.users.messages.get"); a Calendar
    call counts one request."""
    if method_id.startswith("calendar."):
        return 1
    if method_id.startswith("drive."):
        return _DRIVE_COSTS.get(method_id, _DRIVE_DEFAULT_COST)
    legacy, new = _UNIT_COSTS.get(method_id, _DEFAULT_COST)
    return legacy if price_list == "legacy" else new


@dataclass(frozen=True)
class QuotaSettings:
    api: Api = "gmail"
    price_list: PriceList = "2026-05"
    # None: Gmail's 6,000 units on the 2026-05 price list (15,000 on legacy); Calendar's 600 requests;
    # Drive's 325,000 units
    user_units_per_minute: int | None = None
    max_in_flight: int = 10
    max_attempts: int = 6
    backoff_initial_seconds: float = 1.0
    backoff_max_seconds: float = 32.0
    # Our clock stamps a grant before the request leaves; Google stamps the charge when it arrives, a
    # little later, so Google's window lets go of it a little later too. Holding each grant this much
    # longer than 60 s keeps the client's window a superset of Google's.
    window_margin_seconds: float = 1.0

    def __post_init__(self) -> None:
        if self.price_list not in _USER_UNITS_PER_MINUTE:
            raise ValueError(f"unknown price list {self.price_list!r}")
        if self.api not in _BATCHED_GET:
            raise ValueError(f"unknown api {self.api!r}")
        if self.max_in_flight < 1 or self.max_attempts < 1:
            raise ValueError("max_in_flight and max_attempts must be at least 1")

    @property
    def units_per_minute(self) -> int:
        if self.user_units_per_minute:
            return self.user_units_per_minute
        return _PER_MINUTE.get(self.api) or _USER_UNITS_PER_MINUTE[self.price_list]

    def units(self, method_id: str) -> int:
        return unit_cost(method_id, self.price_list)

    def bucket(
        self, *, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> TokenBucket:
        """The bucket a sync should share for one user.

        Why this size. Gmail admits a call when the units charged in the last 60 s, plus this call, fit
        the budget B. A plain token bucket with refill B/60 per second and capacity C lets C + B through
        in the 60 s that follow a full bucket, so any capacity overflows Google's window by C:
        capacity ~ one minute's budget bursts B at the start and then is refused for most of the next
        minute; refill B/60 with a "small" capacity still overflows by that capacity near the end of
        every busy minute. Lowering the refill to (B - C)/60 would be safe but caps the sync at
        (B - C)/B of the quota (83% with C = one 50-part batch of 20-unit gets).

        So the bucket does both: refill B/60 per second with capacity C = one batch's worth (50 gets,
        never more than B) spreads calls evenly and keeps bursts to one batch, and a ceiling that logs
        grants exactly as Google's sliding window counts charges (B units per 60 s, plus a margin for
        the request's trip) guarantees no 403. In a saturated run the ceiling binds near the end of each
        window and the next grants go as the oldest leave it (``acquire_parts`` shrinks a batch to what
        fits rather than idle): B units per 61 s, 98% of the quota bound, never above it. Measured
        against the stand-in: 1,200 gets at 6,000 units a minute took 233 s against the 240 s bound
        (the first window's budget comes without waiting), with no 403.
        """
        budget = float(self.units_per_minute)
        capacity = min(budget, float(MAX_BATCH_PARTS * self.units(_BATCHED_GET[self.api])))
        return TokenBucket(
            capacity,
            budget / WINDOW_SECONDS,
            clock=clock,
            sleep=sleep,
            window_units=budget,
            window_seconds=WINDOW_SECONDS + self.window_margin_seconds,
        )


class TokenBucket:
    """A token bucket, optionally under a sliding-window ceiling; thread-safe and first come, first served.

    ``acquire`` reserves its units at the earliest moment both the bucket and the window allow them,
    then sleeps until that moment: waiters are served in arrival order and a large request is never
    starved by small ones. A request larger than the capacity waits for a full bucket and leaves it in
    debt (it could never be served otherwise); one larger than the window is refused.
    """

    def __init__(
        self,
        capacity_units: float,
        refill_units_per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        window_units: float | None = None,
        window_seconds: float = WINDOW_SECONDS,
    ) -> None:
        if capacity_units <= 0 or refill_units_per_second <= 0:
            raise ValueError("capacity and refill rate must be positive")
        if window_units is not None and (window_units <= 0 or window_seconds <= 0):
            raise ValueError("the window and its units must be positive")
        self.capacity_units = float(capacity_units)
        self.refill_units_per_second = float(refill_units_per_second)
        self.window_units = None if window_units is None else float(window_units)
        self.window_seconds = float(window_seconds)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.capacity_units  # at self._updated; negative while in debt
        self._updated = clock()
        self._not_before = -math.inf  # set by penalize
        self._granted: deque[tuple[float, float]] = deque()  # (grant time, units), oldest first
        self._granted_total = 0.0

    @property
    def largest_request(self) -> float:
        """The most units one ``acquire`` should ask for: more waits for a full bucket or is refused."""
        if self.window_units is None:
            return self.capacity_units
        return min(self.capacity_units, self.window_units)

    def acquire(self, units: float) -> float:
        """Block until ``units`` may be spent; the seconds waited."""
        if units <= 0:
            return 0.0
        if self.window_units is not None and units > self.window_units:
            raise ValueError(f"{units} units can never fit a window of {self.window_units}")
        with self._lock:
            now = self._clock()
            grant_at = self._reserve(float(units), now)
        return self._wait_until(grant_at, now)

    def acquire_parts(self, part_units: float, max_parts: int) -> tuple[int, float]:
        """For a batch of up to ``max_parts`` calls of ``part_units`` each: (parts granted, seconds waited).

        Waits as ``acquire`` would for the whole batch's tokens; if the window then has room for only
        some of the parts, grants those at once instead of waiting for the window to free the rest.
        Without this, a window that holds B - 15 units (a few list calls among full batches) would sit
        idle until a whole batch's worth left it, a sixth of a minute lost at 6,000 units and 50-part
        batches of 20-unit gets. Always grants at least one part.
        """
        if part_units <= 0 or max_parts < 1:
            raise ValueError("a batch needs positive units and at least one part")
        with self._lock:
            now = self._clock()
            at, level = self._tokens_ready(part_units * max_parts, now)
            parts = max_parts
            if self.window_units is not None:
                self._expire(at)
                room = self.window_units - self._granted_total
                parts = min(max_parts, int((room + _EPSILON) // part_units))
            if parts >= 1:
                self._commit(at, parts * part_units, level)
                grant_at = at
            else:  # no room for even one part when the tokens are there: the whole batch waits
                parts = max_parts
                grant_at = self._reserve(part_units * max_parts, now)
        return parts, self._wait_until(grant_at, now)

    def penalize(self, seconds: float) -> None:
        """After a rate-limit answer: grant nothing before now + ``seconds``."""
        if seconds <= 0:
            return
        with self._lock:
            not_before = max(self._not_before, self._clock() + seconds)
            self._not_before = not_before
            # Grants already reserved for earlier moments now leave at not_before: log them then, so
            # the window does not let them go before Google does.
            if self._granted and self._granted[-1][0] < not_before:
                self._granted = deque((max(at, not_before), units) for at, units in self._granted)
            if self._updated < not_before:
                self._tokens = min(
                    self.capacity_units,
                    self._tokens + (not_before - self._updated) * self.refill_units_per_second,
                )
                self._updated = not_before

    def _wait_until(self, grant_at: float, now: float) -> float:
        waited = 0.0
        delay = grant_at - now
        reached = grant_at
        while delay > 0:
            self._sleep(delay)
            waited += delay
            with self._lock:
                # A rate-limit answer while we slept moves every grant after it.
                delay = self._not_before - max(self._clock(), reached)
                reached = max(reached, self._not_before)
        return waited

    def _tokens_ready(self, units: float, now: float) -> tuple[float, float]:
        """When the bucket holds ``units`` (all of it when asked for more), and its level then."""
        at = max(now, self._not_before, self._updated)  # never before an earlier reservation
        level = min(self.capacity_units, self._tokens + (at - self._updated) * self.refill_units_per_second)
        needed = min(units, self.capacity_units)
        if level < needed:
            at += (needed - level) / self.refill_units_per_second
            level = needed
        return at, level

    def _reserve(self, units: float, now: float) -> float:
        """The moment ``units`` are granted, recorded as spent then. Called with the lock held."""
        at, level = self._tokens_ready(units, now)
        if self.window_units is not None:
            self._expire(at)
            excess = self._granted_total + units - self.window_units
            if excess > _EPSILON:
                room_at = at
                freed = 0.0
                for granted_at, granted in self._granted:  # oldest first: the first to leave
                    freed += granted
                    if freed >= excess - _EPSILON:
                        room_at = granted_at + self.window_seconds
                        break
                if room_at > at:
                    level = min(self.capacity_units, level + (room_at - at) * self.refill_units_per_second)
                    at = room_at
                self._expire(at)
        self._commit(at, units, level)
        return at

    def _commit(self, at: float, units: float, level: float) -> None:
        if self.window_units is not None:
            self._granted.append((at, units))
            self._granted_total += units
        self._tokens = level - units
        self._updated = at

    def _expire(self, at: float) -> None:
        while self._granted and self._granted[0][0] <= at - self.window_seconds + _EPSILON:
            _, units = self._granted.popleft()
            self._granted_total -= units
        if not self._granted:
            self._granted_total = 0.0  # no drift from float sums


class InFlightLimit:
    """Requests in flight for one user, shared by every client that works on that mailbox.

    A batch holds one slot per part, but never more than the whole limit (it waits for all of them).
    """

    def __init__(self, max_in_flight: int) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.max_in_flight = max_in_flight
        self._free = max_in_flight
        self._condition = threading.Condition()

    @contextmanager
    def slots(self, count: int = 1) -> Iterator[int]:
        wanted = max(1, min(count, self.max_in_flight))
        with self._condition:
            self._condition.wait_for(lambda: self._free >= wanted)
            self._free -= wanted
        try:
            yield wanted
        finally:
            with self._condition:
                self._free += wanted
                self._condition.notify_all()
