"""Reading synced mail and contacts through the API, against the Firestore emulator and the Google stand-in.

Copies and contacts are seeded in their exact stored shape by ``MailStore`` (the sync's own writer), for a
user connected through the real connect flow; the attachment's message also lives in the stand-in's
Gmail, from which the download fetches it.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from local_stack.crm_backend import CrmBackend
from local_stack.google_standin.mime_factory import MessageFactory
from shared.mail.mime import parse_gmail_message
from shared.mail.queries import decode_body
from shared.mail.records import Address, AttachmentMeta, ParsedMessage, message_doc_id
from shared.mail.store import BODY_INLINE_LIMIT, MailStore
from shared.storage.scope import TenantScope
from tests.e2e.connect_support import ALICE, ConnectDriver
from tests.e2e.helpers import assert_problem
from tests.firestore_reads import client, snapshot_documents, store

USER = "user-1"
OTHER_USER = "user-2"
BASE = "/v1/tenants/acme/users/user-1/google-connection"
T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
CSV = "name,email\nZoë,zoe@example.com\n".encode()
NON_ASCII_NAME = "résumé €.csv"


@dataclass(frozen=True)
class Seed:
    """One seeded copy, as the API should list it."""

    gmail_id: str
    thread_id: str
    labels: tuple[str, ...]
    correspondents: frozenset[str]
    received_at: datetime

    @property
    def doc_id(self) -> str:
        return message_doc_id(USER, self.gmail_id)


@dataclass
class MailWorld:
    driver: ConnectDriver
    crm: CrmBackend
    api: FlaskClient
    seeds: list[Seed] = field(default_factory=list)
    chunked_id: str = ""
    chunked_text: str = ""
    attachment_id: str = ""  # the Gmail id of the message with attachments
    attachment_parts: dict[str, AttachmentMeta] = field(default_factory=dict)
    other_user_id: str = ""
    other_tenant_id: str = ""

    def get(self, path: str, *, tenant: str = "acme", user: str = USER, **query: Any) -> Any:
        return self.api.get(path, query_string=query, headers=self.crm.authorization(tenant, user))


def _address(email: str, name: str | None = None) -> Address:
    return Address(email=email, name=name)


def _resource(gmail_id: str, thread_id: str, labels: tuple[str, ...], at: datetime) -> dict[str, Any]:
    return {
        "id": gmail_id,
        "threadId": thread_id,
        "labelIds": list(labels),
        "internalDate": str(int(at.timestamp() * 1000)),
        "snippet": f"snippet of {gmail_id}",
        "sizeEstimate": 2048,
        "historyId": "1200",
    }


def write_copy(store: MailStore, resource: dict[str, Any], parsed: ParsedMessage) -> None:
    """The copy, its body chunks and its contacts' counters, written by the sync's own store."""
    result = store.store({str(resource["id"]): resource}, {str(resource["id"]): parsed}, generation=1)
    assert result.created == 1


def _store(
    store: MailStore,
    gmail_id: str,
    *,
    thread_id: str | None = None,
    labels: tuple[str, ...] = ("INBOX", "UNREAD"),
    at: datetime,
    sender: Address,
    to: list[Address],
    text: str = "",
    html: str = "",
) -> Seed:
    thread_id = thread_id or gmail_id
    parsed = ParsedMessage(
        subject=f"Subject {gmail_id}",
        sender=[sender],
        to=to,
        date=at,
        message_id_header=f"<{gmail_id}@example.com>",
        text_body=text or f"Hello from {gmail_id}",
        html_body=html or f"<p>Hello from {gmail_id}</p>",
    )
    write_copy(store, _resource(gmail_id, thread_id, labels, at), parsed)
    people = {a.email for a in (parsed.sender + parsed.to + parsed.cc)}
    return Seed(gmail_id, thread_id, labels, frozenset(people), at)


ME = _address(ALICE, "Alice")
BOB = _address("bob@example.com", "Bob")
CAROL = _address("carol@example.org", "Carol")
DAVE = _address("dave@example.net", "Dave")


@pytest.fixture
def mail(connect_world: ConnectDriver, crm_backend: CrmBackend) -> MailWorld:
    assert connect_world.connect(USER).outcome == "connected"
    world = MailWorld(connect_world, crm_backend, connect_world.api)
    scope = TenantScope(store(), "acme")
    writer = MailStore(scope, USER, own_address=ALICE, harvest_contacts=True)
    hour = timedelta(hours=1)
    world.seeds += [
        _store(writer, "18e0000000000001", at=T0, sender=BOB, to=[ME]),
        _store(
            writer,
            "18e0000000000002",
            thread_id="18e0000000000001",
            labels=("SENT",),
            at=T0 + hour,
            sender=ME,
            to=[BOB],
        ),
        _store(
            writer, "18e0000000000003", labels=("INBOX", "Label_7"), at=T0 + 2 * hour, sender=CAROL, to=[ME]
        ),
        # Two copies received at the same instant: the document id breaks the tie.
        _store(writer, "18e0000000000004", labels=("INBOX",), at=T0 + 3 * hour, sender=BOB, to=[ME, CAROL]),
        _store(
            writer, "18e0000000000005", labels=("INBOX", "Label_7"), at=T0 + 3 * hour, sender=DAVE, to=[ME]
        ),
        _store(
            writer,
            "18e0000000000007",
            thread_id="18e0000000000007",
            labels=("INBOX", "Label_7", "UNREAD"),
            at=T0 + 26 * hour,
            sender=BOB,
            to=[ME],
        ),
        _store(
            writer,
            "18e0000000000008",
            thread_id="18e0000000000007",
            labels=("SENT",),
            at=T0 + 27 * hour,
            sender=ME,
            to=[BOB, DAVE],
        ),
    ]
    # A body too large for one document: the store moves it to chunks.
    world.chunked_text = "".join(f"line {n:06d}: naïve café ☕ — ok\n" for n in range(30_000))
    assert len(world.chunked_text.encode()) > BODY_INLINE_LIMIT
    world.chunked_id = "18e0000000000006"
    world.seeds.append(
        _store(
            writer,
            world.chunked_id,
            labels=("INBOX",),
            at=T0 + 4 * hour,
            sender=DAVE,
            to=[ME],
            text=world.chunked_text,
            html="<p>big</p>",
        )
    )
    # A message in the stand-in's Gmail with two attachments, stored as the sync stores it.
    generated = MessageFactory(7).with_attachments(
        sender="erin@example.com",
        to=[ALICE],
        subject="Quarterly report",
        attachments=[("report.pdf", "application/pdf", PDF), (NON_ASCII_NAME, "text/csv", CSV)],
    )
    gmail = connect_world.standin.mailbox(ALICE)
    inserted = gmail.insert(generated.raw, label_ids=("INBOX",))
    resource = gmail.get_message(inserted["id"], format="full")
    parsed = parse_gmail_message(resource)
    assert [a.filename for a in parsed.attachments] == ["report.pdf", NON_ASCII_NAME]
    write_copy(writer, resource, parsed)
    world.attachment_id = inserted["id"]
    world.attachment_parts = {a.part_id: a for a in parsed.attachments}
    world.seeds.append(
        Seed(
            inserted["id"],
            inserted["threadId"],
            ("INBOX",),
            frozenset({"erin@example.com", ALICE}),
            datetime.fromtimestamp(int(resource["internalDate"]) / 1000, UTC),
        )
    )
    # Another user of the tenant, and another tenant (same user id): never visible to user-1 of acme.
    world.other_user_id = "18e00000000000aa"
    _store(
        MailStore(scope, OTHER_USER, own_address="zed@example.com", harvest_contacts=True),
        world.other_user_id,
        at=T0,
        sender=BOB,
        to=[],
    )
    put = world.api.put(
        "/v1/tenants/other",
        json={"name": "Other", "plan": "Standard"},
        headers=crm_backend.authorization("other"),
    )
    assert put.status_code == 201
    world.other_tenant_id = "18e00000000000bb"
    _store(
        MailStore(TenantScope(store(), "other"), USER, own_address=ALICE, harvest_contacts=True),
        world.other_tenant_id,
        at=T0 + 100 * hour,
        sender=_address("mallory@example.com"),
        to=[ME],
    )
    return world


def _expected(seeds: list[Seed], **filters: Any) -> list[str]:
    chosen = [
        seed
        for seed in seeds
        if (filters.get("thread_id") in (None, seed.thread_id))
        and (filters.get("label") in (None, *seed.labels))
        and (filters.get("correspondent") is None or filters["correspondent"].lower() in seed.correspondents)
        and (filters.get("received_after") is None or seed.received_at > filters["received_after"])
        and (filters.get("received_before") is None or seed.received_at < filters["received_before"])
    ]
    chosen.sort(key=lambda seed: (seed.received_at, seed.doc_id), reverse=True)
    return [seed.gmail_id for seed in chosen]


def _all_pages(world: MailWorld, path: str, page_size: int, **query: Any) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    token: str | None = None
    pages = 0
    while True:
        params = {**query, "page_size": page_size, **({"page_token": token} if token else {})}
        response = world.get(path, **params)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        assert len(body["items"]) <= page_size
        items += body["items"]
        pages += 1
        token = body["next_page_token"]
        if token is None:
            return items, pages
        assert pages < 50


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --- listing --------------------------------------------------------------------------------------------


def test_messages_are_listed_newest_first_a_page_at_a_time(mail: MailWorld) -> None:
    items, pages = _all_pages(mail, f"{BASE}/messages", 3)
    assert [item["gmail_id"] for item in items] == _expected(mail.seeds)
    assert pages == -(-len(mail.seeds) // 3)  # no empty last page
    first = next(item for item in items if item["gmail_id"] == "18e0000000000007")
    assert first == {
        "message_key": message_doc_id(USER, "18e0000000000007"),
        "gmail_id": "18e0000000000007",
        "thread_id": "18e0000000000007",
        "subject": "Subject 18e0000000000007",
        "sender": [{"email": "bob@example.com", "name": "Bob"}],
        "to": [{"email": ALICE, "name": "Alice"}],
        "snippet": "snippet of 18e0000000000007",
        "label_ids": ["INBOX", "Label_7", "UNREAD"],
        "unread": True,
        "received_at": "2024-03-05T11:00:00Z",
        "attachment_count": 0,
        "attached_to": [],
        "deleted_in_gmail": False,
    }
    with_files = next(item for item in items if item["gmail_id"] == mail.attachment_id)
    assert with_files["attachment_count"] == 2
    assert all("text_body" not in item and "html_body" not in item for item in items)


FILTERS = {
    "thread": {"thread_id": "18e0000000000001"},
    "label": {"label": "Label_7"},
    "system_label": {"label": "SENT"},
    "correspondent_any_case": {"correspondent": "BOB@Example.com"},
    "received_after": {"received_after": T0 + timedelta(hours=3)},
    "received_before": {"received_before": T0 + timedelta(hours=3)},
    "window": {"received_after": T0, "received_before": T0 + timedelta(hours=26)},
    "label_and_correspondent": {"label": "Label_7", "correspondent": "bob@example.com"},
    "thread_and_label": {"thread_id": "18e0000000000007", "label": "SENT"},
    "thread_and_correspondent": {"thread_id": "18e0000000000007", "correspondent": "dave@example.net"},
    "everything": {
        "thread_id": "18e0000000000007",
        "label": "Label_7",
        "correspondent": "bob@example.com",
        "received_after": T0,
        "received_before": T0 + timedelta(days=3),
    },
    "nothing_matches": {"label": "Label_7", "correspondent": "erin@example.com"},
    "unknown_correspondent": {"correspondent": "nobody@example.com"},
}


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_each_filter_and_their_combinations_page_newest_first(mail: MailWorld, name: str) -> None:
    filters = FILTERS[name]
    query = {k: _rfc3339(v) if isinstance(v, datetime) else v for k, v in filters.items()}
    items, _ = _all_pages(mail, f"{BASE}/messages", 2, **query)
    expected = _expected(mail.seeds, **filters)
    assert [item["gmail_id"] for item in items] == expected
    assert name.startswith(("nothing", "unknown")) or expected


def test_a_page_token_resumes_only_its_own_listing(mail: MailWorld) -> None:
    first = mail.get(f"{BASE}/messages", page_size=2).get_json()
    token = first["next_page_token"]
    assert token
    assert mail.get(f"{BASE}/messages", page_size=2, page_token=token).status_code == 200
    for other in (
        {"label": "INBOX"},  # the same listing with other filters
        {"correspondent": "bob@example.com"},
    ):
        response = mail.get(f"{BASE}/messages", page_size=2, page_token=token, **other)
        assert_problem(response, 400, "invalid_page_token")
    assert_problem(mail.get("/v1/tenants/acme/contacts", page_token=token), 400, "invalid_page_token")
    for garbage in ("x", "!!!!", base64.urlsafe_b64encode(b'{"v":1}').decode(), token[:-3]):
        assert_problem(mail.get(f"{BASE}/messages", page_token=garbage), 400, "invalid_page_token")


# --- isolation ------------------------------------------------------------------------------------------


def test_another_users_or_tenants_mail_is_never_served(mail: MailWorld) -> None:
    listed, _ = _all_pages(mail, f"{BASE}/messages", 200)
    ids = {item["gmail_id"] for item in listed}
    assert mail.other_user_id not in ids
    assert mail.other_tenant_id not in ids
    # Their ids through the caller's own URLs: no such message.
    for gmail_id in (mail.other_user_id, mail.other_tenant_id):
        assert_problem(mail.get(f"{BASE}/messages/{gmail_id}"), 404, "message_not_found")
        assert_problem(mail.get(f"{BASE}/threads/{gmail_id}"), 404, "thread_not_found")
        assert_problem(mail.get(f"{BASE}/messages/{gmail_id}/attachments/1"), 404, "message_not_found")
    # Another user's URLs with the caller's token, and the tenant's URLs with another tenant's token.
    other_user = "/v1/tenants/acme/users/user-2/google-connection"
    for path in (
        f"{other_user}/messages",
        f"{other_user}/messages/{mail.other_user_id}",
        f"{other_user}/threads/{mail.other_user_id}",
        f"{other_user}/messages/{mail.other_user_id}/attachments/1",
    ):
        assert_problem(mail.get(path), 404, "connection_not_found")
    for path in (
        f"{BASE}/messages",
        f"{BASE}/messages/18e0000000000001",
        f"{BASE}/threads/18e0000000000001",
        f"{BASE}/messages/{mail.attachment_id}/attachments/1",
        "/v1/tenants/acme/contacts",
    ):
        assert_problem(mail.get(path, tenant="other"), 404, "tenant_not_found")
    # The other tenant's user sees their own copy only.
    theirs = mail.get("/v1/tenants/other/users/user-1/google-connection/messages", tenant="other").get_json()
    assert [item["gmail_id"] for item in theirs["items"]] == [mail.other_tenant_id]
    contacts = mail.get("/v1/tenants/other/contacts", tenant="other").get_json()
    assert [item["email"] for item in contacts["items"]] == ["mallory@example.com"]


# --- one message, a thread ------------------------------------------------------------------------------


def test_a_message_is_served_whole(mail: MailWorld) -> None:
    response = mail.get(f"{BASE}/messages/18e0000000000004")
    assert response.status_code == 200
    body = response.get_json()
    assert body["gmail_id"] == "18e0000000000004"
    assert body["text_body"] == "Hello from 18e0000000000004"
    assert body["html_body"] == "<p>Hello from 18e0000000000004</p>"
    assert body["to"] == [{"email": ALICE, "name": "Alice"}, {"email": "carol@example.org", "name": "Carol"}]
    assert body["received_at"] == "2024-03-04T12:00:00Z"
    assert_problem(mail.get(f"{BASE}/messages/18e00000000000ff"), 404, "message_not_found")


def test_a_chunked_body_is_reassembled(mail: MailWorld) -> None:
    stored = (
        client().document(f"tenants/acme/messages/{message_doc_id(USER, mail.chunked_id)}").get().to_dict()
    )
    assert stored["body_in_chunks"] is True
    assert stored["body_chunk_count"] >= 2
    assert stored["text_body"] == ""
    body = mail.get(f"{BASE}/messages/{mail.chunked_id}").get_json()
    assert body["text_body"] == mail.chunked_text
    assert body["html_body"] == "<p>big</p>"
    assert body["body_in_chunks"] is True
    assert body["body_truncated"] is False
    assert "body_incomplete" not in body["parse_errors"]


def _rewrite_as_chunked(gmail_id: str, chunks: list[bytes], *, count: int, truncated: bool) -> None:
    """A copy whose body sits in chunks exactly as the store leaves it (here hand-cut, to be small)."""
    reference = client().document(f"tenants/acme/messages/{message_doc_id(USER, gmail_id)}")
    reference.update(
        {
            "text_body": "",
            "html_body": "",
            "body_in_chunks": True,
            "body_chunk_count": count,
            "body_truncated": truncated,
        }
    )
    for index, chunk in enumerate(chunks):
        reference.collection("body_chunks").document(str(index)).set(
            {"tenant_id": "acme", "index": index, "data": chunk}
        )


def test_a_body_cut_at_the_cap_is_served_as_far_as_it_goes(mail: MailWorld) -> None:
    encoded = json.dumps({"text": "Grüße 😀 " * 50, "html": "<p>never reached</p>"}).encode()
    cut = encoded[: encoded.index(b"\\ud83d") + 9]  # inside the escape of the emoji's second half
    _rewrite_as_chunked("18e0000000000003", [cut[:100], cut[100:]], count=2, truncated=True)
    body = mail.get(f"{BASE}/messages/18e0000000000003").get_json()
    assert body["body_truncated"] is True
    assert body["text_body"] == "Grüße "
    assert body["html_body"] == ""
    assert decode_body(encoded) == ("Grüße 😀 " * 50, "<p>never reached</p>")


def test_a_body_with_a_missing_chunk_says_so_instead_of_failing(mail: MailWorld) -> None:
    encoded = json.dumps({"text": "first part and second part", "html": ""}).encode()
    _rewrite_as_chunked("18e0000000000005", [encoded[:15]], count=2, truncated=False)
    response = mail.get(f"{BASE}/messages/18e0000000000005")
    assert response.status_code == 200
    body = response.get_json()
    assert "body_incomplete" in body["parse_errors"]
    assert body["text_body"] == "first"


def test_a_thread_is_served_oldest_first_with_bodies(mail: MailWorld) -> None:
    body = mail.get(f"{BASE}/threads/18e0000000000007").get_json()
    assert body["thread_id"] == "18e0000000000007"
    assert body["truncated"] is False
    assert [m["gmail_id"] for m in body["messages"]] == ["18e0000000000007", "18e0000000000008"]
    assert body["messages"][1]["text_body"] == "Hello from 18e0000000000008"
    assert body["messages"][1]["label_ids"] == ["SENT"]
    first_thread = mail.get(f"{BASE}/threads/18e0000000000001").get_json()
    assert [m["gmail_id"] for m in first_thread["messages"]] == ["18e0000000000001", "18e0000000000002"]
    assert_problem(mail.get(f"{BASE}/threads/18e00000000000ff"), 404, "thread_not_found")


# --- attachments ----------------------------------------------------------------------------------------


def test_an_attachment_is_fetched_from_gmail_with_its_type_and_name(mail: MailWorld) -> None:
    parts = {meta.filename: part_id for part_id, meta in mail.attachment_parts.items()}
    calls_before = len(mail.driver.standin.calls.calls(method_id="gmail.users.messages.attachments.get"))
    response = mail.get(f"{BASE}/messages/{mail.attachment_id}/attachments/{parts['report.pdf']}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_data() == PDF
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Length"] == str(len(PDF))
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "private, no-store"
    csv = mail.get(f"{BASE}/messages/{mail.attachment_id}/attachments/{parts[NON_ASCII_NAME]}")
    assert csv.status_code == 200
    assert csv.get_data() == CSV
    assert csv.headers["Content-Type"] == "text/csv"
    disposition = csv.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="r_sum_ _.csv"; ')
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert encoded == "r%C3%A9sum%C3%A9%20%E2%82%AC.csv"
    assert urllib.parse.unquote(encoded, encoding="utf-8") == NON_ASCII_NAME
    calls = mail.driver.standin.calls.calls(method_id="gmail.users.messages.attachments.get")
    assert len(calls) - calls_before == 2
    assert {call.account for call in calls} == {ALICE}


def test_a_missing_attachment_is_404_and_asks_gmail_nothing(mail: MailWorld) -> None:
    before = len(mail.driver.standin.calls.calls(prefix="gmail."))
    assert_problem(
        mail.get(f"{BASE}/messages/{mail.attachment_id}/attachments/9"), 404, "attachment_not_found"
    )
    assert_problem(mail.get(f"{BASE}/messages/18e0000000000001/attachments/1"), 404, "attachment_not_found")
    assert_problem(mail.get(f"{BASE}/messages/18e00000000000ff/attachments/1"), 404, "message_not_found")
    assert len(mail.driver.standin.calls.calls(prefix="gmail.")) == before


def test_an_attachment_deleted_in_gmail_is_404(mail: MailWorld) -> None:
    mail.driver.standin.mailbox(ALICE).delete(mail.attachment_id)
    part_id = next(iter(mail.attachment_parts))
    response = mail.get(f"{BASE}/messages/{mail.attachment_id}/attachments/{part_id}")
    assert_problem(response, 404, "attachment_gone")


def test_an_attachment_of_a_revoked_grant_asks_for_a_reconnect(mail: MailWorld) -> None:
    mail.driver.standin.oauth.revoke_account(ALICE)
    part_id = next(iter(mail.attachment_parts))
    response = mail.get(f"{BASE}/messages/{mail.attachment_id}/attachments/{part_id}")
    assert_problem(response, 409, "invalid_grant")
    assert mail.driver.status(USER).get_json()["status"] == "needs_reconnect"


# --- contacts -------------------------------------------------------------------------------------------


def _stored_contacts() -> list[dict[str, Any]]:
    documents = [s.to_dict() for s in client().collection("tenants/acme/contacts").stream()]
    documents.sort(key=lambda d: d["email"])
    documents.sort(key=lambda d: d["last_contact_ms"], reverse=True)
    return documents


def test_contacts_are_listed_most_recent_first_a_page_at_a_time(mail: MailWorld) -> None:
    stored = _stored_contacts()
    assert {d["email"] for d in stored} == {
        "bob@example.com",
        "carol@example.org",
        "dave@example.net",
        "erin@example.com",
    }
    items, pages = _all_pages(mail, "/v1/tenants/acme/contacts", 1)
    assert [item["email"] for item in items] == [d["email"] for d in stored]
    assert pages == len(stored)
    bob = next(item for item in items if item["email"] == "bob@example.com")
    assert bob == {
        "email": "bob@example.com",
        "display_name": "Bob",
        "received_count": 4,  # From on received mail (one of them user-2's: contacts are tenant-wide)
        "sent_count": 2,  # To on sent mail
        "first_contact_at": "2024-03-04T09:00:00Z",
        "last_contact_at": "2024-03-05T12:00:00Z",
    }
    # Tokens name the contact's document, never its address.
    token = mail.get("/v1/tenants/acme/contacts", page_size=1).get_json()["next_page_token"]
    assert b"@" not in base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("b", ["bob@example.com"]),
        ("BO", ["bob@example.com"]),
        ("dave@example.net", ["dave@example.net"]),
        ("e", ["erin@example.com"]),
        ("z", []),
    ],
)
def test_contacts_by_address_prefix(mail: MailWorld, prefix: str, expected: list[str]) -> None:
    items, _ = _all_pages(mail, "/v1/tenants/acme/contacts", 1, query=prefix)
    assert [item["email"] for item in items] == expected


def test_contacts_of_an_unknown_tenant_are_404(mail: MailWorld) -> None:
    assert_problem(mail.get("/v1/tenants/ghost/contacts", tenant="ghost"), 404, "tenant_not_found")


# --- refusals and writes --------------------------------------------------------------------------------

BAD_LISTINGS = [
    {"thread_id": "not-hex"},
    {"thread_id": "18E0000000000001"},
    {"label": "IN BOX"},
    {"label": ""},
    {"correspondent": "not-an-address"},
    {"correspondent": "a@b"},
    {"correspondent": "x" * 250 + "@example.com"},
    {"received_after": "2024-03-04"},
    {"received_after": "1709542800"},
    {"received_after": "2024-03-04T09:00:00"},  # no offset
    {"received_before": "yesterday"},
    {"received_before": "9999-12-31T23:59:59-23:59"},  # past year 9999 in UTC
    {"received_after": "2024-02-30T00:00:00Z"},
    {"received_after": "2024-03-05T00:00:00Z", "received_before": "2024-03-04T00:00:00Z"},
    {"page_size": "0"},
    {"page_size": "201"},
    {"unknown": "1"},
]


@pytest.mark.parametrize("query", BAD_LISTINGS)
def test_bad_filters_are_400_and_write_nothing(mail: MailWorld, query: dict[str, str]) -> None:
    before = snapshot_documents()
    response = mail.get(f"{BASE}/messages", **query)
    assert_problem(response, 400, "validation_failed")
    assert "errors" in response.get_json()
    for value in query.values():
        assert value not in response.get_data(as_text=True) or value in ("0", "1", "")
    assert snapshot_documents() == before


@pytest.mark.parametrize(
    "path",
    [
        f"{BASE}/messages/NOT-HEX",
        f"{BASE}/messages/{'a' * 41}",
        f"{BASE}/threads/xyz",
        f"{BASE}/messages/18e0000000000001/attachments/a",
        f"{BASE}/messages/18e0000000000001/attachments/1..2",
        f"{BASE}/messages/18e0000000000001/attachments/-1",
    ],
)
def test_bad_ids_in_paths_are_400(mail: MailWorld, path: str) -> None:
    before = snapshot_documents()
    assert_problem(mail.get(path), 400, "validation_failed")
    assert snapshot_documents() == before


@pytest.mark.parametrize(
    "query", [{"query": "a b"}, {"query": ""}, {"query": "x" * 255}, {"page_size": "-1"}]
)
def test_bad_contact_queries_are_400(mail: MailWorld, query: dict[str, str]) -> None:
    assert_problem(mail.get("/v1/tenants/acme/contacts", **query), 400, "validation_failed")


def test_reads_write_nothing(mail: MailWorld) -> None:
    before = snapshot_documents()
    _all_pages(mail, f"{BASE}/messages", 2)
    _all_pages(mail, f"{BASE}/messages", 2, label="Label_7", correspondent="bob@example.com")
    mail.get(f"{BASE}/messages/{mail.chunked_id}")
    mail.get(f"{BASE}/threads/18e0000000000007")
    part_id = next(iter(mail.attachment_parts))
    assert mail.get(f"{BASE}/messages/{mail.attachment_id}/attachments/{part_id}").status_code == 200
    _all_pages(mail, "/v1/tenants/acme/contacts", 2, query="b")
    mail.get(f"{BASE}/messages/18e00000000000ff")
    assert snapshot_documents() == before
