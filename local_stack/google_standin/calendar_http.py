"""Google Calendar v3 over HTTP: the methods the product uses, on their discovery paths and with the
scopes discovery lists for each, served from the accounts' calendars and push channels.

Writes put ``details`` into the call log: the event, its attendees, and whom Google would email for
the ``sendUpdates`` given.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from werkzeug.wrappers import Response

from local_stack.google_standin.calendar_listing import EventQuery, InstancesQuery, decode_token, encode_token
from local_stack.google_standin.calendar_push import CalendarPush
from local_stack.google_standin.calendar_store import Calendar, CalendarAccount, WriteKind, Written
from local_stack.google_standin.calendar_times import When, parse_instant
from local_stack.google_standin.errors import GoogleApiError, invalid, time_range_empty
from local_stack.google_standin.routes import ApiCall, ApiRoute

MAX_EVENTS_PAGE = 2500
MAX_CALENDAR_LIST_PAGE = 250
# events.list parameters that "cannot be specified together with nextSyncToken" (discovery, syncToken).
SYNC_TOKEN_EXCLUDES = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)
_SEND_UPDATES = frozenset({"all", "externalOnly", "none"})


@lru_cache(maxsize=1)
def _methods() -> dict[str, tuple[str, str, frozenset[str]]]:
    """Each Calendar method's HTTP method, path (as a werkzeug rule) and scopes, read from the bundled
    discovery document, not retyped."""
    from shared.google_apis.discovery import discovery_document

    document = discovery_document("calendar", "v3")
    service_path = "/" + document["servicePath"]
    methods: dict[str, tuple[str, str, frozenset[str]]] = {}

    def walk(resources: dict[str, Any]) -> None:
        for resource in resources.values():
            for method in resource.get("methods", {}).values():
                rule = service_path + re.sub(r"\{(\w+)\}", r"<\1>", method["path"])
                methods[method["id"]] = (method["httpMethod"], rule, frozenset(method.get("scopes", [])))
            walk(resource.get("resources", {}))

    walk(document.get("resources", {}))
    return methods


def calendar_routes(
    calendars_for: Callable[[str], CalendarAccount],
    push: CalendarPush,
    *,
    is_standin_account: Callable[[str], bool],
) -> list[ApiRoute]:
    """``calendars_for(account)``: the token's account's calendars. ``is_standin_account``: whether an
    email is one of the stand-in's accounts (a Google Calendar user, for ``sendUpdates=externalOnly``)."""

    def calendar(call: ApiCall) -> Calendar:
        return calendars_for(call.account).calendar(call.path["calendarId"])

    def list_calendars(call: ApiCall) -> dict[str, Any]:
        entries = [calendar.list_entry() for calendar in calendars_for(call.account).list()]
        size = min(_int_arg(call, "maxResults", 100), MAX_CALENDAR_LIST_PAGE)
        token = call.request.args.get("pageToken")
        offset = _offset(token) if token else 0
        answer: dict[str, Any] = {
            "kind": "calendar#calendarList",
            "etag": '"p0"',
            "items": entries[offset : offset + size],
        }
        if offset + size < len(entries):
            answer["nextPageToken"] = encode_token({"offset": offset + size})
        return answer

    def list_events(call: ApiCall) -> dict[str, Any]:
        args = call.request.args
        sync_token = args.get("syncToken")
        if sync_token is not None:
            combined = [name for name in SYNC_TOKEN_EXCLUDES if name in args]
            if combined:
                raise GoogleApiError(
                    400,
                    "badRequest",
                    f"The syncToken parameter cannot be combined with {', '.join(combined)}.",
                )
        if args.get("q") is not None:
            raise invalid("The stand-in does not search events: q is not supported.")
        time_min, time_max = _window(call)
        single_events = _bool_arg(call, "singleEvents")
        order_by = args.get("orderBy")
        if order_by not in (None, "startTime", "updated"):
            raise invalid(f"Invalid value for orderBy: {order_by}")
        if order_by == "startTime" and not single_events:
            raise GoogleApiError(
                400, "badRequest", "The requested ordering is not available for the particular query."
            )
        updated_min = args.get("updatedMin")
        query = EventQuery(
            time_min=time_min,
            time_max=time_max,
            single_events=single_events,
            show_deleted=_bool_arg(call, "showDeleted"),
            updated_min=parse_instant(updated_min, "updatedMin") if updated_min else None,
            private_properties=_properties(call, "privateExtendedProperty"),
            shared_properties=_properties(call, "sharedExtendedProperty"),
            ical_uid=args.get("iCalUID"),
            order_by=order_by,
            event_types=tuple(call.args_list("eventTypes")),
            max_results=_page_size(call),
            page_token=args.get("pageToken"),
        )
        return calendar(call).list_events(query, sync_token=sync_token)

    def get_event(call: ApiCall) -> dict[str, Any] | Response:
        event = calendar(call).get(call.path["eventId"])
        if call.request.headers.get("If-None-Match") == event["etag"]:
            return Response(status=304)
        return event

    def instances(call: ApiCall) -> dict[str, Any]:
        time_min, time_max = _window(call)
        original = call.request.args.get("originalStart")
        query = InstancesQuery(
            time_min=time_min,
            time_max=time_max,
            show_deleted=_bool_arg(call, "showDeleted"),
            original_start=_original_start(original) if original else None,
            max_results=_page_size(call),
            page_token=call.request.args.get("pageToken"),
        )
        return calendar(call).instances(call.path["eventId"], query)

    def write(kind: WriteKind) -> Callable[[ApiCall], dict[str, Any] | None]:
        def handle(call: ApiCall) -> dict[str, Any] | None:
            send_updates = call.request.args.get("sendUpdates")
            if send_updates is not None and send_updates not in _SEND_UPDATES:
                raise invalid(f"Invalid value for sendUpdates: {send_updates}")
            target = calendar(call)
            written = target.write(
                kind,
                event_id=call.path.get("eventId"),
                body=None if kind is WriteKind.DELETE else call.json(),
                if_match=call.request.headers.get("If-Match"),
            )
            # The deprecated sendNotifications=true still notifies everyone when sendUpdates is absent.
            mode = send_updates or ("all" if _bool_arg(call, "sendNotifications") else None)
            call.details = {
                "calendarId": target.id,
                "eventId": written.event["id"],
                "sendUpdates": send_updates,
                "attendees": list(written.attendees),
                "notified": _notified(written, mode, is_standin_account),
            }
            return None if kind is WriteKind.DELETE else written.event

        return handle

    def watch(call: ApiCall) -> dict[str, Any]:
        return push.watch(calendar(call), call.json(), api_root=call.request.host_url)

    def stop(call: ApiCall) -> None:
        push.stop(call.account, call.json())

    handlers: dict[str, Callable[[ApiCall], Any]] = {
        "calendar.calendarList.list": list_calendars,
        "calendar.events.list": list_events,
        "calendar.events.get": get_event,
        "calendar.events.instances": instances,
        "calendar.events.insert": write(WriteKind.INSERT),
        "calendar.events.update": write(WriteKind.UPDATE),
        "calendar.events.patch": write(WriteKind.PATCH),
        "calendar.events.delete": write(WriteKind.DELETE),
        "calendar.events.watch": watch,
        "calendar.channels.stop": stop,
    }
    methods = _methods()
    return [
        ApiRoute(methods[id_][0], methods[id_][1], id_, handler, methods[id_][2])
        for id_, handler in handlers.items()
    ]


