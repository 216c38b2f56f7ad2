"""Synced message copies in the document store: written exactly once, whatever is replayed.

New copies are written with ``create`` in atomic batches that carry their contacts' counters too, so a
contact counts a copy exactly once even when a sync is duplicated or crashes and is redelivered: the
batch either commits whole (copies created and counted) or not at all. A batch that meets copies which
exist already reads which ones (the only reads, on replays) and writes the rest. A sync commits its
batches under its lease (``commit``): a sync that lost its lease writes nothing more.

Deleting goes through ``delete_copy_if_unattached`` and ``delete_unattached_copies`` only: an attached
copy is never deleted (an attach racing a delete wins), and a deleted copy is uncounted from its
contacts in the same atomic write.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.errors import AlreadyExists, DocumentMissing, PreconditionFailed
from shared.mail import contacts
from shared.mail.records import BODY_CHUNKS, MESSAGES, ParsedMessage, message_doc_id
from shared.mail.shapes import QUERY_SHAPES
from shared.storage.documents import DocRef, Increment, Snapshot, Transaction, WriteBatch
from shared.storage.scope import TenantScope
from shared.storage.shapes import RangeFilter, build_query

# Firestore allows 1 MiB per document and 10 MiB per request: bodies above the inline limit move to
# chunk documents; bodies above the cap are truncated, with a flag, never dropped silently.
BODY_INLINE_LIMIT = 700_000
BODY_CHUNK_BYTES = 900_000
BODY_CAP_BYTES = 20 * 1024 * 1024
_BATCH_BYTES = 8 * 1024 * 1024
_BATCH_OPERATIONS = 450
# Gmail deleted a copy the CRM holds on to: it is kept, and says so.
_KEEP = {"deleted_in_gmail": True}
# What deleting a copy reads of it: its chunks, and whom it counted.
DELETE_FIELDS = ("body_chunk_count", *contacts.COUNT_FIELDS)

Commit = Callable[[WriteBatch], object]


@dataclass(frozen=True)
class StoreResult:
    created: int
    refreshed: int  # existed already: labels and sync generation brought up to date


@dataclass(frozen=True)
class _Copy:
    gmail_id: str
    reference: DocRef
    document: dict[str, Any]
    chunks: list[bytes]
    counted: contacts.Counted | None
    size: int


def _plain_commit(batch: WriteBatch) -> object:
    return batch.commit()


class MailStore:
    def __init__(
        self,
        scope: TenantScope,
        connection_id: str,
        *,
        own_address: str,
        harvest_contacts: bool,
        commit: Commit = _plain_commit,
    ) -> None:
        self._scope = scope
        self._connection_id = connection_id
        self._own = own_address.lower()
        self._harvest = harvest_contacts
        self._commit = commit  # a sync's lease commit: its writes stop when it loses the lease

    def reference(self, gmail_id: str) -> DocRef:
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
            made, kept = self._write_group(group)
            created += made
            refreshed += kept
        return StoreResult(created, refreshed)

    def _write_group(self, group: list[_Copy]) -> tuple[int, int]:
        try:
            self._commit_new(group)
            return len(group), 0
        except AlreadyExists:
            pass  # a replay: some copies exist. Find which, then write only the new ones.
        snapshots = self._scope.get_all([copy.reference for copy in group], fields=["gmail_id"])
        existing = {snapshot.ref.path for snapshot in snapshots if snapshot.exists}
        new = [copy for copy in group if copy.reference.path not in existing]
        old = [copy for copy in group if copy.reference.path in existing]
        if new:
            self._commit_new(new)
        if old:
            batch = self._scope.batch()
            for copy in old:
                batch.update(copy.reference, _mutable_fields(copy.document))
            self._commit(batch)
        return len(new), len(old)

    def _commit_new(self, group: list[_Copy]) -> None:
        batch = self._scope.batch()
        for copy in group:
            batch.create(copy.reference, copy.document)
        contacts.count(batch, self._scope, [copy.counted for copy in group if copy.counted is not None])
        self._commit(batch)
        # Chunks after the copy: a copy whose chunks are missing says so (body_in_chunks) and the next
        # replay rewrites them; chunk writes are idempotent sets.
        for copy in group:
            for index, reference in enumerate(body_chunk_refs(copy.reference, len(copy.chunks))):
                self._scope.set(reference, {"index": index, "data": copy.chunks[index]})

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
        counted = (
            contacts.correspondents(parsed, labels, received_at, own_address=self._own)
            if self._harvest
            else None
        )
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
                **(counted.fields() if counted is not None else {"counted_as": None, "counted_contacts": []}),
            }
        )
        return _Copy(gmail_id, self.reference(gmail_id), document, chunks, counted, len(body))

    # --- changes Gmail reports ------------------------------------------------------------------------

    def update_labels(self, labels_by_id: Mapping[str, list[str]]) -> int:
        """New label sets for copies we hold; copies we do not hold (older than retention) are skipped."""
        updated = 0
        for gmail_id, labels in labels_by_id.items():
            try:
                self._scope.update(
                    self.reference(gmail_id), {"label_ids": labels, "unread": "UNREAD" in labels}
                )
                updated += 1
            except DocumentMissing:
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
        snapshots = self._scope.get_all(references, fields=["gmail_id"])
        return {str(snapshot.get("gmail_id")) for snapshot in snapshots if snapshot.exists}

    def mark_seen(self, gmail_ids: Iterable[str], generation: int) -> None:
        """A resync found these in Gmail without refetching them: they survive the sweep."""
        batch = self._scope.batch()
        for gmail_id in gmail_ids:
            batch.update(self.reference(gmail_id), {"sync_generation": generation})
            if len(batch) >= _BATCH_OPERATIONS:
                self._commit(batch)
                batch = self._scope.batch()
        if len(batch):
            self._commit(batch)

    def sweep_unseen(self, generation: int) -> int:
        """After a resync: copies Gmail no longer has (not seen by it), unless attached, are removed."""
        query = build_query(
            self._scope.collection(MESSAGES),
            QUERY_SHAPES["sync_sweep"],
            equal={"connection_id": self._connection_id},
            ranges=[RangeFilter("sync_generation", "<", generation)],
        ).select(["sync_generation"])
        stale = [snapshot.ref for snapshot in self._scope.stream(query)]
        return sum(delete_copy_if_unattached(self._scope, ref, when_attached=_KEEP) for ref in stale)


def _mutable_fields(document: Mapping[str, Any]) -> dict[str, Any]:
    return {key: document[key] for key in ("label_ids", "unread", "history_id", "sync_generation")}


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


def body_chunk_refs(reference: DocRef, count: int) -> list[DocRef]:
    """The chunk documents of a copy whose body was stored in ``count`` chunks."""
    return [reference.collection(BODY_CHUNKS).document(str(index)) for index in range(count)]


def _chunk_refs(scope: TenantScope, reference: DocRef, data: Mapping[str, Any]) -> list[DocRef]:
    """What a copy stores beside it, from its ``body_chunk_count`` (written with every copy, so no read).
    A copy without the field (written by something else than this store) has its chunks listed: a copy
    deleted without its chunks would leave its body behind for ever."""
    count = data.get("body_chunk_count")
    if isinstance(count, int) and not isinstance(count, bool):
        return body_chunk_refs(reference, count)
    return [snapshot.ref for snapshot in scope.stream(reference.collection(BODY_CHUNKS).query().select([]))]


def delete_copy_if_unattached(
    scope: TenantScope,
    reference: DocRef,
    *,
    also: Callable[[Transaction], object] | None = None,
    when_attached: Mapping[str, Any] | None = None,
) -> bool:
    """In one transaction: re-read the copy and delete it, with its body chunks, only if it is still
    unattached (``attached_to == []``: an attach racing us wins), uncounting its contacts.
    ``also(transaction)``: writes that commit with the delete and only with it (a counter).
    ``when_attached``: changes written to a copy that is kept because it is attached. True if deleted."""

    def work(transaction: Transaction) -> bool:
        snapshot = transaction.get(reference)
        if not snapshot.exists:
            return False
        data = snapshot.to_dict()
        if data.get("attached_to") != []:
            if when_attached:
                transaction.update(reference, dict(when_attached))
            return False
        for chunk in _chunk_refs(scope, reference, data):
            transaction.delete(chunk)
        transaction.delete(reference)
        contacts.uncount(transaction, scope, [data])
        if also is not None:
            also(transaction)
        return True

    return scope.transaction(work)


def delete_unattached_copies(
    scope: TenantScope, snapshots: Sequence[Snapshot], *, counter: DocRef | None = None
) -> int:
    """Delete copies a query of unattached copies returned (projected on at least ``DELETE_FIELDS``),
    with their chunks, in one batch in which every delete is conditioned on the copy being unchanged
    since that read, and their contacts uncounted; ``counter``'s ``deleted`` field counts them in the
    same batch. If a copy changed meanwhile (an attach) the batch fails whole and each copy is decided
    in its own transaction. Returns how many were deleted."""
    if not snapshots:
        return 0
    batch = scope.batch()
    for snapshot in snapshots:
        for chunk in _chunk_refs(scope, snapshot.ref, snapshot.to_dict()):
            batch.delete(chunk)
        batch.delete(snapshot.ref, if_updated_at=snapshot.update_time)
    contacts.uncount(batch, scope, [snapshot.to_dict() for snapshot in snapshots])
    if counter is not None:
        batch.update(counter, {"deleted": Increment(len(snapshots))})
    try:
        batch.commit()
        return len(snapshots)
    except PreconditionFailed:
        pass  # someone changed a copy meanwhile: decide copy by copy, in transactions

    def count(transaction: Transaction) -> None:
        if counter is not None:
            transaction.update(counter, {"deleted": Increment(1)})

    return sum(delete_copy_if_unattached(scope, snapshot.ref, also=count) for snapshot in snapshots)
