"""One Gmail mailbox: the semantics of every Gmail method the product uses, and the exact JSON shapes.

Shapes are checked against the discovery document google-api-python-client ships with, so a field name
that Gmail does not have fails here before a client trips on it.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from functools import cache
from typing import Any

import pytest
from googleapiclient.discovery_cache import get_static_doc

from local_stack.google_standin.errors import GoogleApiError
from local_stack.google_standin.gmail_mailbox import SYSTEM_LABELS, Mailbox, WatchState
from local_stack.google_standin.mime_factory import BROKEN_KINDS, NON_UTF8_CHARSETS, MessageFactory
from tests.clocks import FakeClock

OWNER = "owner@example.com"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
DAY_MS = 24 * 3600 * 1000
WEEK_MS = 7 * DAY_MS


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW.timestamp())


@pytest.fixture
def mailbox(clock: FakeClock) -> Mailbox:
    return Mailbox(OWNER, clock=clock)


@pytest.fixture
def factory() -> MessageFactory:
    return MessageFactory(42)


# --------------------------------------------------------------------------------------- helpers
@cache
def schemas() -> dict[str, Any]:
    document = get_static_doc("gmail", "v1")
    assert document, "the Gmail discovery document is bundled with google-api-python-client"
    result: dict[str, Any] = json.loads(document)["schemas"]
    return result


def assert_shape(value: Any, schema: str, path: str = "$") -> None:
    """Every key is a property of the discovery schema, with the JSON type the schema gives it."""
    properties = schemas()[schema]["properties"]
    assert isinstance(value, dict), f"{path} is not an object"
    for key, item in value.items():
        assert key in properties, f"{path}.{key} is not a field of {schema}"
        _assert_value(item, properties[key], f"{path}.{key}")


def _assert_value(item: Any, prop: dict[str, Any], path: str) -> None:
    if "$ref" in prop:
        assert_shape(item, prop["$ref"], path)
    elif prop["type"] == "array":
        assert isinstance(item, list), path
        assert item, f"{path} is an empty array: Gmail leaves empty arrays out"
        for index, element in enumerate(item):
            _assert_value(element, prop["items"], f"{path}[{index}]")
    elif prop["type"] == "string":
        assert isinstance(item, str), f"{path} must be a JSON string"
        if prop.get("format") in ("uint64", "int64"):
            assert re.fullmatch(r"-?\d+", item), f"{path} must be a decimal string"
        if prop.get("format") == "byte":
            base64.urlsafe_b64decode(item + "=" * (-len(item) % 4))
    elif prop["type"] == "integer":
        assert isinstance(item, int), path
        assert not isinstance(item, bool), path
    elif prop["type"] == "boolean":
        assert isinstance(item, bool), path


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def unb64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def raises(status: int, message: str | None = None) -> Any:
    class _Check:
        def __enter__(self) -> None:
            return None

        def __exit__(self, kind: Any, error: Any, traceback: Any) -> bool:
            assert isinstance(error, GoogleApiError), f"expected a GoogleApiError {status}, got {error!r}"
            assert error.status == status, error.body()
            if message is not None:
                assert error.message == message, error.body()
            assert error.body()["error"]["code"] == status
            return True

    return _Check()


def ids(listing: dict[str, Any]) -> list[str]:
    return [m["id"] for m in listing.get("messages", [])]


def all_pages(fetch: Any, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    token: str | None = None
    while True:
        page = fetch(page_token=token, **kwargs)
        yield from page.get(key, [])
        token = page.get("nextPageToken")
        if token is None:
            return


def nested_message() -> bytes:
    """multipart/mixed [ multipart/alternative [text/plain, text/html], application/pdf attachment ]."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = "Ann Lee <ann@example.org>"
    msg["To"] = OWNER
    msg["Subject"] = "Nested"
    msg["Date"] = "Mon, 03 Jun 2024 10:00:00 +0000"
    msg["Message-ID"] = "<nested-1@example.org>"
    msg.set_content("Plain   text\n\nwith  spaces.\n")
    msg.add_alternative("<p>HTML text</p>", subtype="html")
    msg.add_attachment(b"%PDF-1.4 tiny", maintype="application", subtype="pdf", filename="deck.pdf")
    for part in msg.walk():
        if part.is_multipart():
            part.set_boundary(f"b-{part.get_content_subtype()}")
    return msg.as_bytes()


def simple(
    *,
    sender: str = "ann@example.org",
    to: str = OWNER,
    subject: str = "Hi",
    body: str = "Hello.\n",
    **headers: str,
) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    if to:
        msg["To"] = to
    msg["Subject"] = subject
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


# --------------------------------------------------------------------------------------- ids and history ids
def test_message_ids_are_16_lowercase_hex_digits_and_a_new_thread_takes_the_message_id(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    results = [mailbox.insert(factory.plain().raw) for _ in range(5)]
    assert all(re.fullmatch(r"[0-9a-f]{16}", r["id"]) for r in results)
    assert len({r["id"] for r in results}) == 5
    assert all(r["threadId"] == r["id"] for r in results)
    assert results[0] == {
        "id": results[0]["id"],
        "threadId": results[0]["id"],
        "labelIds": ["INBOX", "UNREAD"],
    }


def test_two_accounts_get_different_ids_and_the_same_account_the_same_ids(factory: MessageFactory) -> None:
    raw = factory.plain().raw
    first = Mailbox("a@example.com").insert(raw)["id"]
    assert Mailbox("a@example.com").insert(raw)["id"] == first
    assert Mailbox("b@example.com").insert(raw)["id"] != first


def test_history_id_is_a_string_and_every_change_increments_it(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    seen = [mailbox.history_id]
    assert mailbox.get_profile()["historyId"] == "1000"
    message = mailbox.insert(factory.plain().raw)
    seen.append(mailbox.history_id)
    mailbox.modify(message["id"], add_label_ids=["STARRED"])
    seen.append(mailbox.history_id)
    mailbox.modify(message["id"], remove_label_ids=["UNREAD"])
    seen.append(mailbox.history_id)
    mailbox.send(b64(simple(to="bob@example.net")))
    seen.append(mailbox.history_id)
    mailbox.delete(message["id"])
    seen.append(mailbox.history_id)
    assert seen == sorted(set(seen))
    assert len(seen) == 6
    assert mailbox.get_profile()["historyId"] == str(seen[-1])


def test_a_message_history_id_is_that_of_its_last_change(mailbox: Mailbox, factory: MessageFactory) -> None:
    message_id = mailbox.insert(factory.plain().raw)["id"]
    assert mailbox.get_message(message_id, format="minimal")["historyId"] == str(mailbox.history_id)
    mailbox.insert(factory.plain().raw)
    before = mailbox.get_message(message_id, format="minimal")["historyId"]
    assert int(before) < mailbox.history_id
    mailbox.modify(message_id, remove_label_ids=["UNREAD"])
    assert mailbox.get_message(message_id, format="minimal")["historyId"] == str(mailbox.history_id)


def test_first_history_id_is_configurable(factory: MessageFactory) -> None:
    mailbox = Mailbox(OWNER, first_history_id=555_000)
    mailbox.insert(factory.plain().raw)
    assert mailbox.history_id == 555_001


def test_profile_counts_messages_and_threads(mailbox: Mailbox, factory: MessageFactory) -> None:
    for message in factory.thread(3):
        mailbox.insert(message.raw)
    mailbox.insert(factory.plain().raw)
    profile = mailbox.get_profile()
    assert profile == {
        "emailAddress": OWNER,
        "messagesTotal": 4,
        "threadsTotal": 2,
        "historyId": str(mailbox.history_id),
    }
    assert_shape(profile, "Profile")


def test_concurrent_inserts_get_distinct_ids_and_contiguous_history_ids(factory: MessageFactory) -> None:
    mailbox = Mailbox(OWNER)
    raws = [factory.plain().raw for _ in range(8)]
    results: list[dict[str, Any]] = []
    results_lock = threading.Lock()

    def worker(raw: bytes) -> None:
        for _ in range(25):
            result = mailbox.insert(raw)
            with results_lock:
                results.append(result)

    threads = [threading.Thread(target=worker, args=(raw,)) for raw in raws]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r["id"] for r in results}) == 200
    history = list(all_pages(mailbox.list_history, "history", start_history_id=1000, max_results=500))
    assert [int(h["id"]) for h in history] == list(range(1001, 1201))


