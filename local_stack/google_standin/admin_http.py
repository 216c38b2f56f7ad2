"""The admin HTTP API (``/standin/...``): the Python API's levers for other processes.

Not part of Google's surface; nothing in the product calls it. JSON in, JSON out.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from local_stack.google_standin.errors import GoogleApiError, bad_request
from local_stack.google_standin.faults import FaultRule
from local_stack.google_standin.limits import PriceList
from local_stack.google_standin.routes import PlainRoute

if TYPE_CHECKING:
    from local_stack.google_standin.calendar_store import Calendar
    from local_stack.google_standin.standin import GoogleStandIn

Handler = Callable[[Request, Mapping[str, str]], Any]


def _body(request: Request) -> dict[str, Any]:
    if not request.get_data():
        return {}
    try:
        data = json.loads(request.get_data())
    except ValueError:
        raise bad_request("The body is not JSON.") from None
    if not isinstance(data, dict):
        raise bad_request("The body must be a JSON object.")
    return data


def _answer(handler: Handler, status: int = 200) -> Callable[[Request, Mapping[str, str]], Response]:
    def serve(request: Request, params: Mapping[str, str]) -> Response:
        try:
            result = handler(request, params)
        except GoogleApiError as error:
            return Response(json.dumps(error.body()), status=error.status, content_type="application/json")
        except (ValueError, TypeError, KeyError) as error:
            body = bad_request(f"Bad admin request: {error}").body()
            return Response(json.dumps(body), status=400, content_type="application/json")
        return Response(
            json.dumps(result if result is not None else {}), status=status, content_type="application/json"
        )

    return serve


def admin_routes(standin: GoogleStandIn) -> list[PlainRoute]:
    def add_account(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
        email = _body(request)["email"]
        standin.add_account(str(email))
        return {"email": email}

    def add_messages(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
        body = _body(request)
        mailbox = standin.mailbox(params["email"])
        if "raw" in body:
            try:
                raw = base64.urlsafe_b64decode(str(body["raw"]) + "=" * (-len(str(body["raw"])) % 4))
            except (binascii.Error, ValueError):
                raise bad_request("raw must be base64url") from None
            inserted = [
                mailbox.insert(
                    raw,
                    label_ids=body.get("labelIds", ["INBOX", "UNREAD"]),
                    internal_date_ms=body.get("internalDateMs"),
                )
            ]
        else:
            spec = body.get("generate") or {}
            inserted = generate_messages(
                standin,
                params["email"],
                count=int(spec.get("count", 10)),
                seed=int(spec.get("seed", 0)),
                days=float(spec.get("days", 30)),
            )
        return {"messages": inserted}

    def delete_message(request: Request, params: Mapping[str, str]) -> None:
        standin.mailbox(params["email"]).delete(params["message_id"])

    def change_labels(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
        body = _body(request)
        return standin.mailbox(params["email"]).modify(
            params["message_id"], add_label_ids=body.get("add", []), remove_label_ids=body.get("remove", [])
        )

    def account_action(action: str) -> Handler:
        def act(request: Request, params: Mapping[str, str]) -> None:
            email = params["email"]
            if action == "forget-history":
                standin.mailbox(email).forget_history()
            elif action == "revoke":
                standin.oauth.revoke_account(email)
            elif action == "expire-refresh-tokens":
                standin.oauth.expire_refresh_tokens(email)
            elif action == "expire-access-tokens":
                standin.oauth.expire_access_tokens(email)

        return act

    def add_fault(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
        rule = standin.faults.add(FaultRule.from_json(_body(request)))
        return {"target": rule.target, "action": rule.action.value}

    def clear_faults(request: Request, params: Mapping[str, str]) -> None:
        standin.faults.clear()

    def list_calls(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
        calls = standin.calls.calls(
            method_id=request.args.get("method_id"),
            account=request.args.get("account"),
            prefix=request.args.get("prefix"),
        )
        return {"calls": [call.to_json() for call in calls], "units": sum(call.units for call in calls)}

    def clear_calls(request: Request, params: Mapping[str, str]) -> None:
        standin.calls.clear()

    def set_limits(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
        body = _body(request)
        limits = standin.limits
        allowed = {field.name for field in dataclasses.fields(limits)}
        unknown = set(body) - allowed
        if unknown:
            raise bad_request(f"Unknown limit settings: {sorted(unknown)}")
        for name, value in body.items():
            setattr(limits, name, PriceList(value) if name == "price_list" else value)
        return {name: getattr(limits, name) for name in sorted(allowed)}

    def advance_clock(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
        standin.advance_clock(float(_body(request)["seconds"]))
        return {"now": standin.clock.now()}

    def register_client(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
        body = _body(request)
        client = standin.oauth.register_client(
            str(body["client_id"]), str(body["client_secret"]), [str(uri) for uri in body["redirect_uris"]]
        )
        return {"client_id": client.client_id}

    def health(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
        return {"status": "ok", "accounts": standin.accounts}

    # Calendar: writes here act as another client would (validated, pushed to channels, not logged).
    def calendar_of(params: Mapping[str, str]) -> Calendar:
        return standin.calendars(params["email"]).calendar(params["calendar_id"])

    def add_calendar(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
        body = _body(request)
        calendar = standin.calendars(params["email"]).add_calendar(
            str(body["summary"]), time_zone=str(body.get("timeZone", "UTC"))
        )
        return calendar.list_entry()

    def list_events(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
        return {"items": calendar_of(params).events()}

    def add_event(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
        return calendar_of(params).insert(_body(request))

    def patch_event(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
        return calendar_of(params).patch(params["event_id"], _body(request))

    def delete_event(request: Request, params: Mapping[str, str]) -> None:
        calendar_of(params).delete(params["event_id"])

    def expire_sync_tokens(request: Request, params: Mapping[str, str]) -> None:
        calendar_of(params).expire_sync_tokens()

    def list_channels(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
        return {"channels": [channel.to_json() for channel in standin.calendar_push.channels]}

    def list_deliveries(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
        return {"deliveries": [delivery.to_json() for delivery in standin.calendar_push.deliveries]}

    account = "/standin/accounts/<email>"
    # Calendar ids hold "@" (and no "/"): the default converter takes them whole.
    calendar = f"{account}/calendars/<calendar_id>"
    routes: list[tuple[str, str, str, Handler, int]] = [
        ("GET", "/standin/health", "standin.health", health, 200),
        ("POST", "/standin/accounts", "standin.accounts.create", add_account, 201),
        ("POST", f"{account}/messages", "standin.messages.add", add_messages, 201),
        ("DELETE", f"{account}/messages/<message_id>", "standin.messages.delete", delete_message, 200),
        ("POST", f"{account}/messages/<message_id>/labels", "standin.messages.labels", change_labels, 200),
        (
            "POST",
            f"{account}/forget-history",
            "standin.history.forget",
            account_action("forget-history"),
            200,
        ),
        ("POST", f"{account}/revoke", "standin.oauth.revoke", account_action("revoke"), 200),
        (
            "POST",
            f"{account}/expire-refresh-tokens",
            "standin.oauth.expire_refresh",
            account_action("expire-refresh-tokens"),
            200,
        ),
        (
            "POST",
            f"{account}/expire-access-tokens",
            "standin.oauth.expire_access",
            account_action("expire-access-tokens"),
            200,
        ),
        ("POST", "/standin/faults", "standin.faults.add", add_fault, 201),
        ("DELETE", "/standin/faults", "standin.faults.clear", clear_faults, 200),
        ("GET", "/standin/calls", "standin.calls.list", list_calls, 200),
        ("DELETE", "/standin/calls", "standin.calls.clear", clear_calls, 200),
        ("PUT", "/standin/limits", "standin.limits.set", set_limits, 200),
        ("POST", "/standin/clock/advance", "standin.clock.advance", advance_clock, 200),
        ("POST", "/standin/oauth/clients", "standin.oauth.clients", register_client, 201),
        ("POST", f"{account}/calendars", "standin.calendars.add", add_calendar, 201),
        ("GET", f"{calendar}/events", "standin.calendar_events.list", list_events, 200),
        ("POST", f"{calendar}/events", "standin.calendar_events.add", add_event, 201),
        ("PATCH", f"{calendar}/events/<event_id>", "standin.calendar_events.patch", patch_event, 200),
        ("DELETE", f"{calendar}/events/<event_id>", "standin.calendar_events.delete", delete_event, 200),
        (
            "POST",
            f"{calendar}/expire-sync-tokens",
            "standin.calendars.expire_sync_tokens",
            expire_sync_tokens,
            200,
        ),
        ("GET", "/standin/calendar/channels", "standin.calendar_push.channels", list_channels, 200),
        ("GET", "/standin/calendar/deliveries", "standin.calendar_push.deliveries", list_deliveries, 200),
    ]
    return [
        PlainRoute(method, path, endpoint, _answer(handler, status))
        for method, path, endpoint, handler, status in routes
    ]


def generate_messages(
    standin: GoogleStandIn, email: str, *, count: int, seed: int, days: float
) -> list[dict[str, Any]]:
    """A realistic mailbox: ``count`` messages spread over the last ``days``, received and sent."""
    from local_stack.google_standin.mime_factory import MessageFactory

    mailbox = standin.mailbox(email)
    end = datetime.fromtimestamp(standin.clock.now(), UTC)
    generated = MessageFactory(seed).mix(count, start=end - timedelta(days=days), end=end, owner=email)
    inserted = []
    for message in generated:
        sent = message.sender.lower() == email.lower()
        inserted.append(
            mailbox.insert(
                message.raw,
                label_ids=["SENT"] if sent else ["INBOX", "UNREAD"],
                internal_date_ms=int(message.date.timestamp() * 1000),
            )
        )
    return inserted
