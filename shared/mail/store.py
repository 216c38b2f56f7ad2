"""Synced message copies and contacts in Firestore: written exactly once, whatever is replayed.

New copies are written with ``create`` in atomic batches that carry their contacts' counters too, so a
contact counts a message exactly once even when a sync is duplicated or crashes and is redelivered: the
batch either commits whole (copies created and counted) or not at all. A batch that meets copies which
exist already reads which ones (the only reads, on replays) and writes the rest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.mail.records import (
    BODY_CHUNKS,
    CONTACTS,
    MESSAGES,
    Address,
    ParsedMessage,
    contact_doc_id,
    message_doc_id,
)
from shared.storage.firestore import translated_errors

if TYPE_CHECKING:
    from google.cloud.firestore import DocumentReference, DocumentSnapshot, Transaction

    Snapshot = DocumentSnapshot[DocumentReference]

    from shared.storage.firestore import TenantScope

# Firestore allows 1 MiB per document and 10 MiB per request: bodies above the inline limit move to
# chunk documents; bodies above the cap are truncated, with a flag, never dropped silently.
BODY_INLINE_LIMIT = 700_000
BODY_CHUNK_BYTES = 900_000
BODY_CAP_BYTES = 20 * 1024 * 1024
_BATCH_BYTES = 8 * 1024 * 1024
_BATCH_OPERATIONS = 450
# Gmail deleted a copy the CRM holds on to: it is kept, and says so.
_KEEP = {"deleted_in_gmail": True}


@dataclass(frozen=True)
class StoreResult:
    created: int
    refreshed: int  # existed already: labels and sync generation brought up to date


@dataclass(frozen=True)
class _Copy:
    gmail_id: str
    reference: DocumentReference
    document: dict[str, Any]
    chunks: list[bytes]
    contacts: dict[str, tuple[Address, int, int, datetime]]  # email -> (address, received, sent, at)
    size: int


class MailStore:
    def __init__(self, scope: TenantScope, connection_id: str, *, own_address: str) -> None:
        self._scope = scope
        self._connection_id = connection_id
        self._own = own_address.lower()

    def reference(self, gmail_id: str) -> DocumentReference:
        return self._scope.document(MESSAGES, message_doc_id(self._connection_id, gmail_id))

    # --- writing copies --------------------------------------------------------------------------------

    def store(
        self,
        resources: Mapping[str, Mapping[str, Any]],
        parsed: Mapping[str, ParsedMessage],
        *,
        generation: int,
    ) -> StoreResult:
        copies = [self._copy(resources[gmail_id], parsed[gmail_id], generation) for gmail_id in resources]
        created = refreshed = 0
        for group in _groups(copies):
            made, kept = self._write_group(group, generation)
            created += made
            refreshed += kept
        return StoreResult(created, refreshed)

    def _write_group(self, group: list[_Copy], generation: int) -> tuple[int, int]:
        from google.api_core import exceptions as gexc

        try:
            self._commit_new(group)
            return len(group), 0
        except gexc.AlreadyExists:
            pass  # a replay: some copies exist. Find which, then write only the new ones.
        with translated_errors():
            snapshots = self._scope.client.get_all(
                [copy.reference for copy in group], field_paths=["gmail_id"]
            )
            existing = {snapshot.reference.path for snapshot in snapshots if snapshot.exists}
        new = [copy for copy in group if copy.reference.path not in existing]
        old = [copy for copy in group if copy.reference.path in existing]
        if new:
            self._commit_new(new)
        if old:
            batch = self._scope.client.batch()
            for copy in old:
                batch.update(copy.reference, _mutable_fields(copy.document))
            with translated_errors():
                batch.commit()
        return len(new), len(old)

    def _commit_new(self, group: list[_Copy]) -> None:
        from google.cloud import firestore

        batch = self._scope.client.batch()
        for copy in group:
            batch.create(copy.reference, copy.document)
        for email, tally in _merge_contacts(group).items():
            contact: dict[str, Any] = {
                "tenant_id": self._scope.tenant_id,
                "email": email,
                "received_count": firestore.Increment(tally.received),
                "sent_count": firestore.Increment(tally.sent),
                # Minimum and Maximum transforms take numbers only: epoch milliseconds.
                "first_contact_ms": firestore.Minimum(_epoch_ms(tally.first_at)),
                "last_contact_ms": firestore.Maximum(_epoch_ms(tally.last_at)),
            }
            if tally.address.name:
                contact["display_name"] = tally.address.name
            batch.set(self._scope.document(CONTACTS, contact_doc_id(email)), contact, merge=True)
        with translated_errors():
            batch.commit()
        # Chunks after the copy: a copy whose chunks are missing says so (body_in_chunks) and the next
        # replay rewrites them; chunk writes are idempotent sets.
        for copy in group:
            for index, reference in enumerate(body_chunk_refs(copy.reference, len(copy.chunks))):
                with translated_errors():
                    reference.set(
                        {"tenant_id": self._scope.tenant_id, "index": index, "data": copy.chunks[index]}
                    )

    def _copy(self, resource: Mapping[str, Any], parsed: ParsedMessage, generation: int) -> _Copy:
        gmail_id = str(resource["id"])
        labels = [str(label) for label in resource.get("labelIds", [])]
        received_at = datetime.fromtimestamp(int(resource.get("internalDate", 0)) / 1000, UTC)
        text, html = parsed.text_body, parsed.html_body
        body = json.dumps({"text": text, "html": html}).encode()
        truncated = len(body) > BODY_CAP_BYTES
        chunks: list[bytes] = []
        if len(body) > BODY_INLINE_LIMIT:
            capped = body[:BODY_CAP_BYTES]
            chunks = [capped[i : i + BODY_CHUNK_BYTES] for i in range(0, len(capped), BODY_CHUNK_BYTES)]
            text = html = ""
        document = self._scope.stamp(
            {
                "message_key": message_doc_id(self._connection_id, gmail_id),
                "connection_id": self._connection_id,
                "gmail_id": gmail_id,
                "thread_id": str(resource.get("threadId", gmail_id)),
                "label_ids": labels,
                "unread": "UNREAD" in labels,
                "snippet": str(resource.get("snippet", "")),
                "subject": parsed.subject,
                "sender": [a.model_dump() for a in parsed.sender],
                "to": [a.model_dump() for a in parsed.to],
                "cc": [a.model_dump() for a in parsed.cc],
                "correspondents": sorted({a.email for a in (*parsed.sender, *parsed.to, *parsed.cc)}),
                "date": parsed.date,
                "message_id_header": parsed.message_id_header,
                "in_reply_to": parsed.in_reply_to,
                "references": parsed.references,
                "text_body": text,
                "html_body": html,
                "body_in_chunks": bool(chunks),
                "body_chunk_count": len(chunks),
                "body_truncated": truncated,
                "attachments": [a.model_dump() for a in parsed.attachments],
                "received_at": received_at,
                "size_estimate": int(resource.get("sizeEstimate", 0)),
                "history_id": str(resource.get("historyId", "")),
                "attached_to": [],
                "parse_errors": parsed.parse_errors,
                "deleted_in_gmail": False,
                "sync_generation": generation,
            }
        )
        contacts = self._correspondents(parsed, labels, received_at)
        return _Copy(gmail_id, self.reference(gmail_id), document, chunks, contacts, len(body))

    def _correspondents(
        self, parsed: ParsedMessage, labels: list[str], at: datetime
    ) -> dict[str, tuple[Address, int, int, datetime]]:
        """From on received mail, To and Cc on sent mail; never the account itself."""
        sent = "SENT" in labels
        people = [*parsed.to, *parsed.cc] if sent else parsed.sender
        found: dict[str, tuple[Address, int, int, datetime]] = {}
        for address in people:
            if address.email and address.email != self._own:
                found[address.email] = (address, 0 if sent else 1, 1 if sent else 0, at)
        return found

    # --- changes Gmail reports ------------------------------------------------------------------------

    def update_labels(self, labels_by_id: Mapping[str, list[str]]) -> int:
        """New label sets for copies we hold; copies we do not hold (older than retention) are skipped."""
        from google.api_core import exceptions as gexc

        updated = 0
        for gmail_id, labels in labels_by_id.items():
            try:
                with translated_errors():
                    self.reference(gmail_id).update({"label_ids": labels, "unread": "UNREAD" in labels})
                updated += 1
            except gexc.NotFound:
                continue
        return updated

    def remove(self, gmail_ids: Iterable[str]) -> int:
        """Gmail deleted these: drop our copies, except attached ones, which are kept and flagged."""
        removed = 0
        for gmail_id in gmail_ids:
            removed += delete_copy_if_unattached(self._scope, self.reference(gmail_id), when_attached=_KEEP)
        return removed

    def existing(self, gmail_ids: Iterable[str]) -> set[str]:
        references = [self.reference(gmail_id) for gmail_id in gmail_ids]
        if not references:
            return set()
        with translated_errors():
            snapshots = self._scope.client.get_all(references, field_paths=["gmail_id"])
            return {str(snapshot.get("gmail_id")) for snapshot in snapshots if snapshot.exists}

    def mark_seen(self, gmail_ids: Iterable[str], generation: int) -> None:
        """A resync found these in Gmail without refetching them: they survive the sweep."""
        batch = self._scope.client.batch()
        count = 0
        for gmail_id in gmail_ids:
            batch.update(self.reference(gmail_id), {"sync_generation": generation})
            count += 1
            if count % _BATCH_OPERATIONS == 0:
                with translated_errors():
                    batch.commit()
                batch = self._scope.client.batch()
        if count % _BATCH_OPERATIONS:
            with translated_errors():
                batch.commit()

    def sweep_unseen(self, generation: int) -> int:
        """After a resync: copies Gmail no longer has (not seen by it), unless attached, are removed."""
        from shared.mail.queries import QUERY_SHAPES, RangeFilter, build_query

        query = build_query(
            self._scope.collection(MESSAGES),
            QUERY_SHAPES["sync_sweep"],
            equal={"connection_id": self._connection_id},
            ranges=[RangeFilter("sync_generation", "<", generation)],
        )
        with translated_errors():
            stale = [snapshot.reference for snapshot in query.stream()]
        return sum(delete_copy_if_unattached(self._scope, ref, when_attached=_KEEP) for ref in stale)


def _mutable_fields(document: Mapping[str, Any]) -> dict[str, Any]:
    return {key: document[key] for key in ("label_ids", "unread", "history_id", "sync_generation")}


@dataclass
class _ContactTally:
    address: Address
    received: int
    sent: int
    first_at: datetime
    last_at: datetime


def _merge_contacts(group: list[_Copy]) -> dict[str, _ContactTally]:
    """One update per contact per batch: counts summed, earliest and latest contact times."""
    merged: dict[str, _ContactTally] = {}
    for copy in group:
        for email, (address, received, sent, at) in copy.contacts.items():
            tally = merged.get(email)
            if tally is None:
                merged[email] = _ContactTally(address, received, sent, at, at)
                continue
            tally.address = address if address.name else tally.address
            tally.received += received
            tally.sent += sent
            tally.first_at = min(tally.first_at, at)
            tally.last_at = max(tally.last_at, at)
    return merged


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _groups(copies: list[_Copy]) -> Iterable[list[_Copy]]:
    group: list[_Copy] = []
    size = 0
    for copy in copies:
        if group and (size + copy.size > _BATCH_BYTES or len(group) >= _BATCH_OPERATIONS // 2):
            yield group
            group, size = [], 0
        group.append(copy)
        size += min(copy.size, BODY_INLINE_LIMIT)
    if group:
        yield group


# --- deleting copies: never an attached one ------------------------------------------------------------


def body_chunk_refs(reference: DocumentReference, count: int) -> list[DocumentReference]:
    """The chunk documents of a copy whose body was stored in ``count`` chunks."""
    return [reference.collection(BODY_CHUNKS).document(str(index)) for index in range(count)]


def stored_chunk_refs(reference: DocumentReference, data: Mapping[str, Any]) -> list[DocumentReference]:
    """What a copy stores beside it, from its ``body_chunk_count`` (written with every copy, so no read).
    A copy without the field (written by something else than this store) has its chunks listed: a copy
    deleted without its chunks would leave its body behind for ever."""
    count = data.get("body_chunk_count")
    if isinstance(count, int) and not isinstance(count, bool):
        return body_chunk_refs(reference, count)
    with translated_errors():
        return list(reference.collection(BODY_CHUNKS).list_documents())


def delete_copy_if_unattached(
    scope: TenantScope,
    reference: DocumentReference,
    *,
    also: Callable[[Transaction], object] | None = None,
    when_attached: Mapping[str, Any] | None = None,
) -> bool:
    """In one transaction: re-read the copy and delete it, with its body chunks, only if it is still
    unattached (``attached_to == []``: an attach racing us wins). ``also(transaction)``: writes that
    commit with the delete and only with it (a counter). ``when_attached``: changes written to a copy
    that is kept because it is attached. True if deleted."""

    def work(transaction: Transaction) -> bool:
        snapshot = reference.get(transaction=transaction)
        if not snapshot.exists:
            return False
        data = snapshot.to_dict() or {}
        if data.get("attached_to") != []:
            if when_attached:
                transaction.update(reference, dict(when_attached))
            return False
        for chunk in stored_chunk_refs(reference, data):
            transaction.delete(chunk)
        transaction.delete(reference)
        if also is not None:
            also(transaction)
        return True

    return scope.transaction(work)


def delete_unattached_copies(
    scope: TenantScope, snapshots: Sequence[Snapshot], *, counter: DocumentReference | None = None
) -> int:
    """Delete copies a query of unattached copies returned, with their chunks, in one batch in which
    every delete is conditioned on the copy being unchanged since that read; ``counter``'s ``deleted``
    field counts them in the same batch. If a copy changed meanwhile (an attach) the batch fails whole
    and each copy is decided in its own transaction. Returns how many were deleted."""
    from google.api_core import exceptions as gexc
    from google.cloud import firestore

    if not snapshots:
        return 0
    batch = scope.client.batch()
    for snapshot in snapshots:
        for chunk in stored_chunk_refs(snapshot.reference, snapshot.to_dict() or {}):
            batch.delete(chunk)
        batch.delete(
            snapshot.reference, option=scope.client.write_option(last_update_time=snapshot.update_time)
        )
    if counter is not None:
        batch.update(counter, {"deleted": firestore.Increment(len(snapshots))})
    try:
        with translated_errors():
            batch.commit()
        return len(snapshots)
    except gexc.FailedPrecondition:
        pass  # someone changed a copy meanwhile: decide copy by copy, in transactions

    def count(transaction: Transaction) -> None:
        if counter is not None:
            transaction.update(counter, {"deleted": firestore.Increment(1)})

    return sum(delete_copy_if_unattached(scope, snapshot.reference, also=count) for snapshot in snapshots)