# --------------------------------------------------------------------------------------- messages.list
def test_list_is_newest_first_by_internal_date(mailbox: Mailbox, factory: MessageFactory) -> None:
    middle = mailbox.insert(factory.plain().raw, internal_date_ms=at(2024, 5, 2))["id"]
    newest = mailbox.insert(factory.plain().raw, internal_date_ms=at(2024, 5, 3))["id"]
    oldest = mailbox.insert(factory.plain().raw, internal_date_ms=at(2024, 5, 1))["id"]
    listing = mailbox.list_messages()
    assert ids(listing) == [newest, middle, oldest]
    assert listing["resultSizeEstimate"] == 3
    assert "nextPageToken" not in listing
    assert all(set(m) == {"id", "threadId"} for m in listing["messages"])
    assert_shape(listing, "ListMessagesResponse")


def test_internal_date_defaults_to_the_date_header_else_the_clock(
    mailbox: Mailbox, factory: MessageFactory, clock: FakeClock
) -> None:
    dated = factory.plain(date=datetime(2023, 12, 24, 18, 30, tzinfo=UTC))
    first = mailbox.insert(dated.raw)["id"]
    assert mailbox.get_message(first, format="minimal")["internalDate"] == str(at(2023, 12, 24, 18, 30))
    undated = mailbox.insert(b"From: a@example.org\r\nTo: owner@example.com\r\n\r\nNo date.\r\n")["id"]
    assert mailbox.get_message(undated, format="minimal")["internalDate"] == str(int(clock.now * 1000))


def test_empty_list_has_no_messages_key(mailbox: Mailbox) -> None:
    listing = mailbox.list_messages()
    assert listing == {"resultSizeEstimate": 0}
    assert_shape(listing, "ListMessagesResponse")


def test_paging_covers_every_message_exactly_once(mailbox: Mailbox, factory: MessageFactory) -> None:
    raw = factory.plain().raw
    inserted = [
        mailbox.insert(raw, internal_date_ms=at(2024, 1, 1) + (i % 7) * 1000)["id"] for i in range(23)
    ]
    pages: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = mailbox.list_messages(max_results=5, page_token=token)
        pages.append(page)
        token = page.get("nextPageToken")
        if token is None:
            break
    assert [len(p["messages"]) for p in pages] == [5, 5, 5, 5, 3]
    assert all(p["resultSizeEstimate"] == 23 for p in pages)
    seen = [m["id"] for p in pages for m in p["messages"]]
    assert sorted(seen) == sorted(inserted)
    assert len(set(seen)) == 23
    assert seen == ids(mailbox.list_messages(max_results=500))


