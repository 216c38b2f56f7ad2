"""What the Drive tests share: scopes, the Docs Editors types, and media helpers."""

from __future__ import annotations

import io
from typing import Any

from googleapiclient.http import MediaIoBaseUpload

DRIVE = "https://www.googleapis.com/auth/drive"
DRIVE_FILE = "https://www.googleapis.com/auth/drive.file"
DRIVE_READONLY = "https://www.googleapis.com/auth/drive.readonly"
DOC = "application/vnd.google-apps.document"
SHEET = "application/vnd.google-apps.spreadsheet"
FOLDER = "application/vnd.google-apps.folder"
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def media(data: bytes, mime_type: str = "application/octet-stream") -> MediaIoBaseUpload:
    """A non-resumable upload: the client sends uploadType=media, or multipart with a body."""
    return MediaIoBaseUpload(io.BytesIO(data), mimetype=mime_type, resumable=False)


def names(files: list[dict[str, Any]]) -> list[str]:
    return [str(f["name"]) for f in files]
