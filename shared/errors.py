"""The one error hierarchy, and the one table that turns it into HTTP answers and Pub/Sub ack or retry.

Use-cases raise these; only the entry-point boundary (shared.entrypoints) catches them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, ClassVar


class EventOutcome(enum.Enum):
    """What an event function does with a delivery: acknowledge it, or fail so Pub/Sub redelivers."""

    ACK = "ack"
    RETRY = "retry"


class IntegrationError(Exception):
    """Base of every error the system raises on purpose.

    ``code`` is stable and machine-readable (clients branch on it); ``detail`` is for humans and must
    never carry a token, a message body or an email address.
    """

    default_code: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.errors = errors or []
        self.retry_after_seconds = retry_after_seconds


class BadInput(IntegrationError):
    default_code = "bad_input"
    title = "Bad input"


class PayloadTooLarge(BadInput):
    default_code = "payload_too_large"
    title = "Payload too large"


class UnsupportedMediaType(BadInput):
    default_code = "unsupported_media_type"
    title = "Unsupported media type"


class Unauthenticated(IntegrationError):
    default_code = "unauthenticated"
    title = "Unauthenticated"


class Forbidden(IntegrationError):
    default_code = "forbidden"
    title = "Forbidden"


class NotFound(IntegrationError):
    default_code = "not_found"
    title = "Not found"


class MethodNotAllowed(IntegrationError):
    default_code = "method_not_allowed"
    title = "Method not allowed"


class Conflict(IntegrationError):
    default_code = "conflict"
    title = "Conflict"


class AlreadyExists(Conflict):
    """A document created twice (the store's ``create``): the first one stands."""

    default_code = "already_exists"


class PreconditionFailed(Conflict):
    """A stored document changed (or vanished) since the version a write was conditioned on."""

    default_code = "precondition_failed"


class LeaseLost(Conflict):
    """A sync's lease was taken over, reset or deleted: it must stop and write nothing more."""

    default_code = "lease_lost"


class ChangedAtGoogle(Conflict):
    """A conditional write to Google (``If-Match``) found the object changed there since it was read."""

    default_code = "changed_at_google"


class IdTakenAtGoogle(Conflict):
    """An insert with a client-chosen id found that id taken (by an earlier attempt of ours)."""

    default_code = "id_taken_at_google"


class GoneAtGoogle(NotFound):
    """The object is not at Google, or was deleted there."""

    default_code = "gone_at_google"


class DocumentMissing(NotFound):
    """A stored document to update does not exist."""

    default_code = "document_missing"


class Retryable(IntegrationError):
    """A passing fault (quota, 5xx, timeout, contention): the same request later may succeed."""

    default_code = "retryable"
    title = "Temporarily unavailable"


class Permanent(IntegrationError):
    """A fault that retrying will not cure (a rejected upstream request, a broken invariant)."""

    default_code = "permanent"
    title = "Permanent failure"


class NeedsResync(IntegrationError):
    """A sync cursor is no longer valid upstream (Gmail 404, Calendar 410): a full sync must follow."""

    default_code = "needs_resync"
    title = "Full sync required"


class NeedsReconnect(IntegrationError):
    """The Google grant is gone (invalid_grant, revoked): only the user reconnecting can fix it."""

    default_code = "needs_reconnect"
    title = "Google account must be reconnected"


@dataclass(frozen=True)
class ErrorMapping:
    http_status: int
    event_outcome: EventOutcome


# The one table. Most specific class first: lookup walks the exception's MRO.
# Event outcomes: redelivery cures only passing faults and resyncs (whose cursor was reset before
# raising); everything else is acknowledged, logged, and never retried in a loop.
ERROR_TABLE: dict[type[IntegrationError], ErrorMapping] = {
    AlreadyExists: ErrorMapping(409, EventOutcome.ACK),
    PreconditionFailed: ErrorMapping(409, EventOutcome.ACK),
    LeaseLost: ErrorMapping(409, EventOutcome.ACK),  # the work is another sync's (or gone) now
    ChangedAtGoogle: ErrorMapping(409, EventOutcome.ACK),
    IdTakenAtGoogle: ErrorMapping(409, EventOutcome.ACK),
    GoneAtGoogle: ErrorMapping(404, EventOutcome.ACK),
    DocumentMissing: ErrorMapping(404, EventOutcome.ACK),
    PayloadTooLarge: ErrorMapping(413, EventOutcome.ACK),
    UnsupportedMediaType: ErrorMapping(415, EventOutcome.ACK),
    BadInput: ErrorMapping(400, EventOutcome.ACK),
    Unauthenticated: ErrorMapping(401, EventOutcome.ACK),
    Forbidden: ErrorMapping(403, EventOutcome.ACK),
    NotFound: ErrorMapping(404, EventOutcome.ACK),
    MethodNotAllowed: ErrorMapping(405, EventOutcome.ACK),
    Conflict: ErrorMapping(409, EventOutcome.ACK),
    Retryable: ErrorMapping(503, EventOutcome.RETRY),
    Permanent: ErrorMapping(500, EventOutcome.ACK),
    NeedsResync: ErrorMapping(409, EventOutcome.RETRY),
    NeedsReconnect: ErrorMapping(409, EventOutcome.ACK),
    IntegrationError: ErrorMapping(500, EventOutcome.RETRY),
}


def mapping_for(error: BaseException) -> ErrorMapping:
    """How the boundary answers ``error``. Anything unexpected is a 500 and is retried: nothing is lost."""
    for cls in type(error).__mro__:
        if cls in ERROR_TABLE:
            return ERROR_TABLE[cls]
    return ERROR_TABLE[IntegrationError]


def problem_details(error: IntegrationError, *, instance: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem+json body with our stable ``code``."""
    status = mapping_for(error).http_status
    body: dict[str, Any] = {
        "type": f"urn:crm-google:problem:{error.code}",
        "title": error.title,
        "status": status,
        "code": error.code,
        "detail": error.detail,
    }
    if instance:
        body["instance"] = instance
    if error.errors:
        body["errors"] = error.errors
    return body
