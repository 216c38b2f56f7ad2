"""Query shapes: what one query filters and orders on, declared once, and the query built from it.

Production Firestore refuses a query that no index serves; the emulator serves anything. So every query
a capability sends is built *from* a declared shape, and a unit test checks each shape against the
composite indexes in ``infra/firestore/indexes.json``: the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from shared.storage.documents import DOCUMENT_ID, CollectionRef, Direction, Query

__all__ = ["DOCUMENT_ID", "QueryShape", "RangeFilter", "build_query"]


@dataclass(frozen=True)
class QueryShape:
    """What one query filters and orders on: what a composite index must serve."""

    collection: str
    equality: tuple[str, ...] = ()
    array_contains: str | None = None
    ranges: tuple[str, ...] = ()  # fields that may carry range filters (each also an order field)
    order: tuple[tuple[str, Direction], ...] = ()


@dataclass(frozen=True)
class RangeFilter:
    field: str
    operator: Literal["<", "<=", ">", ">="]
    value: Any


def build_query(
    collection: CollectionRef,
    shape: QueryShape,
    *,
    equal: Mapping[str, Any],
    contains: Any = None,
    ranges: Sequence[RangeFilter] = (),
) -> Query:
    """The query of ``shape``: its filters with these values, its order. Nothing else."""
    if collection.id != shape.collection:
        raise ValueError("the collection is not the shape's")
    if set(equal) != set(shape.equality) or (contains is None) != (shape.array_contains is None):
        raise ValueError("the filters do not fit the query shape")
    if any(item.field not in shape.ranges for item in ranges):
        raise ValueError("a range filter on a field the shape does not declare")
    query = collection.query()
    for name in shape.equality:
        query = query.where(name, "==", equal[name])
    if shape.array_contains is not None:
        query = query.where(shape.array_contains, "array_contains", contains)
    for item in ranges:
        query = query.where(item.field, item.operator, item.value)
    for name, direction in shape.order:
        query = query.order_by(name, direction)
    return query
