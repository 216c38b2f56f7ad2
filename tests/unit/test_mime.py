"""The MIME parser: Gmail message resources (format=full) read into ParsedMessage.

Every resource comes through the real stand-in code path (the mailbox parses the raw bytes and serves the
exact Gmail JSON), from messages the seeded factory builds or from hand-written MIME. A few tests then
alter the served JSON the way real Gmail may differ from the stand-in (raw encoded words, standard base64,
a body behind an attachmentId).
"""

from __future__ import annotations

import base64
import copy
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from local_stack.google_standin.gmail_mailbox import Mailbox
from local_stack.google_standin.mime_factory import BROKEN_KINDS, NON_UTF8_CHARSETS, MessageFactory
from shared.mail.mime import MAX_DEPTH, body_size, parse_gmail_message
from shared.mail.records import Address, AttachmentMeta, ParsedMessage

OWNER = "a@example.com"


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox(OWNER)


@pytest.fixture
def factory() -> MessageFactory:
    return MessageFactory(11)


def fetched(mailbox: Mailbox, raw: bytes) -> dict[str, Any]:
    """The message as users.messages.get(format=full) serves it."""
    return mailbox.get_message(mailbox.insert(raw)["id"], format="full")


def parsed(mailbox: Mailbox, raw: bytes) -> ParsedMessage:
    return parse_gmail_message(fetched(mailbox, raw))


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


HEAD = "From: Ana <ana@example.com>\nTo: bo@example.org\nDate: Mon, 08 Jan 2024 10:05:00 +0000\n"


def nested(levels: int, text: str = "The innermost text.") -> bytes:
    """``levels`` multiparts, each inside the previous, around one text/plain part."""
    lines = [HEAD + "Subject: Nested\nMIME-Version: 1.0"]
    for level in range(levels):
        if level:
            lines.append(f"--b{level - 1}")
        lines.append(f'Content-Type: multipart/mixed; boundary="b{level}"\n')
    lines.append(f"--b{levels - 1}\nContent-Type: text/plain; charset=utf-8\n\n{text}")
    lines.extend(f"--b{level}--" for level in reversed(range(levels)))
    return crlf("\n".join(lines) + "\n")


def set_header(resource: dict[str, Any], name: str, value: str) -> None:
    for header in resource["payload"]["headers"]:
        if header["name"].lower() == name.lower():
            header["value"] = value


def first_text_part(resource: dict[str, Any]) -> dict[str, Any]:
    part: dict[str, Any] = resource["payload"]
    while "parts" in part:
        part = part["parts"][0]
    assert part["mimeType"] == "text/plain"
    return part


