"""Google Drive v3 over HTTP: the methods the product uses, on their discovery paths (media uploads on
``/upload/drive/v3/files``), with the scopes discovery lists for each, served from the accounts' Drives.

Each token's scopes decide what it sees (drive_files.Access): ``drive`` everything, ``drive.file`` only
the app's files, the rest answering 404 as Google does. Answers honour ``fields`` (partial_response.py)
with Drive's defaults when it is absent. permissions.create and .delete put ``details`` into the call
log: the file, the grantee, the role, and the sendNotificationEmail the caller sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from werkzeug.wrappers import Response

from local_stack.google_standin.calendar_listing import decode_token, encode_token
from local_stack.google_standin.drive_files import FOLDER, Access, display_name, permission_id_for
from local_stack.google_standin.drive_push import DrivePush
from local_stack.google_standin.drive_query import compile_query
from local_stack.google_standin.drive_store import DriveAccount, NewFile, PermissionRequest
from local_stack.google_standin.errors import (
    GoogleApiError,
    bad_request,
    field_not_writable,
    invalid_value,
    out_of_range,
    required_parameter,
)
from local_stack.google_standin.media_upload import read_upload
from local_stack.google_standin.partial_response import (
    Selection,
    apply,
    check,
    parse_fields,
    schema_properties,
)
from local_stack.google_standin.routes import ApiCall, ApiRoute

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100

# What Drive v3 answers when the request names no `fields`.
_FILE_DEFAULT: Selection = {"kind": None, "id": None, "name": None, "mimeType": None}
_PERMISSION_DEFAULT: Selection = {"kind": None, "id": None, "type": None, "role": None}
_FILE_LIST_DEFAULT: Selection = {
    "kind": None,
    "incompleteSearch": None,
    "nextPageToken": None,
    "files": _FILE_DEFAULT,
}
_CHANGE_LIST_DEFAULT: Selection = {
    "kind": None,
    "nextPageToken": None,
    "newStartPageToken": None,
    "changes": {
        "kind": None,
        "changeType": None,
        "time": None,
        "removed": None,
        "fileId": None,
        "file": _FILE_DEFAULT,
    },
}
_PERMISSION_LIST_DEFAULT: Selection = {
    "kind": None,
    "nextPageToken": None,
    "permissions": _PERMISSION_DEFAULT,
}

# The body fields each write takes; any other field of the File schema is not writable there.
_CREATE_FIELDS = frozenset(
    {
        "name",
        "mimeType",
        "parents",
        "description",
        "id",
        "writersCanShare",
        "viewersCanCopyContent",
        "copyRequiresWriterPermission",
        "properties",
        "appProperties",
        "starred",
        "originalFilename",
        "createdTime",
        "modifiedTime",
        "kind",
    }
)
_COPY_FIELDS = _CREATE_FIELDS - {"createdTime", "originalFilename"}
_UPDATE_FIELDS = (_CREATE_FIELDS - {"id", "parents", "createdTime"}) | {"trashed"}
_ORDER_KEYS = {
    "name": lambda f: str(f["name"]).casefold(),
    "name_natural": lambda f: str(f["name"]).casefold(),
    "modifiedTime": lambda f: str(f["modifiedTime"]),
    "createdTime": lambda f: str(f["createdTime"]),
    "folder": lambda f: f["mimeType"] != FOLDER,
    "quotaBytesUsed": lambda f: int(f.get("quotaBytesUsed", 0)),
    "starred": lambda f: bool(f.get("starred")),
    # Keys of what the stand-in does not keep (views, shares): modifiedTime stands in for them.
    "recency": lambda f: str(f["modifiedTime"]),
    "modifiedByMeTime": lambda f: str(f["modifiedTime"]),
    "viewedByMeTime": lambda f: str(f["modifiedTime"]),
    "sharedWithMeTime": lambda f: str(f["modifiedTime"]),
}


@lru_cache(maxsize=1)
def _methods() -> dict[str, tuple[str, str, str | None, frozenset[str]]]:
    """Each Drive method's HTTP method, path and media-upload path (werkzeug rules) and scopes, read
    from the bundled discovery document, not retyped."""
    from shared.google_apis.discovery import discovery_document

    document = discovery_document("drive", "v3")
    service_path = "/" + document["servicePath"]
    methods: dict[str, tuple[str, str, str | None, frozenset[str]]] = {}

    def rule(path: str) -> str:
        return re.sub(r"\{(\w+)\}", r"<\1>", path)

    def walk(resources: dict[str, Any]) -> None:
        for resource in resources.values():
            for method in resource.get("methods", {}).values():
                upload = method.get("mediaUpload", {}).get("protocols", {}).get("simple", {}).get("path")
                methods[method["id"]] = (
                    method["httpMethod"],
                    service_path + rule(method["path"]),
                    rule(upload) if upload else None,
                    frozenset(method.get("scopes", [])),
                )
            walk(resource.get("resources", {}))

    walk(document.get("resources", {}))
    return methods


def drive_routes(drive_for: Callable[[str], DriveAccount], push: DrivePush) -> list[ApiRoute]:
    """``drive_for(account)``: the token's account's Drive."""

    def files_of(call: ApiCall) -> tuple[DriveAccount, Access]:
        return drive_for(call.account), Access.of(call.scopes)

    def list_files(call: ApiCall) -> dict[str, Any]:
        account, access = files_of(call)
        args = call.request.args
        selection = _selection(call, _FILE_LIST_DEFAULT, "FileList")
        size = _page_size(call, "pageSize")
        q = args.get("q")
        predicate = compile_query(q, root_id=account.root_id) if q else (lambda stored: True)
        spaces = _spaces(call)
        _corpora(call)
        files = account.listing(predicate, access) if "drive" in spaces else []
        files = _ordered(files, args.get("orderBy"))
        offset = _list_offset(args.get("pageToken"), q, args.get("orderBy"))
        answer: dict[str, Any] = {
            "kind": "drive#fileList",
            "incompleteSearch": False,
            "files": files[offset : offset + size],
        }
        if offset + size < len(files):
            answer["nextPageToken"] = encode_token(
                {"offset": offset + size, "q": q, "orderBy": args.get("orderBy")}
            )
        return dict(apply(answer, selection))

    def get_file(call: ApiCall) -> dict[str, Any] | Response:
        account, access = files_of(call)
        if call.request.args.get("alt") == "media":
            mime_type, content = account.download(call.path["fileId"], access)
            return _media_response(call, content, mime_type)
        selection = _selection(call, _FILE_DEFAULT, "File")
        return dict(apply(account.resource(call.path["fileId"], access), selection))

    def create_file(call: ApiCall) -> dict[str, Any]:
        account, access = files_of(call)
        selection = _selection(call, _FILE_DEFAULT, "File")
        body = _body(call.json(), _CREATE_FIELDS, "create")
        spec = _new_file(body, default_type="application/octet-stream")
        return dict(apply(account.insert(spec, access), selection))

    def upload_file(call: ApiCall) -> dict[str, Any]:
        account, access = files_of(call)
        selection = _selection(call, _FILE_DEFAULT, "File")
        upload = read_upload(call.request)
        body = _body(upload.metadata, _CREATE_FIELDS, "create")
        spec = _new_file(body, default_type=upload.media_type.split(";", 1)[0].strip())
        return dict(apply(account.insert(spec, access, media=(upload.media_type, upload.data)), selection))

    def copy_file(call: ApiCall) -> dict[str, Any]:
        account, access = files_of(call)
        selection = _selection(call, _FILE_DEFAULT, "File")
        body = _sharing_flags(_body(call.json(), _COPY_FIELDS, "copy"))
        return dict(apply(account.copy(call.path["fileId"], body, access), selection))

    def update(call: ApiCall, media: tuple[str, bytes] | None, metadata: Any) -> dict[str, Any]:
        account, access = files_of(call)
        selection = _selection(call, _FILE_DEFAULT, "File")
        body = _sharing_flags(_body(metadata, _UPDATE_FIELDS, "update"))
        updated = account.update(
            call.path["fileId"],
            body,
            access,
            add_parents=_id_list(call.request.args.get("addParents")),
            remove_parents=_id_list(call.request.args.get("removeParents")),
            media=media,
        )
        return dict(apply(updated, selection))

    def update_file(call: ApiCall) -> dict[str, Any]:
        return update(call, None, call.json())

    def upload_update(call: ApiCall) -> dict[str, Any]:
        upload = read_upload(call.request)
        return update(call, (upload.media_type, upload.data), upload.metadata)

    def delete_file(call: ApiCall) -> None:
        account, access = files_of(call)
        account.remove(call.path["fileId"], access)

    def export_file(call: ApiCall) -> Response:
        account, access = files_of(call)
        export_type = call.request.args.get("mimeType")
        if not export_type:
            raise required_parameter("mimeType")
        content = account.export(call.path["fileId"], export_type, access)
        return _media_response(call, content, export_type)

    def generate_ids(call: ApiCall) -> dict[str, Any]:
        account, _ = files_of(call)
        args = call.request.args
        space = args.get("space", "drive")
        if space not in ("drive", "appDataFolder"):
            raise invalid_value("space")
        if args.get("type", "files") not in ("files", "shortcuts"):
            raise invalid_value("type")
        count = _int(call, "count", 10)
        return {"kind": "drive#generatedIds", "space": space, "ids": account.generate_ids(count)}

    def list_permissions(call: ApiCall) -> dict[str, Any]:
        account, access = files_of(call)
        selection = _selection(call, _PERMISSION_LIST_DEFAULT, "PermissionList")
        permissions = account.permission_list(call.path["fileId"], access)
        return dict(apply({"kind": "drive#permissionList", "permissions": permissions}, selection))

    def create_permission(call: ApiCall) -> dict[str, Any]:
        account, access = files_of(call)
        selection = _selection(call, _PERMISSION_DEFAULT, "Permission")
        body = call.json()
        if not isinstance(body, dict):
            raise bad_request("Invalid JSON payload received.")
        request = PermissionRequest(
            type=str(body.get("type", "")),
            role=str(body.get("role", "")),
            email_address=_optional_str(body.get("emailAddress")),
            domain=_optional_str(body.get("domain")),
            allow_file_discovery=body.get("allowFileDiscovery"),
            expiration_time=_optional_str(body.get("expirationTime")),
            send_notification_email=_optional_bool(call, "sendNotificationEmail"),
            transfer_ownership=_optional_bool(call, "transferOwnership") is True,
        )
        call.details = _permission_details(call.path["fileId"], request.type, request.role, body, call)
        return dict(apply(account.create_permission(call.path["fileId"], request, access), selection))

    def delete_permission(call: ApiCall) -> None:
        account, access = files_of(call)
        removed = account.delete_permission(call.path["fileId"], call.path["permissionId"], access)
        call.details = {
            **_permission_details(call.path["fileId"], removed["type"], removed["role"], removed, call),
            "permissionId": removed["id"],
        }

    def start_page_token(call: ApiCall) -> dict[str, Any]:
        account, _ = files_of(call)
        return {"kind": "drive#startPageToken", "startPageToken": account.start_page_token()}

    def list_changes(call: ApiCall) -> dict[str, Any]:
        account, access = files_of(call)
        selection = _selection(call, _CHANGE_LIST_DEFAULT, "ChangeList")
        _spaces(call)
        answer = account.list_changes(
            _page_token(call),
            page_size=_page_size(call, "pageSize"),
            include_removed=_bool(call, "includeRemoved", default=True),
            access=access,
        )
        return dict(apply(answer, selection))

    def watch_changes(call: ApiCall) -> dict[str, Any]:
        account, access = files_of(call)
        page_token = _page_token(call)
        account.validate_page_token(page_token)
        return push.watch(
            account, page_token, call.json(), sees_all=access.read_all, api_root=call.request.host_url
        )

    def stop_channel(call: ApiCall) -> None:
        push.stop(call.account, call.json())

    def about(call: ApiCall) -> dict[str, Any]:
        """about.get: Drive insists on ``fields`` here."""
        account, _ = files_of(call)
        if not call.request.args.get("fields"):
            raise GoogleApiError(
                400,
                "required",
                "The 'fields' parameter is required for this method.",
                extra={"location": "fields", "locationType": "parameter"},
            )
        answer = {
            "kind": "drive#about",
            "user": {
                "kind": "drive#user",
                "displayName": display_name(account.email),
                "emailAddress": account.email,
                "me": True,
                "permissionId": permission_id_for(account.email),
            },
            "storageQuota": {"limit": str(15 * 1024**3), "usage": "0", "usageInDrive": "0"},
            "appInstalled": True,
        }
        return dict(apply(answer, _selection(call, None, "About")))

    handlers: dict[str, Callable[[ApiCall], Any]] = {
        "drive.about.get": about,
        "drive.files.list": list_files,
        "drive.files.get": get_file,
        "drive.files.create": create_file,
        "drive.files.copy": copy_file,
        "drive.files.update": update_file,
        "drive.files.delete": delete_file,
        "drive.files.export": export_file,
        "drive.files.generateIds": generate_ids,
        "drive.permissions.list": list_permissions,
        "drive.permissions.create": create_permission,
        "drive.permissions.delete": delete_permission,
        "drive.changes.getStartPageToken": start_page_token,
        "drive.changes.list": list_changes,
        "drive.changes.watch": watch_changes,
        "drive.channels.stop": stop_channel,
    }
    uploads: dict[str, Callable[[ApiCall], Any]] = {
        "drive.files.create": upload_file,
        "drive.files.update": upload_update,
    }
    methods = _methods()
    routes = [
        ApiRoute(methods[id_][0], methods[id_][1], id_, handler, methods[id_][3])
        for id_, handler in handlers.items()
    ]
    for id_, handler in uploads.items():
        http_method, _, upload_path, scopes = methods[id_]
        routes.append(ApiRoute(http_method, str(upload_path), id_, handler, scopes))
    return routes


# --- request reading ---------------------------------------------------------------------------------


def _selection(call: ApiCall, default: Selection | None, schema: str) -> Selection | None:
    fields = call.request.args.get("fields")
    if fields is None:
        return default
    selection = parse_fields(fields)
    check(selection, schema)
    return selection


def _body(body: Any, allowed: frozenset[str], method: str) -> dict[str, Any]:
    """A File body: 400 for a name the schema does not have, 403 for one this method cannot write."""
    if not isinstance(body, dict):
        raise bad_request("Invalid JSON payload received.")
    known = schema_properties("File")
    for name in body:
        if name not in known:
            raise bad_request(f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.')
        if name == "parents" and method == "update":
            raise field_not_writable(
                "parents",
                "The parents field is not directly writable in update requests. Use the addParents and "
                "removeParents parameters instead.",
            )
        if name not in allowed:
            raise field_not_writable(
                name, "The resource body includes fields which are not directly writable."
            )
    return body


def _sharing_flags(body: dict[str, Any]) -> dict[str, Any]:
    """copyRequiresWriterPermission is viewersCanCopyContent's newer, inverted name."""
    if "copyRequiresWriterPermission" in body:
        body = {**body, "viewersCanCopyContent": not body["copyRequiresWriterPermission"]}
    return body


