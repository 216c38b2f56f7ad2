"""The shape of ids that come from outside (tenants, users, connections): safe as Firestore document ids."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

# Letters, digits, '_' and '-': never '/', '.', '..' or '__x__', which Firestore forbids or reserves.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
_ID = re.compile(ID_PATTERN)

ExternalId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]

# An address as the CRM may name one (a recipient, an attendee, a filter): the dot-atom of RFC 5322 in a
# domain of DNS labels. Stricter than the RFC on purpose: it is also what Google accepts.
EMAIL_PATTERN = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


# Document ids this code composes from external ids (a synced copy is "<connection id>_<Gmail id>"): the
# same characters, room for two ids and more (Firestore itself allows 1,500 bytes).
_DOCUMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,299}$")


def is_valid_id(value: str) -> bool:
    return bool(_ID.fullmatch(value))


def is_valid_document_id(value: str) -> bool:
    return bool(_DOCUMENT_ID.fullmatch(value))
