"""What a Drive file is in the stand-in: its stored state, its permissions, the scopes' access rules,
and the Files resource Drive v3 answers with. drive_store.py keeps them per account.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from local_stack.google_standin.calendar_times import rfc3339_millis

FOLDER = "application/vnd.google-apps.folder"
GOOGLE_DOC = "application/vnd.google-apps.document"
GOOGLE_SHEET = "application/vnd.google-apps.spreadsheet"
GOOGLE_SLIDES = "application/vnd.google-apps.presentation"
GOOGLE_TYPES_PREFIX = "application/vnd.google-apps."
DOCS_EDITORS = frozenset({GOOGLE_DOC, GOOGLE_SHEET, GOOGLE_SLIDES})

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
TEXT = "text/plain"
HTML = "text/html"
MARKDOWN = "text/markdown"
CSV = "text/csv"

# What each Docs Editors type exports to in the stand-in (a subset of Google's list, which also has
# odt, rtf, epub, zipped HTML, xlsx, pptx...), with the extension its export link names.
EXPORTS: dict[str, dict[str, str]] = {
    GOOGLE_DOC: {PDF: "pdf", DOCX: "docx", TEXT: "txt", HTML: "html", MARKDOWN: "md"},
    GOOGLE_SHEET: {PDF: "pdf", CSV: "csv"},
    GOOGLE_SLIDES: {PDF: "pdf", TEXT: "txt"},
}
_EXPORT_LINK = {
    GOOGLE_DOC: "https://docs.google.com/feeds/download/documents/export/Export?id={id}&exportFormat={ext}",
    GOOGLE_SHEET: "https://docs.google.com/spreadsheets/export?id={id}&exportFormat={ext}",
    GOOGLE_SLIDES: "https://docs.google.com/feeds/download/presentations/Export?id={id}&exportFormat={ext}",
}
_VIEW_LINK = {
    GOOGLE_DOC: "https://docs.google.com/document/d/{id}/edit?usp=drivesdk",
    GOOGLE_SHEET: "https://docs.google.com/spreadsheets/d/{id}/edit?usp=drivesdk",
    GOOGLE_SLIDES: "https://docs.google.com/presentation/d/{id}/edit?usp=drivesdk",
    FOLDER: "https://drive.google.com/drive/folders/{id}",
}

ROLES = ("owner", "organizer", "fileOrganizer", "writer", "commenter", "reader")
EDITOR_ROLES = frozenset({"owner", "organizer", "fileOrganizer", "writer"})
PERMISSION_TYPES = frozenset({"user", "group", "domain", "anyone"})
ANYONE_PERMISSION_ID = "anyoneWithLink"

_SCOPE = "https://www.googleapis.com/auth/"
DRIVE = _SCOPE + "drive"
DRIVE_FILE = _SCOPE + "drive.file"
DRIVE_READONLY = _SCOPE + "drive.readonly"
DRIVE_METADATA = _SCOPE + "drive.metadata"
DRIVE_METADATA_READONLY = _SCOPE + "drive.metadata.readonly"
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def new_file_id(length: int = 33) -> str:
    """Drive-like: a leading "1", then URL-safe characters (33 in all for files; Docs get 44)."""
    return "1" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length - 1))


def permission_id_for(key: str) -> str:
    """A numeric id per user, group or domain, the same on every file, as Drive's are."""
    return str(int.from_bytes(hashlib.sha256(key.lower().encode()).digest()[:8], "big")).zfill(20)


def display_name(email: str) -> str:
    return email.split("@", 1)[0].replace(".", " ").title()


@dataclass(frozen=True)
class Access:
    """What a token's scopes let it do with its account's files. ``drive.file``: only the files the app
    created or opened, or that the user picked with the Picker; everything else is 404 to it."""

    read_all: bool  # metadata of every file
    content_all: bool  # content (download, export) of every file
    write_all: bool  # changes to every file
    app_files: bool  # drive.file: read, content and write for the app's files

    @classmethod
    def of(cls, scopes: frozenset[str]) -> Access:
        return cls(
            read_all=bool(scopes & {DRIVE, DRIVE_READONLY, DRIVE_METADATA, DRIVE_METADATA_READONLY}),
            content_all=bool(scopes & {DRIVE, DRIVE_READONLY}),
            # drive.metadata reaches files.update by discovery: metadata writes to every file.
            write_all=bool(scopes & {DRIVE, DRIVE_METADATA}),
            app_files=DRIVE_FILE in scopes,
        )

    def sees(self, stored: StoredFile) -> bool:
        return stored.is_root or self.read_all or (self.app_files and stored.app_visible)

    def reads_content(self, stored: StoredFile) -> bool:
        return self.content_all or (self.app_files and stored.app_visible)

    def writes(self, stored: StoredFile) -> bool:
        return stored.is_root or self.write_all or (self.app_files and stored.app_visible)


USER = Access(read_all=True, content_all=True, write_all=True, app_files=True)  # the user in Drive's UI


@dataclass
class Permission:
    id: str
    type: str
    role: str
    email_address: str | None = None
    domain: str | None = None
    allow_file_discovery: bool | None = None
    expiration_time: str | None = None

    def resource(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "kind": "drive#permission",
            "id": self.id,
            "type": self.type,
            "role": self.role,
            "deleted": False,
            "pendingOwner": False,
        }
        if self.email_address is not None:
            answer["emailAddress"] = self.email_address
            answer["displayName"] = display_name(self.email_address)
        if self.domain is not None:
            answer["domain"] = self.domain
            answer["displayName"] = self.domain
        if self.type == "anyone":
            answer["displayName"] = "Anyone"
        if self.allow_file_discovery is not None:
            answer["allowFileDiscovery"] = self.allow_file_discovery
        if self.expiration_time is not None:
            answer["expirationTime"] = self.expiration_time
        return answer


