"""Property-based fuzzing of every route: whatever arrives, the answer is never a 5xx, a refusal is
problem+json, and a refused request writes nothing.

Requests reach the handlers, not only the router: every ``<parameter>`` of a route's path is filled, with
values a handler can act on (the caller's tenant and user, connected through the real connect flow, the
Gmail id of a synced copy of theirs, the key of a synced event) or, one parameter at a time, a hostile
segment or another tenant's or user's id; bodies and queries are the route's own well-formed ones or fuzz.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.calendar.events import event_doc_id
from shared.mail.records import Address, ParsedMessage
from shared.mail.store import MailStore
from shared.routes import all_routes
from shared.storage.scope import TenantScope
from tests.e2e.connect_support import ALICE, RETURN_URL, ConnectDriver
from tests.firestore_reads import snapshot_documents, store

ROUTES = all_routes()

TENANT, USER = "acme", "user-1"  # the caller's token names them
SEEDED = "18e0000000000001"  # the Gmail id (and thread id) of the caller's one synced copy
EVENT_ID = "fuseevent0001"  # the Google id of the caller's one synced event
EVENT_KEY = event_doc_id(USER, "primary", EVENT_ID)
SOON = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
plans = st.sampled_from(["Free", "CRM+", "Demo", "Standard", "Professional", "NFR", "free", "Gold", ""])
near_valid_bodies = st.fixed_dictionaries(
    {},
    optional={"name": st.text(max_size=250) | json_values, "plan": plans | json_values, "extra": json_values},
)
raw_bodies = st.binary(max_size=200) | near_valid_bodies.map(lambda body: json.dumps(body).encode())
queries = st.dictionaries(
    st.sampled_from(["page_size", "page_token", "x"]),
    st.text(max_size=20) | st.integers().map(str),
    max_size=3,
)
methods = st.sampled_from(["GET", "PUT", "POST", "DELETE", "PATCH"])
content_types = st.sampled_from(["application/json", "text/plain", "application/json; charset=utf-8", ""])

# Each path parameter: values its handler can act on, and what only a refusal may answer.
USABLE = {
    "tenant_id": [TENANT],
    "user_id": [USER],
    "gmail_id": [SEEDED, "18e00000000000ff"],
    "thread_id": [SEEDED, "18e00000000000ff"],
    "part_id": ["1", "2.1"],
    "entity_type": ["deal", "task"],
    "entity_id": ["D-1", "T_3"],
    "write_id": ["0" * 64],
    "outbound_id": ["0" * 64],
    "event_key": [EVENT_KEY, "0" * 40],
    "file_id": ["a" * 33],
}
FOREIGN = {"tenant_id": ["other"], "user_id": ["user-2"]}
hostile_segments = st.sampled_from(
    ["ACME", "a" * 130, "%2F..%2F", "..", "__x__", "a.b", "é", "%00", "-1", "1..2", "18E0000000000001"]
)
ENTITY = {"type": "deal", "id": "D-1"}
USABLE_BODIES = {
    "putTenant": {"name": "Acme", "plan": "Standard"},
    "putTenantPlan": {"plan": "Professional"},
    "authorizeGoogleConnection": {"features": ["mail"], "return_url": RETURN_URL},
    "attachMessageToCrm": {"entity": ENTITY},
    "attachThreadToCrm": {"entity": ENTITY},
    "changeMessageLabels": {"read": True},
    "changeThreadLabels": {"read": True, "add_labels": ["STARRED"]},
    "sendMessage": {"to": [{"email": "bob@example.com"}], "text": "Hello"},
    "selectCalendars": {"calendar_ids": []},
    "createEvent": {
        "summary": "Fuzzed",
        "start": {"date_time": "2030-01-02T10:00:00Z"},
        "end": {"date_time": "2030-01-02T11:00:00Z"},
    },
    "changeEvent": {"summary": "Renamed"},
    "attachEventToCrm": {"entity": ENTITY},
    "attachDriveFile": {"file_id": "a" * 33, "entity": ENTITY, "team": [{"email": "bob@example.com"}]},
    "createDriveDoc": {"name": "Fuzzed", "entity": ENTITY},
}
USABLE_QUERIES = {
    "detachMessageFromCrm": ENTITY,
    "detachThreadFromCrm": ENTITY,
    "detachEventFromCrm": ENTITY,
    "listEvents": {"time_min": "2030-01-01T00:00:00Z", "time_max": "2030-02-01T00:00:00Z"},
    "detachDriveFile": ENTITY,
    "exportDriveFile": {"format": "pdf"},
    "uploadDriveFile": {"filename": "a.txt", "entity_type": "deal", "entity_id": "D-1"},
}


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, bytes, dict[str, str]]:
    """(method, path, body, query) for one route: its own method or another, every path parameter
    usable or (one of them) hostile, its own well-formed body and query or fuzz."""
    route = draw(st.sampled_from(ROUTES))
    method = draw(st.just(route.method) | methods)
    names = re.findall(r"<(\w+)>", route.path)
    spoiled = draw(st.none() | st.sampled_from(names)) if names else None
    path = route.path
    for name in names:
        if name == spoiled:
            value = draw(hostile_segments | st.sampled_from(FOREIGN.get(name, ["-"])))
        else:
            value = draw(st.sampled_from(USABLE[name]))
        path = path.replace(f"<{name}>", value, 1)
    usable_body = USABLE_BODIES.get(route.operation_id)
    body = draw(raw_bodies if usable_body is None else st.just(json.dumps(usable_body).encode()) | raw_bodies)
    usable_query = USABLE_QUERIES.get(route.operation_id, {})
    query = draw(st.just(usable_query) | queries)
    return method, path, body, query


@pytest.fixture
def world(connect_world: ConnectDriver) -> ConnectDriver:
    """Tenant acme, its user-1 connected to Google (mail, calendar, contacts), one synced copy of theirs,
    attached to a task, and one synced event."""
    features = ["mail", "calendar", "contacts", "drive"]
    assert connect_world.connect(USER, features=features).outcome == "connected"
    connect_world.standin.calendars(ALICE).primary.insert(
        {
            "id": EVENT_ID,
            "summary": "Synced",
            "start": {"dateTime": SOON.isoformat()},
            "end": {"dateTime": (SOON + timedelta(hours=1)).isoformat()},
        }
    )
    connect_world.deliver()
    resource = {
        "id": SEEDED,
        "threadId": SEEDED,
        "labelIds": ["INBOX"],
        "internalDate": "1709542800000",
        "snippet": "hello",
        "sizeEstimate": 2048,
        "historyId": "1200",
    }
    parsed = ParsedMessage(
        subject="Hello",
        sender=[Address(email="bob@example.com")],
        to=[Address(email=ALICE)],
        text_body="Hello",
        html_body="<p>Hello</p>",
    )
    mail = MailStore(TenantScope(store(), TENANT), USER, own_address=ALICE, harvest_contacts=True)
    assert mail.store({SEEDED: resource}, {SEEDED: parsed}, generation=1).created == 1
    # Attached, the copy outlives a fuzzed disconnect, which purges unattached copies only.
    attached = connect_world.api.post(
        f"/v1/tenants/{TENANT}/users/{USER}/google-connection/messages/{SEEDED}/attachments-to-crm",
        json={"entity": {"type": "task", "id": "T_0"}},
        headers=connect_world.crm.authorization(TENANT, USER),
    )
    assert attached.status_code == 200, attached.get_data(as_text=True)
    assert any(path.endswith(f"/events/{EVENT_KEY}") for path in snapshot_documents())
    return connect_world


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    request=requests(),
    content_type=content_types,
    authenticated=st.sampled_from([True, True, False]),
    idempotency_key=st.none() | st.sampled_from(["a" * 8, "key-1234-5678", "short", "é" * 10, " " * 9]),
)
def test_no_input_causes_a_5xx_and_refusals_write_nothing(
    world: ConnectDriver,
    request: tuple[str, str, bytes, dict[str, str]],
    content_type: str,
    authenticated: bool,
    idempotency_key: str | None,
) -> None:
    method, path, body, query = request
    before = snapshot_documents()
    headers = {"Content-Type": content_type} if content_type else {}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    if authenticated:
        headers.update(world.crm.authorization(TENANT, USER))
    response = world.api.open(path, method=method, data=body, query_string=query, headers=headers)
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["code"]
        assert snapshot_documents() == before
