"""JSON log lines in the shape Cloud Logging parses, with the request's trace and a redaction net.

Callers never log tokens, message bodies or addresses on purpose; ``redact`` is the safety net for what
slips through (a library's exception text, a URL with a query string). It runs on every line.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

_TRACE_KEY = "logging.googleapis.com/trace"
_SPAN_KEY = "logging.googleapis.com/spanId"
_SAMPLED_KEY = "logging.googleapis.com/trace_sampled"
_LABELS_KEY = "logging.googleapis.com/labels"

REDACTED = "[redacted]"

# Most specific first: a JWT contains dots that the email pattern must not see first.
_SECRET_PATTERNS: tuple[re.Pattern[str], ...] = (
    # The input pydantic quotes in a ValidationError (a stored copy's subject or body, a connection's
    # address): a traceback of bad data must not carry the data.
    re.compile(r"input_value=.*?(?=, input_type=)"),
    re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),  # JWT / ID token
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"),  # Authorization header value
    re.compile(r"\bya29\.[A-Za-z0-9._-]+"),  # Google access token
    re.compile(r"\b1(?://|%2F%2F)[A-Za-z0-9._%-]+"),  # Google refresh token, plain or URL-encoded
    re.compile(r"\b4(?:/|%2F)0[A-Za-z0-9_-]{8,}"),  # Google authorization code, wherever it stands
    re.compile(r"(?i)\bGOCSPX-[A-Za-z0-9_-]+"),  # OAuth client secret
    # Credentials in a query string or form body; `code` and `state` only where a URL puts them.
    re.compile(
        r"(?i)(?:\b(?:access_token|refresh_token|id_token|client_secret)|(?<=[?&])(?:code|state|token))"
        r"=[^&\s\"']+"
    ),
    # Email addresses: any script (jörg@bücher.de), a single-label domain (alice@localhost), URL-encoded
    # (alice%40example.com), or cut short by a repr (alice@e...).
    re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+(?:@|%40)[\w-]+(?:\.[\w-]+)*"),
)


def redact(text: str) -> str:
    """Replace anything that looks like a token, a credential in a query string, or an email address."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_redact_value(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


@dataclass(frozen=True)
class LogContext:
    """What every log line of the current request or event carries."""

    trace_id: str | None = None
    span_id: str | None = None
    sampled: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)


_EMPTY_CONTEXT = LogContext()
_context: contextvars.ContextVar[LogContext] = contextvars.ContextVar("log_context")

_CLOUD_TRACE = re.compile(r"^(?P<trace>[0-9a-fA-F]{32})(?:/(?P<span>\d{1,20}))?(?:;o=(?P<o>[01]))?$")
_TRACEPARENT = re.compile(
    r"^[0-9a-f]{2}-(?P<trace>[0-9a-f]{32})-(?P<span>[0-9a-f]{16})-(?P<flags>[0-9a-f]{2})$"
)


def parse_trace_headers(headers: Mapping[str, str]) -> LogContext:
    """Read ``X-Cloud-Trace-Context`` (or W3C ``traceparent``); malformed values are ignored."""
    cloud = headers.get("X-Cloud-Trace-Context", "").strip()
    match = _CLOUD_TRACE.match(cloud)
    if match:
        # Cloud Logging wants the span as 16 hex digits; this header carries it in decimal.
        span = format(int(match["span"]), "016x") if match["span"] else None
        return LogContext(trace_id=match["trace"].lower(), span_id=span, sampled=match["o"] == "1")
    match = _TRACEPARENT.match(headers.get("traceparent", "").strip())
    if match:
        return LogContext(
            trace_id=match["trace"], span_id=match["span"], sampled=int(match["flags"], 16) & 1 == 1
        )
    return LogContext()


@contextmanager
def log_context(context: LogContext, **labels: str) -> Iterator[LogContext]:
    """Bind ``context`` (plus extra labels) to every log line written inside the block."""
    merged = replace(context, labels={**_context.get(_EMPTY_CONTEXT).labels, **context.labels, **labels})
    token = _context.set(merged)
    try:
        yield merged
    finally:
        _context.reset(token)


class CloudLoggingFormatter(logging.Formatter):
    """One JSON object per line: severity, message, time, trace, labels and the record's ``fields``."""

    def __init__(self, project: str) -> None:
        super().__init__()
        self._project = project

    def format(self, record: logging.LogRecord) -> str:
        context = _context.get(_EMPTY_CONTEXT)
        entry: dict[str, Any] = {
            "severity": _severity(record.levelno),
            "message": redact(record.getMessage()),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            for key, value in fields.items():
                entry.setdefault(str(key), _redact_value(value))
        if record.exc_info:
            entry["stack_trace"] = redact("".join(traceback.format_exception(*record.exc_info)))
        if context.trace_id:
            entry[_TRACE_KEY] = f"projects/{self._project}/traces/{context.trace_id}"
            entry[_SAMPLED_KEY] = context.sampled
            if context.span_id:
                entry[_SPAN_KEY] = context.span_id
        labels = {**context.labels, **(getattr(record, "labels", None) or {})}
        if labels:
            entry[_LABELS_KEY] = {str(k): redact(str(v)) for k, v in labels.items()}
        return json.dumps(entry, default=str, ensure_ascii=False)


def _severity(levelno: int) -> str:
    if levelno >= logging.CRITICAL:
        return "CRITICAL"
    if levelno >= logging.ERROR:
        return "ERROR"
    if levelno >= logging.WARNING:
        return "WARNING"
    if levelno >= logging.INFO:
        return "INFO"
    return "DEBUG"


class _StdoutHandler(logging.Handler):
    """Writes to whatever ``sys.stdout`` is at emit time (Cloud Logging reads stdout)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:  # noqa: BLE001 - logging must never take the request down with it
            self.handleError(record)


def configure_logging(*, project: str, level: str = "INFO") -> None:
    """Route every logger through one JSON handler on the root logger. Safe to call again."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StdoutHandler):
            root.removeHandler(handler)
    handler = _StdoutHandler()
    handler.setFormatter(CloudLoggingFormatter(project))
    root.addHandler(handler)
    root.setLevel(level)
    # Werkzeug's access log repeats the URL, query string included (OAuth codes travel there).
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
