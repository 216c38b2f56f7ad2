"""An in-memory document store with Firestore's semantics, for unit tests of capabilities.

It implements ``shared.storage.documents.DocumentStore`` and is held to Firestore's behaviour by the
contract tests (tests/contract), which run the same cases against it and against the emulator. It is
strict where Firestore is strict (a transaction may not read after it wrote; a cursor needs every order
value; update of a missing document fails) so that code passing here does not fail on Firestore.
"""

from __future__ import annotations

import copy
import enum
import functools
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from shared.errors import AlreadyExists, DocumentMissing, PreconditionFailed
from shared.storage.documents import (
    DELETE_FIELD,
    DOCUMENT_ID,
    CollectedBatch,
    CollectedWrites,
    CollectionRef,
    DocRef,
    Filter,
    Increment,
    Maximum,
    Minimum,
    Operation,
    Order,
    Query,
    ReadAfterWrite,
    Snapshot,
    effective_orders,
)

T = TypeVar("T")


class MemoryStore:
    def __init__(self) -> None:
        self._documents: dict[str, dict[str, Any]] = {}
        self._update_times: dict[str, datetime] = {}
        self._lock = threading.RLock()
        self._last_time = datetime.now(UTC)
        # Counters for tests that assert what a use-case read and wrote.
        self.reads = 0
        self.writes = 0

    # --- reads ----------------------------------------------------------------------------------------

    def get(self, ref: DocRef, *, fields: Sequence[str] | None = None) -> Snapshot:
        _check_document_path(ref.path)
        with self._lock:
            self.reads += 1
            return self._snapshot(ref.path, fields)

    def get_all(self, refs: Sequence[DocRef], *, fields: Sequence[str] | None = None) -> list[Snapshot]:
        with self._lock:
            self.reads += len(refs)
            return [self._snapshot(ref.path, fields) for ref in refs]

    def stream(self, query: Query) -> list[Snapshot]:
        with self._lock:
            found = self._run(query)
            self.reads += max(len(found), 1)  # Firestore bills an empty answer as one read
            return found

    def count(self, query: Query) -> int:
        with self._lock:
            self.reads += 1
            return len(self._run(query))

    def list_document_ids(self, collection: CollectionRef) -> list[str]:
        prefix = collection.path + "/"
        with self._lock:
            ids = {
                path[len(prefix) :].split("/", 1)[0] for path in self._documents if path.startswith(prefix)
            }
        return sorted(ids)

    # --- single writes --------------------------------------------------------------------------------

    def create(self, ref: DocRef, data: Mapping[str, Any]) -> datetime:
        return self._commit([Operation("create", ref, data)])[ref.path]

    def set(self, ref: DocRef, data: Mapping[str, Any], *, merge: bool = False) -> datetime:
        return self._commit([Operation("set", ref, data, merge=merge)])[ref.path]

    def update(
        self, ref: DocRef, changes: Mapping[str, Any], *, if_updated_at: datetime | None = None
    ) -> datetime:
        if not changes:
            raise ValueError("an update must change something")
        return self._commit([Operation("update", ref, changes, if_updated_at=if_updated_at)])[ref.path]

    def delete(self, ref: DocRef, *, if_updated_at: datetime | None = None) -> None:
        self._commit([Operation("delete", ref, if_updated_at=if_updated_at)])

    def batch(self) -> CollectedBatch:
        return CollectedBatch(self._commit)

    def run_transaction(self, work: Callable[[Any], T]) -> T:
        with self._lock:
            transaction = _Transaction(self)
            result = work(transaction)
            self._commit(transaction.operations)
            return result

    # --- internals ------------------------------------------------------------------------------------

    def _snapshot(self, path: str, fields: Sequence[str] | None) -> Snapshot:
        data = self._documents.get(path)
        if data is None:
            return Snapshot(DocRef(path), None, None)
        return Snapshot(DocRef(path), _project(data, fields), self._update_times[path])

    def _commit(self, operations: Sequence[Operation]) -> dict[str, datetime]:
        """Check every write against the current state, then apply them all, or none."""
        with self._lock:
            staged: dict[str, dict[str, Any] | None] = {}

            def current(path: str) -> dict[str, Any] | None:
                if path in staged:
                    return staged[path]
                existing = self._documents.get(path)
                return copy.deepcopy(existing) if existing is not None else None

            for operation in operations:
                path = operation.ref.path
                _check_document_path(path)
                before = current(path)
                if operation.if_updated_at is not None and (
                    before is None or self._update_times.get(path) != operation.if_updated_at
                ):
                    raise PreconditionFailed("The document changed since it was read.")
                staged[path] = _apply(operation, before)
            now = self._tick()
            for path, data in staged.items():
                if data is None:
                    self._documents.pop(path, None)
                    self._update_times.pop(path, None)
                else:
                    self._documents[path] = data
                    self._update_times[path] = now
            self.writes += len(operations)
            return {path: now for path in staged}

    def _tick(self) -> datetime:
        now = datetime.now(UTC)
        self._last_time = max(now, self._last_time + timedelta(microseconds=1))
        return self._last_time

    def _run(self, query: Query) -> list[Snapshot]:
        matches = [
            (path, data)
            for path, data in self._documents.items()
            if _in_scope(path, query) and all(_matches(data, item) for item in query.filters)
        ]
        orders = effective_orders(query)
        matches = [(path, data) for path, data in matches if all(_has(data, o.field) for o in orders)]
        matches.sort(key=functools.cmp_to_key(functools.partial(_compare_rows, orders=orders)))
        if query.after is not None:
            cursor = _cursor_values(query, orders)
            matches = [row for row in matches if _compare_to_cursor(row, cursor, orders) > 0]
        if query.limit_to is not None:
            matches = matches[: query.limit_to]
        return [
            Snapshot(DocRef(path), _project(data, query.fields), self._update_times[path])
            for path, data in matches
        ]


