"""Syncing Google into Firestore: the requests that drive it (workers arrive with the sync issues)."""
