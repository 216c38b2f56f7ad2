"""Reading the Firestore emulator directly, so tests can prove what was (not) written."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.cloud import firestore

from shared.storage.firestore import FirestoreStore
from tests.conftest import TEST_PROJECT


def client() -> firestore.Client:
    return firestore.Client(project=TEST_PROJECT)


def store() -> FirestoreStore:
    """The product's own store adapter on the test project (for tests that seed through the product)."""
    return FirestoreStore(client())


def snapshot_documents() -> dict[str, dict[str, Any]]:
    """Every document in the test project, at any depth, with its fields."""
    found: dict[str, dict[str, Any]] = {}

    def walk(collections: Iterable[Any]) -> None:
        for collection in collections:
            for document in collection.list_documents():
                snapshot = document.get()
                if snapshot.exists:
                    found[document.path] = snapshot.to_dict() or {}
                walk(document.collections())

    walk(client().collections())
    return found


def all_document_paths() -> list[str]:
    """The path of every document in the test project, at any depth."""
    return sorted(snapshot_documents())
