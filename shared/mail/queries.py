"""Reads of synced mail and contacts for the API: tenant-scoped, paginated, newest first, write-free.

Every query this module can send is built from a shape declared in ``shared.mail.shapes`` (the index
test checks each against the composite indexes production needs).

Listings are ordered newest first by ``received_at`` (contacts: ``last_contact_ms``) with a unique
tie-breaker, and resume from a cursor of those values carried in an opaque page token bound to its
listing and filters: a token from another listing, another connection or other filters is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from shared.crm_links.entities import CrmEntity
from shared.errors import NotFound
from shared.mail.records import (
    CONTACTS,
    MESSAGES,
    Address,
    AttachmentMeta,
    Contact,
    StoredMessage,
    message_doc_id,
)
from shared.mail.shapes import QUERY_SHAPES, message_listing_name
from shared.mail.store import body_chunk_refs
from shared.storage.documents import DOCUMENT_ID, DocRef, Query, Snapshot
from shared.storage.page_tokens import (
    decode_ordered_page_token,
    encode_page_token,
    from_micros,
    invalid_page_token,
    listing_key,
    micros,
)
from shared.storage.scope import TenantScope
from shared.storage.shapes import RangeFilter, build_query

THREAD_LIMIT = 200
# A listing whose filters cannot all be served by one query (Firestore allows one array-contains per
# query) filters the rest in memory; it reads at most this many copies per page and then answers a
# shorter page with a token to go on from where it stopped.
RESIDUAL_SCAN_LIMIT = 1000
_PREFIX_END = "\uf8ff"  # after every character an email address can hold: [prefix, prefix + this)


# --- answers ------------------------------------------------------------------------------------------


class MessageSummary(BaseModel):
    """A synced copy in a listing: no bodies."""

    message_key: str
    gmail_id: str
    thread_id: str
    subject: str | None = None
    sender: list[Address] = Field(default_factory=list)
    to: list[Address] = Field(default_factory=list)
    snippet: str = ""
    label_ids: list[str] = Field(default_factory=list)
    unread: bool = False
    received_at: datetime
    attachment_count: int = Field(0, description="How many attachments the message has.")
    attached_to: list[dict[str, str]] = Field(
        default_factory=list, description="CRM records and tasks this copy is attached to."
    )
    deleted_in_gmail: bool = False


class MessagePage(BaseModel):
    items: list[MessageSummary]
    next_page_token: str | None = Field(description="The next page's token; null on the last page.")


class ThreadView(BaseModel):
    thread_id: str
    messages: list[StoredMessage] = Field(description="Oldest first, bodies included, at most 200.")
    truncated: bool = Field(description="True when the thread holds more copies than were served.")


class ContactPage(BaseModel):
    items: list[Contact]
    next_page_token: str | None = Field(description="The next page's token; null on the last page.")


@dataclass(frozen=True)
class MessageFilters:
    thread_id: str | None = None
    label: str | None = None
    correspondent: str | None = None  # lower-cased by the caller's model; lower-cased again here
    received_after: datetime | None = None  # exclusive
    received_before: datetime | None = None  # exclusive


# --- reads --------------------------------------------------------------------------------------------


def list_messages(
    scope: TenantScope,
    connection_id: str,
    *,
    thread_id: str | None = None,
    label: str | None = None,
    correspondent: str | None = None,
    received_after: datetime | None = None,
    received_before: datetime | None = None,
    page_size: int,
    page_token: str | None,
) -> MessagePage:
    """One page of the connection's copies, newest first, every filter combined (AND)."""
    filters = MessageFilters(
        thread_id=thread_id,
        label=label,
        correspondent=correspondent.strip().lower() if correspondent is not None else None,
        received_after=received_after,
        received_before=received_before,
    )
    shape_name, equal, contains, residual = _plan_messages(connection_id, filters)
    shape = QUERY_SHAPES[shape_name]
    ranges: list[RangeFilter] = []
    if filters.received_after is not None:
        ranges.append(RangeFilter("received_at", ">", filters.received_after))
    if filters.received_before is not None:
        ranges.append(RangeFilter("received_at", "<", filters.received_before))
    collection = scope.collection(MESSAGES)
    query = build_query(collection, shape, equal=equal, contains=contains, ranges=ranges)
    listing = _listing_key(
        "messages",
        scope.tenant_id,
        connection_id,
        [
            filters.thread_id,
            filters.label,
            filters.correspondent,
            None if filters.received_after is None else micros(filters.received_after),
            None if filters.received_before is None else micros(filters.received_before),
        ],
    )
    return _newest_first_page(
        scope,
        query,
        listing,
        page_token,
        page_size,
        residual,
        document_prefix=f"{connection_id}_",
    )


