"""Every Firestore query of mail and calendar reads has a composite index declared in
infra/firestore/indexes.json.

The emulator serves any query without an index; production refuses one (FAILED_PRECONDITION) until the
index exists. So this checks, without a server, (1) each shape in ``QUERY_SHAPES`` against the declared
indexes, and (2) that the queries the code really builds, for every combination of filters, are exactly
those shapes (each query is captured where the store would run it, and read back).
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.calendar import queries as calendar_queries
from shared.calendar.shapes import QUERY_SHAPES as CALENDAR_SHAPES
from shared.crm_links.entities import CrmEntity
from shared.drive import queries as drive_queries
from shared.errors import NotFound
from shared.mail import queries
from shared.mail.shapes import QUERY_SHAPES as MAIL_SHAPES
from shared.storage.documents import DOCUMENT_ID, Query, Snapshot
from shared.storage.memory import MemoryStore
from shared.storage.scope import TenantScope
from shared.storage.shapes import QueryShape
from tests.conftest import REPO_ROOT

INDEXES = REPO_ROOT / "infra" / "firestore" / "indexes.json"
QUERY_SHAPES = {
    **MAIL_SHAPES,
    **{f"events:{name}": shape for name, shape in CALENDAR_SHAPES.items()},
    **{f"drive:{name}": shape for name, shape in drive_queries.QUERY_SHAPES.items()},
}
ORDERS = {"ASCENDING", "DESCENDING"}
Field = tuple[str, str]  # (field path, "ASCENDING" | "DESCENDING" | "CONTAINS")


def declared() -> dict[str, Any]:
    return json.loads(INDEXES.read_text())


def declared_indexes() -> list[tuple[str, tuple[Field, ...]]]:
    return [
        (
            index["collectionGroup"],
            tuple((f["fieldPath"], f.get("order") or f["arrayConfig"]) for f in index["fields"]),
        )
        for index in declared()["indexes"]
    ]


def _without_implicit_name(fields: tuple[Field, ...]) -> tuple[Field, ...]:
    """Every index ends in __name__, in the direction of its last field: written or not, the same."""
    if len(fields) >= 2 and fields[-1][0] == DOCUMENT_ID and fields[-1][1] == fields[-2][1]:
        return fields[:-1]
    return fields


def serves(index_fields: tuple[Field, ...], shape: QueryShape) -> bool:
    """Firestore's rule: the equality and array-contains fields in any order first, then exactly the
    query's order (ranges are on order fields here, so they add nothing), __name__ implied last."""
    fields = _without_implicit_name(index_fields)
    order = _without_implicit_name(tuple(shape.order))
    prefix, suffix = fields[: len(fields) - len(order)], fields[len(fields) - len(order) :]
    if suffix != order:
        return False
    wanted = {(name, "EQ") for name in shape.equality}
    if shape.array_contains is not None:
        wanted.add((shape.array_contains, "CONTAINS"))
    found = {(name, "CONTAINS" if mode == "CONTAINS" else "EQ") for name, mode in prefix}
    return len(prefix) == len(wanted) and found == wanted


def needs_composite(shape: QueryShape) -> bool:
    fields = {*shape.equality, *shape.ranges, *(name for name, _ in shape.order)}
    if shape.array_contains is not None:
        fields.add(shape.array_contains)
    return len(fields - {DOCUMENT_ID}) > 1


# --- the declaration itself -----------------------------------------------------------------------------


def test_the_index_file_is_in_firestores_format() -> None:
    document = declared()
    assert set(document) == {"indexes", "fieldOverrides"}
    for index in document["indexes"]:
        assert set(index) == {"collectionGroup", "queryScope", "fields"}
        assert index["queryScope"] == "COLLECTION"  # every read is below one tenant, never a group query
        assert len(index["fields"]) >= 2
        for field in index["fields"]:
            assert set(field) in ({"fieldPath", "order"}, {"fieldPath", "arrayConfig"}), field
            assert field.get("order", "ASCENDING") in ORDERS
            assert field.get("arrayConfig", "CONTAINS") == "CONTAINS"
        assert sum("arrayConfig" in field for field in index["fields"]) <= 1
    for override in document["fieldOverrides"]:
        assert {"collectionGroup", "fieldPath", "indexes"} <= set(override)


