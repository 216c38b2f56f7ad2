"""Building the RFC 5322 message a CRM user sends, with the standard library's modern email policy.

Non-ASCII display names and subjects become encoded words, non-ASCII file names RFC 2231 parameters,
bodies are UTF-8 (quoted-printable or base64 as the policy chooses), lines end in CRLF. The Message-ID
is ours, chosen when the CRM's request was accepted, so a send can be found again in the mailbox. A
reply carries In-Reply-To and References (RFC 5322 3.6.4), which with the thread id and a matching
subject are what Gmail needs to thread it.
"""

from __future__ import annotations

import email.policy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

# Google's mail servers take lines up to 998 characters; the policy folds headers within 78.
_POLICY = email.policy.SMTP


@dataclass(frozen=True)
class Person:
    email: str
    name: str | None = None

    def address(self) -> Address:
        username, _, domain = self.email.rpartition("@")
        return Address(display_name=self.name or "", username=username, domain=domain)


@dataclass(frozen=True)
class File:
    filename: str
    mime_type: str
    data: bytes


def reply_subject(original: str | None) -> str:
    """ "Re: " and the original subject, unless it starts with one already (Gmail threads on it)."""
    subject = (original or "").strip()
    return subject if subject[:3].lower() == "re:" else f"Re: {subject}".rstrip()


def compose(
    *,
    sender: Person,
    to: Sequence[Person],
    cc: Sequence[Person],
    bcc: Sequence[Person],
    subject: str | None,
    text: str | None,
    html: str | None,
    message_id: str,
    date: datetime,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    files: Sequence[File] = (),
) -> bytes:
    message = EmailMessage(policy=_POLICY)
    message["From"] = sender.address()
    if to:
        message["To"] = [person.address() for person in to]
    if cc:
        message["Cc"] = [person.address() for person in cc]
    if bcc:  # Gmail sends to them and keeps the header in the sender's copy only
        message["Bcc"] = [person.address() for person in bcc]
    if subject:
        message["Subject"] = subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = " ".join(references)
    if html is not None and text is not None:
        message.set_content(text)
        message.add_alternative(html, subtype="html")
    elif html is not None:
        message.set_content(html, subtype="html")
    else:
        message.set_content(text or "")
    for file in files:
        maintype, _, subtype = file.mime_type.partition("/")
        message.add_attachment(file.data, maintype=maintype, subtype=subtype, filename=file.filename)
    return message.as_bytes()
