"""Google Drive: every call the product makes, through one quota-aware client (client.PacedClient), each
answer that means something of its own translated here: 404 on a file (not there, or not granted to this
app under ``drive.file``), 409 on a create with our id (made already), 403 when the user may not share
or a Doc is too large to export, 400 on a changes page token (start over)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.errors import (
    Forbidden,
    GoneAtGoogle,
    IdTakenAtGoogle,
    NeedsResync,
    PayloadTooLarge,
)
from shared.google_apis.client import ApiName, PacedClient, error_reasons
from shared.google_apis.rate_limit import QuotaSettings

# What we keep of a file: metadata and links, never content.
FILE_FIELDS = (
    "id,name,mimeType,size,modifiedTime,trashed,owners(emailAddress,displayName),webViewLink,iconLink,"
    "capabilities(canShare,canEdit),version"
)
CHANGE_FIELDS = f"nextPageToken,newStartPageToken,changes(fileId,removed,time,file({FILE_FIELDS}))"


def _not_accessible(_: Any) -> GoneAtGoogle:
    return GoneAtGoogle(
        "Google Drive has no such file this app may open (under drive.file, the user must pick it).",
        code="drive_file_not_accessible",
    )


def _taken(_: Any) -> IdTakenAtGoogle:
    return IdTakenAtGoogle("A file with this id exists in Drive.", code="drive_id_taken")


def _refused(error: Any) -> GoneAtGoogle | Forbidden | PayloadTooLarge:
    reasons = error_reasons(error)
    if "appNotAuthorizedToFile" in reasons:  # the user may read it, but never picked it for this app
        return _not_accessible(error)
    if "exportSizeLimitExceeded" in reasons:
        return PayloadTooLarge("Google Drive exports at most 10 MB of a document.", code="export_too_large")
    if "insufficientFilePermissions" in reasons:
        return Forbidden("The user may not share this file.", code="sharing_blocked")
    if "fileNotExportable" in reasons:
        return Forbidden("Only Google Docs files can be exported.", code="not_exportable")
    if "fileNotDownloadable" in reasons:
        return Forbidden("A Google Docs file downloads only as an export.", code="not_downloadable")
    return Forbidden("Google Drive refused the call.", code="drive_403")


def _stale_token(_: Any) -> NeedsResync:
    return NeedsResync("Google Drive refused the changes page token.", code="page_token_invalid")


_ON_FILE = {404: _not_accessible, 403: _refused}


class DriveClient(PacedClient):
    api = ApiName("Google Drive", "drive")
    discovery = ("drive", "v3")
    default_quota = QuotaSettings(api="drive")

    # --- files ---------------------------------------------------------------------------------------

    def get_file(self, file_id: str) -> dict[str, Any]:
        """The file's metadata; ``GoneAtGoogle`` (``drive_file_not_accessible``) when this app may not
        open it or it does not exist."""
        answer: dict[str, Any] = self._call(
            "drive.files.get",
            lambda: self._service.files().get(fileId=file_id, fields=FILE_FIELDS, supportsAllDrives=True),
            on_status=_ON_FILE,
        )
        return answer

    def new_file_id(self) -> str:
        """An id a create or copy may take: a retried create cannot then make a second file."""
        answer = self._call(
            "drive.files.generateIds", lambda: self._service.files().generateIds(count=1, space="drive")
        )
        return str(answer["ids"][0])

    def create_file(
        self, metadata: Mapping[str, Any], *, content: bytes | None = None, mime_type: str | None = None
    ) -> dict[str, Any]:
        """Create a file (an empty Google Doc when the metadata's mimeType is one), with content when
        given (a multipart upload); ``IdTakenAtGoogle`` when the metadata's id exists already."""

        def request() -> Any:
            if content is None:
                return self._service.files().create(body=dict(metadata), fields=FILE_FIELDS)
            from googleapiclient.http import MediaIoBaseUpload

            media = MediaIoBaseUpload(
                io.BytesIO(content), mimetype=mime_type or "application/octet-stream", resumable=False
            )
            return self._service.files().create(body=dict(metadata), media_body=media, fields=FILE_FIELDS)

        answer: dict[str, Any] = self._call("drive.files.create", request, on_status={409: _taken})
        return answer

    def copy_file(self, file_id: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``file_id`` (a template) with ``metadata`` applied; our id in it makes a repeat
        answer ``IdTakenAtGoogle``."""
        answer: dict[str, Any] = self._call(
            "drive.files.copy",
            lambda: self._service.files().copy(fileId=file_id, body=dict(metadata), fields=FILE_FIELDS),
            on_status={404: _not_accessible, 409: _taken},
        )
        return answer

    def export(self, file_id: str, mime_type: str) -> bytes:
        """A Google Docs file rendered as ``mime_type`` (at most 10 MB, Google's limit)."""
        answer = self._call(
            "drive.files.export",
            lambda: self._service.files().export(fileId=file_id, mimeType=mime_type),
            on_status={404: _not_accessible, 403: _refused},
        )
        return bytes(answer)

    def download(self, file_id: str) -> bytes:
        """A binary file's content."""
        answer = self._call(
            "drive.files.get",
            lambda: self._service.files().get_media(fileId=file_id),
            on_status={404: _not_accessible, 403: _refused},
        )
        return bytes(answer)

    # --- sharing ---------------------------------------------------------------------------------------

    def permissions(self, file_id: str) -> list[dict[str, Any]]:
        answer = self._call(
            "drive.permissions.list",
            lambda: self._service.permissions().list(
                fileId=file_id, fields="permissions(id,type,role,emailAddress,domain)"
            ),
            on_status=_ON_FILE,
        )
        return list(answer.get("permissions", []))

    def share_with_user(self, file_id: str, email: str, role: str, *, notify: bool) -> dict[str, Any]:
        """A user permission (never a link or a domain); Google emails them only when ``notify``.
        ``Forbidden`` (``sharing_blocked``) when the user may not share the file."""
        answer: dict[str, Any] = self._call(
            "drive.permissions.create",
            lambda: self._service.permissions().create(
                fileId=file_id,
                body={"type": "user", "role": role, "emailAddress": email},
                sendNotificationEmail=notify,
                fields="id,type,role,emailAddress",
            ),
            on_status={404: _not_accessible, 403: _refused},
        )
        return answer

    def unshare(self, file_id: str, permission_id: str) -> None:
        """Remove one permission; one already gone is removed already."""
        with contextlib.suppress(GoneAtGoogle):
            self._call(
                "drive.permissions.delete",
                lambda: self._service.permissions().delete(fileId=file_id, permissionId=permission_id),
                on_status={404: _not_accessible, 403: _refused},
            )

    # --- changes ---------------------------------------------------------------------------------------

    def start_page_token(self) -> str:
        answer = self._call(
            "drive.changes.getStartPageToken", lambda: self._service.changes().getStartPageToken()
        )
        return str(answer["startPageToken"])

    def list_changes(self, page_token: str, *, page_size: int = 1000) -> dict[str, Any]:
        """One page of changes after ``page_token``; ``NeedsResync`` when Drive refuses the token."""
        answer: dict[str, Any] = self._call(
            "drive.changes.list",
            lambda: self._service.changes().list(
                pageToken=page_token, pageSize=page_size, includeRemoved=True, fields=CHANGE_FIELDS
            ),
            on_status={400: _stale_token, 404: _stale_token},
        )
        return answer

    def watch_changes(
        self, page_token: str, *, channel_id: str, address: str, token: str, ttl_seconds: int
    ) -> tuple[str, datetime]:
        """Open a channel on the account's changes: (Google's resource id, when it ends)."""
        body = {
            "id": channel_id,
            "type": "web_hook",
            "address": address,
            "token": token,
            "params": {"ttl": str(ttl_seconds)},
        }
        answer = self._call(
            "drive.changes.watch", lambda: self._service.changes().watch(pageToken=page_token, body=body)
        )
        return str(answer["resourceId"]), datetime.fromtimestamp(int(answer["expiration"]) / 1000, UTC)

    def stop_channel(self, channel_id: str, resource_id: str) -> None:
        with contextlib.suppress(GoneAtGoogle):
            self._call(
                "drive.channels.stop",
                lambda: self._service.channels().stop(body={"id": channel_id, "resourceId": resource_id}),
                on_status={404: _not_accessible},
            )
