"""Bytes the API hands back as a file (a mail's attachment, a Drive export): one way of answering them."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator

import flask

_MIME_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
_STREAM_CHUNK_BYTES = 64 * 1024
_RFC5987_SAFE = "!#$&+^`|"  # with quote's own letters, digits and "_.-~": RFC 5987's attr-char


def file_response(data: bytes, *, filename: str, mime_type: str) -> flask.Response:
    """The bytes as a download: streamed, with their type (or octet-stream when it is not a plain media
    type), a safe file name, never sniffed or cached."""
    mime_type = mime_type.strip().lower()
    if not _MIME_TYPE.fullmatch(mime_type):
        mime_type = "application/octet-stream"

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), _STREAM_CHUNK_BYTES):
            yield data[start : start + _STREAM_CHUNK_BYTES]

    response = flask.Response(chunks(), status=200, content_type=mime_type)
    response.headers["Content-Length"] = str(len(data))
    response.headers["Content-Disposition"] = content_disposition(filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def content_disposition(filename: str) -> str:
    """``attachment`` with the file name as RFC 5987 UTF-8 (``filename*``) and an ASCII fallback."""
    base = re.split(r"[/\\]", filename)[-1]
    name = "".join(ch for ch in base if ch.isprintable()).strip()[:255] or "attachment"
    fallback = "".join(ch if ch.isascii() and ch not in '"\\%;' else "_" for ch in name)
    encoded = urllib.parse.quote(name, safe=_RFC5987_SAFE, encoding="utf-8", errors="replace")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
