"""Every query of synced mail and contacts, by shape (shared.storage.shapes): the listings of the API,
the sync's sweep, the purges, a record's attached mail. tests/unit/test_firestore_indexes.py checks each
against the composite indexes production needs."""

from __future__ import annotations

from shared.mail.records import CONTACTS, MESSAGES
from shared.storage.documents import DOCUMENT_ID, Direction
from shared.storage.shapes import QueryShape
from shared.writes.outbox import WRITES

_NEWEST: tuple[tuple[str, Direction], ...] = (("received_at", "DESCENDING"), (DOCUMENT_ID, "DESCENDING"))
_OLDEST: tuple[tuple[str, Direction], ...] = (("received_at", "ASCENDING"), (DOCUMENT_ID, "ASCENDING"))


def message_listing_name(thread: bool, array: str | None) -> str:
    return "messages" + (":thread" if thread else "") + (f":{array}" if array else "")


def _message_listing(thread: bool, array: str | None) -> QueryShape:
    return QueryShape(
        MESSAGES,
        equality=("connection_id", "thread_id") if thread else ("connection_id",),
        array_contains=array,
        ranges=("received_at",),
        order=_NEWEST,
    )


QUERY_SHAPES: dict[str, QueryShape] = {
    **{
        message_listing_name(thread, array): _message_listing(thread, array)
        for thread in (False, True)
        for array in (None, "label_ids", "correspondents")
    },
    "thread": QueryShape(MESSAGES, equality=("connection_id", "thread_id"), order=_OLDEST),
    # A resync's sweep: copies not seen by the latest full sync.
    "sync_sweep": QueryShape(
        MESSAGES,
        equality=("connection_id",),
        ranges=("sync_generation",),
        order=(("sync_generation", "ASCENDING"),),
    ),
    # The nightly purge: unattached copies received before the cutoff, oldest first; and all before it.
    "purge": QueryShape(
        MESSAGES, equality=("attached_to",), ranges=("received_at",), order=(("received_at", "ASCENDING"),)
    ),
    "purge_older": QueryShape(MESSAGES, ranges=("received_at",), order=(("received_at", "ASCENDING"),)),
    # Ties broken by email, unique per contact (the id is its hash): a page token never carries it.
    "contacts": QueryShape(
        CONTACTS, ranges=("email",), order=(("last_contact_ms", "DESCENDING"), ("email", "ASCENDING"))
    ),
    # The copies attached to one CRM record or task, across every connection of the tenant: the
    # array-contains value is the whole {"type", "id"} map (equal by value), newest first.
    "attached": QueryShape(MESSAGES, array_contains="attached_to", order=_NEWEST),
    # The mail a user sent from the CRM (writes of one operation), newest first.
    "outbound_messages": QueryShape(
        WRITES,
        equality=("connection_id", "operation"),
        order=(("created_at", "DESCENDING"), (DOCUMENT_ID, "DESCENDING")),
    ),
}
