"""What every Google API client of ours does around a call, in one place: pace under the user's quota
(rate_limit.TokenBucket), cap requests in flight, retry what Google says to retry, never retry a grant
Google refuses, and translate Google's answers into our error hierarchy.

``PacedClient`` is the base of ``GmailClient`` and ``CalendarClient``; each adds its methods and the
answers that mean something of their own (Gmail's expired history, Calendar's expired sync token).
"""

from __future__ import annotations

import http.client
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from shared.errors import IntegrationError, NeedsReconnect, Permanent, Retryable
from shared.google_apis.discovery import build_service
from shared.google_apis.rate_limit import InFlightLimit, QuotaSettings, TokenBucket

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

_RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Answers Google does not bill: refused before the method ran (auth, quota, concurrency) or failed in
# its frontend. Everything else that got an answer (200, 400, 404) was charged.
_UNBILLED_STATUSES = frozenset({401, 403, 429})

OnStatus = Mapping[int, Callable[[Any], IntegrationError]]  # an HTTP status's own meaning for one call


@dataclass(frozen=True)
class ApiName:
    """How errors name the API: "Gmail answered 503", code ``gmail_404``."""

    label: str
    code: str


def translate_http_error(error: Exception, api: ApiName) -> IntegrationError:
    """Google's answers, mapped once: passing faults retry, a dead grant needs the user, the rest stop."""
    import google.auth.exceptions
    from googleapiclient.errors import HttpError

    if isinstance(error, google.auth.exceptions.RefreshError):
        if getattr(error, "retryable", False):
            return Retryable("Refreshing the Google token failed for now.")
        return NeedsReconnect("Google refused the stored grant.", code="invalid_grant")
    if isinstance(error, HttpError):
        status = http_status(error)
        if is_retryable_http(error):
            return Retryable(f"{api.label} answered {status}.")
        return Permanent(f"{api.label} refused the call ({status}).", code=f"{api.code}_{status}")
    if isinstance(error, google.auth.exceptions.TransportError):
        return Retryable("Google's token endpoint could not be reached.")
    if isinstance(error, (TimeoutError, ConnectionError, OSError, http.client.HTTPException)):
        return Retryable(f"{api.label} could not be reached.")
    return Permanent(f"{api.label} call failed.", code=f"{api.code}_error")


def error_reasons(error: Any) -> set[str]:
    details = getattr(error, "error_details", None) or []
    if not isinstance(details, list):
        return set()
    return {str(detail.get("reason")) for detail in details if isinstance(detail, dict)}


def http_status(error: Any) -> int:
    return int(getattr(error, "status_code", 0) or 0)


def _retry_after(error: Any) -> float:
    """Google's Retry-After in seconds (0 when absent); batch parts carry it in their own headers."""
    resp = getattr(error, "resp", None)
    value = resp.get("retry-after") if resp is not None and hasattr(resp, "get") else None
    try:
        return max(0.0, float(value)) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0  # an HTTP date: rare from Google; the backoff still applies


def _is_rate_limited(error: Any) -> bool:
    status = http_status(error)
    return status == 429 or (status == 403 and bool(error_reasons(error) & _RATE_LIMIT_REASONS))


def is_retryable_http(error: Any) -> bool:
    return http_status(error) in _RETRY_STATUSES or _is_rate_limited(error)


def is_billed(error: Any) -> bool:
    status = http_status(error)
    return status < 500 and status not in _UNBILLED_STATUSES


@dataclass
class Failure:
    """Why an attempt failed and may be tried again."""

    error: BaseException
    retry_after: float = 0.0
    rate_limited: bool = False

    def merged(self, other: Failure) -> Failure:
        return Failure(
            self.error,
            max(self.retry_after, other.retry_after),
            self.rate_limited or other.rate_limited,
        )


