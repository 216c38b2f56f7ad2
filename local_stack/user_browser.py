"""Plays a user's browser: keeps cookies, shows where each redirect leads instead of following it, and
answers the Google stand-in's consent page from its real HTML form (account, unticked scopes, Allow)."""

from __future__ import annotations

import http.cookiejar
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from html.parser import HTMLParser
from typing import Any


class _ConsentForm(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.hidden: dict[str, str] = {}
        self.accounts: list[str] = []
        self.scopes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.action = attributes.get("action", "")
        if tag != "input" or "disabled" in attributes:
            return
        kind, name, value = attributes.get("type"), attributes.get("name"), attributes.get("value", "")
        if kind == "hidden" and name:
            self.hidden[name] = value
        elif kind == "radio" and name == "account":
            self.accounts.append(value)
        elif kind == "checkbox" and name == "scope":
            self.scopes.append(value)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def answer_consent(
    authorization_url: str, *, account: str, allow: bool = True, untick: Iterable[str] = ()
) -> tuple[str, list[str]]:
    """Submit the consent page at ``authorization_url``; returns (where Google redirects, scopes shown)."""
    with urllib.request.urlopen(authorization_url, timeout=10) as page:
        form = _ConsentForm()
        form.feed(page.read().decode())
    if account not in form.accounts:
        raise ValueError("the consent page does not offer that account")
    unticked = set(untick)
    fields = [*form.hidden.items(), ("account", account), ("decision", "allow" if allow else "deny")]
    fields += [("scope", scope) for scope in form.scopes if scope not in unticked]
    target = urllib.parse.urljoin(authorization_url, form.action)
    request = urllib.request.Request(target, data=urllib.parse.urlencode(fields).encode(), method="POST")
    try:
        urllib.request.build_opener(_NoRedirect).open(request, timeout=10)
    except urllib.error.HTTPError as redirect:
        if redirect.code in (302, 303):
            return str(redirect.headers["Location"]), form.scopes
        raise
    raise RuntimeError("the consent page did not redirect")


class UserBrowser:
    """One browser: a cookie jar, and GETs that stop at each redirect (the caller decides where to go)."""

    def __init__(self) -> None:
        self.cookies = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect
        )

    def visit(self, url: str) -> tuple[int, str | None]:
        """GET ``url``; returns (status, where it redirects to, if it does)."""
        try:
            with self._opener.open(url, timeout=30) as response:
                return response.status, None
        except urllib.error.HTTPError as answer:
            return answer.code, answer.headers.get("Location")
