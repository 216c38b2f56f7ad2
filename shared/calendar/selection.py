"""Which calendars sync: the primary one always, and those the CRM selects from the user's calendar list.

Selecting a calendar queues its first sync and opens its channel; deselecting one stops its channel,
forgets its sync state and removes its events, except those attached to a CRM record.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from shared.calendar.calendars import PRIMARY, synced_calendars
from shared.calendar.requests import CALENDAR_ID_PATTERN
from shared.calendar.store import purge_connection_events
from shared.calendar.writes import writable
from shared.connections.records import ConnectionRecord, connection_ref
from shared.errors import BadInput
from shared.plans import PLAN_POLICIES, Plan
from shared.storage.scope import TenantScope
from shared.sync.channels import ChannelRegistry
from shared.sync.requester import SyncRequester
from shared.sync.requests import Source, SyncKey
from shared.sync.state import SyncStates

MAX_SELECTED = 25  # channels and syncs per user stay bounded


class CalendarLister(Protocol):
    def list_calendars(self) -> list[dict[str, Any]]: ...


class CalendarEntry(BaseModel):
    id: str = Field(description="Google's calendar id (the primary one's is the address).")
    summary: str | None = None
    time_zone: str | None = None
    primary: bool = False
    access_role: str | None = Field(None, description="owner, writer, reader or freeBusyReader.")
    synced: bool = Field(description="Synced now: the primary calendar, or one selected.")


class CalendarList(BaseModel):
    items: list[CalendarEntry]


class CalendarSelectionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    calendar_ids: list[str] = Field(
        max_length=MAX_SELECTED,
        description="The calendars to sync beside the primary one (replaces the selection).",
    )

    def cleaned(self) -> list[str]:
        pattern = re.compile(CALENDAR_ID_PATTERN)
        errors = [
            {"location": ["body", "calendar_ids", index], "message": "not a calendar id", "type": "pattern"}
            for index, value in enumerate(self.calendar_ids)
            if not pattern.fullmatch(value)
        ]
        if errors:
            raise BadInput("A calendar id is malformed.", code="validation_failed", errors=errors)
        return list(dict.fromkeys(self.calendar_ids))


class CalendarSelection:
    def __init__(
        self,
        *,
        connection_of: Callable[[str, str], ConnectionRecord | None],
        calendar_for: Callable[[str, ConnectionRecord], CalendarLister],
        scope_for: Callable[[str], TenantScope],
        plan_of: Callable[[str], Plan | None],
        channels: Callable[[], ChannelRegistry],
        requester: Callable[[], SyncRequester],
        clock: Callable[[], Any],
    ) -> None:
        self._connection_of = connection_of
        self._calendar_for = calendar_for
        self._scope_for = scope_for
        self._plan_of = plan_of
        self._channels = channels
        self._requester = requester
        self._clock = clock

    def calendars(self, tenant_id: str, user_id: str) -> CalendarList:
        """The user's calendar list, from Google now, each marked synced or not."""
        connection = self._connection(tenant_id, user_id)
        listed = self._calendar_for(tenant_id, connection).list_calendars()
        return _calendar_list(listed, set(synced_calendars(connection)))

    def select(self, tenant_id: str, user_id: str, request: CalendarSelectionRequest) -> CalendarList:
        """Replace the selection; every id must be on the user's calendar list (400 naming it)."""
        wanted = request.cleaned()
        connection = self._connection(tenant_id, user_id)
        listed = self._calendar_for(tenant_id, connection).list_calendars()
        own = {str(entry["id"]) for entry in listed}
        primary = {str(entry["id"]) for entry in listed if entry.get("primary")} | {connection.google_email}
        errors = [
            {
                "location": ["body", "calendar_ids", index],
                "message": "not on the calendar list",
                "type": "unknown",
            }
            for index, calendar_id in enumerate(wanted)
            if calendar_id not in own and calendar_id != PRIMARY
        ]
        if errors:
            raise BadInput("A calendar is not on the user's list.", code="validation_failed", errors=errors)
        selected = [c for c in wanted if c not in primary and c != PRIMARY]
        before = set(connection.calendar_ids)
        scope = self._scope_for(tenant_id)
        scope.update(connection_ref(scope, user_id), {"calendar_ids": selected, "updated_at": self._clock()})
        updated = connection.model_copy(update={"calendar_ids": selected})
        for calendar_id in before - set(selected):
            self._forget(scope, user_id, calendar_id)
        plan = self._plan_of(tenant_id)
        if plan is not None:  # a channel Google refuses now is opened by the daily round
            self._channels().reconcile(tenant_id, updated, PLAN_POLICIES[plan])
        for calendar_id in set(selected) - before:
            key = SyncKey(user_id, Source.CALENDAR, calendar_id)
            self._requester().request(tenant_id, key, reason="selected", force=True)
        return _calendar_list(listed, set(selected))

    def _connection(self, tenant_id: str, user_id: str) -> ConnectionRecord:
        connection = self._connection_of(tenant_id, user_id)
        writable(connection)
        assert connection is not None
        return connection

    def _forget(self, scope: TenantScope, user_id: str, calendar_id: str) -> None:
        SyncStates(scope, clock=self._clock).forget(SyncKey(user_id, Source.CALENDAR, calendar_id))
        purge_connection_events(scope, user_id, calendar_id)


def _calendar_list(listed: list[dict[str, Any]], synced: set[str]) -> CalendarList:
    return CalendarList(
        items=[
            CalendarEntry(
                id=str(entry["id"]),
                summary=entry.get("summaryOverride") or entry.get("summary"),
                time_zone=entry.get("timeZone"),
                primary=bool(entry.get("primary")),
                access_role=entry.get("accessRole"),
                synced=bool(entry.get("primary")) or str(entry["id"]) in synced,
            )
            for entry in listed
        ]
    )
