"""The stored shape of a Drive file attached in the CRM: metadata and links, never content.

tenants/{tenant}/drive_files/{connection}_{file id}   one file of one user's Drive, while attached

Beside Google's metadata it holds what the CRM attached it to, and the sharing this system did for it:
per CRM record or task, the team the CRM sent and whether sharing was blocked; per address, the
permission we created and the records that needed it, so a detach removes only ours, and only when no
other record still needs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.crm_links.entities import CrmEntity
from shared.ids import EMAIL_PATTERN

DRIVE_FILES = "drive_files"
FILE_ID_PATTERN = r"^[A-Za-z0-9_-]{10,128}$"  # Drive's ids: 28 to 44 URL-safe characters, room around
GOOGLE_APPS = "application/vnd.google-apps."  # Docs, Sheets, Slides, ...: exported, never downloaded
GOOGLE_DOCS = {
    "document": "application/vnd.google-apps.document",
    "spreadsheet": "application/vnd.google-apps.spreadsheet",
    "presentation": "application/vnd.google-apps.presentation",
}
EXPORTS = {
    "pdf": ("application/pdf", "pdf"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
    "txt": ("text/plain", "txt"),
}
FileStatus = Literal["ok", "trashed", "removed", "access_lost"]


def drive_file_doc_id(connection_id: str, file_id: str) -> str:
    return f"{connection_id}_{file_id}"


def entity_key(entity: CrmEntity) -> str:
    return f"{entity.type}:{entity.id}"


def metadata_fields(file: Mapping[str, Any]) -> dict[str, Any]:
    """What we keep of Google's file resource."""
    owners = [str(owner.get("emailAddress", "")).lower() for owner in file.get("owners") or []]
    capabilities = file.get("capabilities") or {}
    return {
        "file_id": str(file["id"]),
        "name": file.get("name"),
        "mime_type": file.get("mimeType"),
        "size": int(file["size"]) if file.get("size") is not None else None,
        "owners": [owner for owner in owners if owner],
        "web_view_link": file.get("webViewLink"),
        "icon_link": file.get("iconLink"),
        "modified_time": file.get("modifiedTime"),
        "can_share": bool(capabilities.get("canShare", False)),
        "status": "trashed" if file.get("trashed") else "ok",
    }


class TeamMember(BaseModel):
    """Someone of the CRM record's team the file is shared with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    role: Literal["reader", "commenter", "writer"] = "reader"


class Sharing(BaseModel):
    team: list[TeamMember] = Field(default_factory=list)
    status: Literal["shared", "blocked", "not_asked"] = Field(
        description="shared: the team has access; blocked: the user may not share the file."
    )
    reason: str | None = Field(None, description="Why sharing was blocked: sharing_blocked.")


class DriveFileView(BaseModel):
    file_id: str
    name: str | None = None
    mime_type: str | None = None
    size: int | None = None
    owners: list[str] = Field(default_factory=list)
    web_view_link: str | None = Field(None, description="Opens the file (Google Docs: the editor).")
    icon_link: str | None = None
    modified_time: str | None = None
    status: FileStatus = Field(
        description="ok; trashed; removed (deleted in Drive, or this app's access to it gone); "
        "access_lost (the user disconnected or revoked Google: a link, until they reconnect)."
    )
    can_share: bool = False
    attached_to: list[CrmEntity] = Field(default_factory=list)
    sharing: dict[str, Sharing] = Field(
        default_factory=dict, description="Per CRM record (type:id): the team shared with, and how."
    )
    updated_at: datetime | None = None


class DriveFilePage(BaseModel):
    items: list[DriveFileView]
    next_page_token: str | None = Field(description="Null on the last page.")


def file_view(data: Mapping[str, Any]) -> DriveFileView:
    return DriveFileView.model_validate(
        {name: data[name] for name in DriveFileView.model_fields if data.get(name) is not None}
    )
