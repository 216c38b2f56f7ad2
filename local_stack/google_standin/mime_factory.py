"""Realistic, seeded RFC 5322 / RFC 2045 messages for tests, the demo and benchmarks.

Every message is built with the stdlib ``email`` package and serialised with ``policy.SMTP`` (CRLF line
endings). Names and addresses are fake: only example.com, example.org and example.net domains appear.
The same seed gives the same bytes, call for call.
"""

from __future__ import annotations

import base64
import html as html_lib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses

__all__ = ["BROKEN_KINDS", "NON_UTF8_CHARSETS", "GeneratedMessage", "MessageFactory"]

_DOMAINS = ("example.com", "example.org", "example.net")
_FIRST_NAMES = (
    "Alice", "Bruno", "Chloe", "Daniel", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Keiko",
    "Liam", "Maya", "Nikolai", "Olivia", "Pedro", "Quinn", "Rosa", "Samir", "Tara", "Ulrich", "Vera",
    "Wen", "Ximena", "Yusuf", "Zoe",
)  # fmt: skip
_LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Garcia", "Rossi", "Novak", "Tanaka", "Okafor", "Schmidt", "Silva",
    "Kowalski", "Nguyen", "Haddad", "Larsen", "Moreau", "Ivanova", "Costa", "Fischer", "Mendes", "Brennan",
)  # fmt: skip
_SUBJECTS = (
    "Quarterly pipeline review", "Proposal for the Q3 renewal", "Meeting notes from Tuesday",
    "Invoice 2024-{n:04d}", "Follow-up on our call", "Contract draft v{n}", "Onboarding checklist",
    "Pricing question", "Demo next week?", "Updated forecast", "Support ticket #{n}",
    "Introduction: {name}", "Lunch on Friday", "Re-scheduling our sync", "Partnership opportunity",
    "Feedback on the pilot", "Shipping confirmation {n}", "Board deck \u2013 final", "Travel plans",
    "Welcome aboard!",
)  # fmt: skip
_SENTENCES = (
    "Thanks for taking the time to talk with us yesterday.",
    "I have attached the latest figures for your review.",
    "Could you confirm the delivery date by the end of the week?",
    "We are happy to move forward with the proposal as discussed.",
    "Let me know if Thursday at 10:00 works for you.",
    "The team reviewed the contract and has a few small comments.",
    "Our finance department will send the purchase order shortly.",
    "Please find the meeting notes below.",
    "I'm looping in my colleague, who owns the integration work.",
    "The renewal covers twelve months and includes premium support.",
    "We noticed a few duplicated contacts after the last import.",
    "Happy to jump on a quick call if that is easier.",
    "The dashboard now shows the numbers per region & per team.",
    "Send me your questions and I'll answer them before the demo.",
    "Looking forward to working together on this.",
)
_GREETINGS = ("Hi {name},", "Hello {name},", "Dear {name},", "{name},", "Good morning {name},")
_CLOSINGS = ("Best regards,", "Thanks,", "Cheers,", "Kind regards,", "All the best,")

# A subject and a body per charset, using characters specific to that charset (windows-1252: 0x80-0x9F).
_CHARSET_SAMPLES: dict[str, tuple[str, str]] = {
    "iso-8859-1": (
        "Réunion reportée à jeudi",
        "Grüße aus München! Le café, la crème brûlée et la façade: señor Muñoz confirme la réunion.",
    ),
    "windows-1252": (
        "Devis \u201cfinal\u201d \u2013 1 250 \u20ac",
        "Le devis \u201cfinal\u201d s\u2019élève à 1 250 \u20ac \u2013 paiement à 30 jours\u2026 "
        "Merci d\u2019avance.",
    ),
    "koi8-r": (
        "Встреча перенесена на пятницу",
        "Здравствуйте! Встреча перенесена на пятницу, 10:00. Пожалуйста, подтвердите участие.",
    ),
    "shift_jis": (
        "会議の日程変更について",
        "お世話になっております。会議は金曜日の十時に変更になりました。よろしくお願いいたします。",
    ),
}
NON_UTF8_CHARSETS: tuple[str, ...] = tuple(_CHARSET_SAMPLES)
BROKEN_KINDS: tuple[str, ...] = (
    "bad-base64",
    "unknown-charset",
    "missing-boundary",
    "deep-nesting",
    "no-headers",
)

