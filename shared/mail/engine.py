"""Gmail into the store: the full sync and the partial (history) sync of one mailbox, as the sync
engine's Gmail source (shared.sync.engine).

The cursor is Gmail's ``historyId``: everything Gmail changed up to it is stored. ``generation`` counts
full syncs; ``full_sync`` is the progress of one under way. The cursor only moves after what it covers
is stored (invariant 2), every write is an idempotent upsert committed under the sync's lease, so a
crash at any point converges on redelivery (invariant 3) and a sync that lost its lease stops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any, Protocol

from pydantic import BaseModel

from shared.errors import NeedsResync
from shared.mail.labels import SENT, SKIP_LABELS, label_version
from shared.mail.mime import parse_gmail_message
from shared.mail.store import MailStore
from shared.plans import Feature
from shared.sync.crash import crash_point
from shared.sync.engine import SyncedConnection, SyncJob, SyncReport
from shared.sync.requests import DEFAULT_PARTITIONS, Source

FETCH_CHUNK = 100  # ids fetched (in Gmail batches of 50) and stored per step: bounds memory
MAILBOX = DEFAULT_PARTITIONS[Source.GMAIL]


class GmailReader(Protocol):
    """What the sync needs from Gmail (shared.google_apis.gmail.GmailClient provides it)."""

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


class GmailSyncEngine:
    source = Source.GMAIL
    feature = Feature.MAIL

    def __init__(
        self, *, gmail_for: Callable[[str, SyncedConnection], GmailReader], page_size: int = 500
    ) -> None:
        self._gmail_for = gmail_for
        self._page_size = page_size

    def partitions(self, connection: SyncedConnection) -> list[str]:
        return [MAILBOX]

    def run(self, job: SyncJob) -> SyncReport:
        return _MailboxSync(job, self._gmail_for(job.tenant_id, job.connection), self._page_size).run()


class _MailboxSync:
    def __init__(self, job: SyncJob, gmail: GmailReader, page_size: int) -> None:
        self._job = job
        self._gmail = gmail
        self._page_size = page_size
        self._report = job.report
        self._store = MailStore(
            job.scope,
            job.key.connection_id,
            own_address=job.connection.google_email,
            harvest_contacts=job.connection.enabled(Feature.CONTACTS),
            commit=job.commit,
        )

    @property
    def _history_id(self) -> str | None:
        return self._job.state.cursor

    @property
    def _progress(self) -> FullSyncProgress | None:
        raw = self._job.state.full_sync
        return FullSyncProgress.model_validate(raw) if raw is not None else None

    def run(self) -> SyncReport:
        if self._progress is None and self._history_id is None:
            self._begin_full_sync(resync=False)
        if self._progress is not None and not self._full_sync():
            return self._report
        try:
            self._partial_sync()
        except NeedsResync:
            # Gmail no longer has history that old: a full sync, bounded by retention, that also sweeps.
            self._report.notes.append("history_expired")
            self._begin_full_sync(resync=True)
            if self._full_sync():
                self._partial_sync()
        return self._report

    # --- full sync -----------------------------------------------------------------------------------

    def _begin_full_sync(self, *, resync: bool) -> None:
        # The profile's historyId is read BEFORE listing: whatever arrives meanwhile is in the history
        # after it, and the partial sync that follows picks it up.
        start = str(self._gmail.profile()["historyId"])
        cutoff = self._job.clock() - timedelta(days=self._job.retention_days)
        progress = FullSyncProgress(
            start_history_id=start,
            query=f"after:{int(cutoff.timestamp())}",
            generation=self._job.state.generation + 1,
            resync=resync,
        )
        self._job.save({"full_sync": progress.model_dump()})

    def _full_sync(self) -> bool:
        """Page by page, newest first; True when finished, False when out of time (progress saved)."""
        progress = self._progress
        assert progress is not None
        self._report.mode = "resync" if progress.resync else "full"
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
            self._job.save({"full_sync": progress.model_dump()})
            if self._job.out_of_time():
                self._report.continued = True
                return False
        if progress.resync:
            self._report.removed += self._store.sweep_unseen(progress.generation)
        self._job.save(
            {"cursor": progress.start_history_id, "generation": progress.generation, "full_sync": None}
        )
        return True

    # --- partial sync --------------------------------------------------------------------------------

    def _partial_sync(self) -> None:
        start = self._history_id
        assert start is not None
        page_token: str | None = None
        while True:
            answer = self._gmail.list_history(start_history_id=start, page_token=page_token)
            records = answer.get("history", [])
            self._apply(records)
            page_token = answer.get("nextPageToken")
            # A record's id is a valid place to resume from: the cursor moves page by page.
            cursor = str(records[-1]["id"]) if page_token and records else str(answer["historyId"])
            crash_point("gmail.partial.after_store_before_cursor")
            if cursor != self._history_id:
                self._job.save({"cursor": cursor})
            if page_token is None:
                return
            if self._job.out_of_time():
                self._report.continued = True
                return

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
        wanted = [
            gmail_id
            for gmail_id, seen in added.items()
            if not SKIP_LABELS & set(labels.get(gmail_id, seen))
            # A message we sent from the CRM: stored when it was sent, nothing to fetch.
            and not self._job.is_own_write(gmail_id, SENT)
        ]
        fetched = self._fetch_and_store(wanted, self._job.state.generation)
        hidden = [i for i, current in labels.items() if SKIP_LABELS & set(current) and i not in fetched]
        changed = {
            gmail_id: current
            for gmail_id, current in labels.items()
            if gmail_id not in fetched
            and gmail_id not in hidden
            # Our own write coming back (read state written from the CRM): the copy has it already.
            and not self._job.is_own_write(gmail_id, label_version(current))
        }
        self._report.updated += self._store.update_labels(changed)
        self._report.removed += self._store.remove([*deleted, *hidden])

    # --- shared --------------------------------------------------------------------------------------

    def _fetch_and_store(self, ids: list[str], generation: int) -> set[str]:
        """Fetch ``ids`` and store them, skipping what Gmail no longer has; returns the ids stored."""
        stored: set[str] = set()
        for start in range(0, len(ids), FETCH_CHUNK):
            found, _gone = self._gmail.get_messages(ids[start : start + FETCH_CHUNK], format="full")
            keep = {i: r for i, r in found.items() if not SKIP_LABELS & set(r.get("labelIds", []))}
            parsed = {gmail_id: parse_gmail_message(resource) for gmail_id, resource in keep.items()}
            result = self._store.store(keep, parsed, generation=generation)
            self._report.fetched += len(found)
            self._report.created += result.created
            self._report.updated += result.refreshed
            stored |= set(keep)
        return stored
