"""Synced events in the document store, as the sync writes them: upserts keyed by a deterministic id,
so a replayed page or a duplicated sync writes the same documents again, never a second copy.

An event already stored at the etag Google lists is not written at all (the echo of our own write,
stored by the write that made it, or a page seen twice). An event older than the stored one (Google's
``updated``) is not written over it. Deleted events go; one attached to a CRM record stays, marked
``deleted_in_google``, like mail. Every batch commits under the sync's lease.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.calendar.events import EVENTS, event_doc_id, kind_of, parse_rfc3339, stored_fields
from shared.calendar.shapes import QUERY_SHAPES
from shared.storage.documents import DocRef, WriteBatch
from shared.storage.scope import TenantScope
from shared.storage.shapes import RangeFilter, build_query

_BATCH_OPERATIONS = 400
_READ_FIELDS = ["etag", "updated", "status", "kind", "attached_to", "sync_generation", "written_at"]
_KEEP = {"status": "cancelled", "deleted_in_google": True}  # deleted at Google, attached in the CRM

Commit = Callable[[WriteBatch], object]


@dataclass
class ApplyResult:
    created: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0  # stored already as listed: nothing written (echoes, replays)
    series_removed: list[str] = field(default_factory=list)  # masters deleted: their exceptions go too


class CalendarStore:
    """The events of one calendar of one connection, as the sync writes them."""

    def __init__(self, scope: TenantScope, connection_id: str, calendar_id: str, *, commit: Commit) -> None:
        self._scope = scope
        self._connection_id = connection_id
        self._calendar_id = calendar_id
        self._commit = commit

    def reference(self, event_id: str) -> DocRef:
        return self._scope.document(EVENTS, event_doc_id(self._connection_id, self._calendar_id, event_id))

    def apply(
        self, items: Sequence[Mapping[str, Any]], *, calendar_zone: str | None, generation: int
    ) -> ApplyResult:
        """Store one listed page. ``generation``: the full sync under way (or the last one), stamped on
        every event listed so a resync can sweep those it no longer lists."""
        result = ApplyResult()
        latest = {str(item["id"]): item for item in items if item.get("id")}  # a page may repeat one
        references = {event_id: self.reference(event_id) for event_id in latest}
        snapshots = self._scope.get_all(list(references.values()), fields=_READ_FIELDS)
        stored = {snapshot.ref.path: snapshot for snapshot in snapshots}
        writes = _Writes(self._scope, self._commit)
        for event_id, item in latest.items():
            reference = references[event_id]
            snapshot = stored.get(reference.path)
            existing = snapshot.to_dict() if snapshot is not None and snapshot.exists else None
            if item.get("status") == "cancelled" and kind_of(item) != "exception":
                if existing is not None:
                    self._remove(writes, reference, existing)
                    result.removed += 1
                    if existing.get("kind") == "master":
                        result.series_removed.append(event_id)
                continue
            if existing is not None and _same(existing, item):
                result.unchanged += 1
                if existing.get("sync_generation") != generation:
                    writes.update(reference, {"sync_generation": generation})
                continue
            if existing is not None and _older(item, existing):
                result.unchanged += 1  # our write stored a newer version meanwhile: it stays
                if existing.get("sync_generation") != generation:
                    writes.update(reference, {"sync_generation": generation})
                continue
            fields = stored_fields(
                item,
                connection_id=self._connection_id,
                calendar_id=self._calendar_id,
                calendar_zone=calendar_zone,
            )
            fields.update(sync_generation=generation, deleted_in_google=False)
            if existing is None:
                writes.set(reference, {**fields, "attached_to": []})
                result.created += 1
            else:
                writes.set(reference, fields, merge=True)  # attachments, conflicts and writes stay
                result.updated += 1
        writes.flush()
        for master_id in result.series_removed:
            result.removed += self.remove_exceptions(master_id)
        return result

    def remove_exceptions(self, master_id: str) -> int:
        """A deleted series takes its exceptions and cancelled instances with it."""
        query = build_query(
            self._scope.collection(EVENTS),
            QUERY_SHAPES["series_exceptions"],
            equal={"connection_id": self._connection_id, "recurring_event_id": master_id},
        ).select([*_READ_FIELDS, "calendar_id"])
        writes = _Writes(self._scope, self._commit)
        removed = 0
        for snapshot in self._scope.stream(query):
            data = snapshot.to_dict()
            if data.get("calendar_id") == self._calendar_id:
                self._remove(writes, snapshot.ref, data)
                removed += 1
        writes.flush()
        return removed

    def sweep_unseen(self, generation: int, *, spare_since: datetime) -> int:
        """After a full listing that followed an expired sync token: every event of this calendar it
        did not list was deleted at Google meanwhile (a full listing carries no tombstones). Events a
        CRM write stored since ``spare_since`` may postdate the listing's page: they stay."""
        query = build_query(
            self._scope.collection(EVENTS),
            QUERY_SHAPES["sync_sweep"],
            equal={"connection_id": self._connection_id, "calendar_id": self._calendar_id},
            ranges=[RangeFilter("sync_generation", "<", generation)],
        ).select(_READ_FIELDS)
        writes = _Writes(self._scope, self._commit)
        removed = 0
        for snapshot in self._scope.stream(query):
            data = snapshot.to_dict()
            written = data.get("written_at")
            if written is not None and written >= spare_since:
                continue
            self._remove(writes, snapshot.ref, data)
            removed += 1
        writes.flush()
        return removed

    def _remove(self, writes: _Writes, reference: DocRef, existing: Mapping[str, Any]) -> None:
        if existing.get("attached_to"):
            writes.update(reference, dict(_KEEP))
        else:
            writes.delete(reference)