class PacedClient:
    """Quota pacing, retries and the dead-grant rule around each call. One instance per thread
    (httplib2 is not thread-safe); instances working for the same user share a ``bucket`` and an
    ``in_flight`` limit.

    Every call acquires its quota units before it is sent, holds a slot of ``max_in_flight``, and is
    retried on 429, 403 ``rateLimitExceeded``/``userRateLimitExceeded``, 5xx, timeouts and dropped
    connections, with exponential backoff and full jitter, never sooner than Google's Retry-After.
    ``invalid_grant`` is never retried: ``on_invalid_grant`` is called once and every call raises
    ``NeedsReconnect``.
    """

    api: ApiName
    discovery: tuple[str, str]  # the bundled discovery document's (api, version)
    default_quota: QuotaSettings  # when the caller names none

    def __init__(
        self,
        credentials: object,
        *,
        root_url: str | None,
        quota: QuotaSettings | None = None,
        bucket: TokenBucket | None = None,
        in_flight: InFlightLimit | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        on_invalid_grant: Callable[[], None] | None = None,
    ) -> None:
        quota = quota or self.default_quota
        self._quota = quota
        self._sleep = sleep
        self._bucket = bucket if bucket is not None else quota.bucket(sleep=sleep)
        self._in_flight = in_flight if in_flight is not None else InFlightLimit(quota.max_in_flight)
        self._rng = rng or random.Random()  # noqa: S311 - backoff jitter, not a secret
        self._on_invalid_grant = on_invalid_grant
        self._grant_dead = False
        # Counters for tests and benchmarks.
        self.units_spent = 0  # units of the calls Google billed (answered, not refused)
        self.requests_sent = 0  # API calls sent, each batch part counted
        self.batches_sent = 0
        self.retries = 0  # calls sent again, each batch part counted
        self.seconds_waited_for_quota = 0.0
        api, version = self.discovery
        self._service: Any = build_service(
            api, version, cast("Credentials", credentials), root_url=root_url or None
        )

    def _call(
        self,
        method_id: str,
        build_request: Callable[[], Any],
        *,
        on_status: OnStatus | None = None,
        repeatable: bool = True,
    ) -> Any:
        """One call, retried as Google says. ``on_status``: what a status means for this call (raised
        as is, e.g. Gmail's 404 on old history). ``repeatable=False`` (a send): only refusals that come
        before Google acted (rate limits) are retried here; after a 5xx, a timeout or a cut connection
        Google may have acted, and the caller must look before it tries again."""
        from googleapiclient.errors import HttpError

        units = self._quota.units(method_id)
        failure: Failure | None = None
        for attempt in range(self._quota.max_attempts):
            if failure is not None:
                if not repeatable and not failure.rate_limited:
                    raise self._exhausted(failure)
                self._back_off(attempt, failure, calls=1)
            self._check_grant()
            self.seconds_waited_for_quota += self._bucket.acquire(units)
            with self._in_flight.slots(1):
                self.requests_sent += 1
                try:
                    answer = build_request().execute(num_retries=0)
                except call_errors() as error:
                    if isinstance(error, HttpError):
                        if is_billed(error):
                            self.units_spent += units
                        meaning = (on_status or {}).get(http_status(error))
                        if meaning is not None:
                            raise meaning(error) from error
                    failure = self._failure(error)
                    continue
            self.units_spent += units
            return answer
        raise self._exhausted(failure)

    def _failure(self, error: Exception) -> Failure:
        """A failure worth another attempt, or raise what it means for the caller."""
        import google.auth.exceptions
        from googleapiclient.errors import HttpError

        if isinstance(error, HttpError):
            if is_retryable_http(error):
                return Failure(error, _retry_after(error), _is_rate_limited(error))
            raise translate_http_error(error, self.api) from error
        if isinstance(error, google.auth.exceptions.RefreshError):
            if getattr(error, "retryable", False):
                return Failure(error)  # the token endpoint failed for now (5xx, timeout)
            self._grant_died()  # invalid_grant: only the user can fix it; never retried
            raise translate_http_error(error, self.api) from error
        return Failure(error)  # a transport fault: timeout, dropped or cut connection, DNS

    def _back_off(self, attempt: int, failure: Failure, *, calls: int) -> None:
        """Full jitter on an exponential ceiling, never sooner than Retry-After."""
        ceiling = min(
            self._quota.backoff_max_seconds, self._quota.backoff_initial_seconds * 2 ** (attempt - 1)
        )
        delay = max(self._rng.uniform(0, ceiling), failure.retry_after)
        if failure.rate_limited:
            self._bucket.penalize(delay)  # every client sharing the bucket holds off too
        self.retries += calls
        if delay > 0:
            self._sleep(delay)

    def _exhausted(self, failure: Failure | None) -> Retryable:
        retry_after = math.ceil(failure.retry_after) if failure is not None else None
        error = Retryable(f"{self.api.label} failed for now.", retry_after_seconds=retry_after or None)
        if failure is not None:
            error.__cause__ = failure.error
        return error

    def _grant_died(self) -> None:
        if not self._grant_dead:
            self._grant_dead = True
            if self._on_invalid_grant is not None:
                self._on_invalid_grant()

    def _check_grant(self) -> None:
        if self._grant_dead:
            raise NeedsReconnect("Google refused the stored grant.", code="invalid_grant")


def call_errors() -> tuple[type[Exception], ...]:
    """What a call may raise that ``_failure`` sorts: Google's answers, token refresh, the network."""
    import google.auth.exceptions
    import httplib2  # type: ignore[import-untyped]
    from googleapiclient.errors import HttpError

    return (
        HttpError,
        google.auth.exceptions.RefreshError,
        google.auth.exceptions.TransportError,
        OSError,  # timeouts, refused and reset connections
        http.client.HTTPException,  # a cut body, a bad status line
        httplib2.ServerNotFoundError,
    )
