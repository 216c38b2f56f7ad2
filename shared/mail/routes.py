"""The API's mail endpoints: synced copies, threads, attachments' bytes, contacts, attaching copies to
CRM records and tasks, mail sent from the CRM, and read state and labels written back to Gmail."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.api.downloads import file_response
from shared.api.pagination import PageQuery
from shared.api.routing import Call, Reply, Route
from shared.crm_links.entities import CrmEntity, EntityType
from shared.errors import NotFound, Permanent
from shared.ids import EMAIL_PATTERN, ExternalId
from shared.mail import links
from shared.mail import queries as mail
from shared.mail.records import StoredMessage
from shared.mail.sending import OutboundMail, OutboundMessagePage, OutboundMessageRequest, OutboundMessageView
from shared.mail.uploads import MAX_ATTACHMENT_BYTES, Upload, Uploads
from shared.mail.writes import LabelChange, LabelChanges
from shared.storage.scope import TenantScope
from shared.tenants.service import TenantService
from shared.writes.outbox import WriteView
from shared.writes.routes import IDEMPOTENCY_KEY

CONNECTION = "/v1/tenants/<tenant_id>/users/<user_id>/google-connection"
GMAIL_ID_PATTERN = r"^[0-9a-f]{1,40}$"  # Gmail's message and thread ids are lower-case hex
PART_ID_PATTERN = r"^[0-9]{1,4}(\.[0-9]{1,4}){0,15}$"  # a MIME part's place: "1", "1.0", "2.1.3"
LABEL_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"  # Gmail label ids: INBOX, CATEGORY_SOCIAL, Label_12
EMAIL_PREFIX_PATTERN = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~@-]{1,254}$"
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


class MessageQuery(PageQuery):
    """Filters of the message listing; they combine (AND)."""

    thread_id: str | None = Field(None, pattern=GMAIL_ID_PATTERN, description="Only this Gmail thread.")
    label: str | None = Field(
        None, pattern=LABEL_PATTERN, description="Only copies carrying this Gmail label id (INBOX, Label_12)."
    )
    correspondent: str | None = Field(
        None,
        max_length=254,
        pattern=EMAIL_PATTERN,
        description="Only copies from, to or cc this address (case-insensitive).",
    )
    received_after: AwareDatetime | None = Field(
        None, description="RFC 3339 date-time with offset: only copies received after it (exclusive)."
    )
    received_before: AwareDatetime | None = Field(
        None, description="RFC 3339 date-time with offset: only copies received before it (exclusive)."
    )

    @field_validator("received_after", "received_before", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> Any:
        if value is not None and not (isinstance(value, str) and _RFC3339.fullmatch(value)):
            raise ValueError("must be an RFC 3339 date-time with a time offset, e.g. 2024-05-01T00:00:00Z")
        return value

    @field_validator("received_after", "received_before")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:  # Firestore keeps instants from year 1 to 9999 UTC: an offset must not push one outside
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("is outside the years 1 to 9999 once in UTC") from None

    @field_validator("correspondent")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value is not None else None

    @model_validator(mode="after")
    def _ordered(self) -> MessageQuery:
        if self.received_after and self.received_before and self.received_after >= self.received_before:
            raise ValueError("received_after must be earlier than received_before")
        return self


class ContactQuery(PageQuery):
    query: str | None = Field(
        None, pattern=EMAIL_PREFIX_PATTERN, description="Only contacts whose address starts with this."
    )


class MessagePath(BaseModel):
    gmail_id: str = Field(pattern=GMAIL_ID_PATTERN, description="Gmail's id of the message (hex).")


class ThreadPath(BaseModel):
    thread_id: str = Field(pattern=GMAIL_ID_PATTERN, description="Gmail's id of the thread (hex).")


class AttachmentPath(MessagePath):
    part_id: str = Field(pattern=PART_ID_PATTERN, description="The attachment's MIME part id (1, 1.0).")


class AttachmentSource(Protocol):
    def get_attachment(self, message_id: str, attachment_id: str) -> bytes: ...


@dataclass(frozen=True)
class MailApi:
    tenants: TenantService
    scope_for: Callable[[str], TenantScope]
    # Gmail for one user's attachment downloads; NeedsReconnect (409) when the grant is gone.
    attachments_of: Callable[[str, str], AttachmentSource]
    labels: LabelChanges
    outbound: OutboundMail
    uploads: Uploads


class OutboundPath(BaseModel):
    outbound_id: str = Field(pattern=r"^[0-9a-f]{64}$", description="The outbound message's id.")


class UploadQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(
        min_length=1,
        max_length=255,
        pattern=r"^[^\x00-\x1f\x7f/\\]+$",
        description="The file's name as recipients see it (no path).",
    )


def list_messages(api: MailApi, call: Call) -> Reply:
    query = call.query_as(MessageQuery)
    tenant_id, user_id = call.path["tenant_id"], call.path["user_id"]
    api.tenants.get(tenant_id)  # an unknown tenant is a 404, not an empty list
    return Reply(
        mail.list_messages(
            api.scope_for(tenant_id),
            user_id,
            thread_id=query.thread_id,
            label=query.label,
            correspondent=query.correspondent,
            received_after=query.received_after,
            received_before=query.received_before,
            page_size=query.page_size,
            page_token=query.page_token,
        )
    )


def get_message(api: MailApi, call: Call) -> Reply:
    tenant_id = call.path["tenant_id"]
    return Reply(mail.get_message(api.scope_for(tenant_id), call.path["user_id"], call.path["gmail_id"]))


def get_thread(api: MailApi, call: Call) -> Reply:
    tenant_id = call.path["tenant_id"]
    return Reply(mail.get_thread(api.scope_for(tenant_id), call.path["user_id"], call.path["thread_id"]))


def list_contacts(api: MailApi, call: Call) -> Reply:
    query = call.query_as(ContactQuery)
    tenant_id = call.path["tenant_id"]
    api.tenants.get(tenant_id)
    return Reply(
        mail.list_contacts(
            api.scope_for(tenant_id),
            page_size=query.page_size,
            page_token=query.page_token,
            query=query.query,
        )
    )


def download_attachment(api: MailApi, call: Call) -> Reply:
    """The attachment's bytes, fetched from Gmail now (never stored), with its type and file name."""
    tenant_id, user_id, gmail_id = call.path["tenant_id"], call.path["user_id"], call.path["gmail_id"]
    meta = mail.get_attachment_meta(api.scope_for(tenant_id), user_id, gmail_id, call.path["part_id"])
    if meta.attachment_id is None:
        raise NotFound("This attachment cannot be fetched from Gmail.", code="attachment_not_found")
    data = _fetch_attachment(api, tenant_id, user_id, gmail_id, meta.attachment_id)
    return Reply(raw=file_response(data, filename=meta.filename, mime_type=meta.mime_type))


