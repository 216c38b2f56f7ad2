"""Which calendars of a connection sync: the primary one, then those the CRM selected, each once."""

from __future__ import annotations

from shared.plans import Feature
from shared.sync.channels import Channel
from shared.sync.engine import SyncedConnection
from shared.sync.requests import DEFAULT_PARTITIONS, Source

PRIMARY = DEFAULT_PARTITIONS[Source.CALENDAR]


def synced_calendars(connection: SyncedConnection) -> list[str]:
    return list(dict.fromkeys([PRIMARY, *connection.calendar_ids]))


def calendar_synced(connection: SyncedConnection, channel: Channel) -> bool:
    """Whether a calendar channel's calendar is synced now (calendar_push's check)."""
    return connection.enabled(Feature.CALENDAR) and channel.partition in synced_calendars(connection)
