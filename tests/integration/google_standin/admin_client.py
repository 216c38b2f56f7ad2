"""The admin HTTP API as another process calls it: JSON over plain HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from local_stack.google_standin.standin import GoogleStandIn


def admin(standin: GoogleStandIn, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{standin.base_url}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
