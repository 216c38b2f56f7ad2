"""Gmail v1 over HTTP: each method the product uses, on its discovery path, served from a Mailbox."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from local_stack.google_standin.errors import bad_request, not_found
from local_stack.google_standin.gmail_mailbox import Mailbox
from local_stack.google_standin.routes import ApiCall, ApiRoute

PREFIX = "/gmail/v1/users/<user_id>"
MAX_RAW_BYTES = 35 * 1024 * 1024  # Gmail's limit for messages.send


@lru_cache(maxsize=1)
def _method_scopes() -> dict[str, frozenset[str]]:
    """Which OAuth scopes admit each method: read from the bundled discovery document, not retyped."""
    from shared.google_apis.discovery import discovery_document

    document = discovery_document("gmail", "v1")
    scopes: dict[str, frozenset[str]] = {}

    def walk(resources: dict[str, Any]) -> None:
        for resource in resources.values():
            for method in resource.get("methods", {}).values():
                scopes[method["id"]] = frozenset(method.get("scopes", []))
            walk(resource.get("resources", {}))

    walk(document.get("resources", {}))
    return scopes


def _int_arg(call: ApiCall, name: str, default: int) -> int:
    value = call.request.args.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise bad_request(f"Invalid value for {name}") from None


def _bool_arg(call: ApiCall, name: str) -> bool:
    return call.request.args.get(name, "false").lower() == "true"


def gmail_routes(mailbox_for: Callable[[str], Mailbox]) -> list[ApiRoute]:
    """``mailbox_for(account)`` returns the mailbox of the token's account."""

    def mailbox(call: ApiCall) -> Mailbox:
        return mailbox_for(call.account)

    def get_profile(call: ApiCall) -> dict[str, Any]:
        return mailbox(call).get_profile()

    def list_messages(call: ApiCall) -> dict[str, Any]:
        return mailbox(call).list_messages(
            q=call.request.args.get("q"),
            label_ids=call.args_list("labelIds"),
            include_spam_trash=_bool_arg(call, "includeSpamTrash"),
            page_token=call.request.args.get("pageToken"),
            max_results=_int_arg(call, "maxResults", 100),
        )

    def get_message(call: ApiCall) -> dict[str, Any]:
        return mailbox(call).get_message(
            call.path["id"],
            format=call.request.args.get("format", "full"),
            metadata_headers=call.args_list("metadataHeaders"),
        )

    def get_attachment(call: ApiCall) -> dict[str, Any]:
        return mailbox(call).get_attachment(call.path["message_id"], call.path["id"])

    def list_history(call: ApiCall) -> dict[str, Any]:
        start = call.request.args.get("startHistoryId")
        if not start:
            raise bad_request("Missing startHistoryId")
        return mailbox(call).list_history(
            start_history_id=start,
            history_types=call.args_list("historyTypes"),
            label_id=call.request.args.get("labelId"),
            page_token=call.request.args.get("pageToken"),
            max_results=_int_arg(call, "maxResults", 100),
        )

    def send(call: ApiCall) -> dict[str, Any]:
        body = call.json()
        if not isinstance(body, dict) or not isinstance(body.get("raw"), str):
            raise bad_request(
                "'raw' RFC822 payload message string or uploading message via /upload/* URL required"
            )
        thread_id = body.get("threadId")
        return mailbox(call).send(body["raw"], thread_id=thread_id if isinstance(thread_id, str) else None)

    def send_upload(call: ApiCall) -> dict[str, Any]:
        """The media-upload form of messages.send: the RFC 822 message is the body (or its media part)."""
        upload_type = call.request.args.get("uploadType", "media")
        data = call.request.get_data()
        if len(data) > MAX_RAW_BYTES:
            raise bad_request("Message too large")
        thread_id = None
        if upload_type == "multipart":
            metadata, raw = _split_related(call.request.headers.get("Content-Type", ""), data)
            thread_id = metadata.get("threadId") if isinstance(metadata.get("threadId"), str) else None
        elif upload_type == "media":
            raw = data
        else:
            raise bad_request(f"uploadType {upload_type} is not supported by the stand-in")
        return mailbox(call).send(base64.urlsafe_b64encode(raw).decode(), thread_id=thread_id)

    def modify(call: ApiCall) -> dict[str, Any]:
        body = call.json()
        return mailbox(call).modify(
            call.path["id"],
            add_label_ids=list(body.get("addLabelIds", []) or []),
            remove_label_ids=list(body.get("removeLabelIds", []) or []),
        )

    def batch_modify(call: ApiCall) -> None:
        body = call.json()
        ids = body.get("ids") or []
        if not isinstance(ids, list) or len(ids) > 1000:
            raise bad_request("ids must list at most 1000 message ids")
        mailbox(call).batch_modify(
            ids,
            add_label_ids=list(body.get("addLabelIds", []) or []),
            remove_label_ids=list(body.get("removeLabelIds", []) or []),
        )
        return None

    def list_labels(call: ApiCall) -> dict[str, Any]:
        return mailbox(call).list_labels()

    def watch(call: ApiCall) -> dict[str, Any]:
        body = call.json()
        if not isinstance(body, dict) or not isinstance(body.get("topicName"), str):
            raise bad_request("Invalid topicName")
        return mailbox(call).watch(
            topic_name=body["topicName"],
            label_ids=list(body.get("labelIds", []) or []),
            label_filter_behavior=body.get("labelFilterBehavior") or body.get("labelFilterAction"),
        )

    def stop(call: ApiCall) -> None:
        mailbox(call).stop()
        return None

    scopes = _method_scopes()

    def route(method: str, path: str, method_id: str, handler: Callable[[ApiCall], Any]) -> ApiRoute:
        if method_id not in scopes:
            raise not_found()  # a method id that is not Gmail's: a bug in this table
        return ApiRoute(method, path, method_id, handler, scopes[method_id])

    return [
        route("GET", f"{PREFIX}/profile", "gmail.users.getProfile", get_profile),
        route("GET", f"{PREFIX}/messages", "gmail.users.messages.list", list_messages),
        route("GET", f"{PREFIX}/messages/<id>", "gmail.users.messages.get", get_message),
        route(
            "GET",
            f"{PREFIX}/messages/<message_id>/attachments/<id>",
            "gmail.users.messages.attachments.get",
            get_attachment,
        ),
        route("GET", f"{PREFIX}/history", "gmail.users.history.list", list_history),
        route("POST", f"{PREFIX}/messages/send", "gmail.users.messages.send", send),
        route("POST", f"/upload{PREFIX}/messages/send", "gmail.users.messages.send", send_upload),
        route("POST", f"{PREFIX}/messages/<id>/modify", "gmail.users.messages.modify", modify),
        route("POST", f"{PREFIX}/messages/batchModify", "gmail.users.messages.batchModify", batch_modify),
        route("GET", f"{PREFIX}/labels", "gmail.users.labels.list", list_labels),
        route("POST", f"{PREFIX}/watch", "gmail.users.watch", watch),
        route("POST", f"{PREFIX}/stop", "gmail.users.stop", stop),
    ]


def _split_related(content_type: str, data: bytes) -> tuple[dict[str, Any], bytes]:
    """multipart/related upload: a JSON metadata part, then the message/rfc822 media part."""
    import email.parser
    import email.policy

    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + data
    )
    parts = list(message.iter_parts()) if message.is_multipart() else []
    if len(parts) != 2:
        raise bad_request("A multipart upload needs a metadata part and a media part.")
    metadata_bytes = parts[0].get_payload(decode=True)
    media = parts[1].get_payload(decode=True)
    try:
        metadata = json.loads(metadata_bytes if isinstance(metadata_bytes, bytes) else b"{}")
    except ValueError:
        raise bad_request("Invalid JSON payload received.") from None
    return (metadata if isinstance(metadata, dict) else {}), (media if isinstance(media, bytes) else b"")
