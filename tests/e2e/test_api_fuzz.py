"""Property-based fuzzing of every route: whatever arrives, the answer is never a 5xx, a refusal is
problem+json, and a refused request writes nothing."""

from __future__ import annotations

import json

from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local_stack.crm_backend import CrmBackend
from shared.api.endpoints import ROUTES
from tests.e2e.functions import function_client
from tests.firestore_reads import all_document_paths

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
path_segments = st.sampled_from(["acme", "other", "ACME", "a" * 130, "%2F..%2F", "..", "__x__", "a.b", "é"])
queries = st.dictionaries(
    st.sampled_from(["page_size", "page_token", "x"]),
    st.text(max_size=20) | st.integers().map(str),
    max_size=3,
)
methods = st.sampled_from(["GET", "PUT", "POST", "DELETE", "PATCH"])
content_types = st.sampled_from(["application/json", "text/plain", "application/json; charset=utf-8", ""])


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    route=st.sampled_from(ROUTES),
    method=methods,
    tenant=path_segments,
    body=raw_bodies,
    query=queries,
    content_type=content_types,
    authenticated=st.booleans(),
)
def test_no_input_causes_a_5xx_and_refusals_write_nothing(
    stack_environment: dict[str, str],
    crm_backend: CrmBackend,
    route,
    method: str,
    tenant: str,
    body: bytes,
    query: dict[str, str],
    content_type: str,
    authenticated: bool,
) -> None:
    api: FlaskClient = function_client("api")
    before = all_document_paths()
    headers = {"Content-Type": content_type} if content_type else {}
    if authenticated:
        headers.update(crm_backend.authorization("acme"))
    path = route.path.replace("<tenant_id>", tenant)
    response = api.open(path, method=method, data=body, query_string=query, headers=headers)
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["code"]
        assert all_document_paths() == before
