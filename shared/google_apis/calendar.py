"""Google Calendar: every call the product makes, through one quota-aware client (client.PacedClient:
600 requests per user per minute, paced, retried as Google says), each answer that means something of
its own translated here: 410 on a sync token (a full sync is due), 409 on an insert (the id exists),
412 on a write with ``If-Match`` (Google's copy changed meanwhile), 404 and 410 on an event (gone).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.errors import ChangedAtGoogle, GoneAtGoogle, IdTakenAtGoogle, NeedsResync
from shared.google_apis.client import ApiName, PacedClient
from shared.google_apis.rate_limit import QuotaSettings

if TYPE_CHECKING:
    pass

MAX_PAGE = 2500  # events.list's largest page


def _gone(_: Any) -> GoneAtGoogle:
    return GoneAtGoogle("The event is not in Google Calendar (any more).", code="event_gone")


def _changed(_: Any) -> ChangedAtGoogle:
    return ChangedAtGoogle("The event changed in Google Calendar meanwhile.", code="calendar_conflict")


def _taken(_: Any) -> IdTakenAtGoogle:
    return IdTakenAtGoogle("An event with this id exists in the calendar.", code="event_id_taken")


def _expired(_: Any) -> NeedsResync:
    return NeedsResync("Google no longer accepts the calendar's sync token.", code="sync_token_expired")


_ON_EVENT = {404: _gone, 410: _gone}
_ON_WRITE = {404: _gone, 410: _gone, 412: _changed}


def _with_headers(request: Any, headers: Mapping[str, str]) -> Any:
    request.headers.update(headers)
    return request


class CalendarClient(PacedClient):
    api = ApiName("Google Calendar", "calendar")
    discovery = ("calendar", "v3")
    default_quota = QuotaSettings(api="calendar")

    # --- reading -------------------------------------------------------------------------------------

    def list_calendars(self) -> list[dict[str, Any]]:
        """Every calendar on the user's list (a few pages at most)."""
        calendars: list[dict[str, Any]] = []
        page_token: str | None = None
        while True:
            arguments: dict[str, Any] = {"maxResults": 250}
            if page_token:
                arguments["pageToken"] = page_token
            answer = self._call(
                "calendar.calendarList.list",
                functools.partial(self._list_calendars_request, arguments),
            )
            calendars += answer.get("items", [])
            page_token = answer.get("nextPageToken")
            if not page_token:
                return calendars

    def _list_calendars_request(self, arguments: dict[str, Any]) -> Any:
        return self._service.calendarList().list(**arguments)

    def list_events(
        self,
        calendar_id: str,
        *,
        sync_token: str | None = None,
        page_token: str | None = None,
        time_min: datetime | None = None,
        time_max: datetime | None = None,
        max_results: int = MAX_PAGE,
    ) -> dict[str, Any]:
        """One page of the calendar's events: masters with their rules, exceptions, cancelled instances
        (``singleEvents`` false). With ``sync_token``, what changed since, tombstones included;
        ``NeedsResync`` when Google no longer accepts the token."""
        arguments: dict[str, Any] = {"calendarId": calendar_id, "maxResults": max_results}
        if sync_token:
            arguments["syncToken"] = sync_token  # no time bounds with a token (Google refuses them)
        else:
            if time_min is not None:
                arguments["timeMin"] = _rfc3339(time_min)
            if time_max is not None:
                arguments["timeMax"] = _rfc3339(time_max)
        if page_token:
            arguments["pageToken"] = page_token
        answer: dict[str, Any] = self._call(
            "calendar.events.list",
            lambda: self._service.events().list(**arguments),
            on_status={410: _expired},
        )
        return answer

    def get_event(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        """The event as Google has it now (cancelled ones too); ``GoneAtGoogle`` when there is none."""
        answer: dict[str, Any] = self._call(
            "calendar.events.get",
            lambda: self._service.events().get(calendarId=calendar_id, eventId=event_id),
            on_status=_ON_EVENT,
        )
        return answer

    def instance(self, calendar_id: str, master_id: str, original_start: str) -> dict[str, Any]:
        """The instance of a series that the rule puts at ``original_start`` (RFC 3339, or a date for
        an all-day series), modified or not; ``GoneAtGoogle`` when the series has none there."""
        answer = self._call(
            "calendar.events.instances",
            lambda: self._service.events().instances(
                calendarId=calendar_id, eventId=master_id, originalStart=original_start, showDeleted=True
            ),
            on_status=_ON_EVENT,
        )
        items = answer.get("items") or []
        if not items:
            raise _gone(None)
        return dict(items[0])

    # --- writing -------------------------------------------------------------------------------------

    def insert_event(self, calendar_id: str, body: Mapping[str, Any], *, send_updates: str) -> dict[str, Any]:
        """Insert with the client-chosen id in ``body``: a repeat cannot make a second event, it gets
        ``IdTakenAtGoogle``."""
        answer: dict[str, Any] = self._call(
            "calendar.events.insert",
            lambda: self._service.events().insert(
                calendarId=calendar_id, body=dict(body), sendUpdates=send_updates
            ),
            on_status={409: _taken},
        )
        return answer

    def patch_event(
        self,
        calendar_id: str,
        event_id: str,
        body: Mapping[str, Any],
        *,
        etag: str | None,
        send_updates: str,
    ) -> dict[str, Any]:
        """Change the fields in ``body``, only if the event is still at ``etag`` (``ChangedAtGoogle``
        otherwise). Not repeated here after a fault that may have reached Google: the caller looks."""
        headers = {"If-Match": etag} if etag else {}
        answer: dict[str, Any] = self._call(
            "calendar.events.patch",
            lambda: _with_headers(
                self._service.events().patch(
                    calendarId=calendar_id, eventId=event_id, body=dict(body), sendUpdates=send_updates
                ),
                headers,
            ),
            on_status=_ON_WRITE,
            repeatable=False,
        )
        return answer

    def delete_event(self, calendar_id: str, event_id: str, *, etag: str | None, send_updates: str) -> None:
        """Delete, only if the event is still at ``etag``; ``GoneAtGoogle`` when it is gone already."""
        headers = {"If-Match": etag} if etag else {}
        self._call(
            "calendar.events.delete",
            lambda: _with_headers(
                self._service.events().delete(
                    calendarId=calendar_id, eventId=event_id, sendUpdates=send_updates
                ),
                headers,
            ),
            on_status=_ON_WRITE,
            repeatable=False,
        )

    # --- push channels -------------------------------------------------------------------------------

    def watch(
        self, calendar_id: str, *, channel_id: str, address: str, token: str, ttl_seconds: int
    ) -> tuple[str, datetime]:
        """Open a channel on the calendar's events: (Google's resource id, when the channel ends)."""
        body = {
            "id": channel_id,
            "type": "web_hook",
            "address": address,
            "token": token,
            "params": {"ttl": str(ttl_seconds)},
        }
        answer = self._call(
            "calendar.events.watch",
            lambda: self._service.events().watch(calendarId=calendar_id, body=body),
        )
        return str(answer["resourceId"]), datetime.fromtimestamp(int(answer["expiration"]) / 1000, UTC)

    def stop_channel(self, channel_id: str, resource_id: str) -> None:
        """Stop a channel; one Google no longer knows is stopped already."""
        with contextlib.suppress(GoneAtGoogle):
            self._call(
                "calendar.channels.stop",
                lambda: self._service.channels().stop(body={"id": channel_id, "resourceId": resource_id}),
                on_status={404: _gone},
            )


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
