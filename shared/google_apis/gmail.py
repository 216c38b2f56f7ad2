"""Gmail: every call the product makes, through one quota-aware client, each answer translated into
our error hierarchy in one place.

``GmailClient`` paces itself under the user's quota (rate_limit.TokenBucket), caps requests in flight,
batches message fetches, retries what Google says to retry, and reports a grant Google refuses to the
one place that handles it (``on_invalid_grant``): the sync, watches, attachment downloads and writes
all use it.
"""

from __future__ import annotations

import base64
import functools
import http.client
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from shared.errors import IntegrationError, NeedsReconnect, NeedsResync, Permanent, Retryable
from shared.google_apis.discovery import build_service
from shared.google_apis.rate_limit import MAX_BATCH_PARTS, InFlightLimit, QuotaSettings, TokenBucket

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

__all__ = [
    "GmailClient",
    "GmailWatch",
    "InFlightLimit",
    "QuotaSettings",
    "TokenBucket",
    "translate_http_error",
]

_RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
# Above this, a message goes as a media upload rather than inline base64url in a JSON body (which adds a
# third and has a smaller limit than the upload's 35 MB).
INLINE_SEND_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class GmailWatch:
    history_id: str
    expires_at: datetime


def translate_http_error(error: Exception) -> IntegrationError:
    """Google's answers, mapped once: passing faults retry, a dead grant needs the user, the rest stop."""
    import google.auth.exceptions
    from googleapiclient.errors import HttpError

    if isinstance(error, google.auth.exceptions.RefreshError):
        if getattr(error, "retryable", False):
            return Retryable("Refreshing the Google token failed for now.")
        return NeedsReconnect("Google refused the stored grant.", code="invalid_grant")
    if isinstance(error, HttpError):
        status = _status(error)
        if _is_retryable_http(error):
            return Retryable(f"Gmail answered {status}.")
        return Permanent(f"Gmail refused the call ({status}).", code=f"gmail_{status}")
    if isinstance(error, google.auth.exceptions.TransportError):
        return Retryable("Google's token endpoint could not be reached.")
    if isinstance(error, (TimeoutError, ConnectionError, OSError, http.client.HTTPException)):
        return Retryable("Gmail could not be reached.")
    return Permanent("Gmail call failed.", code="gmail_error")


# --- the client ---------------------------------------------------------------------------------

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Answers Google does not bill: refused before the method ran (auth, quota, concurrency) or failed in
# its frontend. Everything else that got an answer (200, 400, 404) was charged.
_UNBILLED_STATUSES = frozenset({401, 403, 429})


def _reasons(error: Any) -> set[str]:
    details = getattr(error, "error_details", None) or []
    if not isinstance(details, list):
        return set()
    return {str(detail.get("reason")) for detail in details if isinstance(detail, dict)}


def _status(error: Any) -> int:
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
    status = _status(error)
    return status == 429 or (status == 403 and bool(_reasons(error) & _RATE_LIMIT_REASONS))


def _is_retryable_http(error: Any) -> bool:
    return _status(error) in _RETRY_STATUSES or _is_rate_limited(error)


def _is_billed(error: Any) -> bool:
    status = _status(error)
    return status < 500 and status not in _UNBILLED_STATUSES


@dataclass
class _Failure:
    """Why an attempt failed and may be tried again."""

    error: BaseException
    retry_after: float = 0.0
    rate_limited: bool = False