def _plan_messages(
    connection_id: str, filters: MessageFilters
) -> tuple[str, dict[str, Any], Any, Callable[[Mapping[str, Any]], bool] | None]:
    """Which shape serves these filters, its values, and what must be filtered in memory (if any)."""
    equal: dict[str, Any] = {"connection_id": connection_id}
    if filters.thread_id is not None:
        equal["thread_id"] = filters.thread_id
    residual: Callable[[Mapping[str, Any]], bool] | None = None
    array: str | None = None
    contains: Any = None
    if filters.correspondent is not None:
        # The more selective of the two array filters goes to Firestore; a label is checked here.
        array, contains = "correspondents", filters.correspondent
        if filters.label is not None:
            residual = _has_label(filters.label)
    elif filters.label is not None:
        array, contains = "label_ids", filters.label
    return message_listing_name(filters.thread_id is not None, array), equal, contains, residual


def _has_label(label: str) -> Callable[[Mapping[str, Any]], bool]:
    def has_label(data: Mapping[str, Any]) -> bool:
        return label in (data.get("label_ids") or [])

    return has_label


def get_message(scope: TenantScope, connection_id: str, gmail_id: str) -> StoredMessage:
    """The full copy, its body reassembled from its chunks when it was stored in them."""
    reference = scope.document(MESSAGES, message_doc_id(connection_id, gmail_id))
    data = scope.get(reference)
    if data is None or data.get("connection_id") != connection_id:
        raise NotFound("No such message.", code="message_not_found")
    return _full(scope, reference, data)


def get_attachment_meta(
    scope: TenantScope, connection_id: str, gmail_id: str, part_id: str
) -> AttachmentMeta:
    """The stored description of one attachment of a copy (404 when the copy or the part is unknown)."""
    reference = scope.document(MESSAGES, message_doc_id(connection_id, gmail_id))
    snapshot = scope.snapshot(reference, fields=["tenant_id", "connection_id", "attachments"])
    data = snapshot.to_dict() if snapshot.exists else None
    if not data or data.get("tenant_id") != scope.tenant_id or data.get("connection_id") != connection_id:
        raise NotFound("No such message.", code="message_not_found")
    for item in data.get("attachments") or []:
        if isinstance(item, Mapping) and item.get("part_id") == part_id:
            return AttachmentMeta.model_validate(item)
    raise NotFound("The message has no such attachment.", code="attachment_not_found")


def get_thread(scope: TenantScope, connection_id: str, thread_id: str) -> ThreadView:
    """The thread's copies, oldest first, bodies included; at most ``THREAD_LIMIT`` of them."""
    collection = scope.collection(MESSAGES)
    query = build_query(
        collection, QUERY_SHAPES["thread"], equal={"connection_id": connection_id, "thread_id": thread_id}
    ).limit(THREAD_LIMIT + 1)
    snapshots = _run(scope, query)
    messages = [
        _full(scope, snapshot.ref, data)
        for snapshot in snapshots[:THREAD_LIMIT]
        if (data := snapshot.to_dict() or {}).get("tenant_id") == scope.tenant_id
    ]
    if not messages:
        raise NotFound("No such thread.", code="thread_not_found")
    return ThreadView(thread_id=thread_id, messages=messages, truncated=len(snapshots) > THREAD_LIMIT)


def list_contacts(
    scope: TenantScope, *, page_size: int, page_token: str | None, query: str | None = None
) -> ContactPage:
    """The tenant's contacts, most recent contact first; ``query``: a prefix of the email address."""
    prefix = query.strip().lower() if query is not None else None
    ranges: list[RangeFilter] = []
    if prefix:
        ranges = [RangeFilter("email", ">=", prefix), RangeFilter("email", "<", prefix + _PREFIX_END)]
    collection = scope.collection(CONTACTS)
    firestore_query = build_query(collection, QUERY_SHAPES["contacts"], equal={}, ranges=ranges)
    listing = _listing_key("contacts", scope.tenant_id, "", [prefix])
    cursor = decode_ordered_page_token(page_token, listing=listing)
    if cursor is not None:
        at, document_id = cursor
        # The token names the contact, not its address: its (never changing) email is read back here.
        contact = scope.get(scope.document(CONTACTS, document_id))
        if contact is None or not isinstance(contact.get("email"), str):
            raise invalid_page_token()
        firestore_query = firestore_query.start_after({"last_contact_ms": at, "email": contact["email"]})
    page = _scan(scope, firestore_query, page_size, None)
    items = [
        Contact.model_validate(data)
        for snapshot in page.served
        if (data := snapshot.to_dict() or {}).get("tenant_id") == scope.tenant_id
    ]
    next_token = None
    if page.more is not None:
        last = page.more.get("last_contact_ms")
        if not isinstance(last, int) or isinstance(last, bool):
            raise TypeError("a contact's last_contact_ms is not a number")
        next_token = encode_page_token(page.more.id, listing=listing, at=last)
    return ContactPage(items=items, next_page_token=next_token)


