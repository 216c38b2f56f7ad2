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
    from local_stack.google_standin.drive_store import DriveAccount
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

    def channel_listing(api: str) -> Handler:
        def list_channels(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
            return {"channels": [channel.to_json() for channel in standin.push_channels.channels(api)]}

        return list_channels

    def delivery_listing(api: str) -> Handler:
        def list_deliveries(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
            return {"deliveries": [d.to_json() for d in standin.push_channels.deliveries(api)]}

        return list_deliveries

    # Drive: as the user in Drive's UI or another app (validated, recorded as changes, pushed to
    # channels, not logged); files made here are not the app's (drive.file) until granted.
    def drive_of(params: Mapping[str, str]) -> DriveAccount:
        return standin.drive(params["email"])

    def add_file(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
        body = _body(request)
        content = None
        if body.get("contentBase64") is not None:
            try:
                content = base64.b64decode(str(body["contentBase64"]), validate=True)
            except (binascii.Error, ValueError):
                raise bad_request("contentBase64 must be base64") from None
        return drive_of(params).create(
            str(body["name"]),
            str(body["mimeType"]),
            content=content,
            text=None if body.get("text") is None else str(body["text"]),
            parents=body.get("parents"),
            app_created=bool(body.get("appCreated", False)),
        )

    def list_files(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
        return {"files": drive_of(params).files()}

    def get_file(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
        return drive_of(params).get(params["file_id"])

    def delete_file(request: Request, params: Mapping[str, str]) -> None:
        drive_of(params).delete(params["file_id"])

    def file_action(action: str) -> Handler:
        def act(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
            account, file_id = drive_of(params), params["file_id"]
            if action == "grant":
                account.grant_to_app(file_id)
                return account.get(file_id)
            if action == "rename":
                return account.rename(file_id, str(_body(request)["name"]))
            if action == "trash":
                return account.trash(file_id)
            if action == "untrash":
                return account.untrash(file_id)
            if action == "sharing":
                return account.set_sharing(file_id, can_share=bool(_body(request)["canShare"]))
            return account.set_text(file_id, str(_body(request)["text"]))

        return act

    def get_text(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
        return {"text": drive_of(params).text(params["file_id"])}

    def get_content(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
        return {"contentBase64": base64.b64encode(drive_of(params).content(params["file_id"])).decode()}

    def list_permissions(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
        return {"permissions": drive_of(params).permissions(params["file_id"])}

    def add_permission(request: Request, params: Mapping[str, str]) -> dict[str, Any]:
        body = _body(request)
        return drive_of(params).add_permission(
            params["file_id"],
            type=str(body["type"]),
            role=str(body["role"]),
            email_address=body.get("emailAddress"),
            domain=body.get("domain"),
        )

    account = "/standin/accounts/<email>"
    # Calendar ids hold "@" (and no "/"): the default converter takes them whole.
    calendar = f"{account}/calendars/<calendar_id>"
    drive_file = f"{account}/drive/files/<file_id>"
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
        (
            "GET",
            "/standin/calendar/channels",
            "standin.calendar_push.channels",
            channel_listing("calendar"),
            200,
        ),
        (
            "GET",
            "/standin/calendar/deliveries",
            "standin.calendar_push.deliveries",
            delivery_listing("calendar"),
            200,
        ),
        ("POST", f"{account}/drive/files", "standin.drive_files.add", add_file, 201),
        ("GET", f"{account}/drive/files", "standin.drive_files.list", list_files, 200),
        ("GET", drive_file, "standin.drive_files.get", get_file, 200),
        ("DELETE", drive_file, "standin.drive_files.delete", delete_file, 200),
        ("POST", f"{drive_file}/grant", "standin.drive_files.grant", file_action("grant"), 200),
        ("POST", f"{drive_file}/rename", "standin.drive_files.rename", file_action("rename"), 200),
        ("POST", f"{drive_file}/trash", "standin.drive_files.trash", file_action("trash"), 200),
        ("POST", f"{drive_file}/untrash", "standin.drive_files.untrash", file_action("untrash"), 200),
        ("PUT", f"{drive_file}/sharing", "standin.drive_files.sharing", file_action("sharing"), 200),
        ("PUT", f"{drive_file}/text", "standin.drive_files.set_text", file_action("text"), 200),
        ("GET", f"{drive_file}/text", "standin.drive_files.text", get_text, 200),
        ("GET", f"{drive_file}/content", "standin.drive_files.content", get_content, 200),
        ("GET", f"{drive_file}/permissions", "standin.drive_permissions.list", list_permissions, 200),
        ("POST", f"{drive_file}/permissions", "standin.drive_permissions.add", add_permission, 201),
        ("GET", "/standin/drive/channels", "standin.drive_push.channels", channel_listing("drive"), 200),
        ("GET", "/standin/drive/deliveries", "standin.drive_push.deliveries", delivery_listing("drive"), 200),
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
