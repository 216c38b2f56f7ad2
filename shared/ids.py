"""The shape of ids that come from outside (tenants, users, connections): safe as Firestore document ids."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

# Letters, digits, '_' and '-': never '/', '.', '..' or '__x__', which Firestore forbids or reserves.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
_ID = re.compile(ID_PATTERN)

ExternalId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


def is_valid_id(value: str) -> bool:
    return bool(_ID.fullmatch(value))
