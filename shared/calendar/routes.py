"""The API's calendar endpoints: the user's calendars and which of them sync, synced events by time
range or one by one, events made, changed and deleted from the CRM (through the write path), and events
attached to CRM records and tasks."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.api.pagination import PageQuery
from shared.api.routing import Call, Reply, Route
from shared.calendar import queries
from shared.calendar.events import EVENTS
from shared.calendar.requests import CALENDAR_ID_PATTERN, EventChange, EventRemoval, NewEvent
from shared.calendar.selection import CalendarList, CalendarSelection, CalendarSelectionRequest
from shared.calendar.writes import CalendarWrites
from shared.crm_links.entities import CrmEntity, EntityType, change_attached, with_entity, without_entity
from shared.errors import NotFound
from shared.ids import ExternalId
from shared.storage.scope import TenantScope
from shared.tenants.service import TenantService
from shared.writes.outbox import WriteRecord, WriteView
from shared.writes.routes import IDEMPOTENCY_KEY

CONNECTION = "/v1/tenants/<tenant_id>/users/<user_id>/google-connection"
MAX_RANGE = timedelta(days=400)
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


@dataclass(frozen=True)
class CalendarApi:
    tenants: TenantService
    scope_for: Callable[[str], TenantScope]
    selection: CalendarSelection
    writes: CalendarWrites


class EventPath(BaseModel):
    event_key: str = Field(pattern=r"^[0-9a-f]{40}$", description="The event's key (event_key).")


class EventRangeQuery(PageQuery):
    time_min: AwareDatetime = Field(description="RFC 3339 with offset: events ending after it.")
    time_max: AwareDatetime = Field(
        description="RFC 3339 with offset: events starting before it (400 days on)."
    )
    calendar_id: str | None = Field(None, pattern=CALENDAR_ID_PATTERN, description="Only this calendar's.")
    expand: bool = Field(True, description="true: series as their instances; false: as stored (masters).")

    @field_validator("time_min", "time_max", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> Any:
        if not (isinstance(value, str) and _RFC3339.fullmatch(value)):
            raise ValueError("must be an RFC 3339 date-time with a time offset, e.g. 2026-12-01T00:00:00Z")
        return value

    @field_validator("time_min", "time_max")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        try:  # Firestore keeps instants from year 1 to 9999 UTC
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("is outside the years 1 to 9999 once in UTC") from None

    @model_validator(mode="after")
    def _range(self) -> EventRangeQuery:
        if self.time_max <= self.time_min:
            raise ValueError("time_max must be later than time_min")
        if self.time_max - self.time_min > MAX_RANGE:
            raise ValueError("a range spans at most 400 days")
        return self


class EventWriteView(WriteView):
    event_key: str | None = Field(description="The event the write makes or changes.")

    @classmethod
    def of_event(cls, record: WriteRecord) -> EventWriteView:
        key = record.details.get("event_key") or record.payload.get("event_key")
        return cls.model_validate({**WriteView.of(record).model_dump(), "event_key": key})


class AttachRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entity: CrmEntity = Field(description="The CRM record or task to attach the event to.")


class CrmRecordPath(BaseModel):
    entity_type: EntityType
    entity_id: ExternalId


def list_calendars(api: CalendarApi, call: Call) -> Reply:
    return Reply(api.selection.calendars(call.path["tenant_id"], call.path["user_id"]))


def select_calendars(api: CalendarApi, call: Call) -> Reply:
    request = call.body_as(CalendarSelectionRequest)
    return Reply(api.selection.select(call.path["tenant_id"], call.path["user_id"], request))


def list_events(api: CalendarApi, call: Call) -> Reply:
    query = call.query_as(EventRangeQuery)
    tenant_id = call.path["tenant_id"]
    api.tenants.get(tenant_id)  # an unknown tenant is a 404, not an empty list
    return Reply(
        queries.list_events(
            api.scope_for(tenant_id),
            call.path["user_id"],
            time_min=query.time_min,
            time_max=query.time_max,
            calendar_id=query.calendar_id,
            expand=query.expand,
            page_size=query.page_size,
            page_token=query.page_token,
        )
    )


def get_event(api: CalendarApi, call: Call) -> Reply:
    scope = api.scope_for(call.path["tenant_id"])
    return Reply(queries.get_event(scope, call.path["user_id"], call.path["event_key"]))


def create_event(api: CalendarApi, call: Call) -> Reply:
    record = api.writes.create(
        call.path["tenant_id"],
        call.path["user_id"],
        call.headers.get(IDEMPOTENCY_KEY.name),
        call.body_as(NewEvent),
    )
    return Reply(EventWriteView.of_event(record), status=202)


def change_event(api: CalendarApi, call: Call) -> Reply:
    record = api.writes.change(
        call.path["tenant_id"],
        call.path["user_id"],
        call.path["event_key"],
        call.headers.get(IDEMPOTENCY_KEY.name),
        call.body_as(EventChange),
    )
    return Reply(EventWriteView.of_event(record), status=202)


def delete_event(api: CalendarApi, call: Call) -> Reply:
    record = api.writes.delete(
        call.path["tenant_id"],
        call.path["user_id"],
        call.path["event_key"],
        call.headers.get(IDEMPOTENCY_KEY.name),
        call.query_as(EventRemoval),
    )
    return Reply(EventWriteView.of_event(record), status=202)


def _attachment(api: CalendarApi, call: Call, attach: bool) -> Reply:
    entity = call.body_as(AttachRequest).entity if attach else call.query_as(CrmEntity)
    scope = api.scope_for(call.path["tenant_id"])
    user_id, event_key = call.path["user_id"], call.path["event_key"]
    data = change_attached(
        scope,
        scope.document(EVENTS, event_key),
        user_id,
        lambda stored: with_entity(stored, entity) if attach else without_entity(stored, entity),
    )
    if data is None:
        raise NotFound("No such event.", code="event_not_found")
    return Reply(queries.event_view(event_key, data))


def attach_event(api: CalendarApi, call: Call) -> Reply:
    return _attachment(api, call, attach=True)


def detach_event(api: CalendarApi, call: Call) -> Reply:
    return _attachment(api, call, attach=False)


def list_crm_record_events(api: CalendarApi, call: Call) -> Reply:
    page = call.query_as(PageQuery)
    tenant_id = call.path["tenant_id"]
    entity = CrmEntity(type=call.path["entity_type"], id=call.path["entity_id"])
    api.tenants.get(tenant_id)
    return Reply(
        queries.list_attached(
            api.scope_for(tenant_id), entity, page_size=page.page_size, page_token=page.page_token
        )
    )


ROUTES: list[Route[CalendarApi]] = [
    Route(
        "GET",
        f"{CONNECTION}/calendars",
        "listCalendars",
        "The user's Google calendars (read from Google now), each marked synced or not.",
        list_calendars,
        CalendarList,
        problem_statuses=(403, 409),
    ),
    Route(
        "PUT",
        f"{CONNECTION}/calendar-selection",
        "selectCalendars",
        "Choose the calendars that sync beside the primary one; deselected ones stop and their unattached "
        "events go.",
        select_calendars,
        CalendarList,
        body_model=CalendarSelectionRequest,
        problem_statuses=(403, 409),
    ),
    Route(
        "GET",
        f"{CONNECTION}/events",
        "listEvents",
        "Synced events overlapping a time range, earliest first; series expanded into instances.",
        list_events,
        queries.EventPage,
        query_model=EventRangeQuery,
    ),
    Route(
        "GET",
        f"{CONNECTION}/events/<event_key>",
        "getEvent",
        "One synced event (a single event, a series, or an exception), its last CRM write and conflict.",
        get_event,
        queries.EventView,
        path_model=EventPath,
    ),
    Route(
        "POST",
        f"{CONNECTION}/events",
        "createEvent",
        "Make an event in Google Calendar, exactly once; guests are emailed only if notify_guests.",
        create_event,
        EventWriteView,
        body_model=NewEvent,
        success_statuses=(202,),
        problem_statuses=(403, 409),
        headers=(IDEMPOTENCY_KEY,),
    ),
    Route(
        "PATCH",
        f"{CONNECTION}/events/<event_key>",
        "changeEvent",
        "Change an event, one instance of a series, or an instance and those after it (If-Match: a "
        "change Google made meanwhile wins and shows as a conflict).",
        change_event,
        EventWriteView,
        body_model=EventChange,
        path_model=EventPath,
        success_statuses=(202,),
        problem_statuses=(403, 409),
        headers=(IDEMPOTENCY_KEY,),
    ),
    Route(
        "DELETE",
        f"{CONNECTION}/events/<event_key>",
        "deleteEvent",
        "Delete an event or series, one instance, or an instance and those after it.",
        delete_event,
        EventWriteView,
        query_model=EventRemoval,
        path_model=EventPath,
        success_statuses=(202,),
        problem_statuses=(403, 409),
        headers=(IDEMPOTENCY_KEY,),
    ),
    Route(
        "POST",
        f"{CONNECTION}/events/<event_key>/attachments-to-crm",
        "attachEventToCrm",
        "Attach a synced event to a CRM record or task. Idempotent.",
        attach_event,
        queries.EventView,
        body_model=AttachRequest,
        path_model=EventPath,
        problem_statuses=(409,),
    ),
    Route(
        "DELETE",
        f"{CONNECTION}/events/<event_key>/attachments-to-crm",
        "detachEventFromCrm",
        "Detach a synced event from a CRM record or task (type and id in the query). Idempotent.",
        detach_event,
        queries.EventView,
        query_model=CrmEntity,
        path_model=EventPath,
    ),
    Route(
        "GET",
        "/v1/tenants/<tenant_id>/crm-records/<entity_type>/<entity_id>/events",
        "listCrmRecordEvents",
        "The synced events attached to a CRM record or task, every user's, latest first.",
        list_crm_record_events,
        queries.EventPage,
        query_model=PageQuery,
        path_model=CrmRecordPath,
    ),
]
