"""Drive's changes into the attached files' records, as the sync engine's Drive source: one sync per
connection, its cursor the changes page token.

Only files attached in the CRM are kept, so the sync reads what changed and updates those: renamed,
moved, trashed, restored, removed (deleted, or this app's access to it gone). The first sync (and the one
after Drive refuses a token) takes a fresh start token and reads every attached file of the connection
with ``files.get``, so records that went stale while nobody listened (a disconnect, a reconnect) are
brought up to date; files it can no longer open are ``removed``. The cursor moves only after what it
covers is stored (invariant 2); every write commits under the sync's lease.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from shared.drive.files import DRIVE_FILES, drive_file_doc_id, metadata_fields
from shared.errors import GoneAtGoogle, NeedsResync
from shared.plans import Feature
from shared.sync.crash import crash_point
from shared.sync.engine import SyncedConnection, SyncJob, SyncReport
from shared.sync.requests import DEFAULT_PARTITIONS, Source

CHANGES = DEFAULT_PARTITIONS[Source.DRIVE]
_READ_FIELDS = ["file_id", "status", "modified_time", "name"]


class DriveChanges(Protocol):
    """What the sync needs from Drive (shared.google_apis.drive.DriveClient provides it)."""

    def start_page_token(self) -> str: ...

    def list_changes(self, page_token: str, *, page_size: int = 1000) -> dict[str, Any]: ...

    def get_file(self, file_id: str) -> dict[str, Any]: ...


class DriveSyncEngine:
    source = Source.DRIVE
    feature = Feature.DRIVE

    def __init__(self, *, drive_for: Callable[[str, SyncedConnection], DriveChanges]) -> None:
        self._drive_for = drive_for

    def partitions(self, connection: SyncedConnection) -> list[str]:
        return [CHANGES]

    def run(self, job: SyncJob) -> SyncReport:
        drive = self._drive_for(job.tenant_id, job.connection)
        report = job.report
        if job.state.cursor is None:
            _refresh_all(job, drive)
        try:
            _read_changes(job, drive)
        except NeedsResync:
            report.notes.append("page_token_invalid")
            _refresh_all(job, drive)
        return report


def _refresh_all(job: SyncJob, drive: DriveChanges) -> None:
    """A fresh start: the token first (changes from here on are read next time), then every attached
    file read as it is now."""
    report = job.report
    report.mode = "full" if job.state.generation == 0 else "resync"
    token = drive.start_page_token()
    scope = job.scope
    query = scope.collection(DRIVE_FILES).query().where("connection_id", "==", job.key.connection_id)
    batch = scope.batch()
    for snapshot in scope.stream(query.select(_READ_FIELDS)):
        file_id = str(snapshot.get("file_id"))
        try:
            changes = metadata_fields(drive.get_file(file_id))
        except GoneAtGoogle:
            changes = {"status": "removed"}
        report.fetched += 1
        batch.update(snapshot.ref, changes)
        report.updated += 1
        if len(batch) >= 400:
            job.commit(batch)
            batch = scope.batch()
    if len(batch):
        job.commit(batch)
    job.save({"cursor": token, "generation": job.state.generation + 1})


def _read_changes(job: SyncJob, drive: DriveChanges) -> None:
    token = job.state.cursor
    assert token is not None
    while True:
        answer = drive.list_changes(token)
        _apply(job, answer.get("changes") or [])
        crash_point("drive.changes.after_store_before_cursor")
        token = str(answer.get("nextPageToken") or answer["newStartPageToken"])
        if token != job.state.cursor:
            job.save({"cursor": token})  # both tokens are places to resume from: saved page by page
        if not answer.get("nextPageToken"):
            return
        if job.out_of_time():
            job.report.continued = True
            return


def _apply(job: SyncJob, changes: list[Mapping[str, Any]]) -> None:
    """Update the attached files among ``changes``; the others are not ours to keep."""
    report = job.report
    latest = {str(change["fileId"]): change for change in changes if change.get("fileId")}
    report.fetched += len(latest)
    if not latest:
        return
    scope = job.scope
    connection_id = job.key.connection_id
    references = {
        file_id: scope.document(DRIVE_FILES, drive_file_doc_id(connection_id, file_id)) for file_id in latest
    }
    attached = {s.ref.path for s in scope.get_all(list(references.values()), fields=["file_id"]) if s.exists}
    batch = scope.batch()
    for file_id, change in latest.items():
        reference = references[file_id]
        if reference.path not in attached:
            continue
        if change.get("removed") or not change.get("file"):
            batch.update(reference, {"status": "removed"})
        else:
            batch.update(reference, metadata_fields(change["file"]))
        report.updated += 1
    if len(batch):
        job.commit(batch)
