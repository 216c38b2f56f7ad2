"""Storage: the document store port (documents.py), Firestore behind it (firestore.py, the only module
that imports Google's Firestore library), an in-memory store for unit tests, tenant scoping."""
