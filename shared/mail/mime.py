"""Reads a Gmail message resource (``format=full``) into a ``ParsedMessage``.

Pure: no I/O, no logging (message content must never reach a log line), no global state but bounded
caches of pure lookups. Never raises for bad content: whatever cannot be read is skipped and named in
``parse_errors`` with a short machine-readable string, and everything else is kept:

================================  =========================================================================
``payload_missing``               the resource has no ``payload`` object: nothing else is read
``headers_missing``               the payload has no header list (or an empty one)
``header_truncated:<name>``       a value longer than ``MAX_HEADER_CHARS``: only its start was read
``header_undecoded:<name>``       a Subject too long to decode: kept as it came
``address_unreadable:<name>``     a mailbox of From/To/Cc that is too long or the parser gave up on
``address_limit``                 more than ``MAX_ADDRESSES`` mailboxes: the rest were not read
``date_unreadable``               a Date header that is not an RFC 5322 date
``depth_limit``                   parts nested deeper than ``MAX_DEPTH`` were skipped
``part_limit``                    more than ``MAX_PARTS`` parts: the rest were skipped
``part_malformed:<parent>``       a child of ``<parent>`` that is not a MessagePart object
``multipart_without_parts:<p>``   a multipart part with no child parts (e.g. a lost boundary)
``body_decode:<p>``               body data that is not base64url/base64
``body_not_inline:<p>``           a text body only available behind an attachmentId (not fetched here)
``charset_unknown:<name>``        a charset Python has no text codec for: decoded as UTF-8 with U+FFFD
``text_decode:<p>``               bytes invalid in the declared charset: decoded with U+FFFD in place
``internal_error:<stage>``        a bug in this module ("headers" or "body"); the other stage is kept
``errors_truncated``              more than 100 distinct errors: the rest are not listed
================================  =========================================================================

``<p>`` is the part's ``partId`` ("root" for the top-level part, whose partId is "", "?" when missing).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import functools
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.headerregistry import AddressHeader, ContentTypeHeader, DateHeader, HeaderRegistry
from email.utils import getaddresses
from html.parser import HTMLParser
from typing import Any, Final

import nh3

from shared.mail.records import Address, AttachmentMeta, ParsedMessage

__all__ = ["MAX_DEPTH", "MAX_HEADER_CHARS", "body_size", "parse_gmail_message", "sanitize_html"]

MAX_DEPTH: Final = 64  # MessagePart levels read, the top-level part included
MAX_PARTS: Final = 1_000  # MessagePart objects read; the rest is skipped ("part_limit")
MAX_HEADER_CHARS: Final = 65_536  # per header value; longer ones are cut ("header_truncated:<name>")
# The stdlib's header parser is quadratic-ish in what it is given (see _too_complex): every piece handed to
# it is bounded, an address list is handed over one mailbox at a time, and only so many per message.
MAX_ADDRESSES: Final = 1_000  # mailboxes read from From, To and Cc together ("address_limit")
MAX_ADDRESS_CHARS: Final = 512  # one mailbox: a longer one is "address_unreadable:<header>"
MAX_SYNTAX_TOKENS: Final = 48  # specials, spaces, encoded words in a mailbox or a Content-Type
MAX_UNSTRUCTURED_CHARS: Final = 4_096  # a longer Subject is kept without decoding ("header_undecoded:...")
MAX_CONTENT_TYPE_CHARS: Final = 512  # a longer or more complex one is searched for its charset instead
MAX_DATE_CHARS: Final = 256  # a longer Date is "date_unreadable"
_MAX_ERRORS: Final = 100  # parse_errors kept; then one "errors_truncated"

# The stdlib's modern header parsing (policy.default's registry): RFC 2047 encoded words, RFC 2231
# parameters, quoted strings, comments, groups; it records defects instead of raising (mostly: see _header).
_REGISTRY: Final = HeaderRegistry()
_FOLD = re.compile(r"(?:\r\n|\r|\n)(?=[ \t])")  # a line break that folds a header: removed
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # any other: a space
_MSG_ID = re.compile(r"<[^<>\s]+>")
_B64_SPACE = re.compile(r"\s+")
_B64_TO_URLSAFE = str.maketrans("+/", "-_")
_NEWLINES = re.compile(r"\r\n?")
_UNSAFE_NAME = re.compile(r"[^a-z0-9._+-]")
_SURROGATES = re.compile("[\ud800-\udfff]")


# ===================================================================== HTML sanitiser policy
# What a message's HTML may keep to be shown inside the CRM (nh3 = ammonia, an allow-list sanitiser on a
# real HTML5 parser; anything not listed here is removed):
# - Tags: text formatting, lists, tables, links, images, quotes, headings, rules, <font>/<center> (still
#   common in mail). No script, style element, form or input, iframe/frame, object/embed/applet, svg/math,
#   base, meta, link: those are dropped, and the content of the ones in _DROPPED_WITH_CONTENT too (their
#   text is code, raw text or fallback, never what the reader sees).
# - Attributes: presentational ones only (sizes, alignment, colours, spans), title/alt/dir/lang, and
#   `style` (see below). No class or id (the CRM's own CSS and DOM must not be reachable), no name, no
#   event handlers (on*), no target.
# - URLs: <a href> only http:, https:, mailto:; <img src> only https: (never plain http, mixed content) and
#   cid: (inline images, resolved by the CRM from the attachment list). Relative URLs are dropped: in a
#   mail they resolve against the CRM's own origin. Links get rel="noopener noreferrer".
# - style: only the properties in _STYLE_PROPERTIES (no position, so no overlay on the CRM's UI), and a
#   style value with expression(), url(), @import, behavior, -moz-binding or a CSS escape is dropped whole.
# - Any attribute value that spells a script URL scheme, "<script" or an "on...=" handler is dropped whole
#   (defence in depth for title/alt: the text is harmless but has no business looking like code).
# - Comments are stripped (IE conditional comments).
_ALLOWED_TAGS: Final = frozenset(
    {
        "a", "abbr", "b", "bdi", "bdo", "big", "blockquote", "br", "caption", "center", "cite", "code",
        "col", "colgroup", "dd", "del", "dfn", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4",
        "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp",
        "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
        "tr", "tt", "u", "ul", "var", "wbr",
    }
)  # fmt: skip
_DROPPED_WITH_CONTENT: Final = frozenset(
    {
        "script", "style", "title", "head", "template", "noscript", "iframe", "frame", "frameset",
        "noframes", "object", "embed", "applet", "textarea", "select", "xmp", "plaintext", "noembed",
        "svg", "math",
    }
)  # fmt: skip
_TABLE_ATTRIBUTES: Final = frozenset({"align", "valign", "width", "height", "bgcolor", "colspan", "rowspan"})
_ALLOWED_ATTRIBUTES: Final[dict[str, frozenset[str]]] = {
    "*": frozenset({"title", "dir", "lang", "align", "style"}),
    "a": frozenset({"href"}),
    "img": frozenset({"src", "alt", "width", "height", "border", "hspace", "vspace"}),
    "font": frozenset({"color", "face", "size"}),
    "table": frozenset({"width", "height", "border", "cellpadding", "cellspacing", "bgcolor", "summary"}),
    "td": _TABLE_ATTRIBUTES,
    "th": _TABLE_ATTRIBUTES | {"scope"},
    "tr": _TABLE_ATTRIBUTES,
    "tbody": _TABLE_ATTRIBUTES,
    "thead": _TABLE_ATTRIBUTES,
    "tfoot": _TABLE_ATTRIBUTES,
    "col": frozenset({"span", "width", "valign"}),
    "colgroup": frozenset({"span", "width", "valign"}),
    "ol": frozenset({"start", "type", "reversed"}),
    "ul": frozenset({"type"}),
    "li": frozenset({"value", "type"}),
    "hr": frozenset({"width", "size", "noshade"}),
}
_STYLE_PROPERTIES: Final = frozenset(
    {
        "color", "background-color", "font", "font-family", "font-size", "font-style", "font-weight",
        "font-variant", "text-align", "text-decoration", "text-indent", "text-transform", "line-height",
        "letter-spacing", "word-spacing", "white-space", "vertical-align", "direction", "display",
        "width", "height", "max-width", "min-width", "max-height", "min-height",
        "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
        "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
        "border", "border-top", "border-right", "border-bottom", "border-left", "border-color",
        "border-style", "border-width", "border-radius", "border-collapse", "border-spacing",
        "list-style-type", "table-layout",
    }
)  # fmt: skip
_URL_SCHEMES: Final[dict[tuple[str, str], tuple[str, ...]]] = {
    ("a", "href"): ("http:", "https:", "mailto:"),
    ("img", "src"): ("https:", "cid:"),
}
_URL_IGNORED = re.compile(r"[\x00-\x20\x7f]+")  # what a browser drops or trims in a URL
_SCRIPTY = re.compile(r"(?:java|vb|live)script\s*:|<\s*script|\bon\w+\s*=", re.IGNORECASE)
# In a URL "&one=1" is an ordinary query parameter: only a handler after a space (which no URL has) counts.
_SCRIPTY_URL = re.compile(r"(?:java|vb|live)script\s*:|<\s*script|\son\w+\s*=", re.IGNORECASE)
_CSS_DANGER = re.compile(r"expression|url\s*\(|@import|behavio(?:u)?r|-moz-binding|\\|/\*", re.IGNORECASE)


def _attribute_filter(element: str, attribute: str, value: str) -> str | None:
    """nh3 calls this for every attribute it would keep; None removes the attribute. Must not raise."""
    schemes = _URL_SCHEMES.get((element, attribute))
    if schemes is not None:
        compact = _URL_IGNORED.sub("", value).lower()
        return value if compact.startswith(schemes) and not _SCRIPTY_URL.search(value) else None
    if attribute == "style" and _CSS_DANGER.search(value):
        return None
    return None if _SCRIPTY.search(value) else value


_CLEANER: Final = nh3.Cleaner(
    tags=_ALLOWED_TAGS,
    clean_content_tags=_DROPPED_WITH_CONTENT,
    attributes=_ALLOWED_ATTRIBUTES,
    attribute_filter=_attribute_filter,
    strip_comments=True,
    link_rel="noopener noreferrer",
    url_schemes={"http", "https", "mailto", "cid"},
    url_relative="deny",
    filter_style_properties=_STYLE_PROPERTIES,
)


def sanitize_html(markup: str) -> str:
    """``markup`` reduced to what the policy above allows: safe to render in the CRM."""
    return _CLEANER.clean(_clean(markup))


# ===================================================================== entry points
def parse_gmail_message(resource: Mapping[str, Any]) -> ParsedMessage:
    """The headers, bodies and attachment list of a Gmail Message resource fetched with format=full."""
    payload = resource.get("payload") if isinstance(resource, Mapping) else None
    if not isinstance(payload, Mapping):
        return ParsedMessage(parse_errors=["payload_missing"])
    errors = _Errors()
    fields: dict[str, Any] = {}
    try:
        fields.update(_read_headers(payload, errors))
    except Exception:  # noqa: BLE001 - a bug here must not lose the bodies: named in parse_errors instead
        errors.add("internal_error:headers")
    try:
        fields.update(_read_parts(payload, errors))
    except Exception:  # noqa: BLE001 - same, the headers are kept
        errors.add("internal_error:body")
    return ParsedMessage(**fields, parse_errors=errors.items())


def body_size(parsed: ParsedMessage) -> int:
    """UTF-8 bytes of the text and HTML bodies (the store weighs the whole stored JSON instead; this is
    the parser's own measure, which its tests check the bodies against)."""
    return len(parsed.text_body.encode("utf-8")) + len(parsed.html_body.encode("utf-8"))


class _Budget:
    def __init__(self) -> None:
        self.addresses = MAX_ADDRESSES


class _Errors:
    def __init__(self) -> None:
        self._seen: dict[str, None] = {}

    def add(self, error: str) -> None:
        if error in self._seen:
            return
        if len(self._seen) < _MAX_ERRORS:
            self._seen[error] = None
        else:
            self._seen["errors_truncated"] = None

    def items(self) -> list[str]:
        return list(self._seen)


# ===================================================================== headers
def _read_headers(payload: Mapping[str, Any], errors: _Errors) -> dict[str, Any]:
    headers = _header_values(payload.get("headers"))
    if not headers:
        errors.add("headers_missing")
        return {}
    fields: dict[str, Any] = {}
    subject = _first(headers, "subject", errors)
    if subject is not None:
        fields["subject"] = _unstructured("Subject", subject, errors)
    budget = _Budget()
    for name, field in (("from", "sender"), ("to", "to"), ("cc", "cc")):
        if name in headers:
            fields[field] = _addresses(name, headers[name], budget, errors)
    date = _first(headers, "date", errors)
    if date is not None:
        fields["date"] = _date(date, errors)
    for name, field in (("message-id", "message_id_header"), ("in-reply-to", "in_reply_to")):
        value = _first(headers, name, errors)
        if value is not None and value.strip():
            fields[field] = value.strip()
    references = _first(headers, "references", errors)
    if references is not None:
        fields["references"] = list(dict.fromkeys(_MSG_ID.findall(references)))
    return fields


def _header_values(raw: object) -> dict[str, list[str]]:
    """Lower-cased name -> the values of every header of that name, in order, unfolded and cleaned."""
    found: dict[str, list[str]] = {}
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        return found
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        name, value = item.get("name"), item.get("value")
        if isinstance(name, str) and isinstance(value, str):
            found.setdefault(name.strip().lower(), []).append(value)
    return found


def _first(headers: dict[str, list[str]], name: str, errors: _Errors) -> str | None:
    values = headers.get(name)
    return _prepared(name, values[0], errors) if values else None


def _prepared(name: str, value: str, errors: _Errors) -> str:
    if len(value) > MAX_HEADER_CHARS:
        errors.add(f"header_truncated:{_safe_name(name)}")
        value = value[:MAX_HEADER_CHARS]
    return _clean(_unfold(value))


def _unfold(value: str) -> str:
    """One line (RFC 5322 unfolding), a stray CR or LF being a space."""
    if "\r" not in value and "\n" not in value:
        return value
    return _LINE_BREAK.sub(" ", _FOLD.sub("", value))


def _header(name: str, value: str) -> object:
    try:
        return _REGISTRY(name, value)
    except Exception:  # noqa: BLE001 - the stdlib header parser has raised on odd input before
        return None


def _unstructured(name: str, value: str, errors: _Errors) -> str:
    if len(value) > MAX_UNSTRUCTURED_CHARS:
        errors.add(f"header_undecoded:{_safe_name(name)}")
        return value.strip()
    header = _header(name, value)
    return _clean(str(header)).strip() if header is not None else value.strip()


def _addresses(name: str, values: list[str], budget: _Budget, errors: _Errors) -> list[Address]:
    found: list[Address] = []
    for raw in values:
        for entry in _address_entries(_prepared(name, raw, errors)):
            if budget.addresses <= 0:
                errors.add("address_limit")
                return found
            budget.addresses -= 1
            pairs = None if _too_complex(entry, MAX_ADDRESS_CHARS) else _address_pairs(entry)
            if pairs is None:
                errors.add(f"address_unreadable:{name}")
                continue
            for display_name, addr_spec in pairs:
                if addr_spec:  # none for a group's name, "<>", a bare word: nothing to keep
                    found.append(Address(email=addr_spec, name=display_name or None))
    return found


_ADDRESS_SYNTAX = re.compile(r'\\.|["()<>:;,]', re.DOTALL)


def _address_entries(value: str) -> list[str]:
    """The mailboxes of an address list, split at the top-level commas, and at the colon and semicolon
    around a group's members (the group's name becomes an entry without an address: it is skipped).

    Quotes, comments and angle brackets are respected; an unbalanced quote or comment runs to the end of
    the header, as it does for the stdlib parser.
    """
    entries: list[str] = []
    start = 0
    quoted = angle = False
    comment = 0
    for match in _ADDRESS_SYNTAX.finditer(value):
        char = match.group()
        if len(char) == 2:  # a quoted pair: never syntax
            continue
        if quoted:
            quoted = char != '"'
        elif comment:
            comment += {"(": 1, ")": -1}.get(char, 0)
        elif char == '"':
            quoted = True
        elif char == "(":
            comment = 1
        elif char == "<":
            angle = True
        elif char == ">":
            angle = False
        elif not angle:  # one of , : ;
            entries.append(value[start : match.start()])
            start = match.end()
    entries.append(value[start:])
    return [entry for entry in entries if entry.strip()]


_SYNTAX_TOKENS = re.compile(r'["()<>@,;:\\.\[\]]|\s+|=\?')


def _too_complex(value: str, max_chars: int) -> bool:
    """Whether ``value`` is beyond what the stdlib header parser is handed: it slices the rest of the value
    at every token, so its time grows with length times tokens (a pathological 60 kB header takes minutes).
    """
    return len(value) > max_chars or len(_SYNTAX_TOKENS.findall(value)) > MAX_SYNTAX_TOKENS


@functools.lru_cache(maxsize=4096)  # the same correspondents recur all over a mailbox
def _address_pairs(entry: str) -> tuple[tuple[str, str], ...] | None:
    """(display name, lower-cased addr-spec or "" when there is none) per mailbox of one list entry."""
    header = _header("To", entry)
    pairs: list[tuple[str, str]]
    if isinstance(header, AddressHeader):
        pairs = [(a.display_name, a.addr_spec if a.username and a.domain else "") for a in header.addresses]
    else:
        try:
            pairs = [
                (name, spec if 0 < spec.find("@") < len(spec) - 1 else "")
                for name, spec in getaddresses([entry])
            ]
        except Exception:  # noqa: BLE001 - the last resort after the registry failed
            return None
    return tuple((_clean(name or "").strip(), _clean(spec).lower()) for name, spec in pairs)


def _date(value: str, errors: _Errors) -> datetime | None:
    header = _header("Date", value) if len(value) <= MAX_DATE_CHARS else None
    parsed = header.datetime if isinstance(header, DateHeader) else None
    if not isinstance(parsed, datetime):
        errors.add("date_unreadable")
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# ===================================================================== the part tree
def _read_parts(payload: Mapping[str, Any], errors: _Errors) -> dict[str, Any]:
    texts: list[str] = []
    htmls: list[str] = []
    attachments: list[AttachmentMeta] = []
    stack: list[tuple[Mapping[str, Any], int]] = [(payload, 1)]
    parts_left = MAX_PARTS
    while stack:  # depth-first, children in order: no recursion however deep the tree
        if parts_left == 0:
            errors.add("part_limit")
            break
        parts_left -= 1
        node, depth = stack.pop()
        part_id = _part_label(node)
        if _is_attachment(node):
            attachments.append(_attachment(node, _mime_type(node, "application/octet-stream")))
            continue  # never read, nor descended into (an attached message/rfc822 stays whole)
        mime_type = _mime_type(node, "text/plain")  # RFC 2045's default
        children = node.get("parts")
        if isinstance(children, Sequence) and not isinstance(children, str | bytes) and children:
            if depth >= MAX_DEPTH:
                errors.add("depth_limit")
            else:
                valid = [child for child in children if isinstance(child, Mapping)]
                if len(valid) != len(children):
                    errors.add(f"part_malformed:{part_id}")
                stack.extend((child, depth + 1) for child in reversed(valid))
        elif mime_type.startswith("multipart/"):
            errors.add(f"multipart_without_parts:{part_id}")
        if mime_type in ("text/plain", "text/html"):
            text = _body_text(node, part_id, errors)
            if text:
                (texts if mime_type == "text/plain" else htmls).append(text)
    html_body = "\n".join(sanitize_html(markup).strip() for markup in htmls)
    text_body = "\n".join(texts) if any(t.strip() for t in texts) else html_to_text(html_body)
    return {"text_body": text_body, "html_body": html_body, "attachments": attachments}


def _part_label(node: Mapping[str, Any]) -> str:
    part_id = node.get("partId")
    if not isinstance(part_id, str):
        return "?"
    return _safe_name(part_id) if part_id else "root"


def _mime_type(node: Mapping[str, Any], default: str) -> str:
    value = node.get("mimeType")
    if not isinstance(value, str) or not value.strip():
        return default
    return _clean(value.partition(";")[0].strip().lower())[:255]


def _is_attachment(node: Mapping[str, Any]) -> bool:
    filename = node.get("filename")
    if isinstance(filename, str) and filename.strip():
        return True
    disposition = _part_header(node, "content-disposition")
    return disposition is not None and disposition.strip().lower().startswith("attachment")


def _attachment(node: Mapping[str, Any], mime_type: str) -> AttachmentMeta:
    body = node.get("body")
    body = body if isinstance(body, Mapping) else {}
    size = body.get("size")
    attachment_id = body.get("attachmentId")
    filename = node.get("filename")
    part_id = node.get("partId")
    return AttachmentMeta(
        part_id=_clean(part_id) if isinstance(part_id, str) else "",
        filename=_clean(filename).strip() if isinstance(filename, str) else "",
        mime_type=mime_type,
        size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else 0,
        attachment_id=_clean(attachment_id) if isinstance(attachment_id, str) and attachment_id else None,
    )


def _part_header(node: Mapping[str, Any], name: str) -> str | None:
    headers = node.get("headers")
    if not isinstance(headers, Sequence) or isinstance(headers, str | bytes):
        return None
    for item in headers:
        if isinstance(item, Mapping):
            key, value = item.get("name"), item.get("value")
            if isinstance(key, str) and isinstance(value, str) and key.strip().lower() == name:
                return value
    return None


def _body_text(node: Mapping[str, Any], part_id: str, errors: _Errors) -> str:
    body = node.get("body")
    if not isinstance(body, Mapping):
        return ""
    data = body.get("data")
    if data is None or data == "":
        if isinstance(body.get("attachmentId"), str) and body.get("attachmentId"):
            errors.add(f"body_not_inline:{part_id}")
        return ""
    raw = _b64decode(data) if isinstance(data, str) else None
    if raw is None:
        errors.add(f"body_decode:{part_id}")
        return ""
    content_type = _part_header(node, "content-type")
    charset = _charset_param(content_type) if content_type else None
    text = _decode(raw, charset, part_id, errors)
    return _NEWLINES.sub("\n", text)


def _b64decode(data: str) -> bytes | None:
    """base64url as Gmail sends it; padding optional, standard base64 and line breaks accepted."""
    compact = _B64_SPACE.sub("", data).rstrip("=").translate(_B64_TO_URLSAFE)  # "=" inside stays invalid
    if len(compact) % 4 == 1:
        return None
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII characters
        return None


# ===================================================================== charsets
# Labels Python does not know, or knows under a narrower meaning than mail software uses.
_CHARSET_ALIASES: Final = {
    "x-sjis": "shift_jis", "x-euc-jp": "euc_jp", "windows-874": "cp874", "x-mac-roman": "mac_roman",
    "x-mac-cyrillic": "mac_cyrillic", "x-gbk": "gbk", "cn-big5": "big5", "x-x-big5": "big5",
    "iso-8859-8-i": "iso8859_8", "iso-8859-6-i": "iso8859_6", "iso-8859-8-e": "iso8859_8",
    "iso-8859-6-e": "iso8859_6", "latin-9": "iso8859_15", "x-utf-8": "utf-8", "utf8mb4": "utf-8",
    "x-unicode20utf8": "utf-8", "unicode-2-0-utf-8": "utf-8", "cp-1252": "cp1252", "cp-1251": "cp1251",
    "cp-1250": "cp1250", "x-cp1252": "cp1252", "x-cp1251": "cp1251", "x-cp1250": "cp1250",
}  # fmt: skip
# Codec (Python's canonical name) -> what to try, in order: the WHATWG reading of mail labels (latin-1 and
# ASCII labels mean windows-1252; us-ascii mail is often UTF-8), and supersets of legacy CJK charsets.
_SUPERSETS: Final[dict[str, tuple[str, ...]]] = {
    "ascii": ("utf-8", "cp1252", "latin-1"),
    "iso8859-1": ("cp1252", "latin-1"),
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "euc_kr": ("cp949",),
    "shift_jis": ("shift_jis", "cp932"),
    "tis-620": ("cp874", "tis-620"),
}
# Text codecs that are not charsets: never applied to mail bytes.
_NOT_CHARSETS: Final = frozenset(
    {"unicode-escape", "raw-unicode-escape", "punycode", "idna", "undefined", "charmap", "mbcs", "oem"}
)


def _charset_param(content_type: str) -> str | None:
    if not _too_complex(content_type, MAX_CONTENT_TYPE_CHARS):
        return _charset_of(content_type)
    found = _CHARSET_PARAM.search(content_type)  # too long for the stdlib parser: a plain search
    return found.group(1) if found else None


_CHARSET_PARAM = re.compile(r';\s*charset\s*=\s*"?([^";\s]{1,64})', re.IGNORECASE)


@functools.lru_cache(maxsize=512)
def _charset_of(content_type: str) -> str | None:
    header = _header("Content-Type", _clean(_unfold(content_type)))
    if not isinstance(header, ContentTypeHeader):
        return None
    try:
        charset = header.params.get("charset")
    except Exception:  # noqa: BLE001 - parameter parsing of a broken header
        return None
    if not isinstance(charset, str):
        return None
    charset = charset.strip().strip("\"'").strip()
    return charset or None


@functools.lru_cache(maxsize=256)
def _codecs_for(charset: str) -> tuple[str, ...] | None:
    """The codecs to try for a declared charset (lower-cased), or None when there is none."""
    label = _CHARSET_ALIASES.get(charset, charset)
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError, TypeError):
        return None
    if info.name in _NOT_CHARSETS or not getattr(info, "_is_text_encoding", True):
        return None
    return _SUPERSETS.get(info.name, (info.name,))


