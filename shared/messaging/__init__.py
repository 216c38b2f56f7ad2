"""Messaging: the publisher port (ports.py) and Pub/Sub behind it (pubsub.py, the only module here that
imports Google's Pub/Sub library)."""
