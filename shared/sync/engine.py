"""What a Google source implements to be synced, and what the runner hands it.

A source (Gmail today; Calendar and Drive next) is one package with one ``SyncEngine``. The runner
(shared.sync.runner) does everything that is the same for every source: entitlement and connection
checks, the lease, the time budget, continuations, the report and the state's bookkeeping. The engine
does only its own part: read changes from Google, store them, and move its cursor through ``job``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.plans import Feature
from shared.storage.documents import WriteBatch
from shared.storage.scope import TenantScope
from shared.sync.requests import Source, SyncKey
from shared.sync.state import SyncLease, SyncState


class SyncedConnection(Protocol):
    """What the sync needs to know of a connection (shared.connections.records.ConnectionRecord)."""

    @property
    def connection_id(self) -> str: ...

    @property
    def google_email(self) -> str: ...

    @property
    def grant_id(self) -> str: ...

    @property
    def granted_scopes(self) -> list[str]: ...

    @property
    def calendar_ids(self) -> list[str]:
        """The calendars the CRM chose to sync beside the primary one."""
        ...

    def enabled(self, feature: Feature) -> bool: ...

    @property
    def is_active(self) -> bool: ...


@dataclass
class SyncReport:
    mode: str = "partial"  # partial, full, resync, skipped
    fetched: int = 0
    created: int = 0
    updated: int = 0  # existed already: brought up to date (labels, generation, fields)
    removed: int = 0
    unchanged: int = 0  # listed, and stored already as listed: nothing written (echoes, replays)
    continued: bool = False  # ran out of time; a continuation must be queued
    notes: list[str] = field(default_factory=list)


@dataclass
class SyncJob:
    """One run of one engine over one (connection, source, partition), under a lease."""

    tenant_id: str
    connection: SyncedConnection
    key: SyncKey
    state: SyncState
    scope: TenantScope
    retention_days: int  # how far back the plan keeps copies (a full sync imports no further)
    lease: SyncLease
    clock: Callable[[], datetime]
    deadline: float  # on ``monotonic``'s scale
    monotonic: Callable[[], float] = time.monotonic
    report: SyncReport = field(default_factory=SyncReport)

    def out_of_time(self) -> bool:
        return self.monotonic() >= self.deadline

    def save(self, changes: dict[str, Any]) -> None:
        """Write state fields (``cursor``, ``full_sync``, ``generation``) under the lease."""
        self.lease.save(changes)
        self.state = self.state.model_copy(update=changes)

    def commit(self, batch: WriteBatch) -> dict[str, datetime]:
        """Commit the engine's own writes under the lease: all of them, or ``LeaseLost`` and none."""
        return self.lease.commit(batch)

    def is_own_write(self, object_id: str, version: str) -> bool:
        """Whether ``object_id`` at ``version`` is a change this system made (its echo)."""
        mine = self.state.own_writes.get(object_id)
        return mine is not None and mine.version == version


class SyncEngine(Protocol):
    source: Source
    feature: Feature  # the connection feature (and plan entitlement) this source serves

    def partitions(self, connection: SyncedConnection) -> list[str]:
        """What to sync of this connection, each with its own cursor and lease."""
        ...

    def run(self, job: SyncJob) -> SyncReport: ...