def _decode(raw: bytes, charset: str | None, part_id: str, errors: _Errors) -> str:
    candidates: tuple[str, ...] = ("utf-8", "latin-1")
    if charset is not None:
        name = charset.lower()
        known = _codecs_for(name) if len(name) <= 64 else None
        if known is None:
            errors.add(f"charset_unknown:{_safe_name(name)}")
            return _clean(raw.decode("utf-8", "replace"))
        candidates = known
    for codec in candidates:
        try:
            return _clean(raw.decode(codec))
        except (UnicodeDecodeError, LookupError):
            continue
    errors.add(f"text_decode:{part_id}")
    try:
        return _clean(raw.decode(candidates[0], "replace"))
    except (LookupError, UnicodeError):
        return _clean(raw.decode("utf-8", "replace"))


# ===================================================================== HTML to text
class _TextExtractor(HTMLParser):
    _SKIPPED = frozenset({"script", "style", "head", "title", "template"})
    _BLOCKS = frozenset(
        {
            "address", "article", "aside", "blockquote", "br", "caption", "center", "dd", "div", "dl",
            "dt", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p", "pre",
            "section", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
        }
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skipping = 0
        self._preformatted = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skipping += 1
        elif tag in self._BLOCKS:
            self.chunks.append("\n")
            if tag == "pre":
                self._preformatted += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BLOCKS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCKS:
            self.chunks.append("\n")
            if tag == "pre":
                self._preformatted = max(0, self._preformatted - 1)

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.chunks.append(data if self._preformatted else _WHITESPACE.sub(" ", data))


_WHITESPACE = re.compile(r"\s+")
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r" ?\n[ \n]*")


def html_to_text(markup: str) -> str:
    """The visible text of ``markup``: tags stripped, entities unescaped, whitespace collapsed (one space
    between words, one line break between blocks)."""
    if not markup:
        return ""
    extractor = _TextExtractor()
    extractor.feed(markup)
    extractor.close()
    text = _SPACES.sub(" ", "".join(extractor.chunks).replace("\xa0", " "))
    return _BLANK_LINES.sub("\n", text).strip()


# ===================================================================== strings
def _clean(text: str) -> str:
    """Text that encodes as UTF-8 (what Firestore and nh3 need): lone surrogates become U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text)
    return text


def _safe_name(text: str) -> str:
    """A charset, header name or part id as it may appear inside a parse_errors entry."""
    return _UNSAFE_NAME.sub("_", text.lower()[:40]) or "_"