def test_no_index_is_declared_twice() -> None:
    indexes = declared_indexes()
    normalised = [(group, _without_implicit_name(fields)) for group, fields in indexes]
    assert len(set(normalised)) == len(normalised)


# --- the shapes against the declaration -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(QUERY_SHAPES))
def test_each_query_shape_has_its_index(name: str) -> None:
    shape = QUERY_SHAPES[name]
    assert all(field in {f for f, _ in shape.order} for field in shape.ranges), (
        "a range on a field that is not ordered on would need Firestore's multi-inequality indexes"
    )
    if not needs_composite(shape):
        return
    matching = [
        fields for group, fields in declared_indexes() if group == shape.collection and serves(fields, shape)
    ]
    assert matching, f"no index in {INDEXES.name} serves the query shape {name}: {shape}"


def test_every_declared_index_serves_some_query() -> None:
    for group, fields in declared_indexes():
        assert any(shape.collection == group and serves(fields, shape) for shape in QUERY_SHAPES.values()), (
            f"index {group} {fields} serves no query of the code: remove it or add its query shape"
        )


# Field names the code filters or orders on outside QUERY_SHAPES: .where("name", ...), order_by("name").
_LITERAL_QUERY_FIELD = re.compile(r"""(?:\.where|order_by)\(\s*["']([A-Za-z_][\w.]*)["']""")


def queried_fields() -> dict[str, set[str]]:
    """Field names some query uses, per collection group ("*": a literal whose collection is not known)."""
    fields: dict[str, set[str]] = {}
    for shape in QUERY_SHAPES.values():
        used = {*shape.equality, *shape.ranges, *(name for name, _ in shape.order)}
        if shape.array_contains is not None:
            used.add(shape.array_contains)
        fields.setdefault(shape.collection, set()).update(used - {DOCUMENT_ID})
    for source in (REPO_ROOT / "shared").rglob("*.py"):
        fields.setdefault("*", set()).update(_LITERAL_QUERY_FIELD.findall(source.read_text()))
    return fields


def exempted_fields() -> set[tuple[str, str]]:
    """(collection group, field) pairs whose single-field indexes are all switched off."""
    return {
        (override["collectionGroup"], override["fieldPath"])
        for override in declared()["fieldOverrides"]
        if override["indexes"] == []
    }


def test_no_queried_field_is_exempted_from_indexing() -> None:
    # An exemption removes the field's single-field indexes; a composite index still covers a query that
    # has one, but a query served by single-field indexes alone (one field, or equalities merged) would
    # fail in production only: the emulator ignores indexes.
    queried = queried_fields()
    assert {"connection_id", "attached_to", "google_email", "status"} <= queried["*"]  # the scan works
    clashes = {
        (group, field)
        for group, field in exempted_fields()
        if field in queried["*"]
        or (field in queried.get(group, set()) and not _every_query_on_it_has_a_composite(group, field))
    }
    assert not clashes, f"exempted from indexing but queried without a composite index: {sorted(clashes)}"


def _every_query_on_it_has_a_composite(group: str, field: str) -> bool:
    shapes = [
        shape
        for shape in QUERY_SHAPES.values()
        if shape.collection == group
        and field in {*shape.equality, *shape.ranges, shape.array_contains, *(n for n, _ in shape.order)}
    ]
    return all(needs_composite(shape) for shape in shapes)


def test_the_exemption_rule_catches_a_field_served_by_single_field_indexes_only() -> None:
    # The purge of everything older than a date ranges over received_at alone: exempting received_at
    # (tempting, it grows with time) would break that query in production only.
    assert not _every_query_on_it_has_a_composite("messages", "received_at")
    assert _every_query_on_it_has_a_composite("contacts", "last_contact_ms")
    assert {("contacts", "last_contact_ms"), ("messages", "text_body")} <= exempted_fields()


