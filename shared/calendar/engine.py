"""Google Calendar into the store, as the sync engine's Calendar source (shared.sync.engine): one sync
per (connection, calendar), the primary calendar and those the CRM selected.

The cursor is the calendar's ``nextSyncToken``. The first sync lists the window the settings give (say
30 days back, 365 ahead) with ``singleEvents`` false: masters with their rules, exceptions and cancelled
instances, stored as they come. Then each sync lists what changed since the token, tombstones
included. Google answers 410 when it no longer accepts a token: that calendar alone starts over with a
full listing and, at its end, deletes the events the listing no longer has (a full listing carries no
tombstones: the events deleted meanwhile are found by set difference, pitfall 1). Nothing else is
touched. The cursor moves only after what it covers is stored (invariant 2); every write is an
idempotent upsert under the sync's lease.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel

from shared.calendar.calendars import synced_calendars
from shared.calendar.store import ApplyResult, CalendarStore
from shared.errors import NeedsResync
from shared.plans import Feature
from shared.sync.crash import crash_point
from shared.sync.engine import SyncedConnection, SyncJob, SyncReport
from shared.sync.requests import Source

TIME_ZONE = "time_zone"  # the calendar's zone, in the sync state's source details


class CalendarReader(Protocol):
    """What the sync needs from Calendar (shared.google_apis.calendar.CalendarClient provides it)."""

    def list_events(
        self,
        calendar_id: str,
        *,
        sync_token: str | None = None,
        page_token: str | None = None,
        time_min: datetime | None = None,
        time_max: datetime | None = None,
        max_results: int = 2500,
    ) -> dict[str, Any]: ...


class FullSyncProgress(BaseModel):
    begun_at: datetime  # events our own writes store from here on are not the sweep's to judge
    generation: int
    resync: bool  # after an expired token: events the listing no longer has are swept at the end
    time_min: datetime
    time_max: datetime
    page_token: str | None = None
    pages_done: int = 0


class CalendarSyncEngine:
    source = Source.CALENDAR
    feature = Feature.CALENDAR

    def __init__(
        self,
        *,
        calendar_for: Callable[[str, SyncedConnection], CalendarReader],
        days_back: int,
        days_ahead: int,
        page_size: int = 2500,
    ) -> None:
        self._calendar_for = calendar_for
        self._window = (timedelta(days=days_back), timedelta(days=days_ahead))
        self._page_size = page_size

    def partitions(self, connection: SyncedConnection) -> list[str]:
        return synced_calendars(connection)

    def run(self, job: SyncJob) -> SyncReport:
        reader = self._calendar_for(job.tenant_id, job.connection)
        return _CalendarSync(job, reader, self._window, self._page_size).run()


class _CalendarSync:
    def __init__(
        self, job: SyncJob, reader: CalendarReader, window: tuple[timedelta, timedelta], page_size: int
    ) -> None:
        self._job = job
        self._reader = reader
        self._window = window
        self._page_size = page_size
        self._calendar_id = job.key.partition
        self._report = job.report
        self._store = CalendarStore(job.scope, job.key.connection_id, self._calendar_id, commit=job.commit)

    @property
    def _progress(self) -> FullSyncProgress | None:
        raw = self._job.state.full_sync
        return FullSyncProgress.model_validate(raw) if raw is not None else None

    def run(self) -> SyncReport:
        if self._progress is None and self._job.state.cursor is None:
            self._begin_full_sync(resync=False)
        if self._progress is not None and not self._full_sync():
            return self._report
        try:
            self._incremental_sync()
        except NeedsResync:
            self._report.notes.append("sync_token_expired")
            self._begin_full_sync(resync=True)
            if self._full_sync():
                self._incremental_sync()
        return self._report

    # --- full sync -----------------------------------------------------------------------------------

    def _begin_full_sync(self, *, resync: bool) -> None:
        now = self._job.clock()
        back, ahead = self._window
        progress = FullSyncProgress(
            begun_at=now,
            generation=self._job.state.generation + 1,
            resync=resync,
            time_min=now - back,
            time_max=now + ahead,
        )
        # A reset token is gone with the progress: a crash from here resumes the listing, never the token.
        self._job.save({"full_sync": progress.model_dump(), "cursor": None})

    def _full_sync(self) -> bool:
        """Page by page; True when finished (cursor saved), False when out of time (progress saved)."""
        progress = self._progress
        assert progress is not None
        self._report.mode = "resync" if progress.resync else "full"
        while True:
            answer = self._reader.list_events(
                self._calendar_id,
                page_token=progress.page_token,
                time_min=progress.time_min,
                time_max=progress.time_max,
                max_results=self._page_size,
            )
            self._store_page(answer, progress.generation)
            crash_point("calendar.full.after_page_stored")
            next_page = answer.get("nextPageToken")
            progress = progress.model_copy(
                update={"page_token": next_page, "pages_done": progress.pages_done + 1}
            )
            if not next_page:
                sync_token = str(answer["nextSyncToken"])
                break
            self._job.save({"full_sync": progress.model_dump()})
            if self._job.out_of_time():
                self._report.continued = True
                return False
        if progress.resync:
            self._report.removed += self._store.sweep_unseen(
                progress.generation, spare_since=progress.begun_at
            )
        self._job.save({"cursor": sync_token, "generation": progress.generation, "full_sync": None})
        return True

    # --- incremental sync ------------------------------------------------------------------------------

    def _incremental_sync(self) -> None:
        sync_token = self._job.state.cursor
        assert sync_token is not None
        page_token: str | None = None
        while True:
            answer = self._reader.list_events(
                self._calendar_id, sync_token=sync_token, page_token=page_token, max_results=self._page_size
            )
            self._store_page(answer, self._job.state.generation)
            page_token = answer.get("nextPageToken")
            if not page_token:
                crash_point("calendar.incremental.after_store_before_cursor")
                next_token = str(answer["nextSyncToken"])
                if next_token != sync_token:
                    self._job.save({"cursor": next_token})
                return
            # The token comes on the last page only: a run out of time starts over from the cursor
            # next time, rewriting nothing it stored (upserts by etag).
            if self._job.out_of_time():
                self._report.continued = True
                return

    def _store_page(self, answer: dict[str, Any], generation: int) -> None:
        items = list(answer.get("items") or [])
        zone_name = answer.get("timeZone")
        if zone_name and self._job.state.source_details.get(TIME_ZONE) != zone_name:
            # Kept for the writes, which store all-day events they make at midnight in this zone.
            self._job.save({"source_details": {**self._job.state.source_details, TIME_ZONE: zone_name}})
        result: ApplyResult = self._store.apply(items, calendar_zone=zone_name, generation=generation)
        self._report.fetched += len(items)
        self._report.created += result.created
        self._report.updated += result.updated
        self._report.removed += result.removed
        self._report.unchanged += result.unchanged
