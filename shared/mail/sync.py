"""Gmail into Firestore: the full sync and the partial (history) sync of one connection.

State lives on the connection, under ``sync.gmail``: ``history_id`` is the cursor (everything Gmail
changed up to it is stored), ``generation`` counts full syncs, ``full_sync`` is the progress of one
under way. The cursor only moves after what it covers is stored (invariant 2); every write is an
idempotent upsert, so a crash at any point converges on redelivery (invariant 3).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from shared.connections.records import connection_ref
from shared.errors import NeedsResync
from shared.mail.mime import parse_gmail_message
from shared.sync.crash import crash_point

if TYPE_CHECKING:
    from shared.mail.store import MailStore
    from shared.storage.firestore import TenantScope

logger = logging.getLogger(__name__)

# Mail the CRM does not hold: drafts, chats, spam and trash (a copy that moves there is removed).
SKIP_LABELS = frozenset({"SPAM", "TRASH", "DRAFT", "CHAT"})
FETCH_CHUNK = 100  # ids fetched (in Gmail batches of 50) and stored per step: bounds memory


class GmailReader(Protocol):
    """What the sync needs from Gmail (shared.google_apis.gmail.GmailSyncClient provides it)."""

    def profile(self) -> dict[str, Any]: ...

    def list_message_ids(
        self, *, query: str | None, page_token: str | None, max_results: int = 500
    ) -> tuple[list[dict[str, Any]], str | None]: ...

    def list_history(
        self, *, start_history_id: str, page_token: str | None, max_results: int = 500
    ) -> dict[str, Any]: ...

    def get_messages(
        self, ids: list[str], *, format: str = "full"
    ) -> tuple[dict[str, dict[str, Any]], set[str]]: ...


class FullSyncProgress(BaseModel):
    start_history_id: str
    query: str
    generation: int
    resync: bool  # after a stale cursor: copies Gmail no longer has are swept at the end
    page_token: str | None = None
    pages_done: int = 0


class GmailSyncState(BaseModel):
    history_id: str | None = None
    generation: int = 0
    full_sync: FullSyncProgress | None = None
    last_success_at: datetime | None = None


@dataclass
class SyncReport:
    mode: str = "partial"
    fetched: int = 0
    created: int = 0
    refreshed: int = 0
    removed: int = 0
    labels_updated: int = 0
    continued: bool = False  # ran out of time; a continuation must be queued
    notes: list[str] = field(default_factory=list)


class GmailSync:
    def __init__(
        self,
        *,
        scope: TenantScope,
        connection_id: str,
        state: GmailSyncState,
        gmail: GmailReader,
        store: MailStore,
        retention_days: int,
        time_budget_seconds: float,
        clock: Callable[[], datetime],
        page_size: int = 500,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._scope = scope
        self._connection_id = connection_id
        self._state = state
        self._gmail = gmail
        self._store = store
        self._retention_days = retention_days
        self._clock = clock
        self._monotonic = monotonic
        self._deadline = monotonic() + time_budget_seconds
        self._page_size = page_size
        self.report = SyncReport()

    def run(self) -> SyncReport:
        if self._state.full_sync is None and self._state.history_id is None:
            self._begin_full_sync(resync=False)
        if self._state.full_sync is not None and not self._full_sync():
            return self.report
        try:
            self._partial_sync()
        except NeedsResync:
            # Gmail no longer has history that old: a full sync, bounded by retention, that also sweeps.
            self.report.notes.append("history_expired")
            self._begin_full_sync(resync=True)
            if self._full_sync():
                self._partial_sync()
        return self.report

    # --- full sync -----------------------------------------------------------------------------------

    def _begin_full_sync(self, *, resync: bool) -> None:
        # The profile's historyId is read BEFORE listing: whatever arrives meanwhile is in the history
        # after it, and the partial sync that follows picks it up.
        start = str(self._gmail.profile()["historyId"])
        cutoff = self._clock() - timedelta(days=self._retention_days)
        progress = FullSyncProgress(
            start_history_id=start,
            query=f"after:{int(cutoff.timestamp())}",
            generation=self._state.generation + 1,
            resync=resync,
        )
        self._state = self._state.model_copy(update={"full_sync": progress})
        self._save({"sync.gmail.full_sync": progress.model_dump()})

    def _full_sync(self) -> bool:
        """Page by page, newest first; True when finished, False when out of time (progress saved)."""
        progress = self._state.full_sync
        assert progress is not None
        self.report.mode = "resync" if progress.resync else "full"
        resumed = progress.pages_done > 0 or progress.page_token is not None
        while True:
            listed, next_token = self._gmail.list_message_ids(
                query=progress.query, page_token=progress.page_token, max_results=self._page_size
            )
            ids = [str(item["id"]) for item in listed]
            if progress.resync or resumed:
                known = self._store.existing(ids)  # reads instead of 20-unit fetches of what we hold
                self._store.mark_seen(known, progress.generation)
                ids = [gmail_id for gmail_id in ids if gmail_id not in known]
            self._fetch_and_store(ids, progress.generation)
            crash_point("gmail.full.after_page_stored")
            progress = progress.model_copy(
                update={"page_token": next_token, "pages_done": progress.pages_done + 1}
            )
            if next_token is None:
                break
            self._save({"sync.gmail.full_sync": progress.model_dump()})
            if self._out_of_time():
                self.report.continued = True
                return False
        if progress.resync:
            self.report.removed += self._store.sweep_unseen(progress.generation)
        self._state = GmailSyncState(
            history_id=progress.start_history_id,
            generation=progress.generation,
            full_sync=None,
            last_success_at=self._clock(),
        )
        self._save(
            {
                "sync.gmail.history_id": progress.start_history_id,
                "sync.gmail.generation": progress.generation,
                "sync.gmail.full_sync": None,
                "sync.gmail.last_success_at": self._state.last_success_at,
            }
        )
        return True

    # --- partial sync --------------------------------------------------------------------------------

    def _partial_sync(self) -> None:
        assert self._state.history_id is not None
        start = self._state.history_id
        page_token: str | None = None
        while True:
            answer = self._gmail.list_history(start_history_id=start, page_token=page_token)
            records = answer.get("history", [])
            self._apply(records)
            page_token = answer.get("nextPageToken")
            # A record's id is a valid place to resume from: the cursor moves page by page.
            cursor = str(records[-1]["id"]) if page_token and records else str(answer["historyId"])
            crash_point("gmail.partial.after_store_before_cursor")
            self._state = self._state.model_copy(update={"history_id": cursor})
            self._save({"sync.gmail.history_id": cursor})
            if page_token is None:
                break
            if self._out_of_time():
                self.report.continued = True
                return
        now = self._clock()
        self._save({"sync.gmail.last_success_at": now})

    def _apply(self, records: Iterable[Mapping[str, Any]]) -> None:
        added: dict[str, list[str]] = {}
        deleted: set[str] = set()
        labels: dict[str, list[str]] = {}
        for record in records:
            for item in record.get("messagesAdded", []):
                message = item["message"]
                added[message["id"]] = list(message.get("labelIds", []))
                deleted.discard(message["id"])
            for item in record.get("messagesDeleted", []):
                gmail_id = item["message"]["id"]
                deleted.add(gmail_id)
                added.pop(gmail_id, None)
                labels.pop(gmail_id, None)
            for kind in ("labelsAdded", "labelsRemoved"):
                for item in record.get(kind, []):
                    message = item["message"]
                    labels[message["id"]] = list(message.get("labelIds", []))
        wanted = [i for i, seen in added.items() if not SKIP_LABELS & set(labels.get(i, seen))]
        fetched = self._fetch_and_store(wanted, self._state.generation)
        hidden = [i for i, current in labels.items() if SKIP_LABELS & set(current) and i not in fetched]
        changed = {i: current for i, current in labels.items() if i not in fetched and i not in hidden}
        self.report.labels_updated += self._store.update_labels(changed)
        self.report.removed += self._store.remove([*deleted, *hidden])

    # --- shared --------------------------------------------------------------------------------------

    def _fetch_and_store(self, ids: list[str], generation: int) -> set[str]:
        """Fetch ``ids`` and store them, skipping what Gmail no longer has; returns the ids stored."""
        stored: set[str] = set()
        for start in range(0, len(ids), FETCH_CHUNK):
            found, _gone = self._gmail.get_messages(ids[start : start + FETCH_CHUNK], format="full")
            keep = {i: r for i, r in found.items() if not SKIP_LABELS & set(r.get("labelIds", []))}
            parsed = {gmail_id: parse_gmail_message(resource) for gmail_id, resource in keep.items()}
            result = self._store.store(keep, parsed, generation=generation)
            self.report.fetched += len(found)
            self.report.created += result.created
            self.report.refreshed += result.refreshed
            stored |= set(keep)
        return stored

    def _save(self, changes: dict[str, Any]) -> None:
        self._scope.update(connection_ref(self._scope, self._connection_id), changes)

    def _out_of_time(self) -> bool:
        return self._monotonic() >= self._deadline