def _same(existing: Mapping[str, Any], item: Mapping[str, Any]) -> bool:
    if existing.get("etag") and existing.get("etag") == item.get("etag"):
        return True
    # A cancelled instance we wrote ourselves is stored without Google's etag: the same all the same.
    return existing.get("status") == "cancelled" and item.get("status") == "cancelled"


def _older(item: Mapping[str, Any], existing: Mapping[str, Any]) -> bool:
    stored: datetime | None = existing.get("updated")
    if stored is None or not item.get("updated"):
        return False
    return parse_rfc3339(str(item["updated"])) < stored


class _Writes:
    """Writes grouped into batches of a few hundred, each committed under the lease."""

    def __init__(self, scope: TenantScope, commit: Commit) -> None:
        self._scope = scope
        self._commit = commit
        self._batch: WriteBatch | None = None

    def _current(self) -> WriteBatch:
        if self._batch is None:
            self._batch = self._scope.batch()
        return self._batch

    def set(self, reference: DocRef, data: Mapping[str, Any], *, merge: bool = False) -> None:
        self._current().set(reference, self._scope.stamp(data), merge=merge)
        self._maybe_flush()

    def update(self, reference: DocRef, changes: Mapping[str, Any]) -> None:
        self._current().update(reference, changes)
        self._maybe_flush()

    def delete(self, reference: DocRef) -> None:
        self._current().delete(reference)
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if self._batch is not None and len(self._batch) >= _BATCH_OPERATIONS:
            self.flush()

    def flush(self) -> None:
        if self._batch is not None and len(self._batch):
            self._commit(self._batch)
        self._batch = None


def store_written(
    scope: TenantScope,
    connection_id: str,
    calendar_id: str,
    event: Mapping[str, Any],
    *,
    calendar_zone: str | None,
    generation: int,
    extra: Mapping[str, Any],
    written_at: datetime,
) -> str:
    """Store Google's answer to a write of ours (the worker's, outside any sync lease), unless the
    document holds a newer version already. Returns the event's key. The sync meets the same etag later
    and writes nothing (the echo)."""
    reference = scope.document(EVENTS, event_doc_id(connection_id, calendar_id, str(event["id"])))
    fields = stored_fields(
        event, connection_id=connection_id, calendar_id=calendar_id, calendar_zone=calendar_zone
    )
    fields.update(extra, sync_generation=generation, deleted_in_google=False, written_at=written_at)

    def upsert(transaction: Any) -> None:
        snapshot = transaction.get(reference, fields=_READ_FIELDS)
        if not snapshot.exists:
            transaction.set(reference, scope.stamp({**fields, "attached_to": []}))
        elif not _older(event, snapshot.to_dict()):
            transaction.set(reference, scope.stamp(fields), merge=True)
        else:
            transaction.update(reference, dict(extra))

    scope.transaction(upsert)
    return reference.id


def remove_written(scope: TenantScope, reference: DocRef, extra: Mapping[str, Any]) -> None:
    """An event we deleted at Google: its document goes, unless attached to a CRM record."""

    def remove(transaction: Any) -> None:
        snapshot = transaction.get(reference, fields=["attached_to"])
        if not snapshot.exists:
            return
        if snapshot.get("attached_to"):
            transaction.update(reference, {**_KEEP, **extra})
        else:
            transaction.delete(reference)

    scope.transaction(remove)


def purge_connection_events(scope: TenantScope, connection_id: str, calendar_id: str | None = None) -> int:
    """A disconnected or revoked connection's events go (or one deselected calendar's), except those
    attached to a CRM record; returns how many."""
    query = scope.collection(EVENTS).query().where("connection_id", "==", connection_id)
    if calendar_id is not None:
        query = query.where("calendar_id", "==", calendar_id)
    query = query.where("attached_to", "==", []).select(["tenant_id"]).limit(_BATCH_OPERATIONS)
    deleted = 0
    while True:
        snapshots = scope.stream(query)
        if snapshots:
            batch = scope.batch()
            for snapshot in snapshots:
                batch.delete(snapshot.ref)
            batch.commit()
            deleted += len(snapshots)
        if len(snapshots) < _BATCH_OPERATIONS:
            return deleted
