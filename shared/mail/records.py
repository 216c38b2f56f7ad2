"""The stored shape of a synced message and of a contact.

tenants/{tenant}/messages/{connection_id}_{gmail_id}          one synced copy (deterministic id)
tenants/{tenant}/messages/{...}/body_chunks/{n}               a body too large for one document
tenants/{tenant}/contacts/{sha256 of the lower-cased address}  one correspondent of the tenant
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, computed_field

MESSAGES = "messages"
CONTACTS = "contacts"
BODY_CHUNKS = "body_chunks"


class Address(BaseModel):
    model_config = ConfigDict(frozen=True)

    email: str  # lower-cased: one correspondent whatever the case or display name
    name: str | None = None


class AttachmentMeta(BaseModel):
    model_config = ConfigDict(frozen=True)

    part_id: str
    filename: str
    mime_type: str
    size: int
    attachment_id: str | None = None  # Gmail's; the content is fetched on demand, never stored


class ParsedMessage(BaseModel):
    """What the MIME parser reads out of a Gmail message resource (format=full)."""

    subject: str | None = None
    sender: list[Address] = Field(default_factory=list)  # From (a list: RFC 5322 allows several)
    to: list[Address] = Field(default_factory=list)
    cc: list[Address] = Field(default_factory=list)
    date: datetime | None = None  # the Date header, timezone-aware; None when absent or unreadable
    message_id_header: str | None = None
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)
    text_body: str = ""
    html_body: str = ""  # sanitised: safe to render in the CRM
    attachments: list[AttachmentMeta] = Field(default_factory=list)
    parse_errors: list[str] = Field(default_factory=list)  # what could not be read; the rest is kept


def message_doc_id(connection_id: str, gmail_id: str) -> str:
    return f"{connection_id}_{gmail_id}"


def contact_doc_id(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:40]


class StoredMessage(BaseModel):
    """A synced copy as the API serves it."""

    model_config = ConfigDict(extra="ignore")

    message_key: str
    connection_id: str
    gmail_id: str
    thread_id: str
    label_ids: list[str]
    unread: bool
    snippet: str
    subject: str | None
    sender: list[Address]
    to: list[Address]
    cc: list[Address]
    date: datetime | None
    message_id_header: str | None
    in_reply_to: str | None
    references: list[str]
    text_body: str
    html_body: str
    body_in_chunks: bool = False
    body_truncated: bool = False
    attachments: list[AttachmentMeta]
    received_at: datetime
    size_estimate: int
    attached_to: list[dict[str, str]]
    parse_errors: list[str]
    deleted_in_gmail: bool = False


class Contact(BaseModel):
    model_config = ConfigDict(extra="ignore")

    email: str
    display_name: str | None = None
    received_count: int = 0  # messages received from this address
    sent_count: int = 0  # messages sent to it (To or Cc)
    first_contact_ms: int | None = Field(None, exclude=True)  # stored as numbers: Firestore's min/max
    last_contact_ms: int | None = Field(None, exclude=True)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def first_contact_at(self) -> datetime | None:
        return _from_ms(self.first_contact_ms)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def last_contact_at(self) -> datetime | None:
        return _from_ms(self.last_contact_ms)


def _from_ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, UTC)