@dataclass
class StoredFile:
    id: str
    name: str
    mime_type: str
    parents: list[str]
    owner: str  # the owner's email: the account's, or someone else's after set_sharing(can_share=False)
    created: float
    modified: float
    permissions: list[Permission]
    version: int = 1
    trashed: bool = False
    description: str | None = None
    content: bytes | None = None  # binary files
    paragraphs: list[str] | None = None  # Google Docs: the body, one string per paragraph
    app_visible: bool = False  # created or opened by the app, or picked with the Picker (drive.file)
    writers_can_share: bool = True
    viewers_can_copy_content: bool = True
    properties: dict[str, str] = field(default_factory=dict)
    app_properties: dict[str, str] = field(default_factory=dict)
    is_root: bool = False

    @property
    def is_folder(self) -> bool:
        return self.mime_type == FOLDER

    @property
    def is_binary(self) -> bool:
        return not self.mime_type.startswith(GOOGLE_TYPES_PREFIX)

    def role_of(self, email: str) -> str | None:
        for permission in self.permissions:
            if permission.type == "user" and (permission.email_address or "").lower() == email.lower():
                return permission.role
        return None

    def capabilities(self, me: str) -> dict[str, bool]:
        role = self.role_of(me)
        can_edit = role in EDITOR_ROLES
        owner = role == "owner"
        return {
            "canEdit": can_edit,
            "canShare": owner or (can_edit and self.writers_can_share),
            "canDownload": True,
            "canCopy": not self.is_folder,
            "canTrash": owner,
            "canUntrash": owner,
            "canDelete": owner,
            "canRename": can_edit,
            "canComment": can_edit or role == "commenter",
            "canAddChildren": self.is_folder and can_edit,
            "canModifyContent": can_edit,
            "canReadRevisions": can_edit,
            "canChangeViewersCanCopyContent": owner,
        }

    def resource(self, me: str) -> dict[str, Any]:
        """The full Files resource (``fields=*``) as ``me`` sees it."""
        if self.is_root:
            return self._root_resource(me)
        owner = {
            "kind": "drive#user",
            "displayName": display_name(self.owner),
            "emailAddress": self.owner,
            "me": self.owner.lower() == me.lower(),
            "permissionId": permission_id_for(self.owner),
        }
        me_user = {**owner, "displayName": display_name(me), "emailAddress": me, "me": True}
        me_user["permissionId"] = permission_id_for(me)
        answer: dict[str, Any] = {
            "kind": "drive#file",
            "id": self.id,
            "name": self.name,
            "mimeType": self.mime_type,
            "parents": list(self.parents),
            "starred": False,
            "trashed": self.trashed,
            "explicitlyTrashed": self.trashed,
            "spaces": ["drive"],
            "version": str(self.version),  # an int64: a string in JSON
            "createdTime": rfc3339_millis(self.created),
            "modifiedTime": rfc3339_millis(self.modified),
            "modifiedByMe": True,
            "owners": [owner],
            "ownedByMe": owner["me"],
            "lastModifyingUser": me_user,
            "webViewLink": _VIEW_LINK.get(
                self.mime_type, "https://drive.google.com/file/d/{id}/view?usp=drivesdk"
            ).format(id=self.id),
            "iconLink": f"https://drive-thirdparty.googleusercontent.com/16/type/{self.mime_type}",
            "capabilities": self.capabilities(me),
            "viewersCanCopyContent": self.viewers_can_copy_content,
            "copyRequiresWriterPermission": not self.viewers_can_copy_content,
            "writersCanShare": self.writers_can_share,
            "shared": len(self.permissions) > 1,
            "permissionIds": [permission.id for permission in self.permissions],
            "quotaBytesUsed": str(len(self.content or b"")),
            "isAppAuthorized": self.app_visible,
        }
        if self.description is not None:
            answer["description"] = self.description
        if self.properties:
            answer["properties"] = dict(self.properties)
        if self.app_properties:
            answer["appProperties"] = dict(self.app_properties)
        if self.is_binary:
            content = self.content or b""
            answer["size"] = str(len(content))
            answer["md5Checksum"] = hashlib.md5(content, usedforsecurity=False).hexdigest()
            answer["sha256Checksum"] = hashlib.sha256(content).hexdigest()
            answer["headRevisionId"] = base64.urlsafe_b64encode(
                hashlib.sha256(b"%d" % self.version + content).digest()[:24]
            ).decode()
            answer["webContentLink"] = f"https://drive.google.com/uc?id={self.id}&export=download"
            answer["originalFilename"] = self.name
            if "." in self.name:
                answer["fileExtension"] = answer["fullFileExtension"] = self.name.rsplit(".", 1)[1]
        if self.mime_type in EXPORTS:
            link = _EXPORT_LINK[self.mime_type]
            answer["exportLinks"] = {
                mime: link.format(id=self.id, ext=ext) for mime, ext in EXPORTS[self.mime_type].items()
            }
        return answer

    def _root_resource(self, me: str) -> dict[str, Any]:
        return {
            "kind": "drive#file",
            "id": self.id,
            "name": "My Drive",
            "mimeType": FOLDER,
            "starred": False,
            "trashed": False,
            "explicitlyTrashed": False,
            "spaces": ["drive"],
            "version": str(self.version),
            "createdTime": rfc3339_millis(self.created),
            "modifiedTime": rfc3339_millis(self.modified),
            "owners": [
                {"kind": "drive#user", "displayName": display_name(me), "emailAddress": me, "me": True}
            ],
            "ownedByMe": True,
            "webViewLink": "https://drive.google.com/drive/my-drive",
            "capabilities": self.capabilities(me),
            "shared": False,
        }
