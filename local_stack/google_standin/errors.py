"""Google's error shapes, exactly: the JSON bodies of Google APIs and of the OAuth token endpoint."""

from __future__ import annotations

from typing import Any

# Google's canonical status names for the HTTP codes the stand-in answers with.
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNKNOWN",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class GoogleApiError(Exception):
    """An error answer of a Google API (Gmail, Calendar, Drive), in the v1 error format:

    {"error": {"code": 403, "message": "...", "errors": [{"message", "domain", "reason"}], "status": "..."}}

    A code with no canonical status (410: Calendar's gone sync tokens and deleted events) has no "status",
    as Calendar's errors guide shows its bodies.
    """

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        domain: str = "global",
        extra: dict[str, str] | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.domain = domain
        self.extra = extra or {}
        self.retry_after_seconds = retry_after_seconds

    def body(self) -> dict[str, Any]:
        detail = {"message": self.message, "domain": self.domain, "reason": self.reason, **self.extra}
        error: dict[str, Any] = {"code": self.status, "message": self.message, "errors": [detail]}
        if self.status in _STATUS_NAMES:
            error["status"] = _STATUS_NAMES[self.status]
        return {"error": error}


# The errors Google sends that this product must handle, word for word where Google's wording is known.
def invalid_credentials() -> GoogleApiError:
    return GoogleApiError(
        401,
        "authError",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
        "other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        extra={"location": "Authorization", "locationType": "header"},
    )


def insufficient_scopes() -> GoogleApiError:
    return GoogleApiError(403, "insufficientPermissions", "Request had insufficient authentication scopes.")


def not_found() -> GoogleApiError:
    return GoogleApiError(404, "notFound", "Requested entity was not found.")


def bad_request(message: str = "Invalid value") -> GoogleApiError:
    return GoogleApiError(400, "invalidArgument", message)


def user_rate_limit_exceeded(retry_after_seconds: int) -> GoogleApiError:
    return GoogleApiError(
        403,
        "userRateLimitExceeded",
        "User-rate limit exceeded.  Retry after the window resets.",
        domain="usageLimits",
        retry_after_seconds=retry_after_seconds,
    )


def project_rate_limit_exceeded(retry_after_seconds: int) -> GoogleApiError:
    return GoogleApiError(
        403,
        "rateLimitExceeded",
        "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service "
        "'gmail.googleapis.com'.",
        domain="usageLimits",
        retry_after_seconds=retry_after_seconds,
    )


# Calendar's own wording, from its errors guide (https://developers.google.com/workspace/calendar/api/guides/errors):
# the per-user budget answers 403 userRateLimitExceeded; the per-project one 403 rateLimitExceeded (the
# guide says it may also come as 429, to be handled alike).
def calendar_user_rate_limit_exceeded(retry_after_seconds: int) -> GoogleApiError:
    return GoogleApiError(
        403,
        "userRateLimitExceeded",
        "User Rate Limit Exceeded",
        domain="usageLimits",
        retry_after_seconds=retry_after_seconds,
    )


def calendar_rate_limit_exceeded(retry_after_seconds: int) -> GoogleApiError:
    return GoogleApiError(
        403,
        "rateLimitExceeded",
        "Rate Limit Exceeded",
        domain="usageLimits",
        retry_after_seconds=retry_after_seconds,
    )


def sync_token_expired() -> GoogleApiError:
    return GoogleApiError(
        410,
        "fullSyncRequired",
        "Sync token is no longer valid, a full sync is required.",
        domain="calendar",
        extra={"locationType": "parameter", "location": "syncToken"},
    )


def updated_min_too_long_ago() -> GoogleApiError:
    return GoogleApiError(
        410,
        "updatedMinTooLongAgo",
        "The requested minimum modification time lies too far in the past.",
        domain="calendar",
        extra={"locationType": "parameter", "location": "updatedMin"},
    )


def deleted() -> GoogleApiError:
    return GoogleApiError(410, "deleted", "Resource has been deleted")


def duplicate() -> GoogleApiError:
    return GoogleApiError(409, "duplicate", "The requested identifier already exists.")


def precondition_failed() -> GoogleApiError:
    return GoogleApiError(
        412,
        "conditionNotMet",
        "Precondition Failed",
        extra={"locationType": "header", "location": "If-Match"},
    )


def time_range_empty(location: str) -> GoogleApiError:
    return GoogleApiError(
        400,
        "timeRangeEmpty",
        "The specified time range is empty.",
        domain="calendar",
        extra={"locationType": "parameter", "location": location},
    )


def invalid(message: str) -> GoogleApiError:
    """Calendar's 400 for a value it cannot take ("Invalid resource id value.")."""
    return GoogleApiError(400, "invalid", message)


def required(message: str) -> GoogleApiError:
    """Calendar's 400 for a missing field ("Missing end time.")."""
    return GoogleApiError(400, "required", message)


# Drive's own errors, word for word where public bodies show them (each cited); the rest say so.
def _parameter(name: str) -> dict[str, str]:
    return {"location": name, "locationType": "parameter"}


def file_not_found(file_id: str) -> GoogleApiError:
    """Drive's 404, for a file that does not exist and for one the token may not see (drive.file)."""
    return GoogleApiError(404, "notFound", f"File not found: {file_id}.", extra=_parameter("fileId"))


def insufficient_file_permissions() -> GoogleApiError:
    # Body seen in prasmussen/gdrive#397 and GAMADV-XTD3#181.
    return GoogleApiError(
        403, "insufficientFilePermissions", "The user does not have sufficient permissions for this file."
    )