def _new_file(body: dict[str, Any], *, default_type: str) -> NewFile:
    parents = body.get("parents")
    if parents is not None and (
        not isinstance(parents, list) or not all(isinstance(p, str) for p in parents)
    ):
        raise bad_request("parents must be a list of folder ids.")
    body = _sharing_flags(body)
    return NewFile(
        name=str(body.get("name") or "Untitled"),
        mime_type=str(body.get("mimeType") or default_type),
        parents=parents,
        description=_optional_str(body.get("description")),
        file_id=_optional_str(body.get("id")),
        writers_can_share=bool(body.get("writersCanShare", True)),
        viewers_can_copy_content=bool(body.get("viewersCanCopyContent", True)),
        properties=_string_map(body.get("properties")),
        app_properties=_string_map(body.get("appProperties")),
    )


def _string_map(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request("properties must be an object of strings.")
    return {str(key): str(item) for key, item in value.items() if item is not None}


def _media_response(call: ApiCall, content: bytes, mime_type: str) -> Response:
    """Media with a single ``Range`` honoured (206), as MediaIoBaseDownload asks for chunks."""
    match = re.fullmatch(r"bytes=(\d+)-(\d*)", call.request.headers.get("Range", "").strip())
    if match is None or not content:
        return Response(content, status=200, content_type=mime_type)
    start = int(match.group(1))
    end = min(int(match.group(2)) if match.group(2) else len(content) - 1, len(content) - 1)
    if start > end:
        return Response(status=416, headers={"Content-Range": f"bytes */{len(content)}"})
    return Response(
        content[start : end + 1],
        status=206,
        content_type=mime_type,
        headers={"Content-Range": f"bytes {start}-{end}/{len(content)}"},
    )


def _permission_details(
    file_id: str, type_: str, role: str, grantee: dict[str, Any], call: ApiCall
) -> dict[str, Any]:
    details: dict[str, Any] = {"fileId": file_id, "type": type_, "role": role}
    if grantee.get("emailAddress") is not None:
        details["emailAddress"] = grantee["emailAddress"]
    if grantee.get("domain") is not None:
        details["domain"] = grantee["domain"]
    details["sendNotificationEmail"] = _optional_bool(call, "sendNotificationEmail")
    return details


def _ordered(files: list[dict[str, Any]], order_by: str | None) -> list[dict[str, Any]]:
    if not order_by:
        return files
    keys = []
    for part in order_by.split(","):
        words = part.split()
        if (
            not words
            or len(words) > 2
            or words[0] not in _ORDER_KEYS
            or words[1:] not in ([], ["desc"], ["asc"])
        ):
            raise invalid_value("orderBy", f"Invalid sort field: {part.strip()}")
        keys.append((words[0], words[1:] == ["desc"]))
    ordered = list(files)
    for key, descending in reversed(keys):  # stable sorts, the last key first
        ordered.sort(key=_ORDER_KEYS[key], reverse=descending)
    return ordered


def _list_offset(token: str | None, q: str | None, order_by: str | None) -> int:
    if token is None:
        return 0
    content = decode_token(token) or {}
    offset = content.get("offset")
    if (
        not isinstance(offset, int)
        or offset < 0
        or content.get("q") != q
        or content.get("orderBy") != order_by
    ):
        raise invalid_value("pageToken")
    return offset


def _spaces(call: ApiCall) -> set[str]:
    spaces = {space.strip() for space in call.request.args.get("spaces", "drive").split(",")}
    if not spaces <= {"drive", "appDataFolder", "photos"}:
        raise invalid_value("spaces")
    return spaces


def _corpora(call: ApiCall) -> None:
    corpora = call.request.args.get("corpora", "user")
    if corpora not in ("user", "domain", "drive", "allDrives"):
        raise invalid_value("corpora")
    if corpora == "drive" and not call.request.args.get("driveId"):
        raise required_parameter("driveId")


def _page_token(call: ApiCall) -> str:
    token = call.request.args.get("pageToken")
    if not token:
        raise required_parameter("pageToken")
    return token


def _page_size(call: ApiCall, name: str) -> int:
    size = _int(call, name, DEFAULT_PAGE_SIZE)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise out_of_range(name, str(size), 1, MAX_PAGE_SIZE)
    return size


def _int(call: ApiCall, name: str, default: int) -> int:
    value = call.request.args.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise invalid_value(name, f"Invalid value '{value}'. Expected an integer.") from None


def _bool(call: ApiCall, name: str, *, default: bool) -> bool:
    flag = _optional_bool(call, name)
    return default if flag is None else flag


def _optional_bool(call: ApiCall, name: str) -> bool | None:
    value = call.request.args.get(name)
    if value is None:
        return None
    if value.lower() not in ("true", "false"):
        raise invalid_value(name, f"Invalid value '{value}'. Expected a boolean.")
    return value.lower() == "true"


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _id_list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]
