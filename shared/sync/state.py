"""Sync state in documents of its own, one per (connection, source, partition), and the lease that lets
one sync at a time write it.

tenants/{t}/sync_states/{key}   cursor, generation, full-sync progress, last success, last error, lag,
                                the coalescing mark of pushes, the rerun note, our own recent writes
tenants/{t}/sync_leases/{key}   who syncs now, until when

The lease is a fencing token. A sync that holds it writes nothing on its own: every batch it commits
(copies, counters, cursor) also updates the lease document on condition that nobody wrote it since the
sync last did. Whoever takes the lease over (it expired), resets the state (a revoked grant) or deletes
it (a disconnect) changes or removes that document, so the old sync's next batch fails whole and it
stops: a cursor is never written back over a reset, and no copy lands after a disconnect's purge.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import DocumentMissing, LeaseLost, PreconditionFailed
from shared.storage.documents import DELETE_FIELD, DocRef, WriteBatch
from shared.storage.scope import TenantScope
from shared.sync.requests import Source, SyncKey

SYNC_STATES = "sync_states"
SYNC_LEASES = "sync_leases"
OWN_WRITES_KEPT = timedelta(days=8)  # longer than Gmail keeps history: an echo can come back that late


class LastError(BaseModel):
    code: str
    at: datetime


class OwnWrite(BaseModel):
    """A change this system made at Google, remembered so the sync recognises it coming back."""

    version: str  # what we wrote (a label set's digest, an etag, a revision)
    at: datetime


class SyncState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    connection_id: str
    source: Source
    partition: str
    cursor: str | None = None  # everything the source changed up to it is stored (invariant 2)
    generation: int = 0  # full syncs completed or begun; a resync sweeps what older ones left
    full_sync: dict[str, Any] | None = None  # a full sync under way: the source's own progress
    source_details: dict[str, str] = Field(default_factory=dict)  # the source's own (a calendar's zone)
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: LastError | None = None
    lag_seconds: float | None = None  # from the oldest request a sync served to its stored changes
    pending_until: datetime | None = None  # a request is queued; pushes until then add nothing
    pending_since: datetime | None = None
    rerun: bool = False  # asked for while a sync held the lease: it runs once more
    own_writes: dict[str, OwnWrite] = Field(default_factory=dict)

    @property
    def key(self) -> SyncKey:
        return SyncKey(self.connection_id, self.source, self.partition)


class SyncStates:
    """The sync states and leases of one tenant."""

    def __init__(self, scope: TenantScope, *, clock: Callable[[], datetime]) -> None:
        self.scope = scope
        self._clock = clock

    def ref(self, key: SyncKey) -> DocRef:
        return self.scope.document(SYNC_STATES, key.document_id)

    def lease_ref(self, key: SyncKey) -> DocRef:
        return self.scope.document(SYNC_LEASES, key.document_id)

    def _identity(self, key: SyncKey) -> dict[str, Any]:
        return {"connection_id": key.connection_id, "source": key.source.value, "partition": key.partition}

    # --- reading ---------------------------------------------------------------------------------------

    def load(self, key: SyncKey) -> SyncState:
        data = self.scope.get(self.ref(key))
        return SyncState.model_validate(data or self._identity(key))

    def of_connection(self, connection_id: str) -> list[SyncState]:
        query = self.scope.collection(SYNC_STATES).query().where("connection_id", "==", connection_id)
        return [SyncState.model_validate(snapshot.to_dict()) for snapshot in self.scope.stream(query)]

    # --- writing outside a sync ------------------------------------------------------------------------

    def mark_pending(
        self, key: SyncKey, connection: DocRef, *, window_seconds: float, force: bool = False
    ) -> bool:
        """Note that a request is being queued, unless one is pending (``force``: even then); False: one
        is (or the connection is gone), and nothing is to be published."""
        reference = self.ref(key)

        def mark(transaction: Any) -> bool:
            owner, snapshot = transaction.get_all([connection, reference])
            if not owner.exists:
                return False
            now = self._clock()
            state = snapshot.to_dict()
            pending_until = state.get("pending_until")
            if pending_until is not None and pending_until > now and not force:
                return False
            transaction.set(
                reference,
                self.scope.stamp(
                    {
                        **self._identity(key),
                        "pending_until": now + timedelta(seconds=window_seconds),
                        "pending_since": state.get("pending_since") or now,
                    }
                ),
                merge=True,
            )
            return True

        return bool(self.scope.transaction(mark))

    def clear_pending(self, key: SyncKey) -> None:
        """Not published after all: the next hint must be able to try again."""
        with contextlib.suppress(DocumentMissing):
            self.scope.update(self.ref(key), {"pending_until": DELETE_FIELD})

    def reset(self, connection_id: str, source: Source | None = None, partition: str | None = None) -> int:
        """Forget where the matching syncs stopped (cursor and full-sync progress), so the next one starts
        afresh, and take their leases away (a sync running now stops). Generations are kept. Returns
        how many states were reset."""
        states = [
            state
            for state in self.of_connection(connection_id)
            if (source is None or state.source is source)
            and (partition is None or state.partition == partition)
        ]
        for state in states:
            batch = self.scope.batch()
            batch.update(self.ref(state.key), {"cursor": None, "full_sync": None, "pending_until": None})
            batch.delete(self.lease_ref(state.key))
            batch.commit()
        return len(states)

    def forget(self, key: SyncKey) -> None:
        """One sync is no longer wanted (a calendar deselected): its state and lease go (a sync running
        now stops)."""
        batch = self.scope.batch()
        batch.delete(self.ref(key))
        batch.delete(self.lease_ref(key))
        batch.commit()

    def delete_connection(self, connection_id: str) -> None:
        """The connection is gone: its states and leases too (a sync running now stops)."""
        states = self.of_connection(connection_id)
        if not states:
            return
        batch = self.scope.batch()
        for state in states:
            batch.delete(self.ref(state.key))
            batch.delete(self.lease_ref(state.key))
        batch.commit()

    def record_error(self, key: SyncKey, code: str) -> None:
        try:
            now = self._clock()
            self.scope.update(
                self.ref(key), {"last_error": {"code": code, "at": now}, "last_attempt_at": now}
            )
        except DocumentMissing:
            pass  # disconnected meanwhile: nothing to report on

    def record_own_write(self, key: SyncKey, object_id: str, version: str) -> None:
        """Remember a change we made at Google (``object_id`` now at ``version``) for the sync that will
        see it come back; entries older than any echo can be are dropped on the way."""
        self.record_own_writes(key, {object_id: version})

    def record_own_writes(self, key: SyncKey, versions: Mapping[str, str]) -> None:
        """``record_own_write`` for several objects at once (a thread's messages), in one transaction."""
        reference = self.ref(key)

        def remember(transaction: Any) -> None:
            snapshot = transaction.get(reference)
            if not snapshot.exists:
                return  # no sync of this source: nothing will come back to recognise
            now = self._clock()
            kept = {
                name: entry
                for name, entry in (snapshot.get("own_writes") or {}).items()
                if isinstance(entry, Mapping) and entry.get("at") and entry["at"] > now - OWN_WRITES_KEPT
            }
            for object_id, version in versions.items():
                kept[object_id] = {"version": version, "at": now}
            transaction.update(reference, {"own_writes": kept})

        self.scope.transaction(remember)

    # --- the lease -------------------------------------------------------------------------------------

    def lease(self, key: SyncKey, *, holder: str, ttl_seconds: float) -> SyncLease:
        return SyncLease(self, key, holder=holder, ttl=timedelta(seconds=ttl_seconds), clock=self._clock)


class SyncLease:
    """One sync at a time per key: a lease with an expiry, taken in a transaction (invariant 4).

    A sync that finds the lease held notes ``rerun`` on the state instead of running; the holder sees
    the note when it lets go and asks for one more run, so a change that arrived meanwhile is never left
    behind. A holder that crashed stops blocking others when its lease expires."""

    def __init__(
        self, states: SyncStates, key: SyncKey, *, holder: str, ttl: timedelta, clock: Callable[[], datetime]
    ) -> None:
        self._states = states
        self._key = key
        self._holder = holder
        self._ttl = ttl
        self._clock = clock
        self._version: datetime | None = None
        self.state: SyncState | None = None  # the state as the acquiring transaction read it

    def acquire(self) -> bool:
        """True: this holder may sync now. False: another holds it (and now knows to run again)."""
        scope = self._states.scope
        lease_ref, state_ref = self._states.lease_ref(self._key), self._states.ref(self._key)
        identity = self._states._identity(self._key)

        def take(transaction: Any) -> bool:
            lease, state = transaction.get_all([lease_ref, state_ref])
            now = self._clock()
            if lease.exists and lease.get("holder") != self._holder and lease.get("expires_at") > now:
                transaction.set(state_ref, scope.stamp({**identity, "rerun": True}), merge=True)
                return False
            transaction.set(
                lease_ref, scope.stamp({**identity, "holder": self._holder, "expires_at": now + self._ttl})
            )
            if not state.exists:
                transaction.set(state_ref, scope.stamp(identity))
            self.state = SyncState.model_validate(state.to_dict() if state.exists else identity)
            return True

        if not scope.transaction(take):
            return False
        snapshot = scope.snapshot(lease_ref)
        if not snapshot.exists or snapshot.get("holder") != self._holder:
            return False  # taken away between the transaction and this read: as if busy
        self._version = snapshot.update_time
        return True

    def commit(self, batch: WriteBatch) -> dict[str, datetime]:
        """Commit ``batch`` under the lease: with it, the lease is renewed on condition that nobody
        else wrote it since; ``LeaseLost`` (and nothing written) otherwise."""
        if self._version is None:
            raise LeaseLost("The sync holds no lease.")
        lease_ref = self._states.lease_ref(self._key)
        now = self._clock()
        batch.update(lease_ref, {"expires_at": now + self._ttl}, if_updated_at=self._version)
        try:
            results = batch.commit()
        except (PreconditionFailed, DocumentMissing):
            self._version = None
            raise LeaseLost("Another sync, a reset or a disconnect took this sync's lease.") from None
        self._version = results[lease_ref.path]
        return results

    def save(self, changes: Mapping[str, Any]) -> None:
        """Write ``changes`` to the sync state, under the lease."""
        batch = self._states.scope.batch()
        batch.update(self._states.ref(self._key), dict(changes))
        self.commit(batch)

    def release(self) -> bool:
        """Let go; True if another sync was asked for while this one held the lease."""
        scope = self._states.scope
        lease_ref, state_ref = self._states.lease_ref(self._key), self._states.ref(self._key)

        def let_go(transaction: Any) -> bool:
            lease, state = transaction.get_all([lease_ref, state_ref])
            if not lease.exists or lease.get("holder") != self._holder:
                return False  # expired and taken over, reset or deleted meanwhile: not ours to delete
            transaction.delete(lease_ref)
            rerun = bool(state.get("rerun"))
            if rerun:
                transaction.update(state_ref, {"rerun": False})
            return rerun

        self._version = None
        return bool(scope.transaction(let_go))
