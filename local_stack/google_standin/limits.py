"""Usage limits: Gmail's quota units per method under both price lists, Calendar's requests, Drive's
units, each API's per-user and per-project budgets per minute (a sliding 60-second window, one window
per API: a Gmail-heavy minute leaves Calendar's and Drive's budgets whole), and the per-user concurrency
cap."""

from __future__ import annotations

import enum
import math
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from local_stack.google_standin.errors import (
    GoogleApiError,
    calendar_rate_limit_exceeded,
    calendar_user_rate_limit_exceeded,
    drive_rate_limit_exceeded,
    drive_user_rate_limit_exceeded,
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

# Calendar counts requests, not units (../shared/handbook/google-facts.md, "Google Calendar API").
CALENDAR_USER_REQUESTS_PER_MINUTE = 600
CALENDAR_PROJECT_REQUESTS_PER_MINUTE = 10_000

# Drive (new model, ../shared/handbook/google-facts.md, "Google Drive API"): 325,000 units per user and
# 1,000,000 per project a minute. Google publishes the cost of a list page only (files.list and
# changes.list: 100 units); every other method costs DRIVE_DEFAULT_UNITS here, an assumption.
DRIVE_USER_UNITS_PER_MINUTE = 325_000
DRIVE_PROJECT_UNITS_PER_MINUTE = 1_000_000
_DRIVE_UNITS = {"drive.files.list": 100, "drive.changes.list": 100}
DRIVE_DEFAULT_UNITS = 10

# Each API's refusals, in its own words: (over the per-user budget, over the per-project budget).
_REFUSALS: dict[str, tuple[Callable[[int], GoogleApiError], Callable[[int], GoogleApiError]]] = {
    "gmail": (user_rate_limit_exceeded, project_rate_limit_exceeded),
    "calendar": (calendar_user_rate_limit_exceeded, calendar_rate_limit_exceeded),
    "drive": (drive_user_rate_limit_exceeded, drive_rate_limit_exceeded),
}


def gmail_units_for(method_id: str, price_list: PriceList) -> int:
    legacy, new = _UNITS.get(method_id, _DEFAULT_UNITS)
    return legacy if price_list is PriceList.LEGACY else new


def default_user_units_per_minute(price_list: PriceList) -> int:
    return _USER_UNITS_PER_MINUTE[price_list]


@dataclass
class LimitSettings:
    price_list: PriceList = PriceList.NEW
    user_units_per_minute: int | None = None  # None: the price list's per-user budget
    project_units_per_minute: int = PROJECT_UNITS_PER_MINUTE
    user_concurrency: int = 10  # the unpublished per-user cap on requests in flight, each API its own
    latency_seconds: float = 0.0  # added to every request, as a network round trip would
    enforce_quota: bool = True
    calendar_user_requests_per_minute: int = CALENDAR_USER_REQUESTS_PER_MINUTE
    calendar_project_requests_per_minute: int = CALENDAR_PROJECT_REQUESTS_PER_MINUTE
    drive_user_units_per_minute: int = DRIVE_USER_UNITS_PER_MINUTE
    drive_project_units_per_minute: int = DRIVE_PROJECT_UNITS_PER_MINUTE

    @property
    def effective_user_units_per_minute(self) -> int:
        return self.user_units_per_minute or default_user_units_per_minute(self.price_list)


@dataclass(frozen=True)
class Charge:
    """What one call costs, against the budgets of its own API."""

    api: str  # "gmail", "calendar", "drive": the first part of the method id
    units: int
    user_budget: int
    project_budget: int


def charge_for(method_id: str, settings: LimitSettings) -> Charge | None:
    """The charge for one admitted call; None for calls no quota meters (OAuth)."""
    api = method_id.split(".", 1)[0]
    if api == "gmail":
        return Charge(
            api,
            gmail_units_for(method_id, settings.price_list),
            settings.effective_user_units_per_minute,
            settings.project_units_per_minute,
        )
    if api == "calendar":
        # One "unit" per request: Calendar's budgets count requests, and the call log's units then
        # count Calendar requests for benchmarks.
        return Charge(
            api, 1, settings.calendar_user_requests_per_minute, settings.calendar_project_requests_per_minute
        )
    if api == "drive":
        return Charge(
            api,
            drive_units_for(method_id),
            settings.drive_user_units_per_minute,
            settings.drive_project_units_per_minute,
        )
    return None


def drive_units_for(method_id: str) -> int:
    return _DRIVE_UNITS.get(method_id, DRIVE_DEFAULT_UNITS)


class QuotaMeter:
    """Sliding-window budgets, one pair per API. ``charge`` admits a call and records its units, or
    raises the API's 403."""

    def __init__(self, settings: Callable[[], LimitSettings], clock: Callable[[], float]) -> None:
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._user_spent: dict[tuple[str, str], deque[tuple[float, int]]] = defaultdict(deque)
        self._project_spent: dict[str, deque[tuple[float, int]]] = defaultdict(deque)

    def charge(self, account: str, charge: Charge) -> None:
        if charge.units == 0 or not self._settings().enforce_quota:
            return
        now = self._clock()
        over_user, over_project = _REFUSALS[charge.api]
        with self._lock:
            user, project = self._user_spent[(charge.api, account)], self._project_spent[charge.api]
            for spent in (user, project):
                while spent and spent[0][0] <= now - WINDOW_SECONDS:
                    spent.popleft()
            if _total(user) + charge.units > charge.user_budget:
                raise over_user(_seconds_until_room(user, charge.units, charge.user_budget, now))
            if _total(project) + charge.units > charge.project_budget:
                raise over_project(_seconds_until_room(project, charge.units, charge.project_budget, now))
            user.append((now, charge.units))
            project.append((now, charge.units))

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
    """Per-user requests in flight, per API (Gmail's cap is Gmail's: a Calendar call does not take a
    Gmail slot); one more than the cap is refused at once with Google's 429. ``peak`` is per account,
    the most in flight on any one API, for tests to watch."""

    def __init__(self, settings: Callable[[], LimitSettings]) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._in_flight: dict[tuple[str, str], int] = defaultdict(int)
        self.peak: dict[str, int] = defaultdict(int)

    @contextmanager
    def slot(self, account: str, api: str) -> Iterator[None]:
        key = (api, account)
        with self._lock:
            if self._in_flight[key] >= self._settings().user_concurrency:
                raise too_many_concurrent_requests()
            self._in_flight[key] += 1
            self.peak[account] = max(self.peak[account], self._in_flight[key])
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[key] -= 1
