"""The seeded message generator: genuine, deterministic MIME of every kind the mailbox must serve."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage, Message, MIMEPart
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

import pytest

from local_stack.google_standin.mime_factory import (
    BROKEN_KINDS,
    NON_UTF8_CHARSETS,
    GeneratedMessage,
    MessageFactory,
)

FAKE_DOMAINS = ("example.com", "example.org", "example.net")


def parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def all_defects(message: Message) -> list[object]:
    return [defect for part in message.walk() for defect in part.defects]


def assert_crlf_only(raw: bytes) -> None:
    assert b"\n" in raw
    assert re.search(rb"(?<!\r)\n", raw) is None, "a bare LF in the output"


def every_kind(factory: MessageFactory) -> list[GeneratedMessage]:
    return [
        factory.plain(),
        factory.html(),
        factory.alternative(),
        factory.with_attachments(),
        *[factory.non_utf8(charset) for charset in NON_UTF8_CHARSETS],
        *factory.thread(3),
        factory.large(20_000),
    ]


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_bytes() -> None:
    first = [m.raw for m in every_kind(MessageFactory(7))]
    again = [m.raw for m in every_kind(MessageFactory(7))]
    other = [m.raw for m in every_kind(MessageFactory(8))]
    assert first == again
    assert first != other


def test_well_formed_kinds_parse_without_defects_and_use_crlf_line_endings() -> None:
    for generated in every_kind(MessageFactory(1)):
        assert_crlf_only(generated.raw)
        message = parse(generated.raw)
        assert all_defects(message) == [], generated.subject
        assert message["MIME-Version"] == "1.0"


def test_headers_agree_with_the_generated_message_fields() -> None:
    generated = MessageFactory(2).plain()
    message = parse(generated.raw)
    assert message["Message-ID"] == generated.message_id
    assert message["Subject"] == generated.subject
    assert getaddresses([str(message["From"])])[0][1] == generated.sender
    assert tuple(a for _, a in getaddresses([str(message["To"])])) == generated.recipients
    assert parsedate_to_datetime(str(message["Date"])) == generated.date
    assert generated.date.tzinfo is not None
    assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", generated.message_id)


def test_explicit_arguments_are_used_as_given() -> None:
    when = datetime(2024, 5, 17, 8, 30, tzinfo=UTC)
    generated = MessageFactory().plain(
        sender="Ann Lee <ann.lee@example.org>",
        to=["bob@example.net", "carl@example.com"],
        subject="Hello",
        body="Just checking in.\n",
        date=when,
    )
    message = parse(generated.raw)
    assert generated.sender == "ann.lee@example.org"
    assert generated.recipients == ("bob@example.net", "carl@example.com")
    assert message["Subject"] == "Hello"
    assert message.get_content() == "Just checking in.\r\n"
    assert generated.date == when


def test_plain_html_and_alternative_have_their_content_types() -> None:
    factory = MessageFactory(3)
    assert parse(factory.plain().raw).get_content_type() == "text/plain"
    html = parse(factory.html(body="<p>Hi &amp; bye</p>").raw)
    assert html.get_content_type() == "text/html"
    assert html.get_content() == "<p>Hi &amp; bye</p>\r\n"
    alternative = parse(factory.alternative(body="Plain words\n").raw)
    assert alternative.get_content_type() == "multipart/alternative"
    parts = list(alternative.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content() == "Plain words\r\n"
    assert "<p>Plain words</p>" in parts[1].get_content()


def test_with_attachments_defaults_to_a_pdf_and_a_csv() -> None:
    message = parse(MessageFactory(4).with_attachments().raw)
    assert message.get_content_type() == "multipart/mixed"
    attachments = list(message.iter_attachments())
    assert [(a.get_filename(), a.get_content_type()) for a in attachments] == [
        ("report.pdf", "application/pdf"),
        ("contacts.csv", "text/csv"),
    ]
    pdf = attachments[0].get_payload(decode=True)
    assert isinstance(pdf, bytes)
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    csv = attachments[1].get_payload(decode=True)
    assert isinstance(csv, bytes)
    assert csv.startswith(b"name,email,company\r\n")


def test_given_attachments_round_trip_byte_for_byte() -> None:
    data = bytes(range(256)) * 3
    message = parse(
        MessageFactory()
        .with_attachments(
            attachments=[("blob.bin", "application/octet-stream", data), ("note.txt", "text/plain", b"hi")]
        )
        .raw
    )
    attachments = list(message.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["blob.bin", "note.txt"]
    assert attachments[0].get_payload(decode=True) == data
    assert attachments[1].get_payload(decode=True) == b"hi"


@pytest.mark.parametrize("charset", NON_UTF8_CHARSETS)
def test_non_utf8_body_and_encoded_subject_use_the_charset_asked_for(charset: str) -> None:
    generated = MessageFactory(5).non_utf8(charset)
    raw_subject = re.search(rb"^Subject: (.*(?:\r\n .*)*)", generated.raw, re.MULTILINE)
    assert raw_subject is not None
    assert raw_subject.group(1).startswith(f"=?{charset}?B?".encode())
    message = parse(generated.raw)
    assert message.get_content_charset() == charset
    assert message["Subject"] == generated.subject
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    text = body.decode(charset)
    assert text.strip()
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")


def test_windows_1252_uses_bytes_that_latin1_does_not_define() -> None:
    body = MessageFactory().non_utf8("windows-1252").raw.split(b"\r\n\r\n", 1)[1]
    assert b"=80" in body  # the euro sign, 0x80 in windows-1252


def test_non_utf8_with_own_text_and_a_long_subject_folds_into_short_encoded_words() -> None:
    subject = " ".join(["Привет"] * 20)
    generated = MessageFactory().non_utf8("koi8-r", subject=subject, body="Да\n")
    header_block = generated.raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(word) <= 75 for word in re.findall(rb"=\?[^?]+\?B\?[^?]*\?=", header_block))
    message = parse(generated.raw)
    assert message["Subject"] == subject
    with pytest.raises(UnicodeEncodeError):
        MessageFactory().non_utf8("iso-8859-1", body="日本語")


def test_thread_chains_in_reply_to_and_references_with_re_subjects() -> None:
    start = datetime(2024, 2, 1, 9, 0, tzinfo=UTC)
    people = ["ann@example.com", "bob@example.org", "cy@example.net"]
    messages = MessageFactory(6).thread(4, participants=people, start=start)
    parsed = [parse(m.raw) for m in messages]
    assert messages[0].date == start
    assert parsed[0]["In-Reply-To"] is None
    for index in range(1, 4):
        assert parsed[index]["In-Reply-To"] == messages[index - 1].message_id
        assert str(parsed[index]["References"]).split() == [m.message_id for m in messages[:index]]
        assert messages[index].subject == f"Re: {messages[0].subject}"
        assert messages[index].date > messages[index - 1].date
    assert [m.sender for m in messages] == [people[0], people[1], people[2], people[0]]
    assert len({m.message_id for m in messages}) == 4


def test_a_reply_to_a_given_message_answers_its_sender() -> None:
    factory = MessageFactory()
    original = factory.plain(sender="ann@example.com", to=["bob@example.org"], subject="Budget")
    reply = factory.html(in_reply_to=original)
    message = parse(reply.raw)
    assert reply.subject == "Re: Budget"
    assert reply.sender == "bob@example.org"
    assert reply.recipients == ("ann@example.com",)
    assert message["In-Reply-To"] == original.message_id
    assert factory.plain(in_reply_to=reply).subject == "Re: Budget"


def test_large_body_is_about_the_size_asked_for() -> None:
    size = 2 * 1024 * 1024
    generated = MessageFactory().large(size)
    body = parse(generated.raw).get_content()
    assert size <= len(body.encode()) < size * 1.05
    assert max(len(line) for line in generated.raw.split(b"\r\n")) <= 998


def test_each_broken_kind_is_broken_the_way_it_says() -> None:
    factory = MessageFactory(9)
    samples = {kind: factory.broken(kind) for kind in BROKEN_KINDS}

    bad_base64 = samples["bad-base64"]
    assert b"Content-Transfer-Encoding: base64" in bad_base64
    assert re.search(rb"[^A-Za-z0-9+/=\r\n]", bad_base64.split(b"\r\n\r\n", 1)[1])

    unknown = parse(samples["unknown-charset"])
    charset = unknown.get_content_charset()
    assert charset is not None
    with pytest.raises(LookupError):
        b"x".decode(charset)

    missing = parse(samples["missing-boundary"])
    assert missing.get_content_type() == "multipart/mixed"
    assert missing.get_param("boundary") is None
    assert not missing.is_multipart()

    depth = 0
    part: MIMEPart = parse(samples["deep-nesting"])
    while part.is_multipart():
        children = list(part.iter_parts())
        assert len(children) == 1
        part, depth = children[0], depth + 1
    assert depth == 50
    assert part.get_content_type() == "text/plain"

    no_headers = parse(samples["no-headers"])
    assert list(no_headers.keys()) == []
    assert samples["no-headers"].startswith(b"This message")

    with pytest.raises(ValueError, match="unknown kind"):
        factory.broken("on-fire")


def test_mix_is_a_realistic_mailbox_around_its_owner() -> None:
    owner = "owner@example.com"
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=90)
    messages = MessageFactory(11).mix(200, start=start, end=end, owner=owner)
    assert len(messages) == 200
    assert [m.date for m in messages] == sorted(m.date for m in messages)
    assert all(start <= m.date <= end for m in messages)
    assert all(m.sender == owner or owner in m.recipients for m in messages)
    sent = sum(m.sender == owner for m in messages)
    assert 20 <= sent <= 70  # about 20%, plus replies the owner wrote

    parsed = [parse(m.raw) for m in messages]
    types = [p.get_content_type() for p in parsed]
    assert types.count("text/plain") > 60
    assert types.count("multipart/alternative") > 10
    assert types.count("multipart/mixed") > 3
    assert any(p.get_content_charset() not in (None, "utf-8", "us-ascii") for p in parsed)
    assert sum(p["In-Reply-To"] is not None for p in parsed) > 10
    assert len({m.message_id for m in messages}) == 200

    addresses = [a for p in parsed for _, a in getaddresses([str(p["From"]), str(p["To"])])]
    assert all(a.rpartition("@")[2] in FAKE_DOMAINS for a in addresses)


def test_naive_dates_are_taken_as_utc() -> None:
    generated = MessageFactory().plain(date=datetime(2024, 3, 3, 12, 0))
    assert generated.date == datetime(2024, 3, 3, 12, 0, tzinfo=UTC)


def test_generated_bytes_are_ascii_on_the_wire() -> None:
    for generated in every_kind(MessageFactory(12)):
        generated.raw.decode("ascii")