def test_the_matching_rule_refuses_what_firestore_refuses() -> None:
    shape = QUERY_SHAPES["messages:label_ids"]
    exact = (("connection_id", "ASCENDING"), ("label_ids", "CONTAINS"), ("received_at", "DESCENDING"))
    assert serves(exact, shape)
    assert serves((*exact, (DOCUMENT_ID, "DESCENDING")), shape)
    assert not serves((*exact[:2], ("received_at", "ASCENDING")), shape)  # the wrong direction
    assert not serves((exact[0], exact[2]), shape)  # the array field missing
    assert not serves((("thread_id", "ASCENDING"), *exact), shape)  # an equality the query lacks


# --- the queries the code builds are the shapes ---------------------------------------------------------


def _shape_of(query: Query) -> QueryShape:
    """Read a built query back as (equality, array-contains, ranges, order)."""
    equality, ranges, array = [], [], None
    for item in query.filters:
        if item.operator == "==":
            equality.append(item.field)
        elif item.operator == "array_contains":
            assert array is None, "two array-contains filters: Firestore refuses the query"
            array = item.field
        else:
            assert item.operator in {"<", "<=", ">", ">="}
            ranges.append(item.field)
    assert query.parent is not None
    return QueryShape(
        collection=query.parent.rsplit("/", 1)[-1],
        equality=tuple(equality),
        array_contains=array,
        ranges=tuple(dict.fromkeys(ranges)),
        order=tuple((order.field, order.direction) for order in query.orders),
    )


def _matches_declared_shape(sent: QueryShape) -> bool:
    for shape in QUERY_SHAPES.values():
        if (
            shape.collection == sent.collection
            and set(shape.equality) == set(sent.equality)
            and shape.array_contains == sent.array_contains
            and set(sent.ranges) <= set(shape.ranges)
            and shape.order == sent.order
        ):
            return True
    return False


