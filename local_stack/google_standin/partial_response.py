"""Google's partial responses: the ``fields`` system parameter (``id,name``, ``files(id,webViewLink)``,
``nextPageToken,changes/file/name``, ``*``), parsed, checked against the discovery schema as Google
checks it (an unknown name answers 400 ``invalidParameter``), and applied to an answer.

Drive v3 leans on it: without ``fields`` a file comes back with ``kind``, ``id``, ``name`` and
``mimeType`` only, so each method has a default selection.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from local_stack.google_standin.errors import invalid_field_selection

# A selection: each selected name, with what is selected inside it (None: all of it).
Selection = dict[str, "Selection | None"]

_NAME = re.compile(r"[A-Za-z0-9_*]+")


def parse_fields(text: str) -> Selection | None:
    """``fields`` as a selection; None for ``*`` (everything)."""
    parser = _Parser(text.replace(" ", ""))
    selection = parser.items()
    if parser.position != len(parser.text):
        raise invalid_field_selection(text)
    return None if "*" in selection else selection


def apply(value: Any, selection: Selection | None) -> Any:
    """``value`` with only the selected parts; a list applies the selection to each of its items."""
    if selection is None:
        return value
    if isinstance(value, list):
        return [apply(item, selection) for item in value]
    if not isinstance(value, dict):
        return value
    if "*" in selection:
        return value
    return {key: apply(value[key], inner) for key, inner in selection.items() if key in value}


def check(selection: Selection | None, schema: str, *, api: str = "drive", version: str = "v3") -> None:
    """400 ``invalidParameter`` for a name the schema (a discovery schema id) does not have."""
    if selection is None:
        return
    properties = _schema(api, version, schema).get("properties", {})
    for name, inner in selection.items():
        if name == "*":
            continue
        if name not in properties:
            raise invalid_field_selection(name)
        target = _target_schema(properties[name])
        if inner is not None and target is not None:
            check(inner, target, api=api, version=version)


def _target_schema(prop: dict[str, Any]) -> str | None:
    """The schema a property holds (itself or as list items), or None for maps and plain values."""
    if "$ref" in prop:
        return str(prop["$ref"])
    items = prop.get("items")
    if isinstance(items, dict) and "$ref" in items:
        return str(items["$ref"])
    return None


@lru_cache(maxsize=64)
def _schemas(api: str, version: str) -> dict[str, Any]:
    from shared.google_apis.discovery import discovery_document

    schemas: dict[str, Any] = discovery_document(api, version)["schemas"]
    return schemas


def schema_properties(name: str, *, api: str = "drive", version: str = "v3") -> dict[str, Any]:
    """The properties of a discovery schema (``File``): what a request body may name."""
    properties: dict[str, Any] = _schema(api, version, name).get("properties", {})
    return properties


def _schema(api: str, version: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = _schemas(api, version).get(name, {})
    return found


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def items(self) -> Selection:
        selection: Selection = {}
        while True:
            path, inner = self.item()
            _merge(selection, path, inner)
            if self.position < len(self.text) and self.text[self.position] == ",":
                self.position += 1
                continue
            return selection

    def item(self) -> tuple[list[str], Selection | None]:
        path = [self.name()]
        while self.position < len(self.text) and self.text[self.position] == "/":
            self.position += 1
            path.append(self.name())
        inner: Selection | None = None
        if self.position < len(self.text) and self.text[self.position] == "(":
            self.position += 1
            inner = self.items()
            if self.position >= len(self.text) or self.text[self.position] != ")":
                raise invalid_field_selection(self.text)
            self.position += 1
            if "*" in inner:
                inner = None
        return path, inner

    def name(self) -> str:
        match = _NAME.match(self.text, self.position)
        if match is None:
            raise invalid_field_selection(self.text)
        self.position = match.end()
        return match.group()


def _merge(selection: Selection, path: list[str], inner: Selection | None) -> None:
    head, rest = path[0], path[1:]
    if not rest:
        if head in selection and selection[head] is not None and inner is not None:
            for key, value in inner.items():
                _merge(selection[head] or {}, [key], value)
        else:
            selection[head] = None if head in selection and selection[head] is None else inner
        return
    current = selection.get(head, {})
    if current is None:
        return  # already all of it
    if head not in selection:
        selection[head] = current
    _merge(current, rest, inner)
