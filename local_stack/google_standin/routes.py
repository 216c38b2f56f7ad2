"""The two kinds of route the stand-in serves, so each API module can declare its own.

``PlainRoute``: served as is (OAuth endpoints, certs, the admin API). ``ApiRoute``: a Google API method,
which the server wraps in everything Google does around a call: the bearer token and its scopes, the
``userId`` check, latency, fault scripts, the concurrency cap, quota, and the call log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response


@dataclass(frozen=True)
class PlainRoute:
    method: str
    path: str  # werkzeug rule syntax, e.g. "/token" or "/standin/accounts/<email>"
    endpoint: str  # unique name, e.g. "oauth.token"
    handler: Callable[[Request, Mapping[str, str]], Response]


@dataclass
class ApiCall:
    """What an API method handler receives. ``account`` is the email the bearer token belongs to.
    A handler may set ``details``: the server puts them into the call's record in the call log."""

    request: Request
    path: Mapping[str, str]
    account: str
    scopes: frozenset[str]
    details: dict[str, Any] | None = None

    def json(self) -> Any:
        from local_stack.google_standin.errors import bad_request

        try:
            return self.request.get_json(force=True, silent=False) if self.request.get_data() else {}
        except Exception:  # noqa: BLE001 - any parse failure is Google's 400
            raise bad_request("Invalid JSON payload received.") from None

    def args_list(self, name: str) -> list[str]:
        return self.request.args.getlist(name)


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str  # werkzeug rule, relative to the server root: "/gmail/v1/users/<user_id>/profile"
    method_id: str  # the discovery id, e.g. "gmail.users.getProfile": quota, faults and the log key on it
    # Returns a JSON-able dict (200), None (204 for methods Google answers with an empty body), or a Response.
    handler: Callable[[ApiCall], dict[str, Any] | Response | None]
    scopes: frozenset[str] = field(default_factory=frozenset)  # any one of them admits the call
