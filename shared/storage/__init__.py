"""Firestore: the only place in shared/ that imports google.cloud.firestore."""
