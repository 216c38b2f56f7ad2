"""Gmail's usage limits: quota units per method under both price lists, per-user and per-project
budgets per minute (a sliding 60-second window), and the per-user concurrency cap."""

from __future__ import annotations

import enum
import math
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from local_stack.google_standin.errors import (
    project_rate_limit_exceeded,
    too_many_concurrent_requests,
    user_rate_limit_exceeded,
)

WINDOW_SECONDS = 60.0


class PriceList(enum.StrEnum):
    """Projects created before 2026-05-01 keep the legacy prices; newer ones (ours) get the new ones."""

    LEGACY = "legacy"
    NEW = "2026-05"


# units per call: (legacy, new). Source: ../shared/handbook/google-facts.md.
_UNITS: dict[str, tuple[int, int]] = {
    "gmail.users.messages.get": (5, 20),
    "gmail.users.messages.attachments.get": (5, 20),
    "gmail.users.messages.trash": (5, 20),
    "gmail.users.threads.get": (10, 40),
    "gmail.users.messages.list": (5, 5),
    "gmail.users.history.list": (2, 2),
    "gmail.users.messages.modify": (5, 5),
    "gmail.users.messages.batchModify": (50, 50),
    "gmail.users.messages.send": (100, 100),
    "gmail.users.messages.delete": (10, 10),
    "gmail.users.watch": (100, 100),
    "gmail.users.stop": (50, 50),
    "gmail.users.getProfile": (1, 1),
    "gmail.users.labels.list": (1, 1),
    "gmail.users.labels.create": (5, 5),
}
_DEFAULT_UNITS = (5, 5)

# Per-user budget per minute by price list; the per-project budget is the same under both.
_USER_UNITS_PER_MINUTE = {PriceList.LEGACY: 15_000, PriceList.NEW: 6_000}
PROJECT_UNITS_PER_MINUTE = 1_200_000


def units_for(method_id: str, price_list: PriceList) -> int:
    if not method_id.startswith("gmail."):
        return 0  # Calendar and Drive count requests, not units; OAuth is not metered
    legacy, new = _UNITS.get(method_id, _DEFAULT_UNITS)
    return legacy if price_list is PriceList.LEGACY else new


def default_user_units_per_minute(price_list: PriceList) -> int:
    return _USER_UNITS_PER_MINUTE[price_list]


@dataclass
class LimitSettings:
    price_list: PriceList = PriceList.NEW
    user_units_per_minute: int | None = None  # None: the price list's per-user budget
    project_units_per_minute: int = PROJECT_UNITS_PER_MINUTE
    user_concurrency: int = 10  # Gmail's unpublished per-user cap on requests in flight
    latency_seconds: float = 0.0  # added to every request, as a network round trip would
    enforce_quota: bool = True

    @property
    def effective_user_units_per_minute(self) -> int:
        return self.user_units_per_minute or default_user_units_per_minute(self.price_list)


class QuotaMeter:
    """Sliding-window budgets. ``charge`` admits a call and records its units, or raises Google's 403."""

    def __init__(self, settings: Callable[[], LimitSettings], clock: Callable[[], float]) -> None:
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._user_spent: dict[str, deque[tuple[float, int]]] = defaultdict(deque)
        self._project_spent: deque[tuple[float, int]] = deque()

    def charge(self, account: str, units: int) -> None:
        settings = self._settings()
        if units == 0 or not settings.enforce_quota:
            return
        now = self._clock()
        with self._lock:
            user, project = self._user_spent[account], self._project_spent
            for spent in (user, project):
                while spent and spent[0][0] <= now - WINDOW_SECONDS:
                    spent.popleft()
            if _total(user) + units > settings.effective_user_units_per_minute:
                raise user_rate_limit_exceeded(
                    _seconds_until_room(user, units, settings.effective_user_units_per_minute, now)
                )
            if _total(project) + units > settings.project_units_per_minute:
                raise project_rate_limit_exceeded(
                    _seconds_until_room(project, units, settings.project_units_per_minute, now)
                )
            user.append((now, units))
            project.append((now, units))

    def reset(self) -> None:
        with self._lock:
            self._user_spent.clear()
            self._project_spent.clear()


def _total(spent: deque[tuple[float, int]]) -> int:
    return sum(units for _, units in spent)


def _seconds_until_room(spent: deque[tuple[float, int]], units: int, budget: int, now: float) -> int:
    """How long until enough of the window's charges expire to admit ``units``: Google's Retry-After."""
    excess = _total(spent) + units - budget
    for at, charged in spent:
        excess -= charged
        if excess <= 0:
            return max(1, math.ceil(at + WINDOW_SECONDS - now))
    return int(WINDOW_SECONDS)


class ConcurrencyGate:
    """Per-user requests in flight; one more than the cap is refused at once with Google's 429."""

    def __init__(self, settings: Callable[[], LimitSettings]) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = defaultdict(int)
        self.peak: dict[str, int] = defaultdict(int)

    @contextmanager
    def slot(self, account: str) -> Iterator[None]:
        with self._lock:
            if self._in_flight[account] >= self._settings().user_concurrency:
                raise too_many_concurrent_requests()
            self._in_flight[account] += 1
            self.peak[account] = max(self.peak[account], self._in_flight[account])
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[account] -= 1
