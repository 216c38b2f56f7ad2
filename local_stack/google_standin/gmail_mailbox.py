"""One account's Gmail mailbox, in memory: the state and the semantics behind the Gmail v1 methods.

Pure Python, no HTTP: the stand-in's server maps each Gmail method onto one method here and serialises
the returned dict as is. Every dict is the JSON resource of the Gmail discovery document (field names,
strings for uint64/int64 fields such as ``historyId`` and ``internalDate``, empty arrays left out).
Every error is a ``GoogleApiError`` from ``errors``: the server answers with its status and body.

Thread-safe: one ``RLock`` per mailbox guards every method; ``on_change`` runs after the lock is released.

Choices where Gmail is unspecified or deliberately not reproduced:

- ``after:``/``before:`` dates are midnight UTC (Gmail uses the account's time zone); ``after:`` is
  inclusive, ``before:`` exclusive; ``newer_than:`` inclusive, ``older_than:`` exclusive of ``now - N``
  (a month is 30 days, a year 365).
- Free-text search, ``OR``, ``{}``, ``-`` negation and operators other than ``_OPERATORS`` answer 400
  rather than silently matching the wrong messages.
- ``snippet`` is plain text (entities unescaped). Gmail's own snippets keep HTML entities such as
  ``&#39;``: a client that displays snippets must unescape them itself.
- Text bodies are returned transfer-decoded, in their declared charset (not converted to UTF-8).
- Large inline bodies stay inline (Gmail moves very large bodies behind an attachmentId).
- Attachment ids are stable per message part (Gmail's change between calls: never compare them).
- ``resultSizeEstimate`` is the exact number of matches (Gmail's is a rough estimate).
- ``send`` stores exactly one message labelled SENT, even when sent to oneself.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import copy
import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any

from local_stack.google_standin.errors import GoogleApiError, bad_request, not_found

__all__ = [
    "HISTORY_TYPES",
    "MESSAGE_FORMATS",
    "SYSTEM_LABELS",
    "Mailbox",
    "WatchState",
]

SYSTEM_LABELS: tuple[str, ...] = (
    "INBOX", "SENT", "DRAFT", "SPAM", "TRASH", "UNREAD", "STARRED", "IMPORTANT", "CHAT",
    "CATEGORY_PERSONAL", "CATEGORY_SOCIAL", "CATEGORY_PROMOTIONS", "CATEGORY_UPDATES", "CATEGORY_FORUMS",
)  # fmt: skip
# labels.list shows these system labels with visibility fields, as Gmail does.
_HIDDEN_SYSTEM_LABELS = frozenset({"CHAT", "IMPORTANT", "SPAM", "TRASH"})
MESSAGE_FORMATS: tuple[str, ...] = ("minimal", "metadata", "full", "raw")
HISTORY_TYPES: tuple[str, ...] = ("messageAdded", "messageDeleted", "labelAdded", "labelRemoved")
_HISTORY_KEYS = {
    "messageAdded": "messagesAdded",
    "messageDeleted": "messagesDeleted",
    "labelAdded": "labelsAdded",
    "labelRemoved": "labelsRemoved",
}
_DEFAULT_PAGE, _MAX_PAGE = 100, 500
_MAX_BATCH_IDS = 1000
_WATCH_TTL_MS = 7 * 24 * 3600 * 1000
_DAY_MS = 24 * 3600 * 1000
_SNIPPET_CHARS = 200
_TOPIC = re.compile(r"^projects/[^/\s]+/topics/[^/\s]+$")
_HEX_ID = re.compile(r"^[0-9a-f]{1,16}$")
_MSGID = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True)
class WatchState:
    """The mailbox's push watch, as ``users.watch`` set it."""

    topic_name: str
    label_ids: tuple[str, ...]
    label_filter_behavior: str | None  # "include" or "exclude"; "include" when label_ids are given alone
    expiration_ms: int
    history_id: int  # the mailbox's historyId when the watch was (re)started


@dataclass
class _Content:
    """What parsing the raw bytes once yields; the message's state lives in ``_Stored``."""

    payload: dict[str, Any]  # the full MessagePart tree, body data included
    snippet: str
    attachments: dict[str, bytes]  # attachmentId -> decoded bytes
    rfc_message_id: str | None
    references: tuple[str, ...]  # In-Reply-To then References, most recent first
    date_ms: int | None  # from the Date header
    senders: tuple[str, ...]  # lower-case addresses and display names of From
    recipients: tuple[str, ...]  # lower-case addresses and display names of To, Cc, Bcc
    recipient_count: int  # addresses in To, Cc, Bcc