def list_attached(
    scope: TenantScope, entity: CrmEntity, *, page_size: int, page_token: str | None
) -> MessagePage:
    """One page of the copies attached to ``entity``, newest first, whichever user's mail they are."""
    collection = scope.collection(MESSAGES)
    query = build_query(collection, QUERY_SHAPES["attached"], equal={}, contains=entity.as_map())
    listing = _listing_key("attached", scope.tenant_id, "", [entity.type, entity.id])
    return _newest_first_page(scope, query, listing, page_token, page_size, None)


def _newest_first_page(
    scope: TenantScope,
    query: Query,
    listing: str,
    page_token: str | None,
    page_size: int,
    residual: Callable[[Mapping[str, Any]], bool] | None,
    *,
    document_prefix: str = "",
) -> MessagePage:
    """One page of a copy listing ordered by (received_at, id): resumed after the token's cursor (which
    must name a document starting with ``document_prefix``), with the token of the next page."""
    cursor = decode_ordered_page_token(page_token, listing=listing)
    if cursor is not None:
        at, document_id = cursor
        if not document_id.startswith(document_prefix):
            raise invalid_page_token()
        query = query.start_after(
            {"received_at": from_micros(at), DOCUMENT_ID: scope.collection(MESSAGES).document(document_id)}
        )
    page = _scan(scope, query, page_size, residual)
    items = [_summary(snapshot, scope.tenant_id) for snapshot in page.served]
    next_token = None
    if page.more is not None:
        next_token = encode_page_token(page.more.id, listing=listing, at=micros(page.more.get("received_at")))
    return MessagePage(items=[item for item in items if item is not None], next_page_token=next_token)


# --- scanning -----------------------------------------------------------------------------------------


def _run(scope: TenantScope, query: Query) -> list[Snapshot]:
    """Every listing query leaves through here (the index test watches this door)."""
    return scope.stream(query)


@dataclass
class _ScanResult:
    served: list[Snapshot]
    more: Snapshot | None  # the last copy read when more may follow: the next page's cursor


def _scan(
    scope: TenantScope, query: Query, page_size: int, residual: Callable[[Mapping[str, Any]], bool] | None
) -> _ScanResult:
    """One page from ``query``.

    Without a residual filter: ``page_size + 1`` read, the extra one only says that more follow. With
    one: batches are read and filtered until the page is full, the query ends, or the scan limit is hit
    (a shorter page, even an empty one, then carries a token to go on from the last copy read).
    """
    if residual is None:
        snapshots = _run(scope, query.limit(page_size + 1))
        served = snapshots[:page_size]
        return _ScanResult(served, served[-1] if len(snapshots) > page_size else None)
    batch_size = max(page_size + 1, 50)
    served = []
    scanned = 0
    cursor: Snapshot | None = None
    while True:
        snapshots = _run(scope, (query if cursor is None else query.start_after(cursor)).limit(batch_size))
        for position, snapshot in enumerate(snapshots, start=1):
            scanned += 1
            if residual(snapshot.to_dict() or {}):
                served.append(snapshot)
                if len(served) == page_size:
                    last_of_query = position == len(snapshots) < batch_size
                    return _ScanResult(served, None if last_of_query else snapshot)
        if len(snapshots) < batch_size:
            return _ScanResult(served, None)
        cursor = snapshots[-1]
        if scanned >= RESIDUAL_SCAN_LIMIT:
            return _ScanResult(served, cursor)


# --- documents into answers ---------------------------------------------------------------------------