class RecordingStore(MemoryStore):
    """Keeps every query it is asked to run (and answers it from an empty store)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Query] = []

    def stream(self, query: Query) -> list[Snapshot]:
        self.sent.append(query)
        return super().stream(query)


@pytest.fixture
def store() -> RecordingStore:
    return RecordingStore()


@pytest.fixture
def sent(store: RecordingStore) -> list[Query]:
    return store.sent


@pytest.fixture
def scope(store: RecordingStore) -> TenantScope:
    return TenantScope(store, "acme")


AFTER = datetime(2024, 1, 1, tzinfo=UTC)
BEFORE = datetime(2024, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("thread", "label", "correspondent", "after", "before"),
    list(itertools.product([False, True], repeat=5)),
)
def test_every_message_listing_sends_a_declared_indexed_shape(
    sent: list[Any],
    scope: TenantScope,
    thread: bool,
    label: bool,
    correspondent: bool,
    after: bool,
    before: bool,
) -> None:
    queries.list_messages(
        scope,
        "user-1",
        thread_id="18f0a1b2c3d4e5f6" if thread else None,
        label="INBOX" if label else None,
        correspondent="Ann@Example.com" if correspondent else None,
        received_after=AFTER if after else None,
        received_before=BEFORE if before else None,
        page_size=10,
        page_token=None,
    )
    assert sent, "the listing sent no query"
    for query in sent:
        shape = _shape_of(query)
        assert _matches_declared_shape(shape), shape
        assert not needs_composite(shape) or any(
            group == shape.collection and serves(fields, shape) for group, fields in declared_indexes()
        ), shape


def test_the_thread_view_sends_its_declared_shape(sent: list[Any], scope: TenantScope) -> None:
    with pytest.raises(NotFound):
        queries.get_thread(scope, "user-1", "18f0a1b2c3d4e5f6")
    assert [_shape_of(query) for query in sent] == [QUERY_SHAPES["thread"]]


@pytest.mark.parametrize("prefix", [None, "ann"])
def test_the_contact_listing_sends_its_declared_shape(
    sent: list[Any], scope: TenantScope, prefix: str | None
) -> None:
    queries.list_contacts(scope, page_size=5, page_token=None, query=prefix)
    (query,) = sent
    shape = _shape_of(query)
    assert _matches_declared_shape(shape), shape
    assert shape.ranges == (("email",) if prefix else ())


def test_the_record_listing_sends_its_declared_indexed_shape(sent: list[Any], scope: TenantScope) -> None:
    queries.list_attached(scope, CrmEntity(type="deal", id="D-1"), page_size=5, page_token=None)
    (query,) = sent
    assert _shape_of(query) == QUERY_SHAPES["attached"]
    assert any(
        group == "messages" and serves(fields, QUERY_SHAPES["attached"])
        for group, fields in declared_indexes()
    )
    (contains,) = [item for item in query.filters if item.operator == "array_contains"]
    assert list(contains.value.items()) == [("type", "deal"), ("id", "D-1")]  # keys in the stored order


def test_the_push_lookup_by_address_has_its_collection_group_index() -> None:
    # gmail_push finds connections across tenants: collection_group("connections") where google_email ==.
    overrides = [
        override
        for override in declared()["fieldOverrides"]
        if (override["collectionGroup"], override["fieldPath"]) == ("connections", "google_email")
    ]
    assert overrides
    assert {"order": "ASCENDING", "queryScope": "COLLECTION_GROUP"} in overrides[0]["indexes"]


def test_the_channel_lookup_by_id_has_its_collection_group_index() -> None:
    # calendar_push finds a channel across tenants: collection_group("push_channels") where channel_id ==.
    overrides = [
        override
        for override in declared()["fieldOverrides"]
        if (override["collectionGroup"], override["fieldPath"]) == ("push_channels", "channel_id")
    ]
    assert overrides
    assert {"order": "ASCENDING", "queryScope": "COLLECTION_GROUP"} in overrides[0]["indexes"]


@pytest.mark.parametrize("expand", [False, True])
def test_the_event_range_sends_declared_indexed_shapes(
    sent: list[Any], scope: TenantScope, store: RecordingStore, expand: bool
) -> None:
    master = {
        "tenant_id": "acme",
        "connection_id": "user-1",
        "calendar_id": "primary",
        "event_id": "series1",
        "kind": "master",
        "status": "confirmed",
        "range_kind": "long",
        "starts_at": AFTER,
        "ends_at": BEFORE,
        "start": {"date_time": "2024-01-01T10:00:00+00:00", "time_zone": "UTC"},
        "end": {"date_time": "2024-01-01T11:00:00+00:00", "time_zone": "UTC"},
        "recurrence": ["RRULE:FREQ=WEEKLY"],
    }
    scope.set(scope.document("events", "a" * 40), master)
    calendar_queries.list_events(
        scope,
        "user-1",
        time_min=AFTER,
        time_max=BEFORE,
        calendar_id=None,
        expand=expand,
        page_size=10,
        page_token=None,
    )
    shapes = [_shape_of(query) for query in sent]
    expected = {CALENDAR_SHAPES["short_in_range"], CALENDAR_SHAPES["long_reaching"]}
    if expand:
        expected.add(CALENDAR_SHAPES["series_exceptions"])
    assert set(shapes) == expected
    for shape in shapes:
        assert any(
            group == shape.collection and serves(fields, shape) for group, fields in declared_indexes()
        )


def test_the_record_event_listing_sends_its_declared_indexed_shape(
    sent: list[Any], scope: TenantScope
) -> None:
    calendar_queries.list_attached(scope, CrmEntity(type="deal", id="D-1"), page_size=5, page_token=None)
    (query,) = sent
    assert _shape_of(query) == CALENDAR_SHAPES["attached"]


def test_the_drive_listings_send_their_declared_indexed_shapes(sent: list[Any], scope: TenantScope) -> None:
    drive_queries.list_files(scope, "user-1", page_size=5, page_token=None)
    drive_queries.list_attached(scope, CrmEntity(type="deal", id="D-1"), page_size=5, page_token=None)
    assert [_shape_of(query) for query in sent] == [
        drive_queries.QUERY_SHAPES["connection_files"],
        drive_queries.QUERY_SHAPES["attached"],
    ]