@dataclass
class _Stored:
    id: str
    thread_id: str
    raw: bytes
    label_ids: list[str]
    internal_date_ms: int
    history_id: int
    content: _Content

    @property
    def order_key(self) -> tuple[int, int, str]:
        """Ascending order of this key is Gmail's list order: newest internalDate first."""
        return (-self.internal_date_ms, -int(self.id, 16), self.id)


@dataclass(frozen=True)
class _HistoryRecord:
    id: int
    kind: str  # one of HISTORY_TYPES
    message_id: str
    thread_id: str
    label_ids: tuple[str, ...]  # the message's labels right after the change
    changed: tuple[str, ...] = ()  # the labels added or removed


@dataclass
class _Query:
    predicates: list[Callable[[_Stored], bool]] = field(default_factory=list)
    allows_spam_trash: bool = False


class Mailbox:
    """One Gmail account: messages, labels, history and the push watch."""

    def __init__(
        self,
        email: str,
        *,
        clock: Callable[[], float] = time.time,
        first_history_id: int = 1000,
        history_retention: int | None = None,
    ) -> None:
        if first_history_id < 1:
            raise ValueError("first_history_id must be positive")
        if history_retention is not None and history_retention < 1:
            raise ValueError("history_retention must be at least 1 record, or None to keep all")
        self.email = email
        self.on_change: Callable[[Mailbox], None] | None = None
        # Called with a sent message's bytes and its recipients' addresses, after the lock is released:
        # the stand-in delivers it to those of its own accounts (Bcc stripped, as recipients get it).
        self.on_sent: Callable[[bytes, list[str]], None] | None = None
        self._clock = clock
        self._lock = threading.RLock()
        self._history_id = first_history_id
        self._history: list[_HistoryRecord] = []
        # A startHistoryId >= this floor can be answered; one below it has lost records: 404.
        self._history_floor = first_history_id
        self._retention = history_retention
        self._messages: dict[str, _Stored] = {}
        self._order: list[tuple[int, int, str]] = []  # sorted _Stored.order_key of every message
        self._threads: dict[str, set[str]] = {}
        self._by_rfc_id: dict[str, set[str]] = {}  # Message-ID header -> message ids
        self._labels: dict[str, dict[str, Any]] = {name: _system_label(name) for name in SYSTEM_LABELS}
        self._next_user_label = 1
        self._id_base = 0x1800000000000000 | (
            int.from_bytes(hashlib.sha256(email.lower().encode()).digest()[:5], "big") << 16
        )
        self._id_counter = 0
        self._watch: WatchState | None = None

    # ----------------------------------------------------------------- state
    @property
    def history_id(self) -> int:
        with self._lock:
            return self._history_id

    @property
    def watch_state(self) -> WatchState | None:
        with self._lock:
            watch = self._watch
            if watch is not None and self._now_ms() >= watch.expiration_ms:
                return None
            return watch

    # ----------------------------------------------------------------- driven by tests and the demo
    def insert(
        self,
        raw: bytes,
        *,
        label_ids: Iterable[str] = ("INBOX", "UNREAD"),
        internal_date_ms: int | None = None,
    ) -> dict[str, Any]:
        """A message arrives (or is imported) with these labels: one messageAdded history record.

        Threads by In-Reply-To/References against Message-IDs already here, else starts a thread whose id
        is the message's id (as Gmail's are). internalDate: the argument, else the Date header, else now.
        """
        labels = list(dict.fromkeys(label_ids))
        with self._lock:
            self._check_labels(labels)
            message_id = self._new_id()
            content = _parse(raw, message_id)
            thread_id = self._thread_by_references(content.references) or message_id
            if internal_date_ms is None:
                internal_date_ms = content.date_ms if content.date_ms is not None else self._now_ms()
            stored = self._add(message_id, thread_id, raw, labels, internal_date_ms, content)
            result = _id_triplet(stored)
        self._notify()
        return result

    def delete(self, message_id: str) -> None:
        """Permanent deletion (messages.delete): one messageDeleted history record."""
        with self._lock:
            stored = self._get(message_id)
            del self._messages[message_id]
            del self._order[bisect.bisect_left(self._order, stored.order_key)]
            thread = self._threads[stored.thread_id]
            thread.discard(message_id)
            if not thread:
                del self._threads[stored.thread_id]
            rfc_id = stored.content.rfc_message_id
            if rfc_id is not None:
                holders = self._by_rfc_id.get(rfc_id, set())
                holders.discard(message_id)
                if not holders:
                    self._by_rfc_id.pop(rfc_id, None)
            self._record("messageDeleted", stored)
        self._notify()

    def forget_history(self) -> None:
        """Drop every history record: any startHistoryId older than now answers 404 (full sync needed)."""
        with self._lock:
            self._history.clear()
            self._history_floor = self._history_id

    def create_label(self, name: str) -> dict[str, Any]:
        """A user label (labels.create): {"id": "Label_N", "name", "type": "user", visibilities}."""
        clean = name.strip()
        with self._lock:
            if not clean or clean.upper() in SYSTEM_LABELS or clean.lower() in ("drafts", "chats", "muted"):
                raise bad_request("Invalid label name")
            if any(label["name"].lower() == clean.lower() for label in self._labels.values()):
                raise GoogleApiError(409, "aborted", "Label name exists or conflicts")
            label_id = f"Label_{self._next_user_label}"
            self._next_user_label += 1
            self._labels[label_id] = {
                "id": label_id,
                "name": clean,
                "messageListVisibility": "show",
                "labelListVisibility": "labelShow",
                "type": "user",
            }
            return dict(self._labels[label_id])

    # ----------------------------------------------------------------- Gmail API methods
    def get_profile(self) -> dict[str, Any]:
        """users.getProfile."""
        with self._lock:
            return {
                "emailAddress": self.email,
                "messagesTotal": len(self._messages),
                "threadsTotal": len(self._threads),
                "historyId": str(self._history_id),
            }

    def list_messages(
        self,
        *,
        q: str | None = None,
        label_ids: Sequence[str] = (),
        include_spam_trash: bool = False,
        page_token: str | None = None,
        max_results: int = _DEFAULT_PAGE,
    ) -> dict[str, Any]:
        """users.messages.list: newest first; ``messages`` is absent when nothing matches."""
        with self._lock:
            wanted = list(dict.fromkeys(label_ids))
            self._check_labels(wanted)
            query = self._parse_query(q)
            limit = _page_size(max_results)
            after = _decode_token(page_token, "m") if page_token else None
            show_spam_trash = (
                include_spam_trash or query.allows_spam_trash or bool({"SPAM", "TRASH"} & set(wanted))
            )

            def matches(stored: _Stored) -> bool:
                labels = stored.label_ids
                if not show_spam_trash and ("SPAM" in labels or "TRASH" in labels):
                    return False
                return all(w in labels for w in wanted) and all(p(stored) for p in query.predicates)

            start = 0
            if after is not None:
                start = bisect.bisect_right(self._order, _token_order_key(after))
            page: list[dict[str, Any]] = []
            total = 0
            last: _Stored | None = None
            more = False
            for position, key in enumerate(self._order):
                stored = self._messages[key[2]]
                if not matches(stored):
                    continue
                total += 1
                if position < start:
                    continue
                if len(page) < limit:
                    page.append({"id": stored.id, "threadId": stored.thread_id})
                    last = stored
                else:
                    more = True
            result: dict[str, Any] = {}
            if page:
                result["messages"] = page
            if more and last is not None:
                result["nextPageToken"] = _encode_token("m", f"{last.internal_date_ms}:{last.id}")
            result["resultSizeEstimate"] = total
            return result

    def get_message(
        self, message_id: str, *, format: str = "full", metadata_headers: Sequence[str] = ()
    ) -> dict[str, Any]:
        """users.messages.get in one of MESSAGE_FORMATS."""
        if format not in MESSAGE_FORMATS:
            raise bad_request(f"Invalid value at 'format' ({format!r}): one of {', '.join(MESSAGE_FORMATS)}")
        with self._lock:
            stored = self._get(message_id)
            result: dict[str, Any] = {"id": stored.id, "threadId": stored.thread_id}
            if stored.label_ids:
                result["labelIds"] = list(stored.label_ids)
            result["snippet"] = stored.content.snippet
            payload = stored.content.payload
            if format == "full":
                result["payload"] = copy.deepcopy(payload)
            elif format == "metadata":
                wanted = {h.lower() for h in metadata_headers}
                headers = [
                    dict(h) for h in payload.get("headers", ()) if not wanted or h["name"].lower() in wanted
                ]
                result["payload"] = {"mimeType": payload["mimeType"]}
                if headers:
                    result["payload"]["headers"] = headers
            elif format == "raw":
                result["raw"] = base64.urlsafe_b64encode(stored.raw).decode("ascii")
            result["sizeEstimate"] = len(stored.raw)
            result["historyId"] = str(stored.history_id)
            result["internalDate"] = str(stored.internal_date_ms)
            return result

    def get_attachment(self, message_id: str, attachment_id: str) -> dict[str, Any]:
        """users.messages.attachments.get: a MessagePartBody with the decoded bytes as base64url."""
        with self._lock:
            stored = self._get(message_id)
            data = stored.content.attachments.get(attachment_id)
            if data is None:
                raise bad_request("Invalid attachment token")
            return {
                "attachmentId": attachment_id,
                "size": len(data),
                "data": base64.urlsafe_b64encode(data).decode("ascii"),
            }

    def list_history(
        self,
        *,
        start_history_id: str | int,
        history_types: Sequence[str] = (),
        label_id: str | None = None,
        page_token: str | None = None,
        max_results: int = _DEFAULT_PAGE,
    ) -> dict[str, Any]:
        """users.history.list: the records strictly after ``start_history_id``, oldest first.

        404 when records after the start have been dropped (forget_history, retention): full sync.
        """
        start = _parse_uint(start_history_id, "start_history_id")
        unknown = [t for t in history_types if t not in HISTORY_TYPES]
        if unknown:
            raise bad_request(f"Invalid value at 'history_types' ({unknown[0]!r})")
        kinds = set(history_types) or set(HISTORY_TYPES)
        with self._lock:
            limit = _page_size(max_results)
            if page_token:
                after = _parse_uint(_decode_token(page_token, "h"), "page_token")
                after = max(after, start)
            else:
                after = start
            result: dict[str, Any] = {}
            if after < self._history_floor:
                raise not_found()
            position = bisect.bisect_right(self._history, after, key=lambda r: r.id)
            page: list[dict[str, Any]] = []
            last_id: int | None = None
            more = False
            for record in self._history[position:]:
                if record.kind not in kinds:
                    continue
                if (
                    label_id is not None
                    and label_id not in record.label_ids
                    and label_id not in record.changed
                ):
                    continue
                if len(page) == limit:
                    more = True
                    break
                page.append(_history_json(record))
                last_id = record.id
            if page:
                result["history"] = page
            if more and last_id is not None:
                result["nextPageToken"] = _encode_token("h", str(last_id))
            result["historyId"] = str(self._history_id)
            return result

    def send(self, raw_b64url: str, *, thread_id: str | None = None) -> dict[str, Any]:
        """users.messages.send with a ``raw`` body: stored with the SENT label.

        Adds Message-ID, Date and From when missing (prepended; the rest stays byte-identical). Joins
        ``thread_id`` only when In-Reply-To/References name a message of that thread (as Gmail requires),
        else the thread those headers point to, else a new thread.
        """
        raw = _decode_raw(raw_b64url)
        if thread_id is not None and not _HEX_ID.match(thread_id):
            raise bad_request("Invalid thread_id value")
        with self._lock:
            message_id = self._new_id()
            probe = _parse(raw, message_id)
            if probe.recipient_count == 0:
                if _has_recipient_header(probe.payload):
                    raise bad_request("Invalid To header")
                raise bad_request("Recipient address required")
            now_ms = self._now_ms()
            raw = self._complete_headers(raw, probe, message_id, now_ms)
            content = _parse(raw, message_id)
            chosen: str | None = None
            if thread_id is not None and thread_id in self._threads:
                thread_members = self._threads[thread_id]
                for ref in content.references:
                    if self._by_rfc_id.get(ref, set()) & thread_members:
                        chosen = thread_id
                        break
            if chosen is None:
                chosen = self._thread_by_references(content.references) or message_id
            stored = self._add(message_id, chosen, raw, ["SENT"], now_ms, content)
            result = _id_triplet(stored)
        self._notify()
        if self.on_sent is not None:
            self.on_sent(raw, recipient_addresses(content))
        return result

    def deliver(self, raw: bytes) -> dict[str, Any]:
        """A message another account sent arrives: its Bcc header is not part of what recipients get."""
        return self.insert(without_bcc(raw), label_ids=("INBOX", "UNREAD"), internal_date_ms=self._now_ms())

    def modify(
        self, message_id: str, *, add_label_ids: Sequence[str] = (), remove_label_ids: Sequence[str] = ()
    ) -> dict[str, Any]:
        """users.messages.modify: {"id", "threadId", "labelIds"}; one history record per kind of change."""
        with self._lock:
            adds, removes = self._check_modification(add_label_ids, remove_label_ids)
            stored = self._get(message_id)
            changed = self._apply_labels(stored, adds, removes)
            result = _id_triplet(stored)
        if changed:
            self._notify()
        return result

    def batch_modify(
        self, ids: Sequence[str], *, add_label_ids: Sequence[str] = (), remove_label_ids: Sequence[str] = ()
    ) -> None:
        """users.messages.batchModify: all labels are checked first; ids not in the mailbox are skipped."""
        if len(ids) > _MAX_BATCH_IDS:
            raise bad_request(f"Too many ids: at most {_MAX_BATCH_IDS} per request")
        with self._lock:
            adds, removes = self._check_modification(add_label_ids, remove_label_ids)
            changed = False
            for message_id in dict.fromkeys(ids):
                stored = self._messages.get(message_id)
                if stored is not None:
                    changed = self._apply_labels(stored, adds, removes) or changed
        if changed:
            self._notify()

    def list_labels(self) -> dict[str, Any]:
        """users.labels.list: system labels, then user labels (no counts, as Gmail's list)."""
        with self._lock:
            return {"labels": [dict(label) for label in self._labels.values()]}

    def watch(
        self, *, topic_name: str, label_ids: Sequence[str] = (), label_filter_behavior: str | None = None
    ) -> dict[str, Any]:
        """users.watch: starts or renews the push watch for 7 days by the clock."""
        if not _TOPIC.match(topic_name or ""):
            raise bad_request("Invalid topicName")
        behavior = label_filter_behavior.lower() if label_filter_behavior else None
        if behavior not in (None, "include", "exclude"):
            raise bad_request(f"Invalid value at 'label_filter_behavior' ({label_filter_behavior!r})")
        labels = tuple(dict.fromkeys(label_ids))
        if labels and behavior is None:
            behavior = "include"
        with self._lock:
            self._check_labels(labels)
            expiration = self._now_ms() + _WATCH_TTL_MS
            self._watch = WatchState(topic_name, labels, behavior, expiration, self._history_id)
            return {"historyId": str(self._history_id), "expiration": str(expiration)}

    def stop(self) -> None:
        """users.stop: no more push notifications."""
        with self._lock:
            self._watch = None

    # ----------------------------------------------------------------- internals (lock held)
    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _new_id(self) -> str:
        self._id_counter += 1
        return format(self._id_base + self._id_counter, "016x")

    def _get(self, message_id: str) -> _Stored:
        stored = self._messages.get(message_id)
        if stored is None:
            raise not_found()
        return stored

    def _check_labels(self, label_ids: Iterable[str]) -> None:
        for label in label_ids:
            if label not in self._labels:
                raise bad_request(f"Invalid label: {label}")

    def _check_modification(
        self, add_label_ids: Sequence[str], remove_label_ids: Sequence[str]
    ) -> tuple[list[str], list[str]]:
        adds, removes = list(dict.fromkeys(add_label_ids)), list(dict.fromkeys(remove_label_ids))
        if not adds and not removes:
            raise bad_request("No label add or removes specified")
        self._check_labels([*adds, *removes])
        both = set(adds) & set(removes)
        if both:
            raise bad_request(f"Invalid label: {sorted(both)[0]} is both added and removed")
        return adds, removes

    def _apply_labels(self, stored: _Stored, adds: list[str], removes: list[str]) -> bool:
        added = [label for label in adds if label not in stored.label_ids]
        removed = [label for label in removes if label in stored.label_ids]
        if added:
            stored.label_ids.extend(added)
            self._record("labelAdded", stored, added)
        if removed:
            stored.label_ids[:] = [label for label in stored.label_ids if label not in removed]
            self._record("labelRemoved", stored, removed)
        return bool(added or removed)

    def _add(
        self,
        message_id: str,
        thread_id: str,
        raw: bytes,
        labels: list[str],
        internal_date_ms: int,
        content: _Content,
    ) -> _Stored:
        stored = _Stored(message_id, thread_id, raw, labels, internal_date_ms, 0, content)
        self._messages[message_id] = stored
        bisect.insort(self._order, stored.order_key)
        self._threads.setdefault(thread_id, set()).add(message_id)
        if content.rfc_message_id is not None:
            self._by_rfc_id.setdefault(content.rfc_message_id, set()).add(message_id)
        self._record("messageAdded", stored)
        return stored

    def _record(self, kind: str, stored: _Stored, changed: Sequence[str] = ()) -> None:
        self._history_id += 1
        stored.history_id = self._history_id
        record = _HistoryRecord(
            self._history_id, kind, stored.id, stored.thread_id, tuple(stored.label_ids), tuple(changed)
        )
        self._history.append(record)
        if self._retention is not None and len(self._history) > self._retention:
            dropped = self._history[: len(self._history) - self._retention]
            del self._history[: len(dropped)]
            self._history_floor = dropped[-1].id

    def _thread_by_references(self, references: Sequence[str]) -> str | None:
        for ref in references:
            holders = self._by_rfc_id.get(ref)
            if holders:
                return self._messages[min(holders)].thread_id
        return None

    def _complete_headers(self, raw: bytes, content: _Content, message_id: str, now_ms: int) -> bytes:
        names = {h["name"].lower() for h in content.payload.get("headers", ())}
        newline = b"\r\n" if b"\r\n" in raw[:4096] or b"\n" not in raw else b"\n"
        added: list[bytes] = []
        if "from" not in names:
            added.append(b"From: " + self.email.encode("ascii", "replace"))
        if "date" not in names:
            when = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
            added.append(b"Date: " + format_datetime(when).encode("ascii"))
        if "message-id" not in names:
            added.append(f"Message-ID: <standin.{message_id}@mail.gmail.com>".encode("ascii"))
        return b"".join(line + newline for line in added) + raw

    def _notify(self) -> None:
        callback = self.on_change
        if callback is not None:
            callback(self)

    def _parse_query(self, q: str | None) -> _Query:
        query = _Query()
        if not q or not q.strip():
            return query
        now_ms = self._now_ms()
        for token in re.findall(r'[^\s:"]+:"[^"]*"|"[^"]*"|\S+', q):
            operator, colon, value = token.partition(":")
            operator = operator.lower()
            value = value.strip('"')
            if not colon:
                raise bad_request("Invalid query: free-text search is not supported by the local stand-in")
            if operator not in _OPERATORS or not value:
                raise bad_request("Invalid query")
            query.predicates.append(self._predicate(operator, value, now_ms, query))
        return query

    def _predicate(self, operator: str, value: str, now_ms: int, query: _Query) -> Callable[[_Stored], bool]:
        lowered = value.lower()
        if operator in ("after", "before"):
            bound = _query_date_ms(value)
            if operator == "after":
                return lambda m: m.internal_date_ms >= bound
            return lambda m: m.internal_date_ms < bound
        if operator in ("newer_than", "older_than"):
            match = re.fullmatch(r"(\d+)([dmy])", lowered)
            if match is None:
                raise bad_request("Invalid query")
            days = int(match.group(1)) * {"d": 1, "m": 30, "y": 365}[match.group(2)]
            bound = now_ms - days * _DAY_MS
            if operator == "newer_than":
                return lambda m: m.internal_date_ms >= bound
            return lambda m: m.internal_date_ms < bound
        if operator == "in":
            places = {"inbox": "INBOX", "sent": "SENT", "trash": "TRASH", "spam": "SPAM"}
            if lowered == "anywhere":
                query.allows_spam_trash = True
                return lambda m: True
            if lowered not in places:
                raise bad_request("Invalid query")
            label = places[lowered]
            if label in ("TRASH", "SPAM"):
                query.allows_spam_trash = True
            return lambda m: label in m.label_ids
        if operator == "is":
            if lowered == "unread":
                return lambda m: "UNREAD" in m.label_ids
            if lowered == "read":
                return lambda m: "UNREAD" not in m.label_ids
            if lowered == "starred":
                return lambda m: "STARRED" in m.label_ids
            raise bad_request("Invalid query")
        if operator == "label":
            label_id = self._label_by_search_name(lowered)
            if label_id in ("TRASH", "SPAM"):
                query.allows_spam_trash = True
            return lambda m: label_id is not None and label_id in m.label_ids
        if operator == "rfc822msgid":  # the Message-ID header, with or without its angle brackets
            wanted = f"<{value.strip().strip('<>')}>"
            return lambda m: m.content.rfc_message_id == wanted
        # from: / to: a substring of an address or display name; "me" is this account
        needle = self.email.lower() if lowered == "me" else lowered
        if operator == "from":
            return lambda m: any(needle in term for term in m.content.senders)
        return lambda m: any(needle in term for term in m.content.recipients)

    def _label_by_search_name(self, name: str) -> str | None:
        def normal(text: str) -> str:
            return re.sub(r"[\s/-]+", "-", text.lower())

        wanted = normal(name)
        for label_id, label in self._labels.items():
            if normal(label_id) == wanted or normal(label["name"]) == wanted:
                return label_id
        return None


