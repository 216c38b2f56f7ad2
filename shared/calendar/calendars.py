"""Which calendars of a connection sync: the primary one, then those the CRM selected, each once."""

from __future__ import annotations

from shared.sync.engine import SyncedConnection
from shared.sync.requests import DEFAULT_PARTITIONS, Source

PRIMARY = DEFAULT_PARTITIONS[Source.CALENDAR]


def synced_calendars(connection: SyncedConnection) -> list[str]:
    return list(dict.fromkeys([PRIMARY, *connection.calendar_ids]))