def _fetch_attachment(api: MailApi, tenant_id: str, user_id: str, gmail_id: str, attachment_id: str) -> bytes:
    gmail = api.attachments_of(tenant_id, user_id)
    try:
        return gmail.get_attachment(gmail_id, attachment_id)
    except Permanent as error:
        if error.code in ("gmail_400", "gmail_404"):  # deleted in Gmail, or the attachment id is stale
            raise NotFound("The attachment is no longer in Gmail.", code="attachment_gone") from error
        raise


class AttachRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entity: CrmEntity = Field(description="The CRM record or task to attach the mail to.")


class CrmRecordPath(BaseModel):
    entity_type: EntityType = Field(description="The CRM's entity type: deal, lead, task, ...")
    entity_id: ExternalId = Field(description="The CRM's id of the record or task.")


class ThreadAttached(BaseModel):
    attached: int = Field(
        description="How many copies of the thread are attached to the record (a repeat answers the same)."
    )


class ThreadDetached(BaseModel):
    detached: int = Field(
        description="How many copies of the thread are no longer attached to it (a repeat answers the same)."
    )


def attach_message_to_crm(api: MailApi, call: Call) -> Reply:
    entity = call.body_as(AttachRequest).entity
    scope = api.scope_for(call.path["tenant_id"])
    return Reply(links.attach_message(scope, call.path["user_id"], call.path["gmail_id"], entity))


def detach_message_from_crm(api: MailApi, call: Call) -> Reply:
    entity = call.query_as(CrmEntity)
    scope = api.scope_for(call.path["tenant_id"])
    return Reply(links.detach_message(scope, call.path["user_id"], call.path["gmail_id"], entity))