# ----------------------------------------------------------------------------------------- plain and HTML
def test_a_plain_message_gives_its_headers_and_its_text_body(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    body = "Hello Ana,\n\nThe contract is attached.\n\nBest,\nBo\n"
    generated = factory.plain(subject="Contract for 2024", body=body)

    message = parsed(mailbox, generated.raw)

    assert message.subject == "Contract for 2024"
    assert [a.email for a in message.sender] == [generated.sender]
    assert message.sender[0].name
    assert [a.email for a in message.to] == list(generated.recipients)
    assert message.cc == []
    assert message.date == generated.date
    assert message.message_id_header == generated.message_id
    assert message.in_reply_to is None
    assert message.references == []
    assert message.text_body == body
    assert message.html_body == ""
    assert message.attachments == []
    assert message.parse_errors == []


def test_an_html_only_message_gets_a_text_body_derived_from_its_html(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    html = (
        "<html><head><title>Not shown</title><style>p { color: red }</style></head><body>"
        "<h1>Quarterly&nbsp;update</h1><p>Revenue is <b>up</b> &amp; costs   are\n down.</p>"
        "<ul><li>One</li><li>Two</li></ul></body></html>"
    )
    message = parsed(mailbox, factory.html(body=html).raw)

    assert message.text_body == "Quarterly update\nRevenue is up & costs are down.\nOne\nTwo"
    assert "<b>up</b>" in message.html_body
    assert "&amp;" in message.html_body
    assert "Not shown" not in message.html_body + message.text_body
    assert "color" not in message.html_body
    assert message.parse_errors == []


def test_multipart_alternative_keeps_the_text_and_the_sanitised_html(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    text = "Hi Bo,\n\nPrices & terms are below.\n\nCheers,\nAna\n"
    message = parsed(mailbox, factory.alternative(body=text).raw)

    assert message.text_body == text
    assert "<p>Prices &amp; terms are below.</p>" in message.html_body
    assert "<style" not in message.html_body
    assert "<!DOCTYPE" not in message.html_body
    assert message.parse_errors == []


def test_a_blank_text_alternative_gets_the_text_of_the_html_instead(mailbox: Mailbox) -> None:
    raw = crlf(
        HEAD + 'Subject: Blank text\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="x"\n\n'
        "--x\nContent-Type: text/plain\n\n \n\n"
        "--x\nContent-Type: text/html\n\n<p>Only <i>here</i></p>\n"
        "--x--\n"
    )
    assert parsed(mailbox, raw).text_body == "Only here"


def test_inline_text_parts_are_concatenated_in_order(mailbox: Mailbox) -> None:
    raw = crlf(
        HEAD + 'Subject: Two parts\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="x"\n\n'
        "--x\nContent-Type: text/plain\n\nFirst part.\n"
        "--x\nContent-Type: text/plain; charset=utf-8\nContent-Disposition: inline\n\nSecond part.\n"
        "--x--\n"
    )
    message = parsed(mailbox, raw)

    assert message.text_body == "First part.\nSecond part."  # the line break before a boundary is its own
    assert message.attachments == []


# ----------------------------------------------------------------------------------------- attachments
def test_attachments_are_listed_with_their_attachment_id_and_never_read(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    files = [
        ("report.pdf", "application/pdf", b"%PDF-1.4\n%%EOF\n"),
        ("notes.txt", "text/plain", b"ATTACHED-TEXT-CANARY"),
        ("page.html", "text/html", b"<p>ATTACHED-HTML-CANARY</p>"),
    ]
    generated = factory.with_attachments(body="See the files.\n", attachments=files)
    resource = fetched(mailbox, generated.raw)

    message = parse_gmail_message(resource)

    served = resource["payload"]["parts"][1:]
    assert message.attachments == [
        AttachmentMeta(
            part_id=part["partId"],
            filename=filename,
            mime_type=mime_type,
            size=len(data),
            attachment_id=part["body"]["attachmentId"],
        )
        for part, (filename, mime_type, data) in zip(served, files, strict=True)
    ]
    for attachment, (_, _, data) in zip(message.attachments, files, strict=True):
        assert attachment.attachment_id is not None
        fetched_data = mailbox.get_attachment(resource["id"], attachment.attachment_id)["data"]
        assert base64.urlsafe_b64decode(fetched_data) == data  # the id is the one Gmail answers to
    assert message.text_body == "See the files.\n"
    assert message.html_body == ""
    assert "CANARY" not in message.model_dump_json()


def test_a_part_with_disposition_attachment_but_no_filename_is_listed_not_read(mailbox: Mailbox) -> None:
    raw = crlf(
        HEAD + 'Subject: Unnamed\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="x"\n\n'
        "--x\nContent-Type: text/plain\n\nThe body.\n"
        "--x\nContent-Type: text/plain\nContent-Disposition: attachment\n\nDISPOSITION-CANARY\n"
        "--x--\n"
    )
    resource = fetched(mailbox, raw)

    message = parse_gmail_message(resource)

    size = resource["payload"]["parts"][1]["body"]["size"]
    assert message.attachments == [
        AttachmentMeta(part_id="1", filename="", mime_type="text/plain", size=size, attachment_id=None)
    ]
    assert message.text_body == "The body."
    assert "CANARY" not in message.model_dump_json()


# ----------------------------------------------------------------------------------------- charsets
TEXTS = {
    "iso-8859-1": ("Réunion à München", "Grüße aus München! Le café, la crème brûlée, señor Muñoz."),
    "windows-1252": (
        "Devis \u201cfinal\u201d \u2013 1 250 \u20ac",
        "Le devis s\u2019élève à 1 250 \u20ac\u2026",
    ),
    "koi8-r": ("Встреча в пятницу", "Здравствуйте! Встреча перенесена на пятницу, 10:00."),
    "shift_jis": ("会議の日程変更について", "お世話になっております。会議は金曜日の十時に変更になりました。"),
}


@pytest.mark.parametrize("charset", NON_UTF8_CHARSETS)
def test_non_utf8_bodies_and_subjects_are_decoded_from_their_charset(
    mailbox: Mailbox, factory: MessageFactory, charset: str
) -> None:
    subject, body = TEXTS[charset]
    resource = fetched(mailbox, factory.non_utf8(charset, subject=subject, body=body).raw)
    served = base64.urlsafe_b64decode(first_text_part(resource)["body"]["data"])
    assert served.rstrip(b"\r\n") == body.encode(charset)  # the bytes really are in that charset

    message = parse_gmail_message(resource)

    assert message.subject == subject
    assert message.text_body == body + "\n"
    assert message.parse_errors == []


def test_iso_8859_1_bytes_from_windows_1252_are_read_as_windows_1252(mailbox: Mailbox) -> None:
    body = "\u201cQuoted\u201d \u2013 50 \u20ac"  # bytes 0x80-0x9f: C1 controls in latin-1 itself
    raw = (
        crlf(HEAD + "Subject: Mislabelled\nMIME-Version: 1.0\n")
        + b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + body.encode("windows-1252")
        + b"\r\n"
    )
    assert parsed(mailbox, raw).text_body == body + "\n"


def test_an_unknown_charset_is_decoded_as_utf8_and_reported(mailbox: Mailbox) -> None:
    raw = crlf(
        HEAD + "Subject: Odd charset\nMIME-Version: 1.0\nContent-Type: text/html; charset=x-foo-9\n"
        "Content-Transfer-Encoding: 8bit\n\n<p>Grüße, <b>René</b></p>\n"
    )
    message = parsed(mailbox, raw)

    assert message.html_body == "<p>Grüße, <b>René</b></p>"
    assert message.text_body == "Grüße, René"
    assert message.parse_errors == ["charset_unknown:x-foo-9"]


def test_text_without_a_charset_is_utf8_else_latin1(mailbox: Mailbox) -> None:
    head = crlf(HEAD + "Subject: No charset\nMIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\n\n")
    assert parsed(mailbox, head + "Grüße\r\n".encode()).text_body == "Grüße\n"
    assert parsed(mailbox, head + "Grüße\r\n".encode("latin-1")).text_body == "Grüße\n"


def test_a_body_decoding_to_a_lone_surrogate_becomes_valid_unicode(mailbox: Mailbox) -> None:
    raw = crlf(HEAD + "Subject: UTF-7\nContent-Type: text/plain; charset=utf-7\n\nA +2D8- B\n")
    message = parsed(mailbox, raw)

    assert message.text_body == "A \ufffd B\n"
    message.model_dump_json().encode("utf-8")


# ----------------------------------------------------------------------------------------- headers
def test_rfc2047_subjects_and_names_are_decoded_also_when_gmail_serves_them_raw_and_folded(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    subject = "Встреча перенесена на пятницу, в десять часов утра"
    generated = factory.non_utf8("koi8-r", subject=subject, body="Текст")
    raw_subject = re.search(rb"^Subject: (.*?)\r\n(?![ \t])", generated.raw, re.MULTILINE | re.DOTALL)
    assert raw_subject is not None
    assert b"\r\n " in raw_subject.group(1)  # several encoded words, folded over lines

    resource = fetched(mailbox, generated.raw)
    assert parse_gmail_message(resource).subject == subject  # as the stand-in serves it: decoded

    set_header(resource, "Subject", raw_subject.group(1).decode("ascii"))
    set_header(resource, "From", "=?utf-8?q?Ren=C3=A9e_M=C3=BCller?=\r\n <Renee.Mueller@Example.COM>")
    message = parse_gmail_message(resource)

    assert message.subject == subject
    assert message.sender == [Address(email="renee.mueller@example.com", name="Renée Müller")]
    assert message.parse_errors == []


def test_addresses_are_lower_cased_names_kept_and_entries_without_an_address_skipped(
    mailbox: Mailbox,
) -> None:
    raw = crlf(
        "From: =?utf-8?q?M=C3=BCller=2C_Ren=C3=A9?= <Rene.Mueller@Example.COM>\n"
        "To: undisclosed-recipients:;\n"
        'To: "unbalanced <broken@example.net>\n'
        "Cc: Bob <BOB@example.org>, plain@Example.NET, (comment only), <>,\n"
        ' team: One <ONE@Example.com>, two@example.com;, "Doe, Jane"   <jane@EXAMPLE.org>\n'
        "Subject: Addresses\nDate: Mon, 08 Jan 2024 10:05:00 +0000\n\nbody\n"
    )
    message = parsed(mailbox, raw)

    assert message.sender == [Address(email="rene.mueller@example.com", name="Müller, René")]
    assert message.to == []
    assert message.cc == [
        Address(email="bob@example.org", name="Bob"),
        Address(email="plain@example.net", name=None),
        Address(email="one@example.com", name="One"),
        Address(email="two@example.com", name=None),
        Address(email="jane@example.org", name="Doe, Jane"),
    ]
    assert message.parse_errors == []


def test_a_reply_carries_in_reply_to_and_the_whole_references_chain(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    first, second, third = factory.thread(3)

    opening, reply = parsed(mailbox, first.raw), parsed(mailbox, third.raw)

    assert opening.in_reply_to is None
    assert opening.references == []
    assert reply.message_id_header == third.message_id
    assert reply.in_reply_to == second.message_id
    assert reply.references == [first.message_id, second.message_id]
    assert reply.subject == first.subject if first.subject.startswith("Re:") else f"Re: {first.subject}"


def test_references_keep_only_angle_bracketed_ids(mailbox: Mailbox, factory: MessageFactory) -> None:
    resource = fetched(mailbox, factory.plain().raw)
    resource["payload"]["headers"].append(
        {"name": "References", "value": "<a@x>\r\n\t<b@x>,<c@x> junk (comment) <d@x"}
    )
    assert parse_gmail_message(resource).references == ["<a@x>", "<b@x>", "<c@x>"]


def test_a_date_without_a_zone_is_utc_and_an_unreadable_one_is_reported(mailbox: Mailbox) -> None:
    naive = parsed(mailbox, crlf("From: a@example.com\nDate: Mon, 08 Jan 2024 10:05:00 -0000\n\nx\n"))
    assert naive.date == datetime(2024, 1, 8, 10, 5, tzinfo=UTC)
    assert naive.parse_errors == []

    bad = parsed(mailbox, crlf("From: a@example.com\nSubject: Kept\nDate: someday soon\n\nx\n"))
    assert bad.date is None
    assert bad.parse_errors == ["date_unreadable"]
    assert bad.subject == "Kept"
    assert bad.sender == [Address(email="a@example.com")]


@pytest.mark.parametrize(
    ("label", "value"),
    [
        ("quotes", '"' * 60_000),
        ("backslashes", "\\" * 60_000),
        ("commas", ", " * 30_000),
        ("parentheses", "(" * 60_000),
        ("many addresses", ", ".join(f"User {n} <u{n}@example.com>" for n in range(5_000))),
    ],
)
def test_pathological_address_headers_are_capped_and_the_rest_is_kept(
    mailbox: Mailbox, factory: MessageFactory, label: str, value: str
) -> None:
    resource = fetched(mailbox, factory.plain().raw)
    resource["payload"]["headers"].extend({"name": name, "value": value} for name in ("To", "Cc", "Subject"))

    # Unguarded, the standard library takes up to 33 s on some of these; the suite's timeout guards that.
    message = parse_gmail_message(resource)
    assert message.sender, label  # the rest of the headers is kept
    assert all(
        re.fullmatch(r"(header_truncated|header_undecoded|address_unreadable):\w+|address_limit", error)
        for error in message.parse_errors
    ), message.parse_errors


# ----------------------------------------------------------------------------------------- broken MIME
BROKEN_EXPECTATIONS: dict[str, tuple[list[str], str]] = {
    "bad-base64": (["text_decode:root"], "Hello there, this is "),
    "unknown-charset": (["charset_unknown:x-klingon-42"], "Qapla\ufffd! nuqneH"),
    "missing-boundary": (["multipart_without_parts:root"], ""),
    "deep-nesting": ([], "The innermost text, fifty levels down."),
    "no-headers": (["headers_missing"], "This message has no header block at all\nJust two lines of text.\n"),
}


@pytest.mark.parametrize("kind", BROKEN_KINDS)
def test_every_broken_kind_parses_keeping_what_it_can_and_naming_what_failed(
    mailbox: Mailbox, factory: MessageFactory, kind: str
) -> None:
    errors, text_start = BROKEN_EXPECTATIONS[kind]

    message = parsed(mailbox, factory.broken(kind))

    assert message.parse_errors == errors
    assert message.text_body.startswith(text_start)
    if kind != "no-headers":
        assert message.subject
        assert len(message.sender) == 1
        assert len(message.to) == 1
        assert message.date is not None
        assert message.message_id_header is not None


def test_parts_nested_up_to_the_limit_are_read_and_deeper_ones_skipped_and_reported(
    mailbox: Mailbox,
) -> None:
    deepest_read = parsed(mailbox, nested(MAX_DEPTH - 1))  # the text part is at level MAX_DEPTH
    assert deepest_read.text_body == "The innermost text."
    assert deepest_read.parse_errors == []

    too_deep = parsed(mailbox, nested(MAX_DEPTH + 16))
    assert too_deep.text_body == ""
    assert too_deep.parse_errors == ["depth_limit"]
    assert too_deep.subject == "Nested"


def test_body_data_in_standard_base64_or_without_padding_reads_the_same(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    body = "Grüße?>>~~ and some more text to get + and / in standard base64: ÿÿÿ\n"
    resource = fetched(mailbox, factory.plain(body=body).raw)
    part = first_text_part(resource)
    data = base64.urlsafe_b64decode(part["body"]["data"])

    for encoded in (
        base64.b64encode(data).decode("ascii"),
        base64.urlsafe_b64encode(data).decode("ascii").rstrip("="),
        base64.encodebytes(data).decode("ascii"),  # with line breaks
    ):
        part["body"]["data"] = encoded
        message = parse_gmail_message(resource)
        assert message.text_body == body
        assert message.parse_errors == []


def test_undecodable_body_data_is_reported_and_the_headers_kept(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    generated = factory.alternative()
    resource = fetched(mailbox, generated.raw)
    resource["payload"]["parts"][0]["body"]["data"] = "!!not*base64%%"

    message = parse_gmail_message(resource)

    assert message.parse_errors == ["body_decode:0"]
    assert message.subject == generated.subject
    assert message.text_body  # derived from the HTML part, which still reads
    assert message.html_body


def test_a_text_body_only_behind_an_attachment_id_is_reported(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    resource = fetched(mailbox, factory.plain().raw)
    resource["payload"]["body"] = {"size": 30_000_000, "attachmentId": "ANGjdJ-large-body"}

    message = parse_gmail_message(resource)

    assert message.parse_errors == ["body_not_inline:root"]
    assert message.text_body == ""
    assert message.attachments == []


@pytest.mark.parametrize(
    "resource",
    [{}, {"id": "18a"}, {"payload": None}, {"payload": "text"}, {"payload": []}, {"payload": 7}],
)
def test_a_missing_or_malformed_payload_gives_payload_missing(resource: dict[str, Any]) -> None:
    assert parse_gmail_message(resource) == ParsedMessage(parse_errors=["payload_missing"])


def test_a_resource_fetched_without_its_payload_gives_payload_missing(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    minimal = mailbox.get_message(mailbox.insert(factory.plain().raw)["id"], format="minimal")
    assert parse_gmail_message(minimal).parse_errors == ["payload_missing"]


# ----------------------------------------------------------------------------------------- hostile HTML
HOSTILE = """<html><head><title>T</title><script>alert('head')</script>
<style>body { background: url(https://evil.example/x) }</style></head>
<body onload="alert('load')">
<p>Visible <b>text</b> stays.</p>
<img src="x" onerror="alert('img')"><img src="https://cdn.example/pic.png" alt="pic">
<img src="http://insecure.example/pixel.gif"><img src="cid:logo@example.com">
<img src="data:image/svg+xml;base64,PHN2Zz48c2NyaXB0PmFsZXJ0KDEpPC9zY3JpcHQ+PC9zdmc+">
<a href="javascript:alert('link')">bad link</a> <a href="JaVaScRiPt&#58;alert(2)">bad two</a>
<a href="java&#x09;script:alert(3)">bad three</a> <a href=" vbscript:msgbox">bad four</a>
<a href="https://good.example/path">good link</a> <a href="mailto:bo@example.org">mail me</a>
<a href="/relative/to/the/crm">relative</a>
<iframe src="https://evil.example/frame">frame fallback</iframe>
<div style="width: expression(alert('css'))">styled</div>
<div style="color: red; position: fixed; top: 0">red text</div>
<form action="https://evil.example/post"><input name="password"><button>Press</button></form>
<object data="x.swf">object fallback</object><embed src="x.swf">
<svg><script>alert('svg')</script></svg><math><mi>math</mi></math>
<table><tr><td colspan="2" onclick="alert('td')">cell</td></tr></table>
<p class="crm-admin" id="root">no class or id</p>
<!--[if IE]><script>alert('ie')</script><![endif]-->
<base href="https://evil.example/"><meta http-equiv="refresh" content="0;url=https://evil.example/">
</body></html>"""


def test_hostile_html_loses_scripts_handlers_and_dangerous_urls_but_keeps_its_text(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    message = parsed(mailbox, factory.html(body=HOSTILE).raw)
    html = message.html_body.lower()

    for forbidden in (
        "<script", "alert", "onload", "onerror", "onclick", "javascript", "vbscript", "<iframe",
        "frame fallback", "expression", "<form", "<input", "<object", "<embed", "<svg", "<math", "<style",
        "evil.example", "position", "http://insecure", "data:", "/relative", "class=", "id=", "<base",
        "<meta", "<!--",
    ):  # fmt: skip
        assert forbidden not in html, forbidden
    for kept in (
        "<p>visible <b>text</b> stays.</p>",
        '<img src="https://cdn.example/pic.png" alt="pic">',
        '<img src="cid:logo@example.com">',
        '<a href="https://good.example/path" rel="noopener noreferrer">good link</a>',
        '<a href="mailto:bo@example.org" rel="noopener noreferrer">mail me</a>',
        '<div style="color:red">red text</div>',
        '<td colspan="2">cell</td>',
        "bad link",
        "press",
    ):
        assert kept in html, kept
    assert "Visible text stays." in message.text_body
    assert "alert" not in message.text_body
    assert message.parse_errors == []


# ----------------------------------------------------------------------------------------- size and speed
def test_a_two_mebibyte_body_is_read_whole(mailbox: Mailbox, factory: MessageFactory) -> None:
    large = fetched(mailbox, factory.large(2 * 1024 * 1024).raw)
    message = parse_gmail_message(large)
    assert len(message.text_body) >= 2 * 1024 * 1024 * 0.95
    assert body_size(message) == len(message.text_body.encode("utf-8"))
    assert message.parse_errors == []


def test_a_realistic_mailbox_parses_without_errors(mailbox: Mailbox) -> None:
    generated = MessageFactory(5).mix(
        100, start=datetime(2024, 1, 1, tzinfo=UTC), end=datetime(2024, 3, 1, tzinfo=UTC), owner=OWNER
    )
    messages = [parse_gmail_message(fetched(mailbox, g.raw)) for g in generated]
    assert all(m.parse_errors == [] for m in messages)


def test_body_size_counts_the_utf8_bytes_of_both_bodies() -> None:
    message = ParsedMessage(text_body="é€", html_body="<p>€</p>")
    assert body_size(message) == 2 + 3 + 3 + 3 + 4
    assert body_size(ParsedMessage()) == 0


def test_parsing_leaves_the_resource_unchanged(mailbox: Mailbox, factory: MessageFactory) -> None:
    resource = fetched(mailbox, factory.with_attachments().raw)
    before = copy.deepcopy(resource)
    parse_gmail_message(resource)
    assert resource == before
