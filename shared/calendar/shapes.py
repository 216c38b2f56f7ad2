"""Every query of synced events, by shape (shared.storage.shapes): the range reads of the API, a series'
exceptions, the sync's sweep, a record's attached events. tests/unit/test_firestore_indexes.py checks
each against the composite indexes production needs."""

from __future__ import annotations

from shared.calendar.events import EVENTS
from shared.storage.documents import DOCUMENT_ID
from shared.storage.shapes import QueryShape

QUERY_SHAPES: dict[str, QueryShape] = {
    # Short events (singles, exceptions, cancelled instances) starting in a range, earliest first.
    "short_in_range": QueryShape(
        EVENTS,
        equality=("connection_id", "range_kind"),
        ranges=("starts_at",),
        order=(("starts_at", "ASCENDING"), (DOCUMENT_ID, "ASCENDING")),
    ),
    # Long ones (series, multi-day events) still running after the range's start.
    "long_reaching": QueryShape(
        EVENTS,
        equality=("connection_id", "range_kind"),
        ranges=("ends_at",),
        order=(("ends_at", "ASCENDING"), (DOCUMENT_ID, "ASCENDING")),
    ),
    # A series' exceptions and cancelled instances by where the rule put them.
    "series_exceptions": QueryShape(
        EVENTS,
        equality=("connection_id", "recurring_event_id"),
        ranges=("original_start_at",),
        order=(("original_start_at", "ASCENDING"),),
    ),
    # A resync's sweep: events of one calendar the latest full listing did not have.
    "sync_sweep": QueryShape(
        EVENTS,
        equality=("connection_id", "calendar_id"),
        ranges=("sync_generation",),
        order=(("sync_generation", "ASCENDING"),),
    ),
    # The events attached to one CRM record or task, every user's, latest start first.
    "attached": QueryShape(
        EVENTS,
        array_contains="attached_to",
        order=(("starts_at", "DESCENDING"), (DOCUMENT_ID, "DESCENDING")),
    ),
}
