"""The document store port's contract, run against both stores: Firestore (the emulator, through the
product's adapter) and the in-memory store the unit tests use. Each case is one promise of
shared.storage.documents; if the fake drifts from Firestore, a case fails on one of the two."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.errors import AlreadyExists, DocumentMissing, PreconditionFailed
from shared.storage.documents import (
    DELETE_FIELD,
    DOCUMENT_ID,
    CollectionRef,
    DocRef,
    DocumentStore,
    Increment,
    Maximum,
    Minimum,
    Query,
    ReadAfterWrite,
)
from shared.storage.firestore import FirestoreStore
from shared.storage.memory import MemoryStore

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ITEMS = CollectionRef("tenants/acme/items")


@pytest.fixture(params=["firestore", "memory"])
def store(request: pytest.FixtureRequest) -> Iterator[DocumentStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    request.getfixturevalue("stack_environment")  # the emulator, emptied
    from tests.firestore_reads import client

    yield FirestoreStore(client())


def doc(name: str) -> DocRef:
    return ITEMS.document(name)


def seed(store: DocumentStore, **documents: dict[str, Any]) -> None:
    batch = store.batch()
    for name, data in documents.items():
        batch.set(doc(name), data)
    batch.commit()


# --- single documents -----------------------------------------------------------------------------------


def test_create_then_get_and_a_second_create_is_refused(store: DocumentStore) -> None:
    store.create(doc("a"), {"n": 1, "at": T0, "tags": ["x"], "nested": {"k": "v"}, "none": None})
    snapshot = store.get(doc("a"))
    assert snapshot.exists
    assert snapshot.to_dict() == {"n": 1, "at": T0, "tags": ["x"], "nested": {"k": "v"}, "none": None}
    assert snapshot.update_time is not None
    with pytest.raises(AlreadyExists):
        store.create(doc("a"), {"n": 2})
    assert store.get(doc("a")).get("n") == 1


def test_a_missing_document_reads_as_not_existing_and_cannot_be_updated(store: DocumentStore) -> None:
    assert not store.get(doc("nope")).exists
    with pytest.raises(DocumentMissing):
        store.update(doc("nope"), {"n": 1})
    assert not store.get(doc("nope")).exists


def test_update_takes_dotted_paths_and_deletes_fields(store: DocumentStore) -> None:
    store.set(doc("a"), {"sync": {"cursor": "1", "generation": 1}, "keep": True})
    store.update(doc("a"), {"sync.cursor": "2", "sync.extra.deep": 3, "keep": DELETE_FIELD})
    assert store.get(doc("a")).to_dict() == {"sync": {"cursor": "2", "generation": 1, "extra": {"deep": 3}}}


def test_an_update_with_a_map_replaces_the_map(store: DocumentStore) -> None:
    store.set(doc("a"), {"m": {"x": 1, "y": 2}})
    store.update(doc("a"), {"m": {"z": 3}})
    assert store.get(doc("a")).to_dict() == {"m": {"z": 3}}


def test_set_with_merge_merges_nested_maps_and_without_replaces(store: DocumentStore) -> None:
    store.set(doc("a"), {"m": {"x": 1, "y": 2}, "other": 1})
    store.set(doc("a"), {"m": {"y": 3, "z": 4}}, merge=True)
    assert store.get(doc("a")).to_dict() == {"m": {"x": 1, "y": 3, "z": 4}, "other": 1}
    store.set(doc("a"), {"m": {"only": True}})
    assert store.get(doc("a")).to_dict() == {"m": {"only": True}}


def test_transforms_count_and_keep_extremes_created_or_not(store: DocumentStore) -> None:
    fields = {"count": Increment(2), "low": Minimum(50), "high": Maximum(50)}
    store.set(doc("c"), fields, merge=True)
    store.set(doc("c"), {"count": Increment(-1), "low": Minimum(70), "high": Maximum(70)}, merge=True)
    store.set(doc("c"), {"count": Increment(5), "low": Minimum(10), "high": Maximum(10)}, merge=True)
    assert store.get(doc("c")).to_dict() == {"count": 6, "low": 10, "high": 70}


def test_a_projected_read_returns_only_those_fields(store: DocumentStore) -> None:
    store.set(doc("a"), {"x": 1, "y": 2, "m": {"p": 1, "q": 2}})
    assert store.get(doc("a"), fields=["x", "m.q"]).to_dict() == {"x": 1, "m": {"q": 2}}


def test_get_all_answers_in_the_order_asked_missing_ones_included(store: DocumentStore) -> None:
    seed(store, a={"n": 1}, b={"n": 2})
    snapshots = store.get_all([doc("b"), doc("nope"), doc("a")])
    assert [(s.id, s.exists) for s in snapshots] == [("b", True), ("nope", False), ("a", True)]


# --- versions -----------------------------------------------------------------------------------------------


def test_a_write_conditioned_on_a_version_fails_once_anyone_wrote_since(store: DocumentStore) -> None:
    store.set(doc("a"), {"n": 1})
    version = store.get(doc("a")).update_time
    assert version is not None
    store.update(doc("a"), {"n": 2}, if_updated_at=version)  # nobody wrote since: it goes through
    with pytest.raises(PreconditionFailed):
        store.update(doc("a"), {"n": 3}, if_updated_at=version)
    with pytest.raises(PreconditionFailed):
        store.delete(doc("a"), if_updated_at=version)
    assert store.get(doc("a")).get("n") == 2


def test_a_batch_answers_the_versions_it_wrote(store: DocumentStore) -> None:
    store.set(doc("lease"), {"holder": "me"})
    batch = store.batch()
    batch.update(doc("lease"), {"beat": 1}, if_updated_at=store.get(doc("lease")).update_time)
    batch.set(doc("data"), {"v": 1})
    versions = batch.commit()
    assert versions[doc("lease").path] == store.get(doc("lease")).update_time
    batch = store.batch()  # the version answered is the one to condition the next write on
    batch.update(doc("lease"), {"beat": 2}, if_updated_at=versions[doc("lease").path])
    batch.commit()
    assert store.get(doc("lease")).get("beat") == 2


def test_a_conditioned_write_on_a_deleted_document_fails(store: DocumentStore) -> None:
    store.set(doc("a"), {"n": 1})
    version = store.get(doc("a")).update_time
    store.delete(doc("a"))
    with pytest.raises((PreconditionFailed, DocumentMissing)):
        store.update(doc("a"), {"n": 2}, if_updated_at=version)
    assert not store.get(doc("a")).exists


# --- batches and transactions -----------------------------------------------------------------------


def test_a_batch_commits_whole_or_not_at_all(store: DocumentStore) -> None:
    seed(store, taken={"n": 1})
    batch = store.batch()
    batch.create(doc("new"), {"n": 1})
    batch.set(doc("counter"), {"count": Increment(1)}, merge=True)
    batch.create(doc("taken"), {"n": 2})
    with pytest.raises(AlreadyExists):
        batch.commit()
    assert not store.get(doc("new")).exists
    assert not store.get(doc("counter")).exists
    assert store.get(doc("taken")).get("n") == 1


def test_a_transaction_reads_then_writes_atomically(store: DocumentStore) -> None:
    seed(store, a={"n": 1})

    def move(transaction: Any) -> int:
        a, _ = transaction.get_all([doc("a"), doc("b")])
        transaction.set(doc("b"), {"n": a.get("n") + 1})
        transaction.delete(doc("a"))
        return int(a.get("n"))

    assert store.run_transaction(move) == 1
    assert not store.get(doc("a")).exists
    assert store.get(doc("b")).get("n") == 2


def test_a_transaction_that_fails_writes_nothing(store: DocumentStore) -> None:
    seed(store, a={"n": 1})

    def fail(transaction: Any) -> None:
        transaction.get(doc("a"))
        transaction.update(doc("a"), {"n": 2})
        raise RuntimeError("changed its mind")

    with pytest.raises(RuntimeError):
        store.run_transaction(fail)
    assert store.get(doc("a")).get("n") == 1


def test_a_transaction_may_not_read_after_it_wrote(store: DocumentStore) -> None:
    def backwards(transaction: Any) -> None:
        transaction.set(doc("a"), {"n": 1})
        transaction.get(doc("b"))

    with pytest.raises(ReadAfterWrite):
        store.run_transaction(backwards)
    assert not store.get(doc("a")).exists


# --- queries ------------------------------------------------------------------------------------------------


@pytest.fixture
def corpus(store: DocumentStore) -> DocumentStore:
    seed(
        store,
        m1={"conn": "u1", "at": T0.replace(hour=1), "labels": ["INBOX"], "attached": [], "n": 1},
        m2={
            "conn": "u1",
            "at": T0.replace(hour=2),
            "labels": ["SENT"],
            "attached": [{"type": "deal", "id": "1"}],
        },
        m3={"conn": "u1", "at": T0.replace(hour=2), "labels": ["INBOX", "X"], "attached": [], "n": 3},
        m4={"conn": "u2", "at": T0.replace(hour=3), "labels": ["INBOX"], "attached": []},
        odd={"conn": "u1", "at": "not a time", "labels": [], "attached": []},
    )
    return store


def ids(store: DocumentStore, query: Query) -> list[str]:
    return [snapshot.id for snapshot in store.stream(query)]


def test_equality_filters_combine(corpus: DocumentStore) -> None:
    query = ITEMS.query().where("conn", "==", "u1").where("attached", "==", [])
    assert sorted(ids(corpus, query)) == ["m1", "m3", "odd"]


def test_array_contains_finds_values_and_maps(corpus: DocumentStore) -> None:
    assert sorted(ids(corpus, ITEMS.query().where("labels", "array_contains", "INBOX"))) == ["m1", "m3", "m4"]
    deal = ITEMS.query().where("attached", "array_contains", {"type": "deal", "id": "1"})
    assert ids(corpus, deal) == ["m2"]


def test_a_range_meets_only_values_of_its_own_type_in_order(corpus: DocumentStore) -> None:
    query = ITEMS.query().where("at", "<", T0.replace(hour=3))
    assert ids(corpus, query) == ["m1", "m2", "m3"]  # ordered by the range's field, then id; "odd" is text


def test_order_descending_breaks_ties_by_id_and_limits(corpus: DocumentStore) -> None:
    query = (
        ITEMS.query()
        .where("conn", "==", "u1")
        .order_by("at", "DESCENDING")
        .order_by(DOCUMENT_ID, "DESCENDING")
    )
    assert ids(corpus, query) == ["odd", "m3", "m2", "m1"]  # text sorts after timestamps
    assert ids(corpus, query.limit(2)) == ["odd", "m3"]


def test_a_cursor_resumes_after_values_or_a_snapshot(corpus: DocumentStore) -> None:
    query = ITEMS.query().where("at", ">=", T0.replace(hour=0)).order_by("at").order_by(DOCUMENT_ID)
    first = corpus.stream(query.limit(2))
    assert [s.id for s in first] == ["m1", "m2"]
    assert ids(corpus, query.start_after(first[-1])) == ["m3", "m4"]
    by_values = query.start_after({"at": T0.replace(hour=2), DOCUMENT_ID: doc("m2")})
    assert ids(corpus, by_values) == ["m3", "m4"]
    by_prefix = (
        ITEMS.query()
        .where("at", ">=", T0.replace(hour=0))
        .order_by("at")
        .start_after({"at": T0.replace(hour=2)})
    )
    assert ids(corpus, by_prefix) == ["m4"]  # both copies at two o'clock are passed


def test_a_projection_keeps_the_version_and_the_named_fields(corpus: DocumentStore) -> None:
    (snapshot,) = corpus.stream(ITEMS.query().where("n", "==", 3).select(["conn"]))
    assert snapshot.to_dict() == {"conn": "u1"}
    assert snapshot.update_time == corpus.get(doc("m3")).update_time


def test_in_and_not_equal(corpus: DocumentStore) -> None:
    assert sorted(ids(corpus, ITEMS.query().where("n", "in", [1, 3, 9]))) == ["m1", "m3"]
    assert sorted(ids(corpus, ITEMS.query().where("conn", "!=", "u1"))) == ["m4"]


def test_count(corpus: DocumentStore) -> None:
    assert corpus.count(ITEMS.query().where("conn", "==", "u1")) == 4
    assert corpus.count(ITEMS.query().where("conn", "==", "nobody")) == 0


def test_a_collection_group_query_spans_every_parent(store: DocumentStore) -> None:
    store.set(DocRef("tenants/a/connections/u1"), {"email": "x@example.com"})
    store.set(DocRef("tenants/b/connections/u9"), {"email": "x@example.com"})
    store.set(DocRef("tenants/b/connections/u8"), {"email": "y@example.com"})
    store.set(DocRef("tenants/b/other/u7"), {"email": "x@example.com"})
    found = store.stream(Query.collection_group("connections").where("email", "==", "x@example.com"))
    assert sorted(s.ref.path for s in found) == ["tenants/a/connections/u1", "tenants/b/connections/u9"]


def test_listing_ids_includes_documents_that_only_hold_subcollections(store: DocumentStore) -> None:
    store.set(DocRef("tenants/real"), {"name": "Real"})
    store.set(DocRef("tenants/ghost/connections/u1"), {"x": 1})  # no tenants/ghost document itself
    assert store.list_document_ids(CollectionRef("tenants")) == ["ghost", "real"]
