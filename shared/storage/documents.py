"""The document store port: what capabilities may ask of a document database, in our own types.

Capabilities never import Google's libraries. They name documents with ``DocRef`` and collections with
``CollectionRef`` (paths, nothing more), describe queries with ``Query`` (an immutable value), write
with ``WriteBatch`` and ``Transaction``, and catch the errors defined here. Two stores implement the port:
``shared.storage.firestore.FirestoreStore`` (the product, Firestore and its emulator) and
``shared.storage.memory.MemoryStore`` (unit tests). A contract test runs the same cases against both, so
the fake cannot drift from Firestore's semantics.

The semantics are Firestore's, restricted to what this product uses:

- ``create`` fails with ``AlreadyExists``; ``update`` fails with ``DocumentMissing`` (both in
  shared.errors, the one hierarchy, like ``PreconditionFailed``); ``update`` takes
  dotted field paths (``"sync.cursor"``) and ``DELETE_FIELD``; ``set(merge=True)`` merges nested maps.
- ``Increment``, ``Minimum`` and ``Maximum`` transform a field atomically, inside any write.
- ``if_updated_at`` makes an update or delete conditional on the document's last update time (the
  version a read returned): ``PreconditionFailed`` if anyone wrote it since.
- A batch commits whole or not at all. A transaction reads first, then writes; its work may be run
  again on contention, so it must have no other side effect.
- A query filters (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``array_contains``, ``in``), orders
  (``__name__``, the document id, last and implied), starts after a cursor, limits and projects.
- Passing faults (unavailable, aborted, deadline) are ``Retryable``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

T = TypeVar("T")

DOCUMENT_ID = "__name__"  # a query's order or cursor on the document id
Direction = Literal["ASCENDING", "DESCENDING"]
Operator = Literal["==", "!=", "<", "<=", ">", ">=", "array_contains", "in"]


class ReadAfterWrite(RuntimeError):
    """A transaction read after it wrote: Firestore refuses it, so both stores do (a bug, not a fault)."""


# --- names ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CollectionRef:
    path: str  # "tenants/acme/messages"

    @property
    def id(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def document(self, document_id: str) -> DocRef:
        return DocRef(f"{self.path}/{document_id}")

    def query(self) -> Query:
        return Query(parent=self.path)


@dataclass(frozen=True, slots=True)
class DocRef:
    path: str  # "tenants/acme/messages/user-1_18c2f0"

    @property
    def id(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def parent(self) -> CollectionRef:
        return CollectionRef(self.path.rsplit("/", 1)[0])

    def collection(self, name: str) -> CollectionRef:
        return CollectionRef(f"{self.path}/{name}")


@dataclass(frozen=True)
class Snapshot:
    """A document as read: ``data`` None when it does not exist; ``update_time`` its version."""

    ref: DocRef
    data: Mapping[str, Any] | None
    update_time: datetime | None = None

    @property
    def exists(self) -> bool:
        return self.data is not None

    @property
    def id(self) -> str:
        return self.ref.id

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data or {})

    def get(self, field_path: str) -> Any:
        """The value at a dotted field path; None when any part is missing."""
        value: Any = self.data
        for part in field_path.split("."):
            if not isinstance(value, Mapping) or part not in value:
                return None
            value = value[part]
        return value


# --- field transforms -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Increment:
    amount: int | float


@dataclass(frozen=True, slots=True)
class Minimum:
    value: int | float


@dataclass(frozen=True, slots=True)
class Maximum:
    value: int | float


class _DeleteField:
    def __repr__(self) -> str:
        return "DELETE_FIELD"


DELETE_FIELD: Any = _DeleteField()  # in an update: remove the field
Transform = Increment | Minimum | Maximum


# --- queries ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Filter:
    field: str
    operator: Operator
    value: Any


@dataclass(frozen=True, slots=True)
class Order:
    field: str
    direction: Direction = "ASCENDING"


@dataclass(frozen=True)
class Query:
    """An immutable query: each method answers a new one. ``parent``: a collection's path; or
    ``group``: every collection with that id, at any depth (a collection-group query)."""

    parent: str | None = None
    group: str | None = None
    filters: tuple[Filter, ...] = ()
    orders: tuple[Order, ...] = ()
    limit_to: int | None = None
    # Resume after this position: one value per order field (the document id as a DocRef or an id),
    # in the order of ``orders``; or a snapshot, whose values are read for those fields.
    after: tuple[Any, ...] | Snapshot | None = None
    fields: tuple[str, ...] | None = None  # a projection; None: whole documents

    @staticmethod
    def collection_group(collection_id: str) -> Query:
        return Query(group=collection_id)

    def where(self, field_path: str, operator: Operator, value: Any) -> Query:
        return dataclasses.replace(self, filters=(*self.filters, Filter(field_path, operator, value)))

    def order_by(self, field_path: str, direction: Direction = "ASCENDING") -> Query:
        return dataclasses.replace(self, orders=(*self.orders, Order(field_path, direction)))

    def limit(self, count: int) -> Query:
        return dataclasses.replace(self, limit_to=count)

    def start_after(self, position: Mapping[str, Any] | Snapshot) -> Query:
        """Resume after ``position``: a snapshot, or the values of the order fields by name."""
        if isinstance(position, Snapshot):
            return dataclasses.replace(self, after=position)
        missing = [order.field for order in self.orders if order.field not in position]
        if missing or not self.orders:
            raise ValueError(f"a cursor needs a value for every order field (missing {missing})")
        return dataclasses.replace(self, after=tuple(position[order.field] for order in self.orders))

    def select(self, field_paths: Iterable[str]) -> Query:
        return dataclasses.replace(self, fields=tuple(field_paths))


_INEQUALITIES = frozenset({"<", "<=", ">", ">=", "!="})


def effective_orders(query: Query) -> list[Order]:
    """The order Firestore applies: the explicit orders (or, when there are none, an inequality's field),
    then the document id, in the direction of the last order."""
    orders = list(query.orders)
    if not orders:
        inequality = next((f.field for f in query.filters if f.operator in _INEQUALITIES), None)
        if inequality is not None:
            orders.append(Order(inequality))
    if not orders or orders[-1].field != DOCUMENT_ID:
        direction = orders[-1].direction if orders else "ASCENDING"
        orders.append(Order(DOCUMENT_ID, direction))
    return orders


# --- writes -----------------------------------------------------------------------------------------------


class Writes(Protocol):
    """The writes a batch or a transaction collects; they apply together, or none of them."""

    def create(self, ref: DocRef, data: Mapping[str, Any]) -> None: ...

    def set(self, ref: DocRef, data: Mapping[str, Any], *, merge: bool = False) -> None: ...

    def update(
        self, ref: DocRef, changes: Mapping[str, Any], *, if_updated_at: datetime | None = None
    ) -> None: ...

    def delete(self, ref: DocRef, *, if_updated_at: datetime | None = None) -> None: ...


class WriteBatch(Writes, Protocol):
    def commit(self) -> dict[str, datetime]:
        """Apply every write atomically; returns each written document's new update time by path."""
        ...

    def __len__(self) -> int: ...


class Transaction(Writes, Protocol):
    def get(self, ref: DocRef, *, fields: Sequence[str] | None = None) -> Snapshot: ...

    def get_all(self, refs: Sequence[DocRef], *, fields: Sequence[str] | None = None) -> list[Snapshot]: ...


class DocumentStore(Protocol):
    def get(self, ref: DocRef, *, fields: Sequence[str] | None = None) -> Snapshot: ...

    def get_all(self, refs: Sequence[DocRef], *, fields: Sequence[str] | None = None) -> list[Snapshot]:
        """Snapshots in the order of ``refs`` (missing documents included, ``exists`` False)."""
        ...

    def create(self, ref: DocRef, data: Mapping[str, Any]) -> datetime: ...

    def set(self, ref: DocRef, data: Mapping[str, Any], *, merge: bool = False) -> datetime: ...

    def update(
        self, ref: DocRef, changes: Mapping[str, Any], *, if_updated_at: datetime | None = None
    ) -> datetime: ...

    def delete(self, ref: DocRef, *, if_updated_at: datetime | None = None) -> None: ...

    def batch(self) -> WriteBatch: ...

    def run_transaction(self, work: Callable[[Transaction], T]) -> T: ...

    def stream(self, query: Query) -> list[Snapshot]: ...

    def count(self, query: Query) -> int: ...

    def list_document_ids(self, collection: CollectionRef) -> list[str]:
        """Ids of the collection's documents, including ids that only hold subcollections."""
        ...


# --- what both stores share -------------------------------------------------------------------------------


@dataclass
class Operation:
    """One collected write: what the batch or transaction will apply."""

    kind: Literal["create", "set", "update", "delete"]
    ref: DocRef
    data: Mapping[str, Any] = field(default_factory=dict)
    merge: bool = False
    if_updated_at: datetime | None = None


class CollectedWrites:
    """The write methods, collecting ``Operation``s for a store to apply."""

    def __init__(self) -> None:
        self.operations: list[Operation] = []

    def create(self, ref: DocRef, data: Mapping[str, Any]) -> None:
        self.operations.append(Operation("create", ref, data))

    def set(self, ref: DocRef, data: Mapping[str, Any], *, merge: bool = False) -> None:
        self.operations.append(Operation("set", ref, data, merge=merge))

    def update(
        self, ref: DocRef, changes: Mapping[str, Any], *, if_updated_at: datetime | None = None
    ) -> None:
        if not changes:
            raise ValueError("an update must change something")
        self.operations.append(Operation("update", ref, changes, if_updated_at=if_updated_at))

    def delete(self, ref: DocRef, *, if_updated_at: datetime | None = None) -> None:
        self.operations.append(Operation("delete", ref, if_updated_at=if_updated_at))

    def __len__(self) -> int:
        return len(self.operations)


class CollectedBatch(CollectedWrites):
    """A batch whose collected writes a store applies, all or none, at ``commit``."""

    def __init__(self, apply: Callable[[Sequence[Operation]], dict[str, datetime]]) -> None:
        super().__init__()
        self._apply = apply

    def commit(self) -> dict[str, datetime]:
        return self._apply(self.operations)
