"""Per-route fault scripts: make the next N matching calls fail the ways Google and networks fail."""

from __future__ import annotations

import enum
import fnmatch
import threading
from dataclasses import dataclass, field
from typing import Any

from local_stack.google_standin.errors import (
    GoogleApiError,
    error_for_status,
    project_rate_limit_exceeded,
    too_many_concurrent_requests,
    too_many_requests,
    user_rate_limit_exceeded,
)


class FaultAction(enum.StrEnum):
    STATUS = "status"  # answer `status` with Google's error body for it (or for `reason`)
    DELAY = "delay"  # wait `delay_seconds`, then answer normally
    DROP = "drop"  # close the connection without answering
    TRUNCATE = "truncate"  # answer normally, but cut the body in half and close the connection


_BY_REASON = {
    "userRateLimitExceeded": lambda: user_rate_limit_exceeded(1),
    "rateLimitExceeded": lambda: project_rate_limit_exceeded(1),
    "concurrentRequests": too_many_concurrent_requests,
    "resourceExhausted": too_many_requests,
}


@dataclass
class FaultRule:
    target: (
        str  # a method id or endpoint, shell-style wildcards allowed: "gmail.users.messages.get", "oauth.*"
    )
    action: FaultAction = FaultAction.STATUS
    status: int = 503
    reason: str | None = None  # for 403/429: userRateLimitExceeded, rateLimitExceeded, concurrentRequests
    delay_seconds: float = 0.0
    times: int | None = 1  # how many matching calls it hits; None: every one
    after: int = 0  # let this many matching calls through first
    account: str | None = None  # only this mailbox's calls
    hits: int = field(default=0, init=False)
    seen: int = field(default=0, init=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        allowed = {"target", "action", "status", "reason", "delay_seconds", "times", "after", "account"}
        unknown = set(data) - allowed
        if unknown or "target" not in data:
            raise ValueError(f"a fault rule takes {sorted(allowed)} with a target; got {sorted(data)}")
        return cls(**{**data, "action": FaultAction(data.get("action", "status"))})

    def error(self) -> GoogleApiError:
        if self.reason in _BY_REASON:
            return _BY_REASON[self.reason]()
        return error_for_status(self.status)

    def matches(self, target: str, account: str | None) -> bool:
        return fnmatch.fnmatchcase(target, self.target) and (self.account is None or self.account == account)


class FaultScript:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def take(self, target: str, account: str | None) -> FaultRule | None:
        """The rule that hits this call, if any; consumes one of its hits."""
        with self._lock:
            for rule in self._rules:
                if not rule.matches(target, account):
                    continue
                rule.seen += 1
                if rule.seen <= rule.after or (rule.times is not None and rule.hits >= rule.times):
                    continue
                rule.hits += 1
                return rule
        return None