# A tiny but well-formed PDF (one empty page) and a CSV: the default attachments.
_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
    b"xref\n0 4\n0000000000 65535 f \n0000000009 00000 n \n0000000052 00000 n \n0000000101 00000 n \n"
    b"trailer<</Size 4/Root 1 0 R>>\nstartxref\n164\n%%EOF\n"
)
_START = datetime(2024, 1, 8, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class GeneratedMessage:
    raw: bytes  # the RFC 822 bytes, CRLF line endings
    message_id: str  # the Message-ID header, with its angle brackets
    subject: str  # decoded
    sender: str  # bare address
    recipients: tuple[str, ...]  # bare addresses of To and Cc
    date: datetime  # timezone-aware, as in the Date header


class MessageFactory:
    """Builds messages from a seeded ``random.Random``: deterministic for a given seed and call order."""

    def __init__(self, seed: int = 0, *, domain: str = "example.com") -> None:
        self._rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
        self._domain = domain
        self._clock = _START
        self._serial = 0

    # ----------------------------------------------------------------- the message kinds
    def plain(
        self,
        *,
        sender: str | None = None,
        to: Sequence[str] | None = None,
        subject: str | None = None,
        body: str | None = None,
        date: datetime | None = None,
        in_reply_to: GeneratedMessage | None = None,
    ) -> GeneratedMessage:
        """A single text/plain part, UTF-8."""
        msg, meta = self._envelope(sender, to, subject, date, in_reply_to)
        msg.set_content(body if body is not None else self._body_text(meta))
        return self._finish(msg, meta)

    def html(
        self,
        *,
        sender: str | None = None,
        to: Sequence[str] | None = None,
        subject: str | None = None,
        body: str | None = None,
        date: datetime | None = None,
        in_reply_to: GeneratedMessage | None = None,
    ) -> GeneratedMessage:
        """A single text/html part; ``body`` is the HTML itself when given."""
        msg, meta = self._envelope(sender, to, subject, date, in_reply_to)
        html = body if body is not None else _to_html(self._body_text(meta))
        msg.set_content(html, subtype="html")
        return self._finish(msg, meta)

    def alternative(
        self,
        *,
        sender: str | None = None,
        to: Sequence[str] | None = None,
        subject: str | None = None,
        body: str | None = None,
        date: datetime | None = None,
        in_reply_to: GeneratedMessage | None = None,
    ) -> GeneratedMessage:
        """multipart/alternative: the text (``body``) and an HTML rendering of it."""
        msg, meta = self._envelope(sender, to, subject, date, in_reply_to)
        text = body if body is not None else self._body_text(meta)
        msg.set_content(text)
        msg.add_alternative(_to_html(text), subtype="html")
        return self._finish(msg, meta)

    def with_attachments(
        self,
        *,
        sender: str | None = None,
        to: Sequence[str] | None = None,
        subject: str | None = None,
        body: str | None = None,
        date: datetime | None = None,
        in_reply_to: GeneratedMessage | None = None,
        attachments: Sequence[tuple[str, str, bytes]] | None = None,
    ) -> GeneratedMessage:
        """multipart/mixed: a text part, then each (filename, mime type, data) as an attachment.

        By default a small PDF ("report.pdf") and a CSV ("contacts.csv").
        """
        msg, meta = self._envelope(sender, to, subject, date, in_reply_to)
        msg.set_content(body if body is not None else self._body_text(meta))
        for filename, mime_type, data in attachments if attachments is not None else self._default_files():
            maintype, _, subtype = mime_type.partition("/")
            msg.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream", filename=filename)
        return self._finish(msg, meta)

    def non_utf8(
        self,
        charset: str = "iso-8859-1",
        *,
        sender: str | None = None,
        to: Sequence[str] | None = None,
        subject: str | None = None,
        body: str | None = None,
        date: datetime | None = None,
        in_reply_to: GeneratedMessage | None = None,
    ) -> GeneratedMessage:
        """text/plain in ``charset`` (body bytes and an RFC 2047 encoded Subject in that very charset).

        Known samples: iso-8859-1, windows-1252, koi8-r, shift_jis; any Python codec works with your own
        ``subject`` and ``body``. The Subject is written by hand: the SMTP policy would re-encode it in UTF-8.
        """
        key = charset.lower()
        sample_subject, sample_body = _CHARSET_SAMPLES.get(key, ("Message", "Message body"))
        text = body if body is not None else sample_body
        subj = subject if subject is not None else sample_subject
        text.encode(key)  # raises UnicodeEncodeError when the caller's text does not fit the charset
        encoded_subject = _encoded_words(subj, key)
        placeholder = f"X-Subject-Placeholder-{self._rng.getrandbits(48):012x}"
        msg, meta = self._envelope(sender, to, placeholder, date, in_reply_to)
        cte = "quoted-printable" if key in ("iso-8859-1", "windows-1252") else "base64"
        msg.set_content(text, charset=key, cte=cte)
        meta = _Meta(meta.message_id, subj, meta.sender, meta.recipients, meta.date)
        generated = self._finish(msg, meta)
        raw = generated.raw.replace(placeholder.encode("ascii"), encoded_subject, 1)
        return GeneratedMessage(raw, meta.message_id, subj, meta.sender, meta.recipients, meta.date)

    def thread(
        self,
        length: int,
        *,
        participants: Sequence[str] | None = None,
        start: datetime | None = None,
    ) -> list[GeneratedMessage]:
        """A conversation of ``length`` messages: each replies to the previous one (In-Reply-To, the whole
        References chain, a "Re: " subject); senders take turns among ``participants``."""
        if length < 1:
            raise ValueError("a thread has at least one message")
        people = list(participants) if participants else [self._address(), self._address()]
        if len(people) < 2:
            raise ValueError("a thread needs at least two participants")
        when = _aware(start) if start is not None else self._next_date()
        first = self.plain(sender=people[0], to=people[1:], date=when)
        messages = [first]
        for index in range(1, length):
            when += timedelta(minutes=self._rng.randint(7, 600))
            sender = people[index % len(people)]
            others = [p for p in people if p != sender]
            messages.append(self.plain(sender=sender, to=others, date=when, in_reply_to=messages[-1]))
        return messages

    def large(
        self,
        body_bytes: int,
        *,
        sender: str | None = None,
        to: Sequence[str] | None = None,
        subject: str | None = None,
        date: datetime | None = None,
        in_reply_to: GeneratedMessage | None = None,
    ) -> GeneratedMessage:
        """text/plain with a body of about ``body_bytes`` bytes (ASCII lines of about 70 characters)."""
        lines: list[str] = []
        size = 0
        while size < body_bytes:
            line = self._rng.choice(_SENTENCES)
            while len(line) < 60:
                line += " " + self._rng.choice(_SENTENCES)
            line = line[:76]
            lines.append(line)
            size += len(line) + 2
        msg, meta = self._envelope(sender, to, subject, date, in_reply_to)
        msg.set_content("\n".join(lines) + "\n", cte="7bit")
        return self._finish(msg, meta)

    def broken(self, kind: str) -> bytes:
        """Deliberately malformed MIME that real mailboxes do contain; one of ``BROKEN_KINDS``."""
        date = format_datetime(self._next_date()).encode("ascii")
        sender = self._address().encode("ascii")
        recipient = self._address().encode("ascii")
        message_id = self._message_id().encode("ascii")
        head = (
            b"From: "
            + sender
            + b"\r\nTo: "
            + recipient
            + b"\r\nDate: "
            + date
            + b"\r\nMessage-ID: "
            + message_id
        )
        if kind == "bad-base64":
            return (
                head + b"\r\nSubject: Broken base64 body\r\nMIME-Version: 1.0\r\n"
                b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                b"SGVsbG8gdGhlcmUsIHRoaXMgaXMg!!not*base64%%\r\nYSBicm9rZW4gYm9keQ=\r\n"
            )
        if kind == "unknown-charset":
            return (
                head + b"\r\nSubject: =?x-klingon-42?Q?Qapla=E9_=FF?=\r\nMIME-Version: 1.0\r\n"
                b'Content-Type: text/plain; charset="x-klingon-42"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
                b"Qapla\xe9! nuqneH \xff\xfe tlhIngan Hol Dajatlh'a'?\r\n"
            )
        if kind == "missing-boundary":
            return (
                head + b"\r\nSubject: Multipart without a boundary\r\nMIME-Version: 1.0\r\n"
                b"Content-Type: multipart/mixed\r\n\r\n"
                b"--lost-boundary\r\nContent-Type: text/plain\r\n\r\nThe first part.\r\n"
                b"--lost-boundary\r\nContent-Type: text/html\r\n\r\n<p>The second part.</p>\r\n"
                b"--lost-boundary--\r\n"
            )
        if kind == "deep-nesting":
            depth = 50
            parts = [head + b"\r\nSubject: Fifty nested multiparts\r\nMIME-Version: 1.0\r\n"]
            for level in range(depth):
                boundary = f"nest-{level:02d}".encode("ascii")
                prefix = b"" if level == 0 else b"--" + f"nest-{level - 1:02d}".encode("ascii") + b"\r\n"
                parts.append(prefix + b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n')
            parts.append(
                f"--nest-{depth - 1:02d}\r\n".encode("ascii")
                + b"Content-Type: text/plain; charset=utf-8\r\n\r\nThe innermost text, fifty levels down.\r\n"
            )
            parts.extend(f"--nest-{level:02d}--\r\n".encode("ascii") for level in reversed(range(depth)))
            return b"".join(parts)
        if kind == "no-headers":
            return b"This message has no header block at all\r\nJust two lines of text.\r\n"
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(BROKEN_KINDS)}")

    def mix(self, count: int, *, start: datetime, end: datetime, owner: str) -> list[GeneratedMessage]:
        """A realistic mailbox of ``count`` messages dated over [start, end], oldest first.

        About 20% are sent by ``owner``, the rest received by it. Mostly plain and alternative, some HTML,
        some with attachments, some non-UTF-8, and replies that form threads (about 15%).
        """
        begin, finish = _aware(start), _aware(end)
        if finish < begin:
            raise ValueError("end is before start")
        span = (finish - begin).total_seconds()
        dates = sorted(begin + timedelta(seconds=self._rng.uniform(0, span)) for _ in range(count))
        messages: list[GeneratedMessage] = []
        for when in dates:
            roll = self._rng.random()
            if messages and roll < 0.15:
                parent = self._rng.choice(messages[-10:])
                choices = [p for p in parent.recipients if p != parent.sender] or [owner]
                sender = owner if owner in choices and self._rng.random() < 0.5 else self._rng.choice(choices)
                to = [parent.sender] if parent.sender != sender else [self._address()]
                if owner not in (sender, *to):
                    to.append(owner)
                messages.append(self.plain(sender=sender, to=to, date=when, in_reply_to=parent))
                continue
            sent = self._rng.random() < 0.2
            sender = owner if sent else self._address()
            to = [self._address() for _ in range(self._rng.choice((1, 1, 1, 2)))] if sent else [owner]
            if not sent and self._rng.random() < 0.15:
                to.append(self._address())
            kind = self._rng.random()
            if kind < 0.50:
                messages.append(self.plain(sender=sender, to=to, date=when))
            elif kind < 0.72:
                messages.append(self.alternative(sender=sender, to=to, date=when))
            elif kind < 0.82:
                messages.append(self.html(sender=sender, to=to, date=when))
            elif kind < 0.92:
                messages.append(self.with_attachments(sender=sender, to=to, date=when))
            else:
                charset = self._rng.choice(NON_UTF8_CHARSETS)
                messages.append(self.non_utf8(charset, sender=sender, to=to, date=when))
        return messages

    # ----------------------------------------------------------------- building blocks
    def _envelope(
        self,
        sender: str | None,
        to: Sequence[str] | None,
        subject: str | None,
        date: datetime | None,
        in_reply_to: GeneratedMessage | None,
    ) -> tuple[EmailMessage, _Meta]:
        if in_reply_to is not None:
            default_sender = next(iter(in_reply_to.recipients), None) or self._address()
            default_to: list[str] = [in_reply_to.sender]
        else:
            default_sender, default_to = self._address(), []
        from_ = _bare(sender) if sender is not None else default_sender
        recipients = [_bare(a) for a in to] if to is not None else (default_to or [self._address()])
        if in_reply_to is not None and subject is None:
            base = in_reply_to.subject
            subj = base if base.lower().startswith("re:") else f"Re: {base}"
        else:
            subj = subject if subject is not None else self._subject()
        when = _aware(date) if date is not None else self._next_date()
        message_id = self._message_id(from_)

        msg = EmailMessage(policy=policy.SMTP)
        msg["From"] = _display(from_)
        msg["To"] = ", ".join(_display(a) for a in recipients)
        msg["Subject"] = subj
        msg["Date"] = format_datetime(when)
        msg["Message-ID"] = message_id
        if in_reply_to is not None:
            parent_refs = _references(in_reply_to.raw)
            msg["In-Reply-To"] = in_reply_to.message_id
            msg["References"] = " ".join([*parent_refs, in_reply_to.message_id])
        msg["MIME-Version"] = "1.0"
        return msg, _Meta(message_id, subj, from_, tuple(recipients), when)

    def _finish(self, msg: EmailMessage, meta: _Meta) -> GeneratedMessage:
        for part in msg.walk():  # the stdlib draws boundaries from the global random: seed them instead
            if part.is_multipart() and part.get_boundary() is None:
                part.set_boundary(f"{self._rng.getrandbits(96):024x}")
        raw = msg.as_bytes(policy=policy.SMTP)
        return GeneratedMessage(raw, meta.message_id, meta.subject, meta.sender, meta.recipients, meta.date)

    def _address(self) -> str:
        first, last = self._rng.choice(_FIRST_NAMES), self._rng.choice(_LAST_NAMES)
        domain = self._rng.choice((self._domain, self._domain, *_DOMAINS))
        return f"{first.lower()}.{last.lower()}@{domain}"

    def _message_id(self, sender: str | None = None) -> str:
        self._serial += 1
        domain = sender.rpartition("@")[2] if sender and "@" in sender else self._domain
        return f"<{self._rng.getrandbits(64):016x}.{self._serial}@{domain}>"

    def _subject(self) -> str:
        template = self._rng.choice(_SUBJECTS)
        return template.format(
            n=self._rng.randint(1, 9999),
            name=f"{self._rng.choice(_FIRST_NAMES)} {self._rng.choice(_LAST_NAMES)}",
        )

    def _body_text(self, meta: _Meta) -> str:
        name = _name_of(meta.recipients[0]).split(" ")[0] if meta.recipients else "there"
        sentences = self._rng.sample(_SENTENCES, self._rng.randint(2, 5))
        paragraphs = [
            " ".join(sentences[: len(sentences) // 2 or 1]),
            " ".join(sentences[len(sentences) // 2 :]),
        ]
        closing = self._rng.choice(_CLOSINGS)
        signature = _name_of(meta.sender)
        greeting = self._rng.choice(_GREETINGS).format(name=name)
        return "\n\n".join([greeting, *[p for p in paragraphs if p], f"{closing}\n{signature}"]) + "\n"

    def _default_files(self) -> list[tuple[str, str, bytes]]:
        rows = ["name,email,company"]
        for _ in range(self._rng.randint(3, 8)):
            address = self._address()
            rows.append(f"{_name_of(address)},{address},{self._rng.choice(_LAST_NAMES)} Ltd")
        return [
            ("report.pdf", "application/pdf", _PDF),
            ("contacts.csv", "text/csv", "\r\n".join(rows).encode()),
        ]

    def _next_date(self) -> datetime:
        self._clock += timedelta(minutes=self._rng.randint(5, 240))
        return self._clock


@dataclass(frozen=True)
class _Meta:
    message_id: str
    subject: str
    sender: str
    recipients: tuple[str, ...]
    date: datetime


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _bare(address: str) -> str:
    parsed = getaddresses([address])
    return parsed[0][1] if parsed and parsed[0][1] else address


def _name_of(address: str) -> str:
    local = address.partition("@")[0]
    return " ".join(piece.capitalize() for piece in local.replace("_", ".").split(".") if piece)


def _display(address: str) -> str:
    local, _, domain = address.partition("@")
    if not domain:
        return address
    return str(Address(display_name=_name_of(address), username=local, domain=domain))


def _references(raw: bytes) -> list[str]:
    headers = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
    value = headers.get("References")
    return str(value).split() if value else []


def _to_html(text: str) -> str:
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    body = "\n".join(f"<p>{html_lib.escape(p.strip()).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><style>p { margin: 0 0 1em; }</style></head>\n'
        f"<body>\n{body}\n</body></html>\n"
    )


def _encoded_words(text: str, charset: str) -> bytes:
    """RFC 2047 "B" encoded words in ``charset``, each at most 75 characters, folded with CRLF SP."""
    prefix, suffix = f"=?{charset}?B?", "?="
    budget = 75 - len(prefix) - len(suffix)
    words: list[str] = []
    chunk = ""
    for char in text:
        candidate = chunk + char
        if len(base64.b64encode(candidate.encode(charset))) > budget and chunk:
            words.append(chunk)
            chunk = char
        else:
            chunk = candidate
    if chunk:
        words.append(chunk)
    encoded = [prefix + base64.b64encode(w.encode(charset)).decode("ascii") + suffix for w in words]
    return "\r\n ".join(encoded).encode("ascii")
