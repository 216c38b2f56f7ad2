"""Builds google-api-python-client services from the bundled discovery documents, offline.

Pointed at a local stand-in, every root URL of the document is rewritten, not just the endpoint:
``client_options={"api_endpoint": ...}`` alone leaves batch and media-upload requests going to
https://*.googleapis.com (local-stack.md), which would escape the stand-in.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.auth.credentials import Credentials


@lru_cache(maxsize=8)
def _document(api: str, version: str) -> str:
    from googleapiclient.discovery_cache import get_static_doc

    document = get_static_doc(api, version)
    if document is None:
        raise LookupError(f"no bundled discovery document for {api} {version}")
    return str(document)


def discovery_document(api: str, version: str, *, root_url: str | None = None) -> dict[str, Any]:
    """The bundled document, with ``rootUrl``, ``mtlsRootUrl`` and ``baseUrl`` moved to ``root_url``."""
    document: dict[str, Any] = json.loads(_document(api, version))
    if root_url:
        root = root_url.rstrip("/") + "/"
        document["rootUrl"] = root
        document["mtlsRootUrl"] = root
        document["baseUrl"] = root + document.get("servicePath", "")
    return document


def build_service(api: str, version: str, credentials: Credentials, *, root_url: str | None = None) -> Any:
    """A service object for ``api``; build once per instance and thread (httplib2 is not thread-safe)."""
    from googleapiclient.discovery import build_from_document

    return build_from_document(discovery_document(api, version, root_url=root_url), credentials=credentials)
