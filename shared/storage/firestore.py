"""Firestore behind the document store port (shared.storage.documents): the only module that imports
Google's Firestore library. Firestore's errors become ours here; its passing faults become ``Retryable``.

Imported lazily by the composition root: Firestore costs ~250 ms of import on a cold start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.field_path import FieldPath

from shared.errors import AlreadyExists, DocumentMissing, PreconditionFailed, Retryable
from shared.storage.documents import (
    DELETE_FIELD,
    DOCUMENT_ID,
    CollectedBatch,
    CollectedWrites,
    CollectionRef,
    DocRef,
    Increment,
    Maximum,
    Minimum,
    Operation,
    Query,
    ReadAfterWrite,
    Snapshot,
    effective_orders,
)

if TYPE_CHECKING:
    from shared.config import Settings

T = TypeVar("T")
_PASSING = (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.Aborted, gexc.InternalServerError)


def build_firestore_store(settings: Settings) -> FirestoreStore:
    """One client per instance."""
    client = firestore.Client(project=settings.google_cloud_project, database=settings.firestore_database)
    return FirestoreStore(client)


@contextmanager
def _translated(*, writing: bool = False) -> Iterator[None]:
    """Firestore's errors as ours. FAILED_PRECONDITION is a write's precondition only when writing (a
    query answers it too, when production lacks an index: that must stay loud)."""
    try:
        yield
    except _PASSING as error:
        raise Retryable(f"Firestore is temporarily unavailable ({type(error).__name__}).") from error
    except gexc.AlreadyExists as error:
        raise AlreadyExists("The document already exists.") from error
    except gexc.NotFound as error:
        raise DocumentMissing("No such document.") from error
    except gexc.FailedPrecondition as error:
        if not writing:
            raise
        raise PreconditionFailed("The document changed since it was read.") from error


class FirestoreStore:
    def __init__(self, client: firestore.Client) -> None:
        self._client = client

    # --- reads ----------------------------------------------------------------------------------------

    def get(self, ref: DocRef, *, fields: Sequence[str] | None = None) -> Snapshot:
        with _translated():
            snapshot = self._document(ref).get(field_paths=list(fields) if fields is not None else None)
        return _snapshot(snapshot)

    def get_all(self, refs: Sequence[DocRef], *, fields: Sequence[str] | None = None) -> list[Snapshot]:
        return self._get_all(refs, fields, None)

    def _get_all(
        self, refs: Sequence[DocRef], fields: Sequence[str] | None, transaction: Any
    ) -> list[Snapshot]:
        if not refs:
            return []
        with _translated():
            found = {
                snapshot.reference.path: _snapshot(snapshot)
                for snapshot in self._client.get_all(
                    [self._document(ref) for ref in dict.fromkeys(refs)],
                    field_paths=list(fields) if fields is not None else None,
                    transaction=transaction,
                )
            }
        return [found.get(ref.path, Snapshot(ref, None, None)) for ref in refs]

    def stream(self, query: Query) -> list[Snapshot]:
        with _translated():
            return [_snapshot(snapshot) for snapshot in self._query(query).stream()]

    def count(self, query: Query) -> int:
        with _translated():
            return int(self._query(query).count().get()[0][0].value)

    def list_document_ids(self, collection: CollectionRef) -> list[str]:
        with _translated():
            return [document.id for document in self._client.collection(collection.path).list_documents()]

    # --- writes ---------------------------------------------------------------------------------------

    def create(self, ref: DocRef, data: Mapping[str, Any]) -> datetime:
        with _translated(writing=True):
            return self._document(ref).create(_encode(data)).update_time  # type: ignore[no-any-return]

    def set(self, ref: DocRef, data: Mapping[str, Any], *, merge: bool = False) -> datetime:
        with _translated(writing=True):
            return self._document(ref).set(_encode(data), merge=merge).update_time  # type: ignore[no-any-return]

    def update(
        self, ref: DocRef, changes: Mapping[str, Any], *, if_updated_at: datetime | None = None
    ) -> datetime:
        if not changes:
            raise ValueError("an update must change something")
        with _translated(writing=True):
            result = self._document(ref).update(_encode(changes), option=self._option(if_updated_at))
        return result.update_time  # type: ignore[no-any-return]

    def delete(self, ref: DocRef, *, if_updated_at: datetime | None = None) -> None:
        with _translated(writing=True):
            self._document(ref).delete(option=self._option(if_updated_at))

    def batch(self) -> CollectedBatch:
        return CollectedBatch(self._commit)

    def run_transaction(self, work: Callable[[Any], T]) -> T:
        def attempt(transaction: Any) -> T:
            adapter = _Transaction(self, transaction)
            result = work(adapter)
            for operation in adapter.operations:
                self._apply(transaction, operation)
            return result

        with _translated(writing=True):
            try:
                return firestore.transactional(attempt)(self._client.transaction())  # type: ignore[no-any-return]
            except ValueError as error:
                # The client gives up on a contended document after its attempts with a ValueError
                # whose cause is Firestore's ABORTED: a passing fault, to be retried later.
                if isinstance(error.__cause__, gexc.Aborted):
                    raise Retryable(
                        "Firestore contention: the transaction gave up.", code="contention"
                    ) from error
                raise

    # --- internals ------------------------------------------------------------------------------------

    def _document(self, ref: DocRef) -> Any:
        return self._client.document(ref.path)

    def _option(self, if_updated_at: datetime | None) -> Any:
        return (
            self._client.write_option(last_update_time=if_updated_at) if if_updated_at is not None else None
        )

    def _apply(self, writes: Any, operation: Operation) -> None:
        document = self._document(operation.ref)
        if operation.kind == "create":
            writes.create(document, _encode(operation.data))
        elif operation.kind == "set":
            writes.set(document, _encode(operation.data), merge=operation.merge)
        elif operation.kind == "update":
            writes.update(document, _encode(operation.data), option=self._option(operation.if_updated_at))
        else:
            writes.delete(document, option=self._option(operation.if_updated_at))

    def _commit(self, operations: Sequence[Operation]) -> dict[str, datetime]:
        if not operations:
            return {}
        batch = self._client.batch()
        for operation in operations:
            self._apply(batch, operation)
        with _translated(writing=True):
            results = batch.commit()
        return {
            operation.ref.path: result.update_time
            for operation, result in zip(operations, results, strict=True)
        }

    def _query(self, query: Query) -> Any:
        if query.group is not None:
            built: Any = self._client.collection_group(query.group)
            parent = None
        else:
            assert query.parent is not None
            built = self._client.collection(query.parent)
            parent = query.parent
        for item in query.filters:
            built = built.where(filter=FieldFilter(item.field, item.operator, _encode_value(item.value)))
        # The order Firestore applies anyway, written out: a cursor then names every position exactly.
        orders = effective_orders(query) if query.after is not None else list(query.orders)
        for order in orders:
            name = FieldPath.document_id() if order.field == DOCUMENT_ID else order.field
            built = built.order_by(name, direction=order.direction)
        if query.after is not None:
            built = built.start_after(self._cursor(query, orders, parent))
        if query.fields is not None:
            built = built.select(list(query.fields))
        if query.limit_to is not None:
            built = built.limit(query.limit_to)
        return built

    def _cursor(self, query: Query, orders: list[Any], parent: str | None) -> dict[str, Any]:
        after = query.after
        if isinstance(after, Snapshot):
            values = [after.ref if o.field == DOCUMENT_ID else after.get(o.field) for o in orders]
        else:
            assert after is not None
            values = list(after)
        cursor: dict[str, Any] = {}
        for order, value in zip(orders, values, strict=False):
            if order.field == DOCUMENT_ID:
                path = value.path if isinstance(value, DocRef) else f"{parent}/{value}"
                cursor[order.field] = self._client.document(path)
            else:
                cursor[order.field] = _encode_value(value)
        return cursor


class _Transaction(CollectedWrites):
    """Reads go to Firestore inside the transaction; writes are collected and handed over at the end."""

    def __init__(self, store: FirestoreStore, transaction: Any) -> None:
        super().__init__()
        self._store = store
        self._transaction = transaction

    def get(self, ref: DocRef, *, fields: Sequence[str] | None = None) -> Snapshot:
        if self.operations:
            raise ReadAfterWrite("a transaction must read before it writes")
        with _translated():
            snapshot = self._store._document(ref).get(
                field_paths=list(fields) if fields is not None else None, transaction=self._transaction
            )
        return _snapshot(snapshot)

    def get_all(self, refs: Sequence[DocRef], *, fields: Sequence[str] | None = None) -> list[Snapshot]:
        if self.operations:
            raise ReadAfterWrite("a transaction must read before it writes")
        return self._store._get_all(refs, fields, self._transaction)


def _snapshot(snapshot: Any) -> Snapshot:
    ref = DocRef(snapshot.reference.path)
    if not snapshot.exists:
        return Snapshot(ref, None, None)
    return Snapshot(ref, snapshot.to_dict() or {}, snapshot.update_time)


def _encode(data: Mapping[str, Any]) -> dict[str, Any]:
    return {str(key): _encode_value(value) for key, value in data.items()}


def _encode_value(value: Any) -> Any:
    if value is DELETE_FIELD:
        return firestore.DELETE_FIELD
    if isinstance(value, Increment):
        return firestore.Increment(value.amount)
    if isinstance(value, Minimum):
        return firestore.Minimum(value.value)
    if isinstance(value, Maximum):
        return firestore.Maximum(value.value)
    if isinstance(value, Mapping):
        return _encode(value)
    if isinstance(value, (list, tuple)):
        return [_encode_value(item) for item in value]
    return value
