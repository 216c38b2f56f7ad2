"""Gmail calls the product makes, each translated into our error hierarchy in one place.

The quota-aware client of the sync work grows here; the connect lifecycle needs watch and stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.errors import IntegrationError, NeedsReconnect, Permanent, Retryable
from shared.google_apis.discovery import build_service

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

_RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})


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
        status = error.status_code
        reasons = {
            str(detail.get("reason")) for detail in (error.error_details or []) if isinstance(detail, dict)
        }
        if status in (429, 500, 502, 503, 504) or (status == 403 and reasons & _RATE_LIMIT_REASONS):
            return Retryable(f"Gmail answered {status}.")
        return Permanent(f"Gmail refused the call ({status}).", code=f"gmail_{status}")
    if isinstance(error, (TimeoutError, ConnectionError, OSError)):
        return Retryable("Gmail could not be reached.")
    return Permanent("Gmail call failed.", code="gmail_error")


class GmailClient:
    def __init__(self, credentials: Credentials, *, root_url: str | None) -> None:
        self._service: Any = build_service("gmail", "v1", credentials, root_url=root_url or None)

    def _execute(self, request: Any) -> Any:
        import google.auth.exceptions
        from googleapiclient.errors import HttpError

        try:
            return request.execute(num_retries=2)
        except (HttpError, google.auth.exceptions.RefreshError, TimeoutError, OSError) as error:
            raise translate_http_error(error) from error

    def watch(self, topic_name: str) -> GmailWatch:
        answer = self._execute(self._service.users().watch(userId="me", body={"topicName": topic_name}))
        expires_at = datetime.fromtimestamp(int(answer["expiration"]) / 1000, UTC)
        return GmailWatch(history_id=str(answer["historyId"]), expires_at=expires_at)

    def stop(self) -> None:
        self._execute(self._service.users().stop(userId="me"))
