"""Contacts harvested from synced mail: From on received mail, To and Cc on sent mail, one per address
whatever its case or display name, never the account itself.

A contact's ``received_count`` and ``sent_count`` count the copies the CRM holds that name it (ADR 0012):
each copy records whom it counted (``counted_as``, ``counted_contacts``) in the same atomic write that
counts them, and whatever deletes a copy (a purge, a disconnect, a revocation, Gmail's own deletion)
uncounts them in the same atomic write. So the counters always equal a recount of the stored copies,
through replays, crashes, disconnects and reconnects. First and last contact times are history: a
deletion leaves them as they were.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from shared.mail.records import CONTACTS, Address, ParsedMessage, contact_doc_id
from shared.storage.documents import Increment, Maximum, Minimum, Writes
from shared.storage.scope import TenantScope

Role = Literal["received", "sent"]
# What a deletion must read of a copy to uncount it (a query's projection names these).
COUNT_FIELDS = ("counted_as", "counted_contacts")


@dataclass(frozen=True)
class Counted:
    """Whom one copy counts, and as what."""

    role: Role
    people: dict[str, Address]  # by lower-cased address
    at: datetime

    def fields(self) -> dict[str, Any]:
        return {"counted_as": self.role, "counted_contacts": sorted(self.people)}


def correspondents(
    parsed: ParsedMessage, labels: Iterable[str], at: datetime, *, own_address: str
) -> Counted:
    """From on received mail, To and Cc on sent mail; never the account itself."""
    sent = "SENT" in set(labels)
    people = [*parsed.to, *parsed.cc] if sent else parsed.sender
    own = own_address.lower()
    found = {address.email: address for address in people if address.email and address.email != own}
    return Counted("sent" if sent else "received", found, at)


@dataclass
class _Tally:
    address: Address
    received: int
    sent: int
    first_at: datetime
    last_at: datetime


def count(writes: Writes, scope: TenantScope, copies: Iterable[Counted]) -> None:
    """Add the copies' contacts to their counters: one write per contact, whatever the number of copies
    naming it (counts summed, earliest and latest contact times)."""
    merged: dict[str, _Tally] = {}
    for copy in copies:
        for email, address in copy.people.items():
            received, sent = (1, 0) if copy.role == "received" else (0, 1)
            tally = merged.get(email)
            if tally is None:
                merged[email] = _Tally(address, received, sent, copy.at, copy.at)
                continue
            tally.address = address if address.name else tally.address
            tally.received += received
            tally.sent += sent
            tally.first_at = min(tally.first_at, copy.at)
            tally.last_at = max(tally.last_at, copy.at)
    for email, tally in merged.items():
        contact: dict[str, Any] = {
            "tenant_id": scope.tenant_id,
            "email": email,
            "received_count": Increment(tally.received),
            "sent_count": Increment(tally.sent),
            # Minimum and Maximum transforms take numbers only: epoch milliseconds.
            "first_contact_ms": Minimum(_epoch_ms(tally.first_at)),
            "last_contact_ms": Maximum(_epoch_ms(tally.last_at)),
        }
        if tally.address.name:
            contact["display_name"] = tally.address.name
        writes.set(scope.document(CONTACTS, contact_doc_id(email)), contact, merge=True)


def uncount(writes: Writes, scope: TenantScope, copies: Iterable[Mapping[str, Any]]) -> None:
    """Take deleted copies (their stored fields) off their contacts' counters, one write per contact."""
    received: dict[str, int] = {}
    sent: dict[str, int] = {}
    for data in copies:
        role, people = data.get("counted_as"), data.get("counted_contacts")
        if role not in ("received", "sent") or not isinstance(people, list):
            continue  # counted nothing (contacts off, or the account's own mail)
        tally = received if role == "received" else sent
        for email in people:
            if isinstance(email, str):
                tally[email] = tally.get(email, 0) + 1
    for email in sorted(set(received) | set(sent)):
        writes.set(
            scope.document(CONTACTS, contact_doc_id(email)),
            {
                "tenant_id": scope.tenant_id,
                "email": email,
                "received_count": Increment(-received.get(email, 0)),
                "sent_count": Increment(-sent.get(email, 0)),
            },
            merge=True,
        )


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