def _notified(written: Written, mode: str | None, is_standin_account: Callable[[str], bool]) -> list[str]:
    """Whom Google would email: for ``all``, every guest but the organizer, the ones a write took off
    included (they get a cancellation); for ``externalOnly``, those who are not Google Calendar users
    (here: not the stand-in's accounts); for ``none`` and an absent sendUpdates (the default: no
    notifications), nobody."""
    if mode not in ("all", "externalOnly"):
        return []
    guests: list[str] = []
    for email in (*written.attendees, *written.removed):
        if email.lower() != written.organizer.lower() and email.lower() not in {g.lower() for g in guests}:
            guests.append(email)
    if mode == "externalOnly":
        return [email for email in guests if not is_standin_account(email)]
    return guests


def _int_arg(call: ApiCall, name: str, default: int) -> int:
    value = call.request.args.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise invalid(f"Invalid value for {name}: {value}") from None
    if number < 1:
        raise invalid(f"Invalid value for {name}: {value}")
    return number


def _page_size(call: ApiCall) -> int:
    """maxResults: 250 by default; "can never be larger than 2500", so larger asks get 2500."""
    return min(_int_arg(call, "maxResults", 250), MAX_EVENTS_PAGE)


def _bool_arg(call: ApiCall, name: str) -> bool:
    return call.request.args.get(name, "false").lower() == "true"


def _window(call: ApiCall) -> tuple[datetime | None, datetime | None]:
    args = call.request.args
    time_min = parse_instant(args["timeMin"], "timeMin") if args.get("timeMin") else None
    time_max = parse_instant(args["timeMax"], "timeMax") if args.get("timeMax") else None
    if time_min is not None and time_max is not None and time_max <= time_min:
        raise time_range_empty("timeMax")
    return time_min, time_max


def _properties(call: ApiCall, name: str) -> tuple[tuple[str, str], ...]:
    constraints = []
    for constraint in call.args_list(name):
        key, sep, value = constraint.partition("=")
        if not sep or not key:
            raise invalid(f"Invalid value for {name}: {constraint} (propertyName=value)")
        constraints.append((key, value))
    return tuple(constraints)


def _original_start(value: str) -> When:
    """events.instances' originalStart: a date for an all-day series, else an RFC 3339 time."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return When(day=date.fromisoformat(value))
        except ValueError:
            raise invalid(f"Invalid value for originalStart: {value}") from None
    return When(instant=parse_instant(value, "originalStart"))


def _offset(token: str) -> int:
    offset = (decode_token(token) or {}).get("offset")
    if not isinstance(offset, int) or offset < 0:
        raise invalid("Invalid page token value.")
    return offset
