"""Google's simple upload protocols on ``/upload/...`` paths: ``uploadType=media`` (the body is the
content) and ``uploadType=multipart`` (multipart/related: a JSON metadata part, then the content).

The parts are cut on the boundary as bytes, not through a MIME parser, so binary content comes through
byte for byte (google-api-python-client sends it with ``Content-Transfer-Encoding: binary``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request

from local_stack.google_standin.errors import GoogleApiError, bad_request

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)


@dataclass(frozen=True)
class Upload:
    metadata: dict[str, Any]
    media_type: str
    data: bytes


def read_upload(request: Request, *, max_bytes: int | None = None) -> Upload:
    """The metadata and content of a simple or multipart upload; Google's 400 for other kinds."""
    upload_type = request.args.get("uploadType", "media")
    data = request.get_data()
    if max_bytes is not None and len(data) > max_bytes:
        raise GoogleApiError(413, "uploadTooLarge", "The upload is too large.")
    content_type = request.headers.get("Content-Type", "application/octet-stream")
    if upload_type == "media":
        return Upload({}, content_type, data)
    if upload_type == "multipart":
        return _multipart(content_type, data)
    if upload_type == "resumable":
        raise bad_request("The stand-in does not take resumable uploads: use uploadType=media or multipart.")
    raise GoogleApiError(400, "invalid", f"Invalid value for uploadType: {upload_type}")


def _multipart(content_type: str, data: bytes) -> Upload:
    match = _BOUNDARY.search(content_type)
    if not content_type.lower().startswith("multipart/related") or match is None:
        raise bad_request("A multipart upload must be multipart/related with a boundary.")
    delimiter = b"--" + match.group(1).encode()
    chunks = data.split(delimiter)
    # chunks[0]: the preamble; the last: "--" and the epilogue; between them, the parts.
    parts = [_part(chunk) for chunk in chunks[1:-1]]
    if len(parts) != 2 or not chunks[-1].startswith(b"--"):
        raise bad_request("A multipart upload needs a metadata part and a media part.")
    (_, metadata_bytes), (media_type, media) = parts
    try:
        metadata = json.loads(metadata_bytes or b"{}")
    except ValueError:
        raise bad_request("Invalid JSON payload received.") from None
    if not isinstance(metadata, dict):
        raise bad_request("Invalid JSON payload received.")
    return Upload(metadata, media_type, media)


def _part(chunk: bytes) -> tuple[str, bytes]:
    """One part between two delimiters: its Content-Type and its body (the CRLF before the next
    delimiter belongs to the delimiter)."""
    newline = b"\r\n" if chunk.startswith(b"\r\n") else b"\n"  # the sender's line ending, throughout
    head, _, body = chunk.removeprefix(newline).partition(newline * 2)
    body = body.removesuffix(newline)
    media_type = "application/octet-stream"
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-type":
            media_type = value.strip()
    return media_type, body
