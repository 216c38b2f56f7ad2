"""What the Calendar tests share: scopes, event bodies, reading Google's errors, a webhook receiver."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from googleapiclient.errors import HttpError
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

CALENDAR = "https://www.googleapis.com/auth/calendar"
CALENDAR_EVENTS = "https://www.googleapis.com/auth/calendar.events"
CALENDAR_LIST_READ = "https://www.googleapis.com/auth/calendar.calendarlist.readonly"


def reason(error: HttpError) -> str:
    return str(error.error_details[0]["reason"]) if error.error_details else ""


def refused(request: Any) -> HttpError:
    """The HttpError a google-api-python-client request fails with."""
    with pytest.raises(HttpError) as raised:
        request.execute()
    return raised.value


def timed(start: str, end: str, *, zone: str | None = None, **fields: Any) -> dict[str, Any]:
    """An event body from start to end (RFC 3339; local times with ``zone``)."""
    start_field: dict[str, str] = {"dateTime": start}
    end_field: dict[str, str] = {"dateTime": end}
    if zone is not None:
        start_field["timeZone"] = end_field["timeZone"] = zone
    return {"start": start_field, "end": end_field, **fields}


def all_day(start: str, end: str, **fields: Any) -> dict[str, Any]:
    return {"start": {"date": start}, "end": {"date": end}, **fields}


class WebhookReceiver:
    """A channel's address on loopback: records each POST's headers and body, answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._lock = threading.Lock()

        def app(environ: dict[str, Any], start_response: Any) -> Any:
            request = Request(environ)
            with self._lock:
                self.received.append((dict(request.headers), request.get_data()))
            return Response(status=self.status)(environ, start_response)

        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/push/calendar"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def headers(self) -> list[dict[str, str]]:
        with self._lock:
            return [headers for headers, _ in self.received]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