def attach_thread_to_crm(api: MailApi, call: Call) -> Reply:
    entity = call.body_as(AttachRequest).entity
    scope = api.scope_for(call.path["tenant_id"])
    count = links.attach_thread(scope, call.path["user_id"], call.path["thread_id"], entity)
    return Reply(ThreadAttached(attached=count))


def detach_thread_from_crm(api: MailApi, call: Call) -> Reply:
    entity = call.query_as(CrmEntity)
    scope = api.scope_for(call.path["tenant_id"])
    count = links.detach_thread(scope, call.path["user_id"], call.path["thread_id"], entity)
    return Reply(ThreadDetached(detached=count))


def list_crm_record_messages(api: MailApi, call: Call) -> Reply:
    page = call.query_as(PageQuery)
    tenant_id = call.path["tenant_id"]
    entity = CrmEntity(type=call.path["entity_type"], id=call.path["entity_id"])
    api.tenants.get(tenant_id)  # an unknown tenant is a 404, not an empty list
    return Reply(
        mail.list_attached(
            api.scope_for(tenant_id), entity, page_size=page.page_size, page_token=page.page_token
        )
    )


def change_message_labels(api: MailApi, call: Call) -> Reply:
    record = api.labels.of_message(
        call.path["tenant_id"],
        call.path["user_id"],
        call.path["gmail_id"],
        call.body_as(LabelChange),
        call.headers.get(IDEMPOTENCY_KEY.name),
    )
    return Reply(WriteView.of(record), status=202)


def change_thread_labels(api: MailApi, call: Call) -> Reply:
    record = api.labels.of_thread(
        call.path["tenant_id"],
        call.path["user_id"],
        call.path["thread_id"],
        call.body_as(LabelChange),
        call.headers.get(IDEMPOTENCY_KEY.name),
    )
    return Reply(WriteView.of(record), status=202)


def send_message(api: MailApi, call: Call) -> Reply:
    record = api.outbound.submit(
        call.path["tenant_id"],
        call.path["user_id"],
        call.headers.get(IDEMPOTENCY_KEY.name),
        call.body_as(OutboundMessageRequest),
    )
    return Reply(OutboundMessageView.of(record), status=202)


def get_outbound_message(api: MailApi, call: Call) -> Reply:
    record = api.outbound.get(call.path["tenant_id"], call.path["user_id"], call.path["outbound_id"])
    return Reply(OutboundMessageView.of(record))


def list_outbound_messages(api: MailApi, call: Call) -> Reply:
    page = call.query_as(PageQuery)
    api.tenants.get(call.path["tenant_id"])  # an unknown tenant is a 404, not an empty list
    return Reply(
        api.outbound.list(
            call.path["tenant_id"], call.path["user_id"], page_size=page.page_size, page_token=page.page_token
        )
    )


def upload_attachment(api: MailApi, call: Call) -> Reply:
    assert call.raw is not None
    upload = api.uploads.put(
        call.path["tenant_id"],
        call.path["user_id"],
        filename=call.query_as(UploadQuery).filename,
        content_type=call.content_type,
        data=call.raw,
    )
    return Reply(upload, status=201)


