"""Mail from the CRM, sent through the user's Gmail exactly once, threaded when it is a reply.

- The API checks the request and everything it names (the connection may send, the copy it replies to,
  the files it attaches, the 25 MB cap), resolves the reply's thread and headers and chooses the
  Message-ID, and records the write under the CRM's idempotency key (shared.writes): nothing is sent by
  the API, and a refused request writes nothing.
- ``outbound_worker`` builds the message (shared.mail.compose) and sends it with ``messages.send``
  (100 units, paced like every Gmail call; never repeated by the client after Google may have acted).
  An attempt after one that may have reached Gmail first looks for our Message-ID in the mailbox
  (``rfc822msgid:``) and sends nothing if it is there.
- The sent copy is stored at once, under the id the later history sync would give it, its recipients
  counted as contacts; the sync takes the message coming back for our own write and fetches nothing.
  ``attach_to`` attaches the copy to CRM records or tasks, so it is kept on every plan.
- Uploaded files are used by one message: they are deleted when it ends (sent or failed).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.connections.features import GMAIL_SEND, has_scope
from shared.connections.records import ConnectionRecord
from shared.crm_links.entities import CrmEntity
from shared.drive.files import DRIVE_FILES, EXPORTS, FILE_ID_PATTERN, GOOGLE_APPS, drive_file_doc_id
from shared.errors import (
    BadInput,
    Forbidden,
    IntegrationError,
    NeedsReconnect,
    NotFound,
    PayloadTooLarge,
    Permanent,
)
from shared.ids import EMAIL_PATTERN
from shared.mail import links
from shared.mail.compose import File, Person, compose, reply_subject
from shared.mail.labels import SENT
from shared.mail.records import MESSAGES, message_doc_id
from shared.mail.shapes import QUERY_SHAPES
from shared.mail.store import MailStore
from shared.mail.uploads import MAX_ATTACHMENT_BYTES, UPLOAD_ID_PATTERN, Upload, Uploads
from shared.plans import Feature
from shared.storage.documents import DOCUMENT_ID
from shared.storage.page_tokens import decode_ordered_page_token, encode_page_token, from_micros, micros
from shared.storage.scope import TenantScope
from shared.storage.shapes import build_query
from shared.sync.crash import crash_point
from shared.sync.requests import DEFAULT_PARTITIONS, Source, SyncKey
from shared.sync.state import SyncStates
from shared.writes.dispatcher import WriteAttempt
from shared.writes.outbox import WRITES, Outbox, WriteRecord, WriteStatus

logger = logging.getLogger(__name__)

SEND = "gmail.send"
MAX_RECIPIENTS = 100
MAX_FILES = 20
MAX_BODY_BYTES = 600_000  # text and html together, UTF-8: the record must fit a 1 MiB document
MAX_RAW_BYTES = 35 * 1024 * 1024  # what messages.send takes as a media upload
GMAIL_ID_PATTERN = r"^[0-9a-f]{1,40}$"
PART_ID_PATTERN = r"^[0-9]{1,4}(\.[0-9]{1,4}){0,15}$"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _no_control(value: str | None) -> str | None:
    if value is not None and _CONTROL.search(value):
        raise ValueError("must not hold control characters (line breaks included)")
    return value


class Recipient(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    email: str = Field(max_length=254, pattern=EMAIL_PATTERN, description="The address.")
    name: str | None = Field(None, min_length=1, max_length=200, description="A display name.")

    _plain_name = field_validator("name")(_no_control)


class FileRef(BaseModel):
    """A file to attach: an upload's id, an attachment of a synced copy (``gmail_id`` and ``part_id``), or
    a Drive file attached in the CRM (``drive_file_id``; a Google Doc goes as its ``export``, PDF unless
    named)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    upload_id: str | None = Field(
        None, pattern=UPLOAD_ID_PATTERN, description="From POST .../outbound-attachments."
    )
    gmail_id: str | None = Field(
        None, pattern=GMAIL_ID_PATTERN, description="A synced copy holding the file."
    )
    part_id: str | None = Field(
        None, pattern=PART_ID_PATTERN, description="The file's MIME part in that copy."
    )
    drive_file_id: str | None = Field(
        None, pattern=FILE_ID_PATTERN, description="A Drive file attached in the CRM by this user."
    )
    export: Literal["pdf", "docx", "txt"] | None = Field(
        None, description="For a Google Doc: the format it is attached in (pdf by default)."
    )

    @model_validator(mode="after")
    def _one_source(self) -> FileRef:
        copy = self.gmail_id is not None or self.part_id is not None
        sources = [self.upload_id is not None, copy, self.drive_file_id is not None]
        if sum(sources) != 1 or (copy and (self.gmail_id is None or self.part_id is None)):
            raise ValueError("give one of upload_id, gmail_id with part_id, or drive_file_id")
        if self.export is not None and self.drive_file_id is None:
            raise ValueError("export goes with drive_file_id")
        return self


class OutboundMessageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: list[Recipient] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    cc: list[Recipient] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    bcc: list[Recipient] = Field(
        default_factory=list, max_length=MAX_RECIPIENTS, description="Sent to; never shown to the others."
    )
    subject: str | None = Field(
        None, max_length=998, description="A reply without one gets 'Re: ' and the original's subject."
    )
    text: str | None = Field(None, description="The plain-text body.")
    html: str | None = Field(None, description="The HTML body (with text, the two are alternatives).")
    reply_to: str | None = Field(
        None, pattern=GMAIL_ID_PATTERN, description="A synced copy's Gmail id: the mail goes into its thread."
    )
    attachments: list[FileRef] = Field(default_factory=list, max_length=MAX_FILES)
    attach_to: list[CrmEntity] = Field(
        default_factory=list, max_length=20, description="CRM records or tasks the sent copy is attached to."
    )

    _plain_subject = field_validator("subject")(_no_control)

    @model_validator(mode="after")
    def _limits(self) -> OutboundMessageRequest:
        recipients = len(self.to) + len(self.cc) + len(self.bcc)
        if recipients == 0:
            raise ValueError("at least one recipient is needed in to, cc or bcc")
        if recipients > MAX_RECIPIENTS:
            raise ValueError(f"at most {MAX_RECIPIENTS} recipients in to, cc and bcc together")
        body = len((self.text or "").encode()) + len((self.html or "").encode())
        if body > MAX_BODY_BYTES:
            raise ValueError(f"text and html together may have at most {MAX_BODY_BYTES} bytes")
        return self