_OPERATORS = frozenset(
    {"after", "before", "newer_than", "older_than", "in", "is", "label", "from", "to", "rfc822msgid"}
)


# --------------------------------------------------------------------- JSON shapes
def recipient_addresses(content: _Content) -> list[str]:
    """The lower-case addresses of a message's To, Cc and Bcc."""
    headers = content.payload.get("headers", [])
    values = [h["value"] for h in headers if h["name"].lower() in ("to", "cc", "bcc")]
    return sorted({address.lower() for _, address in getaddresses(values) if "@" in address})


def without_bcc(raw: bytes) -> bytes:
    """The message with its Bcc header (and folded continuation lines) removed, the rest byte-identical."""
    head, separator, body = raw.partition(b"\r\n\r\n")
    newline = b"\r\n"
    if not separator:
        head, separator, body = raw.partition(b"\n\n")
        newline = b"\n"
    kept: list[bytes] = []
    dropping = False
    for line in head.split(newline):
        if line[:1] in (b" ", b"\t") and dropping:
            continue
        dropping = line.lower().startswith(b"bcc:")
        if not dropping:
            kept.append(line)
    return newline.join(kept) + separator + body


def _system_label(name: str) -> dict[str, Any]:
    if name in _HIDDEN_SYSTEM_LABELS:
        return {
            "id": name,
            "name": name,
            "messageListVisibility": "hide",
            "labelListVisibility": "labelHide",
            "type": "system",
        }
    return {"id": name, "name": name, "type": "system"}