ROUTES: list[Route[MailApi]] = [
    Route(
        "GET",
        f"{CONNECTION}/messages",
        "listMessages",
        "The user's synced mail, newest first, without bodies; filters combine.",
        list_messages,
        mail.MessagePage,
        query_model=MessageQuery,
    ),
    Route(
        "GET",
        f"{CONNECTION}/messages/<gmail_id>",
        "getMessage",
        "One synced message in full: headers, text and sanitised HTML bodies, attachment list.",
        get_message,
        StoredMessage,
        path_model=MessagePath,
    ),
    Route(
        "GET",
        f"{CONNECTION}/messages/<gmail_id>/attachments/<part_id>",
        "downloadAttachment",
        "An attachment's bytes, fetched from Gmail on demand, with its Content-Type and file name.",
        download_attachment,
        None,
        path_model=AttachmentPath,
        problem_statuses=(409,),
    ),
    Route(
        "GET",
        f"{CONNECTION}/threads/<thread_id>",
        "getThread",
        "A thread's synced messages, oldest first, bodies included (at most 200).",
        get_thread,
        mail.ThreadView,
        path_model=ThreadPath,
    ),
    Route(
        "GET",
        "/v1/tenants/<tenant_id>/contacts",
        "listContacts",
        "The tenant's contacts (correspondents of synced mail), most recent contact first.",
        list_contacts,
        mail.ContactPage,
        query_model=ContactQuery,
    ),
    Route(
        "POST",
        f"{CONNECTION}/messages/<gmail_id>/attachments-to-crm",
        "attachMessageToCrm",
        "Attach a synced message to a CRM record or task: kept while attached. Idempotent.",
        attach_message_to_crm,
        mail.MessageSummary,
        body_model=AttachRequest,
        path_model=MessagePath,
        problem_statuses=(409,),
    ),
    Route(
        "DELETE",
        f"{CONNECTION}/messages/<gmail_id>/attachments-to-crm",
        "detachMessageFromCrm",
        "Detach a synced message from a CRM record or task (type and id in the query). Idempotent.",
        detach_message_from_crm,
        mail.MessageSummary,
        query_model=CrmEntity,
        path_model=MessagePath,
    ),
    Route(
        "POST",
        f"{CONNECTION}/threads/<thread_id>/attachments-to-crm",
        "attachThreadToCrm",
        "Attach every synced message of a thread to a CRM record or task. Idempotent.",
        attach_thread_to_crm,
        ThreadAttached,
        body_model=AttachRequest,
        path_model=ThreadPath,
        problem_statuses=(409,),
    ),
    Route(
        "DELETE",
        f"{CONNECTION}/threads/<thread_id>/attachments-to-crm",
        "detachThreadFromCrm",
        "Detach every synced message of a thread from a CRM record or task (type and id in the query).",
        detach_thread_from_crm,
        ThreadDetached,
        query_model=CrmEntity,
        path_model=ThreadPath,
    ),
    Route(
        "GET",
        "/v1/tenants/<tenant_id>/crm-records/<entity_type>/<entity_id>/messages",
        "listCrmRecordMessages",
        "The synced messages attached to a CRM record or task, every user's, newest first.",
        list_crm_record_messages,
        mail.MessagePage,
        query_model=PageQuery,
        path_model=CrmRecordPath,
    ),
    Route(
        "PATCH",
        f"{CONNECTION}/messages/<gmail_id>",
        "changeMessageLabels",
        "Mark a synced message read or unread and add or remove its labels, in Gmail too (when the tenant "
        "writes back and the user granted gmail.modify). The copy changes at once; Gmail's through a write.",
        change_message_labels,
        WriteView,
        success_statuses=(202,),
        body_model=LabelChange,
        path_model=MessagePath,
        problem_statuses=(403, 409),
        headers=(IDEMPOTENCY_KEY,),
    ),
    Route(
        "PATCH",
        f"{CONNECTION}/threads/<thread_id>",
        "changeThreadLabels",
        "The same for every synced message of a thread (one batchModify in Gmail).",
        change_thread_labels,
        WriteView,
        success_statuses=(202,),
        body_model=LabelChange,
        path_model=ThreadPath,
        problem_statuses=(403, 409),
        headers=(IDEMPOTENCY_KEY,),
    ),
    Route(
        "POST",
        f"{CONNECTION}/outbound-messages",
        "sendMessage",
        "Send a mail through the user's Gmail, exactly once; a reply goes into its thread. Queued: 202.",
        send_message,
        OutboundMessageView,
        success_statuses=(202,),
        body_model=OutboundMessageRequest,
        problem_statuses=(403, 409),
        headers=(IDEMPOTENCY_KEY,),
    ),
    Route(
        "GET",
        f"{CONNECTION}/outbound-messages",
        "listOutboundMessages",
        "The mail the user sent from the CRM, newest first: queued, sending, sent, failed.",
        list_outbound_messages,
        OutboundMessagePage,
        query_model=PageQuery,
    ),
    Route(
        "GET",
        f"{CONNECTION}/outbound-messages/<outbound_id>",
        "getOutboundMessage",
        "One mail sent from the CRM: its status, Gmail's ids once sent, why it failed.",
        get_outbound_message,
        OutboundMessageView,
        path_model=OutboundPath,
    ),
    Route(
        "POST",
        f"{CONNECTION}/outbound-attachments",
        "uploadOutboundAttachment",
        "Upload a file to attach to a mail (its bytes as the body, its media type as Content-Type, at "
        "most 25 MB); used by one mail, kept a day.",
        upload_attachment,
        Upload,
        success_statuses=(201,),
        query_model=UploadQuery,
        raw_body_limit=MAX_ATTACHMENT_BYTES,
    ),
]