class OutboundMessageView(BaseModel):
    """A mail sent from the CRM, as the CRM sees it."""

    id: str = Field(description="The outbound message's id (its write's).")
    status: str = Field(description="queued, sending, sent, failed")
    gmail_id: str | None = Field(description="Gmail's id of the sent message, once sent.")
    thread_id: str | None = Field(description="Gmail's thread, once sent (a reply: the original's).")
    message_id_header: str = Field(description="The Message-ID header the mail carries.")
    subject: str | None
    failure: dict[str, str] | None = Field(description="Why it was not sent: a stable code and a text.")
    attempts: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, record: WriteRecord) -> OutboundMessageView:
        status = {
            WriteStatus.QUEUED: "queued",
            WriteStatus.IN_PROGRESS: "sending",
            WriteStatus.DONE: "sent",
            WriteStatus.FAILED: "failed",
        }[record.status]
        result = record.result or {}
        return cls(
            id=record.write_id,
            status=status,
            gmail_id=result.get("gmail_id"),
            thread_id=result.get("thread_id") or record.details.get("thread_id"),
            message_id_header=str(record.details.get("message_id", "")),
            subject=record.details.get("subject"),
            failure=record.failure.model_dump() if record.failure is not None else None,
            attempts=record.attempts,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class OutboundMessagePage(BaseModel):
    items: list[OutboundMessageView]
    next_page_token: str | None = Field(description="The next page's token; null on the last page.")


ConnectionOf = Callable[[str, str], ConnectionRecord | None]


def sendable(connection: ConnectionRecord | None) -> ConnectionRecord:
    """The connection, when mail may be sent through it; the reason it may not otherwise."""
    if connection is None:
        raise NotFound("This CRM user has no Google connection.", code="connection_not_found")
    if not connection.is_active:
        raise NeedsReconnect("The Google account must be reconnected.", code="needs_reconnect")
    state = connection.features.get(Feature.MAIL)
    if state is None or not state.enabled:
        code = state.reason.value if state is not None and state.reason is not None else "feature_off"
        raise Forbidden("Mail is off for this connection.", code=code)
    if not has_scope(connection.granted_scopes, GMAIL_SEND):
        raise Forbidden(
            f"Sending needs the {GMAIL_SEND} scope granted at connect.", code="feature_not_granted"
        )
    return connection


class OutboundMail:
    """The API's side: check what the request names, resolve the reply, record and queue."""

    def __init__(
        self,
        *,
        outbox: Outbox,
        uploads: Uploads,
        connection_of: ConnectionOf,
        scope_for: Callable[[str], TenantScope],
    ) -> None:
        self._outbox = outbox
        self._uploads = uploads
        self._connection_of = connection_of
        self._scope_for = scope_for

    def submit(
        self, tenant_id: str, user_id: str, key: str | None, request: OutboundMessageRequest
    ) -> WriteRecord:
        connection = sendable(self._connection_of(tenant_id, user_id))
        scope = self._scope_for(tenant_id)
        reply = self._original(scope, user_id, request.reply_to) if request.reply_to else None
        total = sum(
            self._file_size(tenant_id, scope, user_id, index, ref)
            for index, ref in enumerate(request.attachments)
        )
        if total > MAX_ATTACHMENT_BYTES:
            raise PayloadTooLarge(
                f"The attachments hold {total} bytes; Gmail sends at most {MAX_ATTACHMENT_BYTES}.",
                code="message_too_large",
                errors=[
                    {"location": ["body", "attachments"], "message": "more than 25 MB in all", "type": "size"}
                ],
            )
        domain = connection.google_email.rpartition("@")[2]

        def details(write_id: str) -> dict[str, Any]:
            resolved: dict[str, Any] = {
                # Ours, from the write: the same for every attempt, so a send can be found again.
                "message_id": f"<crm.{write_id[:40]}@{domain}>",
                "subject": request.subject,
            }
            if reply is not None:
                parent = reply.get("message_id_header")
                references = [*(reply.get("references") or []), *([parent] if parent else [])]
                resolved.update(
                    thread_id=reply["thread_id"],
                    in_reply_to=parent,
                    references=references[-20:],  # the newest: enough to thread, bounded
                    subject=request.subject or reply_subject(reply.get("subject")),
                )
            return resolved

        return self._outbox.submit(
            tenant_id, user_id, key, SEND, request.model_dump(mode="json", exclude_none=True), details=details
        )

    def _original(self, scope: TenantScope, user_id: str, gmail_id: str) -> dict[str, Any]:
        copy = scope.get(scope.document(MESSAGES, message_doc_id(user_id, gmail_id)))
        if copy is None or copy.get("connection_id") != user_id:
            raise NotFound(
                "The message replied to is not a synced copy of this user's.", code="message_not_found"
            )
        return copy

    def _file_size(self, tenant_id: str, scope: TenantScope, user_id: str, index: int, ref: FileRef) -> int:
        if ref.drive_file_id is not None:
            return _drive_file_size(scope, user_id, index, ref)
        if ref.upload_id is not None:
            try:
                return self._uploads.get(tenant_id, user_id, ref.upload_id).size
            except NotFound as error:
                error.errors = [
                    {
                        "location": ["body", "attachments", index, "upload_id"],
                        "message": "no such upload",
                        "type": "not_found",
                    }
                ]
                raise
        copy = scope.get(scope.document(MESSAGES, message_doc_id(user_id, str(ref.gmail_id))))
        for item in (copy or {}).get("attachments") or []:
            if isinstance(item, dict) and item.get("part_id") == ref.part_id and item.get("attachment_id"):
                return int(item.get("size") or 0)
        raise NotFound(
            "No such attachment in a synced copy of this user's.",
            code="attachment_not_found",
            errors=[
                {
                    "location": ["body", "attachments", index],
                    "message": "no such attachment",
                    "type": "not_found",
                }
            ],
        )

    def get(self, tenant_id: str, user_id: str, outbound_id: str) -> WriteRecord:
        record = self._outbox.get(tenant_id, user_id, outbound_id)
        if record.operation != SEND:
            raise NotFound("No such outbound message.", code="outbound_message_not_found")
        return record

    def list(
        self, tenant_id: str, user_id: str, *, page_size: int, page_token: str | None
    ) -> OutboundMessagePage:
        """The user's mail sent from the CRM, newest first, a page at a time."""
        scope = self._scope_for(tenant_id)
        collection = scope.collection(WRITES)
        query = build_query(
            collection, QUERY_SHAPES["outbound_messages"], equal={"connection_id": user_id, "operation": SEND}
        )
        listing = f"outbound:{hashlib.sha256(f'{tenant_id}/{user_id}'.encode()).hexdigest()[:24]}"
        cursor = decode_ordered_page_token(page_token, listing=listing)
        if cursor is not None:
            at, write_id = cursor
            query = query.start_after(
                {"created_at": from_micros(at), DOCUMENT_ID: collection.document(write_id)}
            )
        snapshots = scope.stream(query.limit(page_size + 1))
        items = [
            OutboundMessageView.of(WriteRecord.model_validate(s.to_dict())) for s in snapshots[:page_size]
        ]
        next_token = None
        if len(snapshots) > page_size:
            last = snapshots[page_size - 1]
            next_token = encode_page_token(last.id, listing=listing, at=micros(last.get("created_at")))
        return OutboundMessagePage(items=items, next_page_token=next_token)


class GmailSender(Protocol):
    """What sending needs of Gmail (shared.google_apis.gmail.GmailClient provides it)."""

    def send(self, raw: bytes, *, thread_id: str | None = None) -> dict[str, str]: ...

    def find_by_message_id(self, message_id_header: str) -> dict[str, str] | None: ...

    def get_attachment(self, message_id: str, attachment_id: str) -> bytes: ...

    def get_messages(
        self, ids: list[str], *, format: str = "full"
    ) -> tuple[dict[str, dict[str, Any]], set[str]]: ...


class DriveReader(Protocol):
    """What a mail needs of Drive to attach a file (shared.google_apis.drive.DriveClient provides it)."""

    def export(self, file_id: str, mime_type: str) -> bytes: ...

    def download(self, file_id: str) -> bytes: ...


def _drive_file_size(scope: TenantScope, user_id: str, index: int, ref: FileRef) -> int:
    """A Drive file's size as the CRM attached it (a Google Doc's export is sized when sent)."""
    stored = scope.get(scope.document(DRIVE_FILES, drive_file_doc_id(user_id, str(ref.drive_file_id))))
    location: list[str | int] = ["body", "attachments", index, "drive_file_id"]
    if stored is None or stored.get("connection_id") != user_id:
        raise NotFound(
            "No such Drive file attached in the CRM by this user.",
            code="drive_file_not_found",
            errors=[{"location": location, "message": "not attached in the CRM", "type": "not_found"}],
        )
    google_doc = str(stored.get("mime_type") or "").startswith(GOOGLE_APPS)
    if ref.export is not None and not google_doc:
        raise BadInput(
            "Only a Google Doc is exported.",
            code="validation_failed",
            errors=[
                {
                    "location": ["body", "attachments", index, "export"],
                    "message": "not a Google Doc",
                    "type": "value_error",
                }
            ],
        )
    return 0 if google_doc else int(stored.get("size") or 0)


class SendMessage:
    """The worker's side: one ``messages.send``, looked up first when an earlier attempt may have sent."""

    name = SEND

    def __init__(
        self,
        *,
        connection_of: ConnectionOf,
        gmail_for: Callable[[str, ConnectionRecord], GmailSender],
        uploads: Uploads,
        scope_for: Callable[[str], TenantScope],
        clock: Callable[[], datetime],
        drive_for: Callable[[str, ConnectionRecord], DriveReader],
    ) -> None:
        self._connection_of = connection_of
        self._gmail_for = gmail_for
        self._drive_for = drive_for
        self._uploads = uploads
        self._scope_for = scope_for
        self._clock = clock

    def perform(self, attempt: WriteAttempt) -> dict[str, Any]:
        tenant_id, record = attempt.tenant_id, attempt.record
        connection = sendable(self._connection_of(tenant_id, record.connection_id))
        request = OutboundMessageRequest.model_validate(record.payload)
        details = record.details
        gmail = self._gmail_for(tenant_id, connection)
        sent = gmail.find_by_message_id(details["message_id"]) if attempt.may_have_happened else None
        if sent is None:
            raw = self._compose(tenant_id, connection, request, details, gmail)
            crash_point("send.before_gmail")
            sent = gmail.send(raw, thread_id=details.get("thread_id"))
            crash_point("send.after_gmail")
        scope = self._scope_for(tenant_id)
        mailbox = SyncKey(connection.connection_id, Source.GMAIL, DEFAULT_PARTITIONS[Source.GMAIL])
        # Remembered first: the sync that meets the message in the history must know it is ours.
        SyncStates(scope, clock=self._clock).record_own_write(mailbox, sent["id"], SENT)
        self._store_copy(scope, connection, gmail, sent["id"])
        crash_point("send.after_copy_stored")
        for entity in request.attach_to:
            self._attach(scope, connection.connection_id, sent["id"], entity)
        self._drop_uploads(tenant_id, connection.connection_id, request)
        return {"gmail_id": sent["id"], "thread_id": sent["threadId"], "message_id": details["message_id"]}

    def on_failed(self, attempt: WriteAttempt) -> None:
        request = OutboundMessageRequest.model_validate(attempt.record.payload)
        self._drop_uploads(attempt.tenant_id, attempt.record.connection_id, request)

    def _compose(
        self,
        tenant_id: str,
        connection: ConnectionRecord,
        request: OutboundMessageRequest,
        details: dict[str, Any],
        gmail: GmailSender,
    ) -> bytes:
        files: list[File] = []
        for ref in request.attachments:
            files.append(self._file(tenant_id, connection, ref, gmail))
        if sum(len(file.data) for file in files) > MAX_ATTACHMENT_BYTES:
            raise Permanent("The attachments hold more than Gmail sends.", code="message_too_large")
        raw = compose(
            sender=Person(connection.google_email),
            to=[Person(r.email, r.name) for r in request.to],
            cc=[Person(r.email, r.name) for r in request.cc],
            bcc=[Person(r.email, r.name) for r in request.bcc],
            subject=details.get("subject"),
            text=request.text,
            html=request.html,
            message_id=details["message_id"],
            date=self._clock(),
            in_reply_to=details.get("in_reply_to"),
            references=details.get("references") or [],
            files=files,
        )
        if len(raw) > MAX_RAW_BYTES:
            raise Permanent("The message is larger than Gmail sends.", code="message_too_large")
        return raw

    def _file(self, tenant_id: str, connection: ConnectionRecord, ref: FileRef, gmail: GmailSender) -> File:
        if ref.drive_file_id is not None:
            return self._drive_file(tenant_id, connection, ref)
        if ref.upload_id is not None:
            upload = self._uploads.get(tenant_id, connection.connection_id, ref.upload_id)
            return File(upload.filename, upload.mime_type, self._uploads.read(tenant_id, upload))
        scope = self._scope_for(tenant_id)
        copy = (
            scope.get(scope.document(MESSAGES, message_doc_id(connection.connection_id, str(ref.gmail_id))))
            or {}
        )
        for item in copy.get("attachments") or []:
            if isinstance(item, dict) and item.get("part_id") == ref.part_id and item.get("attachment_id"):
                data = gmail.get_attachment(str(ref.gmail_id), str(item["attachment_id"]))
                return File(
                    str(item.get("filename") or "attachment"),
                    str(item.get("mime_type") or "application/octet-stream"),
                    data,
                )
        raise NotFound("The attachment is no longer in the synced copy.", code="attachment_not_found")

    def _drive_file(self, tenant_id: str, connection: ConnectionRecord, ref: FileRef) -> File:
        """A Drive file, read now from the user's Drive: a Google Doc exported, any other downloaded."""
        scope = self._scope_for(tenant_id)
        stored = scope.get(
            scope.document(DRIVE_FILES, drive_file_doc_id(connection.connection_id, str(ref.drive_file_id)))
        )
        if stored is None:
            raise NotFound("The Drive file is no longer attached in the CRM.", code="drive_file_not_found")
        drive = self._drive_for(tenant_id, connection)
        name = str(stored.get("name") or "file")
        mime_type = str(stored.get("mime_type") or "application/octet-stream")
        if mime_type.startswith(GOOGLE_APPS):
            export_type, extension = EXPORTS[ref.export or "pdf"]
            return File(f"{name}.{extension}", export_type, drive.export(str(ref.drive_file_id), export_type))
        return File(name, mime_type, drive.download(str(ref.drive_file_id)))

    def _store_copy(
        self, scope: TenantScope, connection: ConnectionRecord, gmail: GmailSender, gmail_id: str
    ) -> None:
        """The sent copy, at once, as the sync would store it (same id: the sync finds it, no duplicate)."""
        from shared.mail.mime import parse_gmail_message  # the worker's, not the api's cold start

        found, _ = gmail.get_messages([gmail_id], format="full")
        if gmail_id not in found:
            return  # deleted in Gmail already: nothing to hold
        store = MailStore(
            scope,
            connection.connection_id,
            own_address=connection.google_email,
            harvest_contacts=connection.enabled(Feature.CONTACTS),
        )
        resource = found[gmail_id]
        store.store({gmail_id: resource}, {gmail_id: parse_gmail_message(resource)}, generation=0)

    def _attach(self, scope: TenantScope, connection_id: str, gmail_id: str, entity: CrmEntity) -> None:
        try:
            links.attach_message(scope, connection_id, gmail_id, entity)
        except IntegrationError as error:  # the mail is sent; the CRM sees the copy unattached
            logger.warning(
                "sent copy not attached", extra={"fields": {"tenant_id": scope.tenant_id, "code": error.code}}
            )

    def _drop_uploads(self, tenant_id: str, connection_id: str, request: OutboundMessageRequest) -> None:
        for ref in request.attachments:
            if ref.upload_id is None:
                continue
            try:
                upload: Upload = self._uploads.get(tenant_id, connection_id, ref.upload_id)
            except NotFound:
                continue
            self._uploads.delete(tenant_id, upload)