def _id_triplet(stored: _Stored) -> dict[str, Any]:
    result: dict[str, Any] = {"id": stored.id, "threadId": stored.thread_id}
    if stored.label_ids:
        result["labelIds"] = list(stored.label_ids)
    return result


def _history_json(record: _HistoryRecord) -> dict[str, Any]:
    ref = {"id": record.message_id, "threadId": record.thread_id}
    message: dict[str, Any] = dict(ref)
    if record.kind != "messageDeleted" and record.label_ids:
        message["labelIds"] = list(record.label_ids)
    item: dict[str, Any] = {"message": message}
    if record.kind in ("labelAdded", "labelRemoved"):
        item["labelIds"] = list(record.changed)
    return {"id": str(record.id), "messages": [ref], _HISTORY_KEYS[record.kind]: [item]}


# --------------------------------------------------------------------- request values
def _page_size(max_results: int) -> int:
    if max_results < 0:
        raise bad_request(f"Invalid value at 'max_results' ({max_results})")
    if max_results == 0:
        return _DEFAULT_PAGE
    return min(max_results, _MAX_PAGE)


def _parse_uint(value: str | int, name: str) -> int:
    text = str(value).strip()
    if not text.isdigit():
        raise bad_request(f"Invalid value at '{name}' (TYPE_UINT64), \"{value}\"")
    return int(text)


