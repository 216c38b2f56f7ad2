"""The shape of ids that come from outside (tenants, users, connections): safe as Firestore document ids."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

# Letters, digits, '_' and '-': never '/', '.', '..' or '__x__', which Firestore forbids or reserves.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
_ID = re.compile(ID_PATTERN)

ExternalId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


# Document ids this code composes from external ids (a synced copy is "<connection id>_<Gmail id>"): the
# same characters, room for two ids and more (Firestore itself allows 1,500 bytes).
_DOCUMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,299}$")


def is_valid_id(value: str) -> bool:
    return bool(_ID.fullmatch(value))


def is_valid_document_id(value: str) -> bool:
    return bool(_DOCUMENT_ID.fullmatch(value))
