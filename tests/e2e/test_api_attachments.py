"""Attaching synced mail to CRM records and tasks through the API, against the Firestore emulator.

Copies are seeded in their exact stored shape by ``MailStore`` (the sync's own writer) for two users of
the tenant connected through the real connect flow, and one user of another tenant. What is stored is
read back from the emulator: an attached copy holds ``{"type", "id"}`` maps in ``attached_to``, a
detached one an empty list (what the purges look for), and a refused request writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from local_stack.crm_backend import CrmBackend
from shared.crm_links.entities import MAX_ATTACHMENTS
from shared.mail.records import Address, ParsedMessage, message_doc_id
from shared.mail.store import MailStore
from shared.storage.scope import TenantScope
from tests.e2e.connect_support import ALICE, ALICE_OTHER, ConnectDriver
from tests.e2e.helpers import assert_problem
from tests.firestore_reads import client, snapshot_documents, store

USER, OTHER_USER = "user-1", "user-2"
ROOT = "/v1/tenants/acme/users/{user}/google-connection"
BASE = ROOT.format(user=USER)
OTHER_BASE = ROOT.format(user=OTHER_USER)
T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)

DEAL = {"type": "deal", "id": "D-1"}
CONTACT = {"type": "contact", "id": "C-9"}
TASK = {"type": "task", "id": "T_3"}

# user-1's copies: a thread of two, two single messages.
M1, M2, M3, M4 = "18e0000000000001", "18e0000000000002", "18e0000000000003", "18e0000000000004"
THREAD = M1
# user-2's copies; O2 is received at the same instant as M4 (the document id breaks the tie).
O1, O2 = "18e00000000000a1", "18e00000000000a2"
# another tenant's copy, under the same user id.
FOREIGN = "18e00000000000bb"


@dataclass
class World:
    api: FlaskClient
    crm: CrmBackend

    def _headers(self, tenant: str, user: str) -> dict[str, str]:
        return self.crm.authorization(tenant, user)

    def attach(self, path: str, entity: Any, *, tenant: str = "acme", user: str = USER) -> Any:
        return self.api.post(
            f"{path}/attachments-to-crm", json={"entity": entity}, headers=self._headers(tenant, user)
        )

    def detach(self, path: str, entity: dict[str, str], *, tenant: str = "acme", user: str = USER) -> Any:
        return self.api.delete(
            f"{path}/attachments-to-crm", query_string=entity, headers=self._headers(tenant, user)
        )

    def get(self, path: str, *, tenant: str = "acme", user: str = USER, **query: Any) -> Any:
        return self.api.get(path, query_string=query, headers=self._headers(tenant, user))


def _store(store: MailStore, gmail_id: str, *, thread_id: str | None = None, at: datetime) -> None:
    parsed = ParsedMessage(
        subject=f"Subject {gmail_id}",
        sender=[Address(email="bob@example.com", name="Bob")],
        to=[Address(email=ALICE, name="Alice")],
        date=at,
        text_body=f"Hello from {gmail_id}",
    )
    resource = {
        "id": gmail_id,
        "threadId": thread_id or gmail_id,
        "labelIds": ["INBOX"],
        "internalDate": str(int(at.timestamp() * 1000)),
        "snippet": f"snippet of {gmail_id}",
        "sizeEstimate": 1024,
        "historyId": "100",
    }
    assert store.store({gmail_id: resource}, {gmail_id: parsed}, generation=1).created == 1


@pytest.fixture
def world(connect_world: ConnectDriver, crm_backend: CrmBackend) -> World:
    assert connect_world.connect(USER).outcome == "connected"
    assert connect_world.connect(OTHER_USER, account=ALICE_OTHER).outcome == "connected"
    scope = TenantScope(store(), "acme")
    mine = MailStore(scope, USER, own_address=ALICE, harvest_contacts=True)
    _store(mine, M1, at=T0)
    _store(mine, M2, thread_id=THREAD, at=T0 + HOUR)
    _store(mine, M3, at=T0 + 2 * HOUR)
    _store(mine, M4, at=T0 + 3 * HOUR)
    theirs = MailStore(scope, OTHER_USER, own_address=ALICE_OTHER, harvest_contacts=True)
    _store(theirs, O1, at=T0 + 1.5 * HOUR)
    _store(theirs, O2, at=T0 + 3 * HOUR)
    created = connect_world.api.put(
        "/v1/tenants/other",
        json={"name": "Other", "plan": "Standard"},
        headers=crm_backend.authorization("other"),
    )
    assert created.status_code == 201
    _store(
        MailStore(TenantScope(store(), "other"), USER, own_address=ALICE, harvest_contacts=True),
        FOREIGN,
        at=T0 + 9 * HOUR,
    )
    return World(connect_world.api, crm_backend)


def _doc(gmail_id: str, *, user: str = USER, tenant: str = "acme") -> Any:
    return client().document(f"tenants/{tenant}/messages/{message_doc_id(user, gmail_id)}").get()


def _stored(gmail_id: str, *, user: str = USER) -> list[dict[str, str]]:
    data = _doc(gmail_id, user=user).to_dict()
    assert data is not None
    attached: list[dict[str, str]] = data["attached_to"]
    return attached


def _update_times() -> dict[str, Any]:
    return {s.reference.path: s.update_time for s in client().collection_group("messages").stream()}


def _listing(world: World, entity: dict[str, str], page_size: int, **kwargs: Any) -> tuple[list[str], int]:
    path = f"/v1/tenants/acme/crm-records/{entity['type']}/{entity['id']}/messages"
    ids: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        query: dict[str, Any] = {"page_size": page_size, **({"page_token": token} if token else {})}
        response = world.get(path, **query, **kwargs)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        assert len(body["items"]) <= page_size
        ids += [item["gmail_id"] for item in body["items"]]
        pages += 1
        token = body["next_page_token"]
        if token is None:
            return ids, pages
        assert pages < 20


# --- one message ----------------------------------------------------------------------------------------


def test_a_message_is_attached_and_shows_it(world: World) -> None:
    response = world.attach(f"{BASE}/messages/{M3}", DEAL)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["gmail_id"] == M3
    assert body["message_key"] == message_doc_id(USER, M3)
    assert body["attached_to"] == [DEAL]
    assert body["subject"] == f"Subject {M3}"
    assert "text_body" not in body
    assert _stored(M3) == [DEAL]
    assert world.get(f"{BASE}/messages/{M3}").get_json()["attached_to"] == [DEAL]
    assert all(_stored(other) == [] for other in (M1, M2, M4))


def test_attaching_again_is_a_no_op_that_writes_nothing(world: World) -> None:
    first = world.attach(f"{BASE}/messages/{M3}", DEAL)
    assert first.status_code == 200
    before, times = snapshot_documents(), _update_times()
    again = world.attach(f"{BASE}/messages/{M3}", {"id": "D-1", "type": "deal"})  # any key order
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert _stored(M3) == [DEAL]
    assert snapshot_documents() == before
    assert _update_times() == times


def test_a_message_can_be_attached_to_several_records_and_tasks(world: World) -> None:
    for entity in (DEAL, CONTACT, TASK):
        assert world.attach(f"{BASE}/messages/{M3}", entity).status_code == 200
    assert _stored(M3) == [DEAL, CONTACT, TASK]
    assert world.attach(f"{BASE}/messages/{M3}", CONTACT).get_json()["attached_to"] == [DEAL, CONTACT, TASK]
    for entity in (DEAL, CONTACT, TASK):
        assert _listing(world, entity, 10) == ([M3], 1)


def test_detaching_keeps_the_other_attachments_and_leaves_an_empty_list(world: World) -> None:
    for entity in (DEAL, CONTACT):
        world.attach(f"{BASE}/messages/{M3}", entity)
    response = world.detach(f"{BASE}/messages/{M3}", DEAL)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["attached_to"] == [CONTACT]
    assert _stored(M3) == [CONTACT]
    assert _listing(world, DEAL, 10) == ([], 1)
    times = _update_times()
    again = world.detach(f"{BASE}/messages/{M3}", DEAL)  # not attached (any more): a no-op
    assert again.status_code == 200
    assert again.get_json()["attached_to"] == [CONTACT]
    assert _update_times() == times
    assert world.detach(f"{BASE}/messages/{M3}", CONTACT).get_json()["attached_to"] == []
    assert _stored(M3) == []  # an empty list, not a missing field: the purges find it again


def test_the_number_of_attachments_per_message_is_capped(world: World) -> None:
    full = [{"type": "deal", "id": f"D-{n}"} for n in range(MAX_ATTACHMENTS)]
    _doc(M3).reference.update({"attached_to": full})
    before = snapshot_documents()
    assert_problem(world.attach(f"{BASE}/messages/{M3}", TASK), 409, "too_many_attachments")
    assert snapshot_documents() == before
    assert world.attach(f"{BASE}/messages/{M3}", full[7]).status_code == 200  # held already: a no-op
    assert world.detach(f"{BASE}/messages/{M3}", full[0]).status_code == 200
    assert world.attach(f"{BASE}/messages/{M3}", TASK).status_code == 200
    assert len(_stored(M3)) == MAX_ATTACHMENTS
    assert _stored(M3)[-1] == TASK


def test_a_copy_deleted_in_gmail_can_still_be_attached(world: World) -> None:
    _doc(M4).reference.update({"deleted_in_gmail": True})
    response = world.attach(f"{BASE}/messages/{M4}", DEAL)
    assert response.status_code == 200
    assert response.get_json()["deleted_in_gmail"] is True
    assert response.get_json()["attached_to"] == [DEAL]


# --- a thread -------------------------------------------------------------------------------------------


def test_a_thread_is_attached_and_detached_whole(world: World) -> None:
    response = world.attach(f"{BASE}/threads/{THREAD}", DEAL)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"attached": 2}
    assert _stored(M1) == _stored(M2) == [DEAL]
    assert _stored(M3) == _stored(M4) == []
    times = _update_times()
    assert world.attach(f"{BASE}/threads/{THREAD}", DEAL).get_json() == {"attached": 2}
    assert _update_times() == times  # a repeat writes nothing
    world.attach(f"{BASE}/messages/{M1}", TASK)
    detached = world.detach(f"{BASE}/threads/{THREAD}", DEAL)
    assert detached.status_code == 200, detached.get_data(as_text=True)
    assert detached.get_json() == {"detached": 2}
    assert _stored(M1) == [TASK]
    assert _stored(M2) == []
    assert world.detach(f"{BASE}/threads/{THREAD}", DEAL).get_json() == {"detached": 2}


def test_a_thread_with_one_copy_at_the_cap_is_refused_whole(world: World) -> None:
    full = [{"type": "lead", "id": f"L-{n}"} for n in range(MAX_ATTACHMENTS)]
    _doc(M2).reference.update({"attached_to": full})
    before = snapshot_documents()
    assert_problem(world.attach(f"{BASE}/threads/{THREAD}", DEAL), 409, "too_many_attachments")
    assert snapshot_documents() == before


def test_an_unknown_thread_is_404_and_writes_nothing(world: World) -> None:
    before = snapshot_documents()
    assert_problem(world.attach(f"{BASE}/threads/18e00000000000ff", DEAL), 404, "thread_not_found")
    assert_problem(world.detach(f"{BASE}/threads/18e00000000000ff", DEAL), 404, "thread_not_found")
    assert snapshot_documents() == before


# --- a record's mail ------------------------------------------------------------------------------------


def test_a_records_mail_is_listed_across_users_newest_first_a_page_at_a_time(world: World) -> None:
    assert world.attach(f"{BASE}/threads/{THREAD}", DEAL).status_code == 200  # M1, M2
    assert world.attach(f"{BASE}/messages/{M4}", DEAL).status_code == 200
    assert world.attach(f"{OTHER_BASE}/messages/{O1}", DEAL, user=OTHER_USER).status_code == 200
    assert world.attach(f"{OTHER_BASE}/messages/{O2}", DEAL, user=OTHER_USER).status_code == 200
    assert world.attach(f"{BASE}/messages/{M3}", {"type": "deal", "id": "D-2"}).status_code == 200
    assert world.attach(f"{BASE}/messages/{M3}", {"type": "lead", "id": "D-1"}).status_code == 200
    foreign = world.attach(
        f"/v1/tenants/other/users/{USER}/google-connection/messages/{FOREIGN}", DEAL, tenant="other"
    )
    assert foreign.status_code == 200
    # O2 and M4 were received at the same instant: the document id (user-2_... after user-1_...) decides.
    expected = [O2, M4, O1, M2, M1]
    for page_size in (1, 2, 5, 200):
        ids, pages = _listing(world, DEAL, page_size)
        assert ids == expected
        assert pages == -(-len(expected) // page_size)  # no empty last page
    assert _listing(world, DEAL, 2, user=OTHER_USER)[0] == expected  # every user of the tenant sees all
    assert _listing(world, {"type": "deal", "id": "D-2"}, 5) == ([M3], 1)
    assert _listing(world, {"type": "lead", "id": "D-1"}, 5) == ([M3], 1)
    assert _listing(world, {"type": "company", "id": "D-1"}, 5) == ([], 1)
    theirs = world.get("/v1/tenants/other/crm-records/deal/D-1/messages", tenant="other").get_json()
    assert [item["gmail_id"] for item in theirs["items"]] == [FOREIGN]
    item = world.get("/v1/tenants/acme/crm-records/deal/D-1/messages", page_size=1).get_json()["items"][0]
    assert item["message_key"] == message_doc_id(OTHER_USER, O2)
    assert item["attached_to"] == [DEAL]
    assert item["received_at"] == "2024-03-04T12:00:00Z"


def test_a_records_page_token_resumes_only_its_own_listing(world: World) -> None:
    world.attach(f"{BASE}/threads/{THREAD}", DEAL)
    world.attach(f"{BASE}/messages/{M1}", TASK)
    world.attach(f"{BASE}/messages/{M2}", TASK)
    token = world.get("/v1/tenants/acme/crm-records/deal/D-1/messages", page_size=1).get_json()[
        "next_page_token"
    ]
    assert token
    ok = world.get("/v1/tenants/acme/crm-records/deal/D-1/messages", page_size=1, page_token=token)
    assert [item["gmail_id"] for item in ok.get_json()["items"]] == [M1]
    task_path = f"/v1/tenants/acme/crm-records/task/{TASK['id']}/messages"
    assert_problem(world.get(task_path, page_token=token), 400, "invalid_page_token")
    assert_problem(world.get(f"{BASE}/messages", page_token=token), 400, "invalid_page_token")
    messages_token = world.get(f"{BASE}/messages", page_size=1).get_json()["next_page_token"]
    path = "/v1/tenants/acme/crm-records/deal/D-1/messages"
    assert_problem(world.get(path, page_token=messages_token), 400, "invalid_page_token")
    assert_problem(world.get(path, page_token="garbage"), 400, "invalid_page_token")


# --- isolation ------------------------------------------------------------------------------------------


def test_another_users_or_tenants_ids_are_404_and_write_nothing(world: World) -> None:
    before = snapshot_documents()
    # Their messages and threads through the caller's own URLs: no such message or thread.
    for gmail_id in (O1, FOREIGN):
        assert_problem(world.attach(f"{BASE}/messages/{gmail_id}", DEAL), 404, "message_not_found")
        assert_problem(world.detach(f"{BASE}/messages/{gmail_id}", DEAL), 404, "message_not_found")
        assert_problem(world.attach(f"{BASE}/threads/{gmail_id}", DEAL), 404, "thread_not_found")
        assert_problem(world.detach(f"{BASE}/threads/{gmail_id}", DEAL), 404, "thread_not_found")
    # Another user's URLs with the caller's token.
    for path in (f"{OTHER_BASE}/messages/{O1}", f"{OTHER_BASE}/threads/{O1}"):
        assert_problem(world.attach(path, DEAL), 404, "connection_not_found")
        assert_problem(world.detach(path, DEAL), 404, "connection_not_found")
    # The tenant's URLs with another tenant's token.
    for path in (f"{BASE}/messages/{M1}", f"{BASE}/threads/{THREAD}"):
        assert_problem(world.attach(path, DEAL, tenant="other"), 404, "tenant_not_found")
        assert_problem(world.detach(path, DEAL, tenant="other"), 404, "tenant_not_found")
    listing = "/v1/tenants/acme/crm-records/deal/D-1/messages"
    assert_problem(world.get(listing, tenant="other"), 404, "tenant_not_found")
    assert_problem(
        world.get("/v1/tenants/ghost/crm-records/deal/D-1/messages", tenant="ghost"), 404, "tenant_not_found"
    )
    assert snapshot_documents() == before


def test_a_missing_message_is_404_and_writes_nothing(world: World) -> None:
    before = snapshot_documents()
    assert_problem(world.attach(f"{BASE}/messages/18e00000000000ff", DEAL), 404, "message_not_found")
    assert_problem(world.detach(f"{BASE}/messages/18e00000000000ff", DEAL), 404, "message_not_found")
    assert snapshot_documents() == before
    assert not _doc("18e00000000000ff").exists


# --- refusals -------------------------------------------------------------------------------------------

BAD_BODIES: list[Any] = [
    {},
    {"entity": None},
    {"entity": "deal:D-1"},
    {"entity": {}},
    {"entity": {"type": "deal"}},
    {"entity": {"id": "D-1"}},
    {"entity": {"type": "Deal", "id": "D-1"}},
    {"entity": {"type": "deal-x", "id": "D-1"}},
    {"entity": {"type": "_deal", "id": "D-1"}},
    {"entity": {"type": "d" * 33, "id": "D-1"}},
    {"entity": {"type": "deal", "id": ""}},
    {"entity": {"type": "deal", "id": "a/b"}},
    {"entity": {"type": "deal", "id": ".."}},
    {"entity": {"type": "deal", "id": "x" * 129}},
    {"entity": {"type": "deal", "id": 7}},
    {"entity": {"type": "deal", "id": "D-1", "name": "extra"}},
    {"entity": {"type": "deal", "id": "D-1"}, "extra": True},
    [{"type": "deal", "id": "D-1"}],
]


@pytest.mark.parametrize("body", BAD_BODIES)
@pytest.mark.parametrize("target", ["messages", "threads"])
def test_a_bad_entity_is_400_and_writes_nothing(world: World, body: Any, target: str) -> None:
    before = snapshot_documents()
    response = world.api.post(
        f"{BASE}/{target}/{M1}/attachments-to-crm", json=body, headers=world.crm.authorization("acme")
    )
    assert_problem(response, 400, "validation_failed")
    assert "errors" in response.get_json()
    assert snapshot_documents() == before


BAD_QUERIES: list[dict[str, str]] = [
    {},
    {"type": "deal"},
    {"id": "D-1"},
    {"type": "DEAL", "id": "D-1"},
    {"type": "deal", "id": "a b"},
    {"type": "deal", "id": "D-1", "extra": "1"},
]


@pytest.mark.parametrize("query", BAD_QUERIES)
@pytest.mark.parametrize("target", ["messages", "threads"])
def test_a_bad_detach_is_400_and_writes_nothing(world: World, query: dict[str, str], target: str) -> None:
    world.attach(f"{BASE}/messages/{M1}", DEAL)
    before = snapshot_documents()
    assert_problem(world.detach(f"{BASE}/{target}/{M1}", query), 400, "validation_failed")
    assert snapshot_documents() == before


def test_a_body_that_is_not_json_is_refused_and_writes_nothing(world: World) -> None:
    before = snapshot_documents()
    headers = world.crm.authorization("acme")
    path = f"{BASE}/messages/{M1}/attachments-to-crm"
    not_json = world.api.post(path, data="{", content_type="application/json", headers=headers)
    assert_problem(not_json, 400, "malformed_json")
    form = world.api.post(path, data="type=deal&id=D-1", headers=headers)
    assert_problem(form, 415, "unsupported_media_type")
    assert snapshot_documents() == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"{BASE}/messages/NOT-HEX/attachments-to-crm"),
        ("DELETE", f"{BASE}/threads/xyz/attachments-to-crm"),
        ("GET", "/v1/tenants/acme/crm-records/Deal/D-1/messages"),
        ("GET", "/v1/tenants/acme/crm-records/deal/a.b/messages"),
        ("GET", "/v1/tenants/acme/crm-records/deal/D-1/messages?page_size=0"),
        ("GET", "/v1/tenants/acme/crm-records/deal/D-1/messages?page_size=201"),
        ("GET", "/v1/tenants/acme/crm-records/deal/D-1/messages?type=deal"),
    ],
)
def test_bad_paths_and_queries_are_400(world: World, method: str, path: str) -> None:
    before = snapshot_documents()
    response = world.api.open(
        path,
        method=method,
        json={"entity": DEAL} if method == "POST" else None,
        query_string=DEAL if method == "DELETE" else None,
        headers=world.crm.authorization("acme"),
    )
    assert_problem(response, 400, "validation_failed")
    assert snapshot_documents() == before