def app_not_authorized_to_file(file_id: str) -> GoogleApiError:
    """A file the token can read (drive.readonly) but not write: it has only drive.file for writes."""
    return GoogleApiError(
        403,
        "appNotAuthorizedToFile",
        f"The user has not granted the app {STANDIN_APP_ID} write access to the file {file_id}.",
    )


STANDIN_APP_ID = "123456789012"  # the one OAuth app of the stand-in, as Drive names it in errors


def file_not_downloadable() -> GoogleApiError:
    # Body seen in glotlabs/gdrive#3: alt=media on a Docs Editors file.
    return GoogleApiError(
        403,
        "fileNotDownloadable",
        "Only files with binary content can be downloaded. Use Export with Docs Editors files.",
        extra=_parameter("alt"),
    )


def file_not_exportable() -> GoogleApiError:
    return GoogleApiError(403, "fileNotExportable", "Export only supports Docs Editors files.")


def export_size_limit_exceeded() -> GoogleApiError:
    # Body quoted in googleapis/google-api-dotnet-client#990.
    return GoogleApiError(403, "exportSizeLimitExceeded", "This file is too large to be exported.")


def conversion_not_supported() -> GoogleApiError:
    """files.export to a format the file's type does not export to. Body seen in transloadit/uppy#2187
    (and the message in googleapis/google-api-ruby-client#14445)."""
    return GoogleApiError(
        400, "badRequest", "The requested conversion is not supported.", extra=_parameter("convertTo")
    )


def import_not_supported() -> GoogleApiError:
    """Media that cannot be imported into the Docs Editors type asked for
    (googleworkspace/php-samples#147)."""
    return GoogleApiError(
        400,
        "conversionUnsupportedConversionPath",
        "Conversion of the uploaded content to the requested output type is not supported.",
    )


def invalid_value(location: str, message: str = "Invalid Value") -> GoogleApiError:
    """Drive's 400 for a parameter it cannot read: a query (torre76/django-googledrive-storage#59 shows
    ``q``'s body), a page token."""
    return GoogleApiError(400, "invalid", message, extra=_parameter(location))


def out_of_range(location: str, value: str, low: int, high: int) -> GoogleApiError:
    return invalid_value(
        location, f"Invalid value '{value}'. Values must be within the range: [{low}, {high}]"
    )


def invalid_field_selection(field: str) -> GoogleApiError:
    return GoogleApiError(
        400, "invalidParameter", f"Invalid field selection {field}", extra=_parameter("fields")
    )


def required_parameter(name: str) -> GoogleApiError:
    return GoogleApiError(400, "required", f"Required parameter: {name}", extra=_parameter(name))


def file_id_in_use() -> GoogleApiError:
    """files.create or copy with an id a file already has: Drive's guide says a retry with a generated id
    answers 409 Conflict ("Create and manage files"); reason and wording are the stand-in's."""
    return GoogleApiError(409, "duplicate", "A file already exists with the provided ID.")


def file_id_not_usable() -> GoogleApiError:
    return GoogleApiError(
        400, "fileIdNotUsable", "The provided file ID is not usable.", extra=_parameter("id")
    )


def field_not_writable(field: str, message: str) -> GoogleApiError:
    return GoogleApiError(
        403, "fieldNotWritable", message, extra={"location": field, "locationType": "other"}
    )


def permission_not_found(permission_id: str) -> GoogleApiError:
    return GoogleApiError(
        404, "notFound", f"Permission not found: {permission_id}.", extra=_parameter("permissionId")
    )


def drive_user_rate_limit_exceeded(retry_after_seconds: int) -> GoogleApiError:
    """Drive's per-user budget (the handle-errors guide's 403 userRateLimitExceeded body)."""
    return GoogleApiError(
        403,
        "userRateLimitExceeded",
        "User Rate Limit Exceeded",
        domain="usageLimits",
        retry_after_seconds=retry_after_seconds,
    )


def drive_rate_limit_exceeded(retry_after_seconds: int) -> GoogleApiError:
    """Drive's per-project budget: the guide shows 403 rateLimitExceeded (429 is the backend's own)."""
    return GoogleApiError(
        403,
        "rateLimitExceeded",
        "Rate Limit Exceeded",
        domain="usageLimits",
        retry_after_seconds=retry_after_seconds,
    )


def too_many_concurrent_requests() -> GoogleApiError:
    return GoogleApiError(
        429, "rateLimitExceeded", "Too many concurrent requests for user.", domain="usageLimits"
    )


def too_many_requests() -> GoogleApiError:
    return GoogleApiError(429, "rateLimitExceeded", "Resource has been exhausted (e.g. check quota).")


def backend_error(status: int = 500) -> GoogleApiError:
    messages = {
        500: "Internal error encountered.",
        502: "Bad Gateway",
        503: "The service is currently unavailable.",
        504: "Deadline exceeded.",
    }
    return GoogleApiError(status, "backendError", messages.get(status, "Backend Error"))


def error_for_status(status: int) -> GoogleApiError:
    """The error Google typically answers with ``status``; fault scripts use it."""
    by_status = {
        400: bad_request,
        401: invalid_credentials,
        403: lambda: user_rate_limit_exceeded(1),
        404: not_found,
        429: too_many_requests,
    }
    if status in by_status:
        return by_status[status]()
    return backend_error(status)


class OAuthError(Exception):
    """An error of the OAuth token or revocation endpoint: {"error": "invalid_grant", "error_description"}."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}