def test_paging_is_stable_when_new_mail_arrives_between_pages(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    raw = factory.plain().raw
    inserted = {mailbox.insert(raw, internal_date_ms=at(2024, 1, 1) + i)["id"] for i in range(10)}
    first = mailbox.list_messages(max_results=4)
    mailbox.insert(raw, internal_date_ms=at(2024, 2, 1))  # newer than everything: belongs before page 1
    rest: list[dict[str, Any]] = []
    token = first.get("nextPageToken")
    while token:
        page = mailbox.list_messages(max_results=4, page_token=token)
        rest.extend(page["messages"])
        token = page.get("nextPageToken")
    assert {m["id"] for m in first["messages"]} | {m["id"] for m in rest} == inserted
    assert len(first["messages"]) + len(rest) == 10


TINY = b"From: a@example.org\r\nTo: owner@example.com\r\n\r\nx\r\n"


def test_max_results_defaults_to_100_and_is_capped_at_500(mailbox: Mailbox) -> None:
    raw = TINY
    for _ in range(501):
        mailbox.insert(raw)
    assert len(mailbox.list_messages()["messages"]) == 100
    capped = mailbox.list_messages(max_results=10_000)
    assert len(capped["messages"]) == 500
    assert "nextPageToken" in capped
    assert capped["resultSizeEstimate"] == 501


def test_label_ids_filter_requires_every_label(mailbox: Mailbox, factory: MessageFactory) -> None:
    both = mailbox.insert(factory.plain().raw, label_ids=["INBOX", "STARRED"])["id"]
    mailbox.insert(factory.plain().raw, label_ids=["INBOX"])
    mailbox.insert(factory.plain().raw, label_ids=["STARRED"])
    assert ids(mailbox.list_messages(label_ids=["INBOX", "STARRED"])) == [both]
    assert len(ids(mailbox.list_messages(label_ids=["INBOX"]))) == 2


def test_unknown_label_in_list_is_a_400(mailbox: Mailbox) -> None:
    with raises(400, "Invalid label: Label_99"):
        mailbox.list_messages(label_ids=["Label_99"])


def test_spam_and_trash_are_left_out_unless_asked_for(mailbox: Mailbox, factory: MessageFactory) -> None:
    inbox = mailbox.insert(factory.plain().raw)["id"]
    spam = mailbox.insert(factory.plain().raw, label_ids=["SPAM"])["id"]
    trash = mailbox.insert(factory.plain().raw, label_ids=["TRASH"])["id"]
    assert ids(mailbox.list_messages()) == [inbox]
    assert set(ids(mailbox.list_messages(include_spam_trash=True))) == {inbox, spam, trash}
    assert ids(mailbox.list_messages(label_ids=["TRASH"])) == [trash]
    assert ids(mailbox.list_messages(q="in:spam")) == [spam]
    assert set(ids(mailbox.list_messages(q="in:anywhere"))) == {inbox, spam, trash}


def test_an_invalid_page_token_is_a_400(mailbox: Mailbox) -> None:
    with raises(400, "Invalid pageToken"):
        mailbox.list_messages(page_token="not-a-token")


# --------------------------------------------------------------------------------------- search operators
@pytest.fixture
def dated(mailbox: Mailbox) -> dict[str, str]:
    """Messages at known instants around the fake clock's now (2024-06-01 12:00 UTC)."""
    moments = {
        "may31_2359": at(2024, 5, 31, 23, 59),
        "jun01_0000": at(2024, 6, 1),
        "jun01_1100": at(2024, 6, 1, 11),
        "three_days": at(2024, 5, 29, 12),
        "two_months": at(2024, 4, 1, 12),
        "two_years": at(2022, 6, 1, 12),
    }
    return {
        name: mailbox.insert(simple(subject=name), internal_date_ms=ms)["id"] for name, ms in moments.items()
    }


def search(mailbox: Mailbox, q: str) -> set[str]:
    return set(ids(mailbox.list_messages(q=q, max_results=500)))


def test_after_is_inclusive_from_midnight_utc_and_before_is_exclusive(
    mailbox: Mailbox, dated: dict[str, str]
) -> None:
    assert search(mailbox, "after:2024/06/01") == {dated["jun01_0000"], dated["jun01_1100"]}
    assert search(mailbox, "before:2024/06/01") == {
        dated["may31_2359"],
        dated["three_days"],
        dated["two_months"],
        dated["two_years"],
    }
    assert search(mailbox, "after:2024-05-31 before:2024/06/01") == {dated["may31_2359"]}


def test_after_and_before_accept_epoch_seconds(mailbox: Mailbox, dated: dict[str, str]) -> None:
    midnight = at(2024, 6, 1) // 1000
    assert search(mailbox, f"after:{midnight}") == {dated["jun01_0000"], dated["jun01_1100"]}
    assert search(mailbox, f"before:{midnight}") == search(mailbox, "before:2024/06/01")
    assert search(mailbox, f"after:{midnight + 1}") == {dated["jun01_1100"]}


def test_newer_than_and_older_than_count_back_from_the_clock(
    mailbox: Mailbox, dated: dict[str, str], clock: FakeClock
) -> None:
    recent = {dated["may31_2359"], dated["jun01_0000"], dated["jun01_1100"]}
    assert search(mailbox, "newer_than:1d") == recent
    assert search(mailbox, "newer_than:3d") == recent | {dated["three_days"]}  # exactly 3 days old: included
    assert search(mailbox, "older_than:3d") == {dated["two_months"], dated["two_years"]}
    assert search(mailbox, "newer_than:2m") == recent | {dated["three_days"]}  # a month is 30 days
    assert search(mailbox, "newer_than:3m") == recent | {dated["three_days"], dated["two_months"]}
    assert search(mailbox, "older_than:1y") == {dated["two_years"]}
    # a year is 365 days: 2022-06-01 is 731 days back (2024 is a leap year), just outside 2y
    assert search(mailbox, "newer_than:2y") == set(dated.values()) - {dated["two_years"]}
    assert search(mailbox, "newer_than:3y") == set(dated.values())
    clock.advance(12 * 3600)  # now 2024-06-02 00:00: one day back is exactly jun01_0000, included
    assert search(mailbox, "newer_than:1d") == {dated["jun01_0000"], dated["jun01_1100"]}
    assert dated["jun01_0000"] not in search(mailbox, "older_than:1d")
    assert dated["may31_2359"] in search(mailbox, "older_than:1d")


def test_in_operators(mailbox: Mailbox, factory: MessageFactory) -> None:
    inbox = mailbox.insert(factory.plain().raw)["id"]
    sent = mailbox.send(b64(simple(to="bob@example.net")))["id"]
    trash = mailbox.insert(factory.plain().raw, label_ids=["TRASH"])["id"]
    spam = mailbox.insert(factory.plain().raw, label_ids=["SPAM"])["id"]
    assert search(mailbox, "in:inbox") == {inbox}
    assert search(mailbox, "in:sent") == {sent}
    assert search(mailbox, "in:trash") == {trash}
    assert search(mailbox, "in:spam") == {spam}
    assert search(mailbox, "in:anywhere") == {inbox, sent, trash, spam}
    assert search(mailbox, "IN:INBOX") == {inbox}


def test_label_operator_matches_user_label_names_and_system_labels(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    label = mailbox.create_label("Key Accounts")
    tagged = mailbox.insert(factory.plain().raw, label_ids=["INBOX", label["id"]])["id"]
    starred = mailbox.insert(factory.plain().raw, label_ids=["STARRED"])["id"]
    assert search(mailbox, "label:key-accounts") == {tagged}
    assert search(mailbox, 'label:"Key Accounts"') == {tagged}
    assert search(mailbox, "label:starred") == {starred}
    assert search(mailbox, "label:no-such-label") == set()


def test_is_operators(mailbox: Mailbox, factory: MessageFactory) -> None:
    unread = mailbox.insert(factory.plain().raw)["id"]
    read = mailbox.insert(factory.plain().raw, label_ids=["INBOX"])["id"]
    starred = mailbox.insert(factory.plain().raw, label_ids=["INBOX", "STARRED"])["id"]
    assert search(mailbox, "is:unread") == {unread}
    assert search(mailbox, "is:read") == {read, starred}
    assert search(mailbox, "is:starred") == {starred}


def test_from_and_to_match_addresses_names_and_me(mailbox: Mailbox) -> None:
    from_ann = mailbox.insert(simple(sender="Ann Lee <ann@example.org>", to="Owner <owner@example.com>"))[
        "id"
    ]
    from_bob = mailbox.insert(simple(sender="bob@example.net", to="carl@example.com", Cc=OWNER))["id"]
    mine = mailbox.send(b64(simple(sender=OWNER, to="dana@example.org")))["id"]
    assert search(mailbox, "from:ann@example.org") == {from_ann}
    assert search(mailbox, "from:ANN@EXAMPLE.ORG") == {from_ann}
    assert search(mailbox, "from:example.net") == {from_bob}
    assert search(mailbox, 'from:"ann lee"') == {from_ann}
    assert search(mailbox, "from:me") == {mine}
    assert search(mailbox, "to:me") == {from_ann, from_bob}  # Cc counts, as in Gmail
    assert search(mailbox, "to:dana@example.org") == {mine}


def test_several_terms_are_anded(mailbox: Mailbox) -> None:
    match = mailbox.insert(simple(sender="ann@example.org"), internal_date_ms=at(2024, 5, 10))["id"]
    mailbox.insert(simple(sender="ann@example.org"), internal_date_ms=at(2024, 4, 10))
    mailbox.insert(simple(sender="bob@example.org"), internal_date_ms=at(2024, 5, 10))
    mailbox.insert(simple(sender="ann@example.org"), label_ids=["INBOX"], internal_date_ms=at(2024, 5, 11))
    assert search(mailbox, "from:ann@example.org after:2024/05/01 is:unread in:inbox") == {match}


@pytest.mark.parametrize(
    "query",
    [
        "subjectline:hello",
        "in:nowhere",
        "is:pending",
        "after:yesterday",
        "after:2024/13/45",
        "newer_than:3w",
        "older_than:d",
        "from:",
    ],
)
def test_an_unknown_operator_or_value_is_an_invalid_query(mailbox: Mailbox, query: str) -> None:
    with raises(400, "Invalid query"):
        mailbox.list_messages(q=query)


def test_free_text_search_is_refused_not_silently_ignored(mailbox: Mailbox) -> None:
    with raises(400):
        mailbox.list_messages(q="invoice from:ann@example.org")


# --------------------------------------------------------------------------------------- messages.get
def test_minimal_format_has_exactly_the_minimal_fields(mailbox: Mailbox, factory: MessageFactory) -> None:
    message_id = mailbox.insert(factory.plain().raw)["id"]
    message = mailbox.get_message(message_id, format="minimal")
    assert set(message) == {
        "id",
        "threadId",
        "labelIds",
        "snippet",
        "sizeEstimate",
        "historyId",
        "internalDate",
    }
    assert message["labelIds"] == ["INBOX", "UNREAD"]
    assert_shape(message, "Message")


def test_full_format_is_the_mime_tree_with_gmail_part_ids(mailbox: Mailbox) -> None:
    raw = nested_message()
    message_id = mailbox.insert(raw)["id"]
    message = mailbox.get_message(message_id)
    assert_shape(message, "Message")
    payload = message["payload"]
    assert payload["partId"] == ""
    assert payload["mimeType"] == "multipart/mixed"
    assert payload["filename"] == ""
    assert payload["body"] == {"size": 0}
    assert [h["name"] for h in payload["headers"]][:5] == ["From", "To", "Subject", "Date", "Message-ID"]
    alternative, attachment = payload["parts"]
    assert (alternative["partId"], alternative["mimeType"]) == ("0", "multipart/alternative")
    assert alternative["body"] == {"size": 0}
    text, html = alternative["parts"]
    assert (text["partId"], text["mimeType"], html["partId"], html["mimeType"]) == (
        "0.0",
        "text/plain",
        "0.1",
        "text/html",
    )
    assert unb64(text["body"]["data"]) == b"Plain   text\r\n\r\nwith  spaces.\r\n"
    assert text["body"]["size"] == len(unb64(text["body"]["data"]))
    assert "parts" not in text
    assert (attachment["partId"], attachment["filename"]) == ("1", "deck.pdf")
    assert "data" not in attachment["body"]
    assert attachment["body"]["size"] == len(b"%PDF-1.4 tiny")
    fetched = mailbox.get_attachment(message_id, attachment["body"]["attachmentId"])
    assert_shape(fetched, "MessagePartBody")
    assert unb64(fetched["data"]) == b"%PDF-1.4 tiny"
    assert fetched["size"] == len(b"%PDF-1.4 tiny")


def test_body_data_is_base64url_with_padding(mailbox: Mailbox) -> None:
    body = "ÿþ?>" * 7 + "\n"  # bytes that standard base64 writes with + and /
    message_id = mailbox.insert(simple(body=body))["id"]
    data = mailbox.get_message(message_id)["payload"]["body"]["data"]
    assert "+" not in data
    assert "/" not in data
    assert len(data) % 4 == 0
    assert unb64(data).decode() == body.replace("\n", "\r\n")


def test_metadata_format_has_headers_only_filtered_case_insensitively(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    message_id = mailbox.insert(nested_message())["id"]
    message = mailbox.get_message(
        message_id, format="metadata", metadata_headers=["subject", "FROM", "X-None"]
    )
    assert_shape(message, "Message")
    assert message["payload"] == {
        "mimeType": "multipart/mixed",
        "headers": [
            {"name": "From", "value": "Ann Lee <ann@example.org>"},
            {"name": "Subject", "value": "Nested"},
        ],
    }
    none = mailbox.get_message(message_id, format="metadata", metadata_headers=["X-None"])
    assert none["payload"] == {"mimeType": "multipart/mixed"}
    every = mailbox.get_message(message_id, format="metadata")["payload"]["headers"]
    assert len(every) > 5
    assert "raw" not in message


def test_raw_format_returns_the_inserted_bytes_exactly(mailbox: Mailbox, factory: MessageFactory) -> None:
    raws = [
        factory.with_attachments().raw,
        b"From: a@example.org\nTo: owner@example.com\nSubject: LF only\n\nbare\nnewlines\n",
        factory.non_utf8("shift_jis").raw,
    ]
    for raw in raws:
        message_id = mailbox.insert(raw)["id"]
        message = mailbox.get_message(message_id, format="raw")
        assert_shape(message, "Message")
        assert unb64(message["raw"]) == raw
        assert message["sizeEstimate"] == len(raw)
        assert "payload" not in message


def test_unknown_message_is_404_and_unknown_format_or_attachment_400(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    with raises(404, "Requested entity was not found."):
        mailbox.get_message("18f0000000000000")
    message_id = mailbox.insert(factory.plain().raw)["id"]
    with raises(400):
        mailbox.get_message(message_id, format="FULL")
    with raises(400, "Invalid attachment token"):
        mailbox.get_attachment(message_id, "ANGjdJnope")
    with raises(404):
        mailbox.get_attachment("18f0000000000000", "ANGjdJnope")


def test_snippet_prefers_text_plain_and_collapses_whitespace(mailbox: Mailbox) -> None:
    message_id = mailbox.insert(nested_message())["id"]
    assert mailbox.get_message(message_id, format="minimal")["snippet"] == "Plain text with spaces."


def test_snippet_from_html_drops_tags_styles_and_unescapes_entities(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    markup = (
        "<html><head><style>p {color: red}</style><title>T</title></head>"
        "<body><p>Tom &amp; Jerry&#39;s</p>\n\n<div>caf&eacute;&nbsp;&lt;ok&gt;</div>"
        "<script>x()</script></body>"
    )
    message_id = mailbox.insert(factory.html(body=markup).raw)["id"]
    assert mailbox.get_message(message_id)["snippet"] == "Tom & Jerry's café <ok>"


def test_snippet_is_at_most_200_characters(mailbox: Mailbox) -> None:
    message_id = mailbox.insert(simple(body="word " * 200))["id"]
    snippet = mailbox.get_message(message_id, format="minimal")["snippet"]
    assert len(snippet) == 200
    assert snippet.startswith("word word")


@pytest.mark.parametrize("charset", NON_UTF8_CHARSETS)
def test_non_utf8_messages_are_served_in_their_charset(mailbox: Mailbox, charset: str) -> None:
    generated = MessageFactory(3).non_utf8(charset)
    message_id = mailbox.insert(generated.raw)["id"]
    message = mailbox.get_message(message_id)
    headers = {h["name"]: h["value"] for h in message["payload"]["headers"]}
    assert headers["Subject"] == generated.subject
    assert charset in headers["Content-Type"]
    text = unb64(message["payload"]["body"]["data"]).decode(charset)
    assert " ".join(text.split())[:50] == message["snippet"][:50]
    assert unb64(mailbox.get_message(message_id, format="raw")["raw"]) == generated.raw


@pytest.mark.parametrize("kind", BROKEN_KINDS)
def test_broken_messages_are_served_in_every_format_without_crashing(mailbox: Mailbox, kind: str) -> None:
    raw = MessageFactory(4).broken(kind)
    message_id = mailbox.insert(raw)["id"]
    for format in ("minimal", "metadata", "full", "raw"):
        message = mailbox.get_message(message_id, format=format)
        assert_shape(message, "Message")
        json.dumps(message, ensure_ascii=False).encode("utf-8")  # servable as UTF-8 JSON
    assert unb64(mailbox.get_message(message_id, format="raw")["raw"]) == raw
    assert mailbox.list_messages()["messages"][0]["id"] == message_id


def test_broken_message_details(mailbox: Mailbox) -> None:
    factory = MessageFactory(5)
    deep = mailbox.get_message(mailbox.insert(factory.broken("deep-nesting"))["id"])
    part, depth = deep["payload"], 0
    while "parts" in part:
        part, depth = part["parts"][0], depth + 1
    assert depth == 50
    assert part["partId"] == ".".join(["0"] * 50)
    assert deep["snippet"] == "The innermost text, fifty levels down."

    no_headers = mailbox.get_message(mailbox.insert(factory.broken("no-headers"))["id"])
    assert "headers" not in no_headers["payload"] or no_headers["payload"]["headers"] == []
    assert no_headers["snippet"].startswith("This message has no header block")

    unknown = mailbox.get_message(mailbox.insert(factory.broken("unknown-charset"))["id"])
    assert unknown["snippet"].startswith("Qapla")


def test_json_never_has_empty_arrays_where_gmail_omits_them(mailbox: Mailbox) -> None:
    message_id = mailbox.insert(MessageFactory().broken("no-headers"))["id"]
    mailbox.modify(message_id, remove_label_ids=["INBOX", "UNREAD"])
    message = mailbox.get_message(message_id)
    assert "labelIds" not in message
    assert_shape(message, "Message")


# --------------------------------------------------------------------------------------- threading
def test_insert_threads_by_references_and_in_reply_to(mailbox: Mailbox, factory: MessageFactory) -> None:
    conversation = factory.thread(3)
    results = [mailbox.insert(m.raw) for m in conversation]
    assert {r["threadId"] for r in results} == {results[0]["id"]}
    only_in_reply_to = simple(In_Reply_To=conversation[1].message_id)
    assert mailbox.insert(only_in_reply_to)["threadId"] == results[0]["id"]
    only_references = simple(References=f"<unknown@example.org> {conversation[0].message_id}")
    assert mailbox.insert(only_references)["threadId"] == results[0]["id"]


def test_a_reply_whose_parent_is_not_here_starts_a_thread(mailbox: Mailbox, factory: MessageFactory) -> None:
    _first, second = factory.thread(2)
    result = mailbox.insert(second.raw)
    assert result["threadId"] == result["id"]


def test_insert_with_an_unknown_label_is_a_400(mailbox: Mailbox, factory: MessageFactory) -> None:
    with raises(400, "Invalid label: Label_7"):
        mailbox.insert(factory.plain().raw, label_ids=["INBOX", "Label_7"])
    assert mailbox.history_id == 1000


# --------------------------------------------------------------------------------------- history.list
def test_history_lists_records_strictly_after_the_start(mailbox: Mailbox, factory: MessageFactory) -> None:
    first = mailbox.insert(factory.plain().raw)
    start = mailbox.history_id
    second = mailbox.insert(factory.plain().raw)
    result = mailbox.list_history(start_history_id=str(start))
    assert_shape(result, "ListHistoryResponse")
    assert result["historyId"] == str(mailbox.history_id)
    assert "nextPageToken" not in result
    (record,) = result["history"]
    assert record == {
        "id": str(start + 1),
        "messages": [{"id": second["id"], "threadId": second["threadId"]}],
        "messagesAdded": [
            {"message": {"id": second["id"], "threadId": second["threadId"], "labelIds": ["INBOX", "UNREAD"]}}
        ],
    }
    assert first["id"] not in json.dumps(result)
    assert mailbox.list_history(start_history_id=start) == result  # an int start works too


def test_history_records_each_kind_of_change(mailbox: Mailbox, factory: MessageFactory) -> None:
    start = mailbox.history_id
    message = mailbox.insert(factory.plain().raw)
    mailbox.modify(message["id"], add_label_ids=["STARRED", "IMPORTANT"], remove_label_ids=["UNREAD"])
    mailbox.delete(message["id"])
    history = mailbox.list_history(start_history_id=start)["history"]
    kinds = [next(k for k in h if k not in ("id", "messages")) for h in history]
    assert kinds == ["messagesAdded", "labelsAdded", "labelsRemoved", "messagesDeleted"]
    ref = {"id": message["id"], "threadId": message["threadId"]}
    assert history[1]["labelsAdded"] == [
        {
            "message": {**ref, "labelIds": ["INBOX", "UNREAD", "STARRED", "IMPORTANT"]},
            "labelIds": ["STARRED", "IMPORTANT"],
        }
    ]
    assert history[2]["labelsRemoved"] == [
        {"message": {**ref, "labelIds": ["INBOX", "STARRED", "IMPORTANT"]}, "labelIds": ["UNREAD"]}
    ]
    assert history[3]["messagesDeleted"] == [{"message": ref}]
    assert all(h["messages"] == [ref] for h in history)
    assert [int(h["id"]) for h in history] == list(range(start + 1, start + 5))
    for record in history:
        assert_shape(record, "History")


def test_a_deleted_message_keeps_its_added_record_and_answers_404(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    message_id = mailbox.insert(factory.plain().raw)["id"]
    mailbox.delete(message_id)
    history = mailbox.list_history(start_history_id=1000, history_types=["messageAdded"])["history"]
    assert history[0]["messagesAdded"][0]["message"]["id"] == message_id
    with raises(404):
        mailbox.get_message(message_id)
    with raises(404):
        mailbox.delete(message_id)
    assert mailbox.get_profile()["messagesTotal"] == 0


def test_history_types_filter(mailbox: Mailbox, factory: MessageFactory) -> None:
    message_id = mailbox.insert(factory.plain().raw)["id"]
    mailbox.modify(message_id, add_label_ids=["STARRED"])
    mailbox.modify(message_id, remove_label_ids=["STARRED"])
    mailbox.delete(message_id)
    for kind, key in [
        ("messageAdded", "messagesAdded"),
        ("messageDeleted", "messagesDeleted"),
        ("labelAdded", "labelsAdded"),
        ("labelRemoved", "labelsRemoved"),
    ]:
        history = mailbox.list_history(start_history_id=1000, history_types=[kind])["history"]
        assert len(history) == 1, kind
        assert key in history[0], kind
    both = mailbox.list_history(start_history_id=1000, history_types=["labelAdded", "labelRemoved"])[
        "history"
    ]
    assert len(both) == 2
    with raises(400):
        mailbox.list_history(start_history_id=1000, history_types=["messagesAdded"])


def test_history_label_id_filter_includes_removals_of_that_label(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    in_inbox = mailbox.insert(factory.plain().raw)["id"]
    mailbox.insert(factory.plain().raw, label_ids=["SENT"])
    mailbox.modify(in_inbox, remove_label_ids=["INBOX"])  # archived: still an INBOX record
    history = mailbox.list_history(start_history_id=1000, label_id="INBOX")["history"]
    assert [next(k for k in h if k not in ("id", "messages")) for h in history] == [
        "messagesAdded",
        "labelsRemoved",
    ]
    assert all(h["messages"][0]["id"] == in_inbox for h in history)
    sent = mailbox.list_history(start_history_id=1000, label_id="SENT")["history"]
    assert len(sent) == 1


def test_history_pagination_covers_every_record_once(mailbox: Mailbox, factory: MessageFactory) -> None:
    raw = factory.plain().raw
    for _ in range(12):
        mailbox.insert(raw)
    pages = []
    token: str | None = None
    while True:
        page = mailbox.list_history(start_history_id=1000, max_results=5, page_token=token)
        pages.append(page)
        assert page["historyId"] == str(mailbox.history_id)
        token = page.get("nextPageToken")
        if token is None:
            break
    assert [len(p["history"]) for p in pages] == [5, 5, 2]
    assert [int(h["id"]) for p in pages for h in p["history"]] == list(range(1001, 1013))


def test_history_max_results_is_capped_at_500(mailbox: Mailbox) -> None:
    raw = TINY
    for _ in range(501):
        mailbox.insert(raw)
    assert len(mailbox.list_history(start_history_id=1000)["history"]) == 100
    assert len(mailbox.list_history(start_history_id=1000, max_results=9999)["history"]) == 500


def test_history_after_forget_history_is_404_but_the_current_id_still_works(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    mailbox.insert(factory.plain().raw)
    old = mailbox.history_id
    mailbox.insert(factory.plain().raw)
    mailbox.forget_history()
    with raises(404, "Requested entity was not found."):
        mailbox.list_history(start_history_id=old)
    current = mailbox.history_id
    assert mailbox.list_history(start_history_id=current) == {"historyId": str(current)}
    added = mailbox.insert(factory.plain().raw)
    assert mailbox.list_history(start_history_id=current)["history"][0]["messages"][0]["id"] == added["id"]


def test_history_beyond_retention_is_404(factory: MessageFactory) -> None:
    mailbox = Mailbox(OWNER, history_retention=3)
    raw = factory.plain().raw
    for _ in range(5):
        mailbox.insert(raw)  # records 1001..1005; 1003..1005 kept
    with raises(404):
        mailbox.list_history(start_history_id=1000)
    with raises(404):
        mailbox.list_history(start_history_id=1001)
    kept = mailbox.list_history(start_history_id=1002)["history"]
    assert [h["id"] for h in kept] == ["1003", "1004", "1005"]


def test_history_start_before_the_first_history_id_is_404(mailbox: Mailbox) -> None:
    with raises(404):
        mailbox.list_history(start_history_id=1)


def test_history_start_in_the_future_is_empty_with_the_current_id(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    mailbox.insert(factory.plain().raw)
    result = mailbox.list_history(start_history_id=mailbox.history_id + 10_000)
    assert result == {"historyId": str(mailbox.history_id)}
    assert_shape(result, "ListHistoryResponse")


def test_history_start_must_be_a_number(mailbox: Mailbox) -> None:
    with raises(400):
        mailbox.list_history(start_history_id="abc")
    with raises(400):
        mailbox.list_history(start_history_id="1000", page_token="garbage")


# --------------------------------------------------------------------------------------- messages.send
def test_send_adds_message_id_and_date_and_keeps_the_rest_byte_identical(
    mailbox: Mailbox, clock: FakeClock
) -> None:
    raw = b"From: owner@example.com\r\nTo: bob@example.net\r\nSubject: Quote\r\n\r\nPrice: 10 EUR.\r\n"
    result = mailbox.send(b64(raw))
    assert result == {"id": result["id"], "threadId": result["id"], "labelIds": ["SENT"]}
    stored = unb64(mailbox.get_message(result["id"], format="raw")["raw"])
    assert stored.endswith(raw)
    added = stored[: -len(raw)].decode()
    assert re.fullmatch(r"Date: [^\r\n]+\r\nMessage-ID: <[^<>@\s]+@[^<>@\s]+>\r\n", added)
    assert mailbox.get_message(result["id"], format="minimal")["internalDate"] == str(int(clock.now * 1000))


def test_send_adds_headers_with_the_message_own_line_endings(mailbox: Mailbox) -> None:
    raw = b"From: owner@example.com\nTo: bob@example.net\n\nLF only\n"
    result = mailbox.send(b64(raw))
    stored = unb64(mailbox.get_message(result["id"], format="raw")["raw"])
    assert stored.endswith(raw)
    assert b"\r" not in stored


def test_send_keeps_a_complete_message_unchanged(mailbox: Mailbox, factory: MessageFactory) -> None:
    raw = factory.plain(sender=OWNER).raw
    result = mailbox.send(base64.urlsafe_b64encode(raw).decode())  # padded is fine too
    assert unb64(mailbox.get_message(result["id"], format="raw")["raw"]) == raw


def test_send_adds_from_when_missing(mailbox: Mailbox) -> None:
    result = mailbox.send(b64(b"To: bob@example.net\r\nSubject: x\r\n\r\nbody\r\n"))
    headers = {h["name"]: h["value"] for h in mailbox.get_message(result["id"])["payload"]["headers"]}
    assert headers["From"] == OWNER


def test_send_threads_by_references(mailbox: Mailbox, factory: MessageFactory) -> None:
    received = factory.plain(to=[OWNER])
    thread_id = mailbox.insert(received.raw)["threadId"]
    reply = factory.plain(sender=OWNER, in_reply_to=received)
    assert mailbox.send(b64(reply.raw))["threadId"] == thread_id


def test_send_joins_the_given_thread_when_its_headers_point_into_it(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    received = factory.plain(to=[OWNER])
    thread_id = mailbox.insert(received.raw)["threadId"]
    reply = factory.plain(sender=OWNER, in_reply_to=received)
    assert mailbox.send(b64(reply.raw), thread_id=thread_id)["threadId"] == thread_id


def test_send_with_a_thread_id_but_no_matching_headers_starts_a_new_thread(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    thread_id = mailbox.insert(factory.plain(to=[OWNER]).raw)["threadId"]
    unrelated = factory.plain(sender=OWNER)
    result = mailbox.send(b64(unrelated.raw), thread_id=thread_id)
    assert result["threadId"] == result["id"] != thread_id


def test_send_with_an_unknown_thread_id_falls_back_to_the_headers(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    received = factory.plain(to=[OWNER])
    thread_id = mailbox.insert(received.raw)["threadId"]
    reply = factory.plain(sender=OWNER, in_reply_to=received)
    assert mailbox.send(b64(reply.raw), thread_id="18ffffffffffffff")["threadId"] == thread_id
    with raises(400):
        mailbox.send(b64(reply.raw), thread_id="not hex!")


def test_send_rejects_bad_base64_and_missing_recipients(mailbox: Mailbox) -> None:
    with raises(400, "Invalid To header"):
        mailbox.send("%%% not base64 %%%")
    with raises(400, "Invalid To header"):
        mailbox.send("")
    with raises(400, "Recipient address required"):
        mailbox.send(b64(b"From: owner@example.com\r\nSubject: nobody\r\n\r\nhi\r\n"))
    with raises(400, "Invalid To header"):
        mailbox.send(b64(b"From: owner@example.com\r\nTo: not an address\r\n\r\nhi\r\n"))
    assert mailbox.history_id == 1000
    assert mailbox.get_profile()["messagesTotal"] == 0


def test_send_accepts_bcc_only(mailbox: Mailbox) -> None:
    result = mailbox.send(b64(b"From: owner@example.com\r\nBcc: hidden@example.org\r\n\r\nhi\r\n"))
    assert result["labelIds"] == ["SENT"]


# --------------------------------------------------------------------------------------- modify and labels
def test_modify_returns_the_labels_and_records_history(mailbox: Mailbox, factory: MessageFactory) -> None:
    message = mailbox.insert(factory.plain().raw)
    start = mailbox.history_id
    result = mailbox.modify(message["id"], add_label_ids=["STARRED"], remove_label_ids=["UNREAD"])
    assert result == {"id": message["id"], "threadId": message["threadId"], "labelIds": ["INBOX", "STARRED"]}
    assert_shape(result, "Message")
    assert mailbox.history_id == start + 2


def test_modify_that_changes_nothing_records_nothing(mailbox: Mailbox, factory: MessageFactory) -> None:
    message_id = mailbox.insert(factory.plain().raw)["id"]
    start = mailbox.history_id
    mailbox.modify(message_id, add_label_ids=["INBOX"], remove_label_ids=["STARRED"])
    assert mailbox.history_id == start
    assert mailbox.list_history(start_history_id=start) == {"historyId": str(start)}


def test_modify_with_an_invalid_label_is_a_400_and_changes_nothing(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    message_id = mailbox.insert(factory.plain().raw)["id"]
    start = mailbox.history_id
    with raises(400, "Invalid label: Label_42"):
        mailbox.modify(message_id, add_label_ids=["STARRED", "Label_42"])
    with raises(400, "No label add or removes specified"):
        mailbox.modify(message_id)
    with raises(404):
        mailbox.modify("18f0000000000000", add_label_ids=["STARRED"])
    assert mailbox.history_id == start
    assert mailbox.get_message(message_id, format="minimal")["labelIds"] == ["INBOX", "UNREAD"]


def test_batch_modify_records_history_per_message_and_skips_unknown_ids(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    first = mailbox.insert(factory.plain().raw)["id"]
    second = mailbox.insert(factory.plain().raw)["id"]
    start = mailbox.history_id
    mailbox.batch_modify([first, "18f0000000000000", second], remove_label_ids=["UNREAD"])
    history = mailbox.list_history(start_history_id=start)["history"]
    assert [(h["messages"][0]["id"], "labelsRemoved" in h) for h in history] == [
        (first, True),
        (second, True),
    ]
    assert search(mailbox, "is:unread") == set()


def test_batch_modify_with_an_invalid_label_changes_nothing(
    mailbox: Mailbox, factory: MessageFactory
) -> None:
    message_id = mailbox.insert(factory.plain().raw)["id"]
    start = mailbox.history_id
    with raises(400, "Invalid label: NOPE"):
        mailbox.batch_modify([message_id], add_label_ids=["STARRED", "NOPE"])
    with raises(400):
        mailbox.batch_modify([message_id] * 1001, add_label_ids=["STARRED"])
    assert mailbox.history_id == start


def test_labels_list_has_every_system_label_and_user_labels(mailbox: Mailbox) -> None:
    created = mailbox.create_label("Customers/ACME")
    assert created == {
        "id": "Label_1",
        "name": "Customers/ACME",
        "messageListVisibility": "show",
        "labelListVisibility": "labelShow",
        "type": "user",
    }
    assert mailbox.create_label("Prospects")["id"] == "Label_2"
    listing = mailbox.list_labels()
    assert_shape(listing, "ListLabelsResponse")
    by_id = {label["id"]: label for label in listing["labels"]}
    assert set(SYSTEM_LABELS) <= set(by_id)
    assert all(by_id[name]["type"] == "system" and by_id[name]["name"] == name for name in SYSTEM_LABELS)
    assert by_id["Label_1"] == created
    assert set(by_id) - set(SYSTEM_LABELS) == {"Label_1", "Label_2"}


def test_create_label_rejects_duplicates_and_reserved_names(mailbox: Mailbox) -> None:
    mailbox.create_label("Deals")
    with raises(409, "Label name exists or conflicts"):
        mailbox.create_label("deals")
    with raises(400, "Invalid label name"):
        mailbox.create_label("Inbox")
    with raises(400, "Invalid label name"):
        mailbox.create_label("   ")


def test_a_user_label_can_be_applied_and_listed(mailbox: Mailbox, factory: MessageFactory) -> None:
    label_id = mailbox.create_label("VIP")["id"]
    message_id = mailbox.insert(factory.plain().raw)["id"]
    mailbox.modify(message_id, add_label_ids=[label_id])
    assert ids(mailbox.list_messages(label_ids=[label_id])) == [message_id]


# --------------------------------------------------------------------------------------- watch
def test_watch_returns_the_history_id_and_an_expiry_seven_days_out(
    mailbox: Mailbox, clock: FakeClock, factory: MessageFactory
) -> None:
    mailbox.insert(factory.plain().raw)
    response = mailbox.watch(topic_name="projects/crm-test/topics/gmail", label_ids=["INBOX"])
    assert_shape(response, "WatchResponse")
    now_ms = int(clock.now * 1000)
    assert response == {"historyId": str(mailbox.history_id), "expiration": str(now_ms + WEEK_MS)}
    assert mailbox.watch_state == WatchState(
        topic_name="projects/crm-test/topics/gmail",
        label_ids=("INBOX",),
        label_filter_behavior="include",
        expiration_ms=now_ms + WEEK_MS,
        history_id=mailbox.history_id,
    )


def test_watch_expires_by_the_clock_and_rewatching_renews_it(mailbox: Mailbox, clock: FakeClock) -> None:
    mailbox.watch(topic_name="projects/p/topics/t")
    clock.advance(7 * 24 * 3600 - 1)
    assert mailbox.watch_state is not None
    renewed = mailbox.watch(
        topic_name="projects/p/topics/t2", label_filter_behavior="EXCLUDE", label_ids=["SPAM"]
    )
    state = mailbox.watch_state
    assert state is not None
    assert (state.topic_name, state.label_filter_behavior) == ("projects/p/topics/t2", "exclude")
    assert renewed["expiration"] == str(state.expiration_ms)
    clock.advance(7 * 24 * 3600)
    assert mailbox.watch_state is None


def test_stop_ends_the_watch(mailbox: Mailbox) -> None:
    mailbox.watch(topic_name="projects/p/topics/t")
    mailbox.stop()
    assert mailbox.watch_state is None
    mailbox.stop()  # stopping twice is fine, as in Gmail


@pytest.mark.parametrize(
    "topic", ["", "gmail", "projects/p/subscriptions/s", "projects//topics/t", "topics/t"]
)
def test_watch_rejects_a_malformed_topic(mailbox: Mailbox, topic: str) -> None:
    with raises(400, "Invalid topicName"):
        mailbox.watch(topic_name=topic)
    assert mailbox.watch_state is None


def test_watch_rejects_unknown_labels_and_filter_behaviour(mailbox: Mailbox) -> None:
    with raises(400, "Invalid label: Label_9"):
        mailbox.watch(topic_name="projects/p/topics/t", label_ids=["Label_9"])
    with raises(400):
        mailbox.watch(topic_name="projects/p/topics/t", label_filter_behavior="sometimes")


# --------------------------------------------------------------------------------------- on_change
def test_on_change_is_called_once_per_changing_call(mailbox: Mailbox, factory: MessageFactory) -> None:
    calls: list[int] = []
    mailbox.on_change = lambda box: calls.append(box.history_id)
    first = mailbox.insert(factory.plain().raw)["id"]
    second = mailbox.insert(factory.plain().raw)["id"]
    mailbox.modify(first, add_label_ids=["STARRED"], remove_label_ids=["UNREAD"])  # two records, one call
    mailbox.batch_modify([first, second], add_label_ids=["IMPORTANT"])  # two records, one call
    mailbox.send(b64(simple(to="bob@example.net")))
    mailbox.delete(second)
    assert len(calls) == 6
    assert calls[-1] == mailbox.history_id
    # reads, no-op changes, failures and watches do not call it
    mailbox.modify(first, add_label_ids=["STARRED"])
    mailbox.get_message(first)
    mailbox.list_messages()
    mailbox.list_history(start_history_id=1000)
    mailbox.watch(topic_name="projects/p/topics/t")
    mailbox.stop()
    mailbox.forget_history()
    with raises(400):
        mailbox.modify(first, add_label_ids=["NOPE"])
    assert len(calls) == 6


def test_on_change_runs_outside_the_lock(mailbox: Mailbox, factory: MessageFactory) -> None:
    observed: list[Any] = []

    def on_change(box: Mailbox) -> None:
        # Another thread must be able to use the mailbox while the callback runs.
        other = threading.Thread(target=lambda: observed.append(box.get_profile()["messagesTotal"]))
        other.start()
        other.join(timeout=30)
        observed.append(other.is_alive())
        # And the callback itself may call back into the mailbox.
        observed.append(box.list_history(start_history_id=1000)["historyId"])

    mailbox.on_change = on_change
    mailbox.insert(factory.plain().raw)
    assert observed == [1, False, "1001"]


def test_on_change_may_change_the_mailbox_again(mailbox: Mailbox, factory: MessageFactory) -> None:
    def star_new_mail(box: Mailbox) -> None:
        box.on_change = None  # once
        newest = box.list_messages(max_results=1)["messages"][0]["id"]
        box.modify(newest, add_label_ids=["STARRED"])

    mailbox.on_change = star_new_mail
    message_id = mailbox.insert(factory.plain().raw)["id"]
    assert "STARRED" in mailbox.get_message(message_id, format="minimal")["labelIds"]


# --------------------------------------------------------------------------------------- a realistic mailbox
def test_a_generated_mailbox_is_fully_servable(clock: FakeClock) -> None:
    mailbox = Mailbox(OWNER, clock=clock)
    generated = MessageFactory(7).mix(60, start=NOW - timedelta(days=30), end=NOW, owner=OWNER)
    for message in generated:
        labels = ["SENT"] if message.sender == OWNER else ["INBOX", "UNREAD"]
        mailbox.insert(message.raw, label_ids=labels)
    listed = list(all_pages(mailbox.list_messages, "messages", max_results=7, include_spam_trash=True))
    assert len(listed) == 60
    for item in listed:
        served = mailbox.get_message(item["id"])
        assert_shape(served, "Message")
        for part in _walk(served["payload"]):
            if "attachmentId" in part["body"]:
                assert_shape(
                    mailbox.get_attachment(item["id"], part["body"]["attachmentId"]), "MessagePartBody"
                )
    assert mailbox.get_profile()["threadsTotal"] < 60  # some replies joined threads
    assert search(mailbox, "newer_than:7d") | search(mailbox, "older_than:7d") == {m["id"] for m in listed}


def _walk(part: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield part
    for child in part.get("parts", []):
        yield from _walk(child)