def _summary(snapshot: Snapshot, tenant_id: str) -> MessageSummary | None:
    data = snapshot.to_dict() or {}
    if data.get("tenant_id") != tenant_id:
        return None  # corrupt: a document under this tenant naming another is never served
    return MessageSummary(
        message_key=str(data.get("message_key") or snapshot.id),
        gmail_id=str(data.get("gmail_id", "")),
        thread_id=str(data.get("thread_id", "")),
        subject=data.get("subject"),
        sender=data.get("sender") or [],
        to=data.get("to") or [],
        snippet=str(data.get("snippet") or ""),
        label_ids=list(data.get("label_ids") or []),
        unread=bool(data.get("unread")),
        received_at=data["received_at"],
        attachment_count=len(data.get("attachments") or []),
        attached_to=list(data.get("attached_to") or []),
        deleted_in_gmail=bool(data.get("deleted_in_gmail")),
    )


def _full(scope: TenantScope, reference: DocRef, data: dict[str, Any]) -> StoredMessage:
    if data.get("body_in_chunks"):
        text, html, complete = _read_body(scope, reference, int(data.get("body_chunk_count") or 0))
        data = {**data, "text_body": text, "html_body": html}
        if not complete:
            # Chunks are written after the copy; until a replay rewrites them the body is not whole.
            data["parse_errors"] = [*(data.get("parse_errors") or []), "body_incomplete"]
    return StoredMessage.model_validate(data)


def _read_body(scope: TenantScope, reference: DocRef, count: int) -> tuple[str, str, bool]:
    """The chunks joined in order and decoded: (text, html, whether every chunk was there)."""
    chunks: dict[int, bytes] = {}
    for snapshot in scope.get_all(body_chunk_refs(reference, count)):
        chunk = snapshot.to_dict()
        if chunk.get("tenant_id") == scope.tenant_id and isinstance(chunk.get("data"), bytes):
            chunks[int(snapshot.id)] = chunk["data"]
    joined = bytearray()
    for index in range(count):  # the run of chunks from the first: a gap ends what can be decoded
        if index not in chunks:
            break
        joined += chunks[index]
    text, html = decode_body(bytes(joined))
    return text, html, count > 0 and len(chunks) == count


def decode_body(raw: bytes) -> tuple[str, str]:
    """The ``{"text", "html"}`` JSON of a chunked body; a body cut at the size cap is decoded as far
    as it goes (the store truncates the encoded JSON, flagging ``body_truncated``)."""
    decoded = raw.decode("utf-8", "replace")
    try:
        whole = json.loads(decoded)
    except ValueError:
        whole = None
    if isinstance(whole, dict):
        text, html = whole.get("text"), whole.get("html")
        return (text if isinstance(text, str) else "", html if isinstance(html, str) else "")
    return _decode_cut(decoded)


_KEY = re.compile(r'\s*,?\s*"(text|html)"\s*:\s*')


def _decode_cut(raw: str) -> tuple[str, str]:
    decoder = json.JSONDecoder()
    found: dict[str, str] = {}
    position = raw.find("{") + 1
    while position > 0:
        match = _KEY.match(raw, position)
        if match is None:
            break
        position = match.end()
        try:
            value, position = decoder.raw_decode(raw, position)
        except ValueError:
            found[match.group(1)] = _partial_string(raw[position:])
            break
        found[match.group(1)] = value if isinstance(value, str) else ""
    return found.get("text", ""), found.get("html", "")


def _partial_string(raw: str) -> str:
    """The longest decodable start of a JSON string cut short (perhaps inside an escape)."""
    if not raw.startswith('"'):
        return ""
    body = raw[1:]
    for cut in range(13):  # the longest escape cut in two: a surrogate pair, \\ud83d\\ude0 (11 chars)
        candidate = body[: len(body) - cut] if cut else body
        try:
            value = json.loads(f'"{candidate}"')
        except ValueError:
            continue
        if isinstance(value, str):
            return value[:-1] if value and "\ud800" <= value[-1] <= "\udbff" else value
    return ""


# --- page tokens --------------------------------------------------------------------------------------
# The codec is storage's (``encode_page_token``): the cursor's order value ("at": received_at in
# microseconds since the epoch; a contact's last_contact_ms as stored) and its document id. The listing
# key is a hash of the listing, tenant, connection and filters: a token only resumes the listing that
# issued it.


def _listing_key(kind: str, tenant_id: str, connection_id: str, filters: list[str | int | None]) -> str:
    return listing_key(kind, tenant_id, connection_id, filters)