class _Transaction(CollectedWrites):
    def __init__(self, store: MemoryStore) -> None:
        super().__init__()
        self._store = store

    def get(self, ref: DocRef, *, fields: Sequence[str] | None = None) -> Snapshot:
        if self.operations:
            raise ReadAfterWrite("a transaction must read before it writes")
        return self._store.get(ref, fields=fields)

    def get_all(self, refs: Sequence[DocRef], *, fields: Sequence[str] | None = None) -> list[Snapshot]:
        if self.operations:
            raise ReadAfterWrite("a transaction must read before it writes")
        return self._store.get_all(refs, fields=fields)


# --- applying writes ------------------------------------------------------------------------------------


def _apply(operation: Operation, before: dict[str, Any] | None) -> dict[str, Any] | None:
    if operation.kind == "delete":
        return None
    if operation.kind == "create":
        if before is not None:
            raise AlreadyExists("The document already exists.")
        return _with_values({}, operation.data)
    if operation.kind == "set":
        return _with_values(before if (operation.merge and before is not None) else {}, operation.data)
    if before is None:
        raise DocumentMissing("No such document.")
    result = before
    for field_path, value in operation.data.items():
        _put(result, field_path.split("."), value)
    return result


def _with_values(base: dict[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` (nested maps) written over ``base``: maps merge, anything else replaces."""
    for key, value in data.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _with_values(base[key], value)
        elif isinstance(value, Mapping):
            base[key] = _with_values({}, value)
        else:
            _put(base, [key], value)
    return base


def _put(target: dict[str, Any], parts: list[str], value: Any) -> None:
    for part in parts[:-1]:
        child = target.get(part)
        if not isinstance(child, dict):
            if value is DELETE_FIELD:
                return
            child = target[part] = {}
        target = child
    last = parts[-1]
    if value is DELETE_FIELD:
        target.pop(last, None)
    elif isinstance(value, (Increment, Minimum, Maximum)):
        current = target.get(last)
        target[last] = _transformed(current if _is_number(current) else None, value)
    elif isinstance(value, Mapping):
        target[last] = _with_values({}, value)
    else:
        target[last] = _stored(value)


def _transformed(current: float | None, transform: Increment | Minimum | Maximum) -> float:
    if isinstance(transform, Increment):
        return transform.amount if current is None else current + transform.amount
    if current is None:
        return transform.value
    return min(current, transform.value) if isinstance(transform, Minimum) else max(current, transform.value)


def _stored(value: Any) -> Any:
    """What Firestore would store and give back: UTC datetimes, plain strings, lists for tuples."""
    if value is None or isinstance(value, (bool, int, float, bytes)):
        return value
    if isinstance(value, enum.Enum):
        return _stored(value.value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC)
    if isinstance(value, (list, tuple)):
        if any(isinstance(item, (list, tuple)) for item in value):
            raise TypeError("Firestore cannot store an array inside an array")
        return [_stored(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _stored(item) for key, item in value.items()}
    raise TypeError(f"Firestore cannot store a value of type {type(value).__name__}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_document_path(path: str) -> None:
    parts = path.split("/")
    if len(parts) % 2 or any(not part for part in parts):
        raise ValueError(f"not a document path: {path!r}")


# --- reading queries --------------------------------------------------------------------------------------


def _in_scope(path: str, query: Query) -> bool:
    collection, _, _ = path.rpartition("/")
    if query.group is not None:
        return collection.rsplit("/", 1)[-1] == query.group
    return collection == query.parent


def _value(data: Mapping[str, Any], field_path: str) -> tuple[bool, Any]:
    value: Any = data
    for part in field_path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _has(data: Mapping[str, Any], field_path: str) -> bool:
    return field_path == DOCUMENT_ID or _value(data, field_path)[0]


def _matches(data: Mapping[str, Any], item: Filter) -> bool:
    present, value = _value(data, item.field)
    if not present:
        return False
    wanted = _stored(item.value) if item.operator != "in" else [_stored(v) for v in item.value]
    if item.operator == "==":
        return _equal(value, wanted)
    if item.operator == "array_contains":
        return isinstance(value, list) and any(_equal(element, wanted) for element in value)
    if item.operator == "in":
        return any(_equal(value, candidate) for candidate in wanted)
    if item.operator == "!=":
        return value is not None and not _equal(value, wanted)
    if _type_rank(value) != _type_rank(wanted):
        return False  # an inequality only meets values of its own type
    order = _compare_values(value, wanted)
    return {"<": order < 0, "<=": order <= 0, ">": order > 0, ">=": order >= 0}[item.operator]


def _equal(left: Any, right: Any) -> bool:
    return _type_rank(left) == _type_rank(right) and _compare_values(left, right) == 0


def _type_rank(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        return 1
    if isinstance(value, (int, float)):
        return 2
    if isinstance(value, datetime):
        return 3
    if isinstance(value, str):
        return 4
    if isinstance(value, bytes):
        return 5
    if isinstance(value, DocRef):
        return 6
    if isinstance(value, list):
        return 8
    if isinstance(value, Mapping):
        return 9
    raise TypeError(f"no Firestore order for {type(value).__name__}")


def _compare_values(left: Any, right: Any) -> int:
    """Firestore's value order: by type first, then within the type."""
    left_rank, right_rank = _type_rank(left), _type_rank(right)
    if left_rank != right_rank:
        return -1 if left_rank < right_rank else 1
    if left_rank == 8:
        for a, b in zip(left, right, strict=False):
            order = _compare_values(a, b)
            if order:
                return order
        return (len(left) > len(right)) - (len(left) < len(right))
    if left_rank == 9:
        for (key_a, a), (key_b, b) in zip(sorted(left.items()), sorted(right.items()), strict=False):
            if key_a != key_b:
                return -1 if key_a < key_b else 1
            order = _compare_values(a, b)
            if order:
                return order
        return (len(left) > len(right)) - (len(left) < len(right))
    if left_rank == 6:
        left, right = _path_key(left.path), _path_key(right.path)
    if left_rank == 0:
        return 0
    return int((left > right) - (left < right))


def _path_key(path: str) -> tuple[str, ...]:
    return tuple(path.split("/"))


def _order_value(path: str, data: Mapping[str, Any], field_path: str) -> Any:
    if field_path == DOCUMENT_ID:
        return DocRef(path)
    return _value(data, field_path)[1]


def _compare_rows(
    left: tuple[str, Mapping[str, Any]], right: tuple[str, Mapping[str, Any]], *, orders: Iterable[Order]
) -> int:
    for order in orders:
        result = _compare_values(
            _order_value(left[0], left[1], order.field), _order_value(right[0], right[1], order.field)
        )
        if result:
            return result if order.direction == "ASCENDING" else -result
    return 0


def _cursor_values(query: Query, orders: list[Order]) -> list[Any]:
    after = query.after
    if isinstance(after, Snapshot):
        data = after.data or {}
        return [_order_value(after.ref.path, data, order.field) for order in orders]
    assert after is not None
    values = list(after)
    if len(values) > len(orders):
        raise ValueError("a cursor has more values than the query has orders")
    resolved = []  # a prefix of the orders: rows equal on it are skipped too, as Firestore does
    for order, value in zip(orders, values, strict=False):
        if order.field == DOCUMENT_ID and isinstance(value, str):
            value = DocRef(f"{query.parent}/{value}")
        resolved.append(_stored(value) if not isinstance(value, DocRef) else value)
    return resolved


def _compare_to_cursor(row: tuple[str, Mapping[str, Any]], cursor: list[Any], orders: list[Order]) -> int:
    for order, position in zip(orders, cursor, strict=False):
        result = _compare_values(_order_value(row[0], row[1], order.field), position)
        if result:
            return result if order.direction == "ASCENDING" else -result
    return 0


def _project(data: Mapping[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    if fields is None:
        return copy.deepcopy(dict(data))
    projected: dict[str, Any] = {}
    for field_path in fields:
        present, value = _value(data, field_path)
        if present:
            _put(projected, field_path.split("."), copy.deepcopy(value))
    return projected
