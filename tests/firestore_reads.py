"""Reading the Firestore emulator directly, so tests can prove what was (not) written."""

from __future__ import annotations

from google.cloud import firestore

from tests.conftest import TEST_PROJECT


def client() -> firestore.Client:
    return firestore.Client(project=TEST_PROJECT)


def all_document_paths() -> list[str]:
    """Every document in the test project, at any depth."""
    paths: list[str] = []

    def walk(collections: object) -> None:
        for collection in collections:  # type: ignore[attr-defined]
            for document in collection.list_documents():
                if document.get().exists:
                    paths.append(document.path)
                walk(document.collections())

    walk(client().collections())
    return sorted(paths)