class GmailClient:
    """The quota-aware Gmail client. One instance per thread (httplib2 is not
    thread-safe); instances working on the same mailbox share a ``bucket`` and an ``in_flight`` limit.

    Every call acquires its quota units before it is sent (a batch the sum of its parts), holds a slot
    of ``max_in_flight`` (a batch one per part, at most all of them), and is retried on 429, 403
    ``rateLimitExceeded``/``userRateLimitExceeded``, 5xx, timeouts and dropped connections, with
    exponential backoff and full jitter, never sooner than Google's Retry-After. ``invalid_grant`` is
    never retried: ``on_invalid_grant`` is called once and every call raises ``NeedsReconnect``.
    """

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
        self._quota = quota or QuotaSettings()
        self._sleep = sleep
        self._bucket = bucket if bucket is not None else self._quota.bucket(sleep=sleep)
        self._in_flight = in_flight if in_flight is not None else InFlightLimit(self._quota.max_in_flight)
        self._rng = rng or random.Random()  # noqa: S311 - backoff jitter, not a secret
        self._on_invalid_grant = on_invalid_grant
        self._grant_dead = False
        self._service: Any = build_service(
            "gmail", "v1", cast("Credentials", credentials), root_url=root_url or None
        )
        # Counters for tests and benchmarks.
        self.units_spent = 0  # units of the calls Google billed (answered, not refused)
        self.requests_sent = 0  # API calls sent, each batch part counted
        self.batches_sent = 0
        self.retries = 0  # calls sent again, each batch part counted
        self.seconds_waited_for_quota = 0.0

    # --- the methods ---------------------------------------------------------------------------------

    def profile(self) -> dict[str, Any]:
        answer: dict[str, Any] = self._call(
            "gmail.users.getProfile", lambda: self._service.users().getProfile(userId="me")
        )
        return answer

    def list_message_ids(
        self, *, query: str | None, page_token: str | None, max_results: int = 500
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ``{"id", "threadId"}``, newest first, and the next page's token."""
        arguments: dict[str, Any] = {"userId": "me", "maxResults": max_results}
        if query:
            arguments["q"] = query
        if page_token:
            arguments["pageToken"] = page_token
        answer = self._call(
            "gmail.users.messages.list", lambda: self._service.users().messages().list(**arguments)
        )
        return list(answer.get("messages", [])), answer.get("nextPageToken") or None

    def list_history(
        self, *, start_history_id: str, page_token: str | None, max_results: int = 500
    ) -> dict[str, Any]:
        """One page of history after ``start_history_id``; ``NeedsResync`` when Gmail forgot it."""
        arguments: dict[str, Any] = {
            "userId": "me",
            "startHistoryId": start_history_id,
            "maxResults": max_results,
        }
        if page_token:
            arguments["pageToken"] = page_token
        answer: dict[str, Any] = self._call(
            "gmail.users.history.list",
            lambda: self._service.users().history().list(**arguments),
            on_not_found=lambda: NeedsResync(
                "Gmail no longer keeps history that far back.", code="history_expired"
            ),
        )
        return answer

    def watch(self, topic_name: str) -> GmailWatch:
        """Start, or renew, the mailbox's watch: Gmail publishes its changes to ``topic_name``."""
        answer = self._call(
            "gmail.users.watch",
            lambda: self._service.users().watch(userId="me", body={"topicName": topic_name}),
        )
        expires_at = datetime.fromtimestamp(int(answer["expiration"]) / 1000, UTC)
        return GmailWatch(history_id=str(answer["historyId"]), expires_at=expires_at)

    def stop(self) -> None:
        self._call("gmail.users.stop", lambda: self._service.users().stop(userId="me"))

    def label_ids(self, message_id: str) -> list[str]:
        """The message's labels now (``format=minimal``)."""
        answer = self._call(
            "gmail.users.messages.get",
            lambda: self._service.users().messages().get(userId="me", id=message_id, format="minimal"),
        )
        return [str(label) for label in answer.get("labelIds", [])]

    def modify(self, message_id: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()) -> list[str]:
        """Add and remove labels of one message (read state is the UNREAD label); its labels after."""
        body = {"addLabelIds": list(add), "removeLabelIds": list(remove)}
        answer = self._call(
            "gmail.users.messages.modify",
            lambda: self._service.users().messages().modify(userId="me", id=message_id, body=body),
        )
        return [str(label) for label in answer.get("labelIds", [])]

    def batch_modify(
        self, message_ids: Sequence[str], *, add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> None:
        """Add and remove labels of up to 1,000 messages in one call (Gmail answers nothing)."""
        body = {"ids": list(message_ids), "addLabelIds": list(add), "removeLabelIds": list(remove)}
        self._call(
            "gmail.users.messages.batchModify",
            lambda: self._service.users().messages().batchModify(userId="me", body=body),
        )

    def labels(self) -> list[dict[str, str]]:
        """The mailbox's labels: ``{"id", "name", "type"}`` each."""
        answer = self._call(
            "gmail.users.labels.list", lambda: self._service.users().labels().list(userId="me")
        )
        return [
            {
                "id": str(label.get("id", "")),
                "name": str(label.get("name", "")),
                "type": str(label.get("type", "")),
            }
            for label in answer.get("labels", [])
        ]

    def send(self, raw: bytes, *, thread_id: str | None = None) -> dict[str, str]:
        """Send an RFC 822 message: ``{"id", "threadId"}``. Inline (base64url ``raw``) while small, as a
        media upload above ``INLINE_SEND_BYTES`` (Gmail takes up to 35 MB that way)."""
        body: dict[str, Any] = {"threadId": thread_id} if thread_id else {}

        def request() -> Any:
            messages = self._service.users().messages()
            if len(raw) <= INLINE_SEND_BYTES:
                return messages.send(
                    userId="me", body={**body, "raw": base64.urlsafe_b64encode(raw).decode()}
                )
            from googleapiclient.http import MediaInMemoryUpload

            media = MediaInMemoryUpload(raw, mimetype="message/rfc822", resumable=False)
            return messages.send(userId="me", body=body or None, media_body=media)

        answer = self._call("gmail.users.messages.send", request, repeatable=False)
        return {"id": str(answer["id"]), "threadId": str(answer.get("threadId", answer["id"]))}

    def find_by_message_id(self, message_id_header: str) -> dict[str, str] | None:
        """The message whose Message-ID header is ``message_id_header`` (``rfc822msgid:``), sent or received,
        anywhere in the mailbox: ``{"id", "threadId"}``, or None."""
        query = f"rfc822msgid:{message_id_header.strip().strip('<>')}"
        answer = self._call(
            "gmail.users.messages.list",
            lambda: (
                self._service.users()
                .messages()
                .list(userId="me", q=query, includeSpamTrash=True, maxResults=5)
            ),
        )
        found = answer.get("messages") or []
        if not found:
            return None
        return {"id": str(found[0]["id"]), "threadId": str(found[0].get("threadId", found[0]["id"]))}

    def get_attachment(self, message_id: str, attachment_id: str) -> bytes:
        answer = self._call(
            "gmail.users.messages.attachments.get",
            lambda: (
                self._service.users()
                .messages()
                .attachments()
                .get(userId="me", messageId=message_id, id=attachment_id)
            ),
        )
        data = str(answer.get("data", ""))
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))

    def get_messages(
        self, ids: Sequence[str], *, format: str = "full"
    ) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """Messages by id, in batches of at most 50: (found by id, ids Gmail answered 404 for).

        Each part is billed; parts that fail with a passing fault go again in a new batch of their own.
        A batch is smaller than 50 when the quota window has room for only that many right now.
        """
        queue = list(dict.fromkeys(ids))
        found: dict[str, dict[str, Any]] = {}
        missing: set[str] = set()
        units = self._quota.units("gmail.users.messages.get")
        size = self._batch_size("gmail.users.messages.get")
        while queue:
            self._check_grant()
            parts, waited = self._bucket.acquire_parts(units, min(size, len(queue)))
            self.seconds_waited_for_quota += waited
            self._get_batch(queue[:parts], format, found, missing)
            queue = queue[parts:]
        return found, missing

    # --- one call ------------------------------------------------------------------------------------

    def _call(
        self,
        method_id: str,
        build_request: Callable[[], Any],
        *,
        on_not_found: Callable[[], IntegrationError] | None = None,
        repeatable: bool = True,
    ) -> Any:
        """One call, retried as Google says. ``repeatable=False`` (a send): only refusals that come
        before Google acted (rate limits) are retried here; after a 5xx, a timeout or a cut connection
        Google may have acted, and the caller must look before it tries again."""
        from googleapiclient.errors import HttpError

        units = self._quota.units(method_id)
        failure: _Failure | None = None
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
                except _call_errors() as error:
                    if isinstance(error, HttpError):
                        if _is_billed(error):
                            self.units_spent += units
                        if _status(error) == 404 and on_not_found is not None:
                            raise on_not_found() from error
                    failure = self._failure(error)
                    continue
            self.units_spent += units
            return answer
        raise self._exhausted(failure)

    # --- one batch of gets ---------------------------------------------------------------------------

    def _batch_size(self, method_id: str) -> int:
        """Parts per batch: 50, fewer when the bucket cannot grant that many at once (a small quota)."""
        units = self._quota.units(method_id)
        return max(1, min(MAX_BATCH_PARTS, int(self._bucket.largest_request // units)))

    def _get_batch(
        self, ids: list[str], format: str, found: dict[str, dict[str, Any]], missing: set[str]
    ) -> None:
        """One batch of gets whose units are already granted, then rounds of its failed parts."""
        units = self._quota.units("gmail.users.messages.get")
        pending = ids
        failure: _Failure | None = None
        # googleapiclient rebuilds a resource from the discovery document on every users()/messages()
        # call (about 0.8 ms of CPU each): take it once per batch, not once per part.
        messages = self._service.users().messages()
        for attempt in range(self._quota.max_attempts):
            if failure is not None:
                self._back_off(attempt, failure, calls=len(pending))
                self._check_grant()
                self.seconds_waited_for_quota += self._bucket.acquire(units * len(pending))
            answers: dict[str, tuple[Any, Any]] = {}
            batch = self._service.new_batch_http_request(callback=functools.partial(_collect, answers))
            for message_id in pending:
                batch.add(
                    messages.get(userId="me", id=message_id, format=format),
                    request_id=message_id,
                )
            with self._in_flight.slots(len(pending)):
                self.requests_sent += len(pending)
                self.batches_sent += 1
                try:
                    batch.execute()
                except _call_errors() as error:  # the batch as a whole failed: every part goes again
                    failure = self._failure(error)
                    continue
            failed: list[str] = []
            failure = None
            for message_id in pending:
                if message_id not in answers:  # the batch answer lacked this part: send it again
                    failed.append(message_id)
                    failure = _merge(failure, _Failure(Retryable("A batch answer lacked a part.")))
                    continue
                response, part_error = answers[message_id]
                if part_error is None:
                    self.units_spent += units
                    found[message_id] = response
                elif _status(part_error) == 404:  # deleted between list and get
                    self.units_spent += units
                    missing.add(message_id)
                elif _is_retryable_http(part_error):
                    failed.append(message_id)
                    failure = _merge(failure, self._failure(part_error))
                else:
                    if _is_billed(part_error):
                        self.units_spent += units
                    raise translate_http_error(part_error) from part_error
            if not failed:
                return
            pending = failed
        raise self._exhausted(failure)

    # --- retry policy --------------------------------------------------------------------------------

    def _failure(self, error: Exception) -> _Failure:
        """A failure worth another attempt, or raise what it means for the caller."""
        import google.auth.exceptions
        from googleapiclient.errors import HttpError

        if isinstance(error, HttpError):
            if _is_retryable_http(error):
                return _Failure(error, _retry_after(error), _is_rate_limited(error))
            raise translate_http_error(error) from error
        if isinstance(error, google.auth.exceptions.RefreshError):
            if getattr(error, "retryable", False):
                return _Failure(error)  # the token endpoint failed for now (5xx, timeout)
            self._grant_died()  # invalid_grant: only the user can fix it; never retried
            raise translate_http_error(error) from error
        return _Failure(error)  # a transport fault: timeout, dropped or cut connection, DNS

    def _back_off(self, attempt: int, failure: _Failure, *, calls: int) -> None:
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

    def _exhausted(self, failure: _Failure | None) -> Retryable:
        retry_after = math.ceil(failure.retry_after) if failure is not None else None
        error = Retryable("Gmail failed for now.", retry_after_seconds=retry_after or None)
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


def _collect(answers: dict[str, tuple[Any, Any]], request_id: str, response: Any, exception: Any) -> None:
    answers[request_id] = (response, exception)


def _merge(first: _Failure | None, second: _Failure) -> _Failure:
    if first is None:
        return second
    return _Failure(
        first.error,
        max(first.retry_after, second.retry_after),
        first.rate_limited or second.rate_limited,
    )


def _call_errors() -> tuple[type[Exception], ...]:
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
