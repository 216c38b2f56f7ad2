"""Pub/Sub: the only place in shared/ that imports google.cloud.pubsub."""