def _encode_token(kind: str, value: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode("ascii").rstrip("=")


def _decode_token(token: str, kind: str) -> str:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad_request("Invalid pageToken") from None
    prefix, _, value = text.partition(":")
    if prefix != kind or not value:
        raise bad_request("Invalid pageToken")
    return value


def _token_order_key(value: str) -> tuple[int, int, str]:
    date_text, _, message_id = value.partition(":")
    try:
        return (-int(date_text), -int(message_id, 16), message_id)
    except ValueError:
        raise bad_request("Invalid pageToken") from None


def _query_date_ms(value: str) -> int:
    if value.isdigit():
        return int(value) * 1000
    match = re.fullmatch(r"(\d{4})[/-](\d{1,2})[/-](\d{1,2})", value)
    if match is None:
        raise bad_request("Invalid query")
    try:
        day = datetime(int(match.group(1)), int(match.group(2)), int(match.group(3)), tzinfo=UTC)
    except ValueError:
        raise bad_request("Invalid query") from None
    return int(day.timestamp() * 1000)


def _decode_raw(raw_b64url: str) -> bytes:
    """The ``raw`` of a send request: base64url (standard base64 accepted too), padding optional."""
    text = re.sub(r"\s+", "", raw_b64url or "")
    if not text or not re.fullmatch(r"[A-Za-z0-9_\-+/]+={0,2}", text) or len(text.rstrip("=")) % 4 == 1:
        raise bad_request("Invalid To header")
    text = text.rstrip("=").replace("+", "-").replace("/", "_")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise bad_request("Invalid To header") from None


def _has_recipient_header(payload: dict[str, Any]) -> bool:
    return any(
        h["name"].lower() in ("to", "cc", "bcc") and h["value"].strip() for h in payload.get("headers", ())
    )


# --------------------------------------------------------------------- MIME to MessagePart
def _parse(raw: bytes, message_id: str) -> _Content:
    """Reads what can be read: a message that does not parse is still served, as Gmail serves it."""
    attachments: dict[str, bytes] = {}
    texts: dict[str, str] = {}
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
        payload = _part(message, "", message_id, attachments, texts)
    except Exception:  # noqa: BLE001 - broken MIME must not break the mailbox
        attachments.clear()
        texts.clear()
        payload = {
            "partId": "",
            "mimeType": "text/plain",
            "filename": "",
            "body": {"size": len(raw), "data": base64.urlsafe_b64encode(raw).decode("ascii")},
        }
        texts["text/plain"] = raw.decode("utf-8", "replace")
    headers: list[dict[str, str]] = payload.get("headers", [])

    def values(*names: str) -> list[str]:
        return [h["value"] for h in headers if h["name"].lower() in names]

    snippet_source = texts.get("text/plain")
    if snippet_source is None and "text/html" in texts:
        snippet_source = _html_text(texts["text/html"])
    snippet = " ".join((snippet_source or "").split())[:_SNIPPET_CHARS]

    message_ids = [m for v in values("message-id") for m in _MSGID.findall(v)]
    in_reply_to = [m for v in values("in-reply-to") for m in _MSGID.findall(v)]
    references = [m for v in values("references") for m in _MSGID.findall(v)]
    ordered = list(dict.fromkeys([*reversed(in_reply_to), *reversed(references)]))

    date_ms: int | None = None
    for value in values("date")[:1]:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        date_ms = int(parsed.timestamp() * 1000)

    senders = _address_terms(values("from"))
    recipient_pairs = [pair for pair in getaddresses(values("to", "cc", "bcc")) if "@" in pair[1]]
    return _Content(
        payload=payload,
        snippet=snippet,
        attachments=attachments,
        rfc_message_id=message_ids[0] if message_ids else None,
        references=tuple(ordered),
        date_ms=date_ms,
        senders=senders,
        recipients=_address_terms(values("to", "cc", "bcc")),
        recipient_count=len(recipient_pairs),
    )


def _part(
    part: Message, part_id: str, message_id: str, attachments: dict[str, bytes], texts: dict[str, str]
) -> dict[str, Any]:
    mime_type = _safe(part.get_content_type, "text/plain")
    filename = _clean(_safe(part.get_filename, None) or "")
    node: dict[str, Any] = {"partId": part_id, "mimeType": mime_type, "filename": filename}
    headers = _headers(part)
    if headers:  # Gmail leaves empty arrays out
        node["headers"] = headers
    children = part.get_payload() if part.is_multipart() else None
    if isinstance(children, list):
        node["body"] = {"size": 0}
        parts = [
            _part(child, f"{part_id}.{index}" if part_id else str(index), message_id, attachments, texts)
            for index, child in enumerate(children)
            if isinstance(child, Message)
        ]
        if parts:
            node["parts"] = parts
        return node
    data = _safe(lambda: part.get_payload(decode=True), None)
    if not isinstance(data, bytes):
        data = b""
    body: dict[str, Any] = {"size": len(data)}
    if filename:
        attachment_id = _attachment_id(message_id, part_id)
        attachments[attachment_id] = data
        body["attachmentId"] = attachment_id
    elif data:
        body["data"] = base64.urlsafe_b64encode(data).decode("ascii")
    if not filename and mime_type in ("text/plain", "text/html") and mime_type not in texts:
        texts[mime_type] = _decode_text(data, _safe(part.get_content_charset, None))
    node["body"] = body
    return node


def _headers(part: Message) -> list[dict[str, str]]:
    headers: list[dict[str, str]] = []
    for name, raw_value in part.raw_items():
        try:
            value = str(part.policy.header_fetch_parse(name, raw_value))
        except Exception:  # noqa: BLE001 - a header the parser cannot read is served unfolded
            value = "".join(str(raw_value).splitlines())
        headers.append({"name": _clean(name), "value": _clean(value)})
    return headers


def _attachment_id(message_id: str, part_id: str) -> str:
    digest = hashlib.sha256(f"{message_id}/{part_id}".encode()).digest()
    return "ANGjdJ" + base64.urlsafe_b64encode(digest + part_id.encode()).decode("ascii").rstrip("=")


def _decode_text(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(charset or "utf-8", "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


def _address_terms(values: list[str]) -> tuple[str, ...]:
    terms: list[str] = []
    for name, address in getaddresses(values):
        terms.extend(t.lower() for t in (address, name) if t)
    return tuple(terms)


def _clean(text: str) -> str:
    """Text safe to serialise as UTF-8: undecodable bytes the parser kept as surrogates become U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def _safe(getter: Callable[[], Any], default: Any) -> Any:
    try:
        return getter()
    except Exception:  # noqa: BLE001 - any parser error on a broken part means "unknown"
        return default


class _TextExtractor(HTMLParser):
    _SKIPPED = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skipping += 1
        elif tag in ("br", "p", "div", "li", "tr", "td", "h1", "h2", "h3"):
            self.chunks.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.chunks.append(data)


def _html_text(markup: str) -> str:
    extractor = _TextExtractor()
    try:
        extractor.feed(markup)
        extractor.close()
    except Exception:  # noqa: BLE001 - HTMLParser is lenient; anything else means no snippet
        return ""
    return "".join(extractor.chunks)
