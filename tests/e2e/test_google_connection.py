"""Connecting a Google account end to end: api, oauth_callback and renew_watches under functions-framework,
the Google and Secret Manager stand-ins, the Firestore and Pub/Sub emulators."""

from __future__ import annotations

import json
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local_stack.google_standin.faults import FaultRule
from tests.e2e.connect_support import (
    ALICE,
    ALICE_OTHER,
    GMAIL_SEND,
    RETURN_URL,
    SCHEDULER_AUDIENCE,
    ConnectDriver,
    sync_requests,
)
from tests.firestore_reads import all_document_paths, client

CONNECTION_DOC = "tenants/acme/connections/user-1"
GRANT_DOC = f"{CONNECTION_DOC}/grant/refresh_token"
SYNC_STATE_DOC = "tenants/acme/sync_states/user-1_gmail"


def watch_due_for_renewal(user: str = "user-1") -> None:
    """Time passes: the Gmail watch now ends within the renewal window."""
    client().document(f"tenants/acme/push_channels/{user}_gmail").update(
        {"expires_at": datetime.now(UTC) + timedelta(hours=1)}
    )


def gmail_watch(status: dict[str, Any]) -> dict[str, Any] | None:
    """The Gmail watch in a connection's answer, if it has one."""
    found = [watch for watch in status["watches"] if watch["source"] == "gmail"]
    return found[0] if found else None


def stored_connection_paths() -> list[str]:
    return [path for path in all_document_paths() if "/connections/" in path]


def test_the_happy_path_connects_stores_a_sealed_grant_starts_the_watch_and_queues_first_syncs(
    connect_world: ConnectDriver,
) -> None:
    callback = connect_world.connect(features=["mail", "calendar", "contacts", "drive"])
    assert callback.status == 302
    assert callback.location == f"{RETURN_URL}?google_connection=connected"

    status = connect_world.status().get_json()
    assert status["status"] == "active"
    assert status["google_email"] == ALICE
    assert {name: state["enabled"] for name, state in status["features"].items()} == {
        "mail": True,
        "calendar": True,
        "contacts": True,
        "drive": True,
    }
    assert {
        "https://www.googleapis.com/auth/calendar.events",
        "https://www.googleapis.com/auth/calendar.calendarlist.readonly",
        "https://www.googleapis.com/auth/drive.file",
    } <= set(status["granted_scopes"])
    watch = gmail_watch(status)
    assert watch is not None
    expires = datetime.fromisoformat(watch["expires_at"])
    assert timedelta(days=6) < expires - datetime.now(UTC) <= timedelta(days=7)
    # No CALENDAR_PUSH_URL or DRIVE_PUSH_URL here: no channels, and the safety net stands in for pushes.
    assert [watch["source"] for watch in status["watches"]] == ["gmail"]
    assert sorted(request["source"] for request in sync_requests()) == ["calendar", "drive", "gmail"]
    assert GRANT_DOC in all_document_paths()


def test_no_plaintext_token_is_stored_and_none_reaches_the_log(
    connect_world: ConnectDriver, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    connect_world.connect()
    everything = json.dumps(
        [client().document(path).get().to_dict() for path in all_document_paths()], default=str
    )
    # The stand-in's refresh tokens start with 1// and its access tokens with ya29., as Google's do.
    assert "1//" not in everything
    assert "ya29." not in everything
    grant = client().document(GRANT_DOC).get().to_dict()
    assert set(grant) >= {"ciphertext", "nonce", "key_version", "algorithm", "tenant_id"}
    logged = capsys.readouterr().out
    assert "1//" not in logged
    assert "ya29." not in logged
    assert ALICE not in logged


def test_a_ciphertext_copied_to_another_connection_does_not_decrypt(connect_world: ConnectDriver) -> None:
    from shared.composition import get_container
    from shared.errors import Permanent

    connect_world.connect("user-1")
    connection = client().document(CONNECTION_DOC).get().to_dict()
    grant = client().document(GRANT_DOC).get().to_dict()
    client().document("tenants/acme/connections/user-2").set(
        {**connection, "connection_id": "user-2", "user_id": "user-2"}
    )
    client().document("tenants/acme/connections/user-2/grant/refresh_token").set(grant)
    with pytest.raises(Permanent) as refused:
        get_container().grants.refresh_token("acme", "user-2")
    assert refused.value.code == "token_undecryptable"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"code": "x"}, "state_missing"),
        ({"code": "x", "state": "acme.0123456789abcdef"}, "state_unknown"),
        ({"code": "x", "state": "../../etc"}, "state_unknown"),
    ],
)
def test_a_callback_without_a_known_state_shows_a_page_and_stores_nothing(
    connect_world: ConnectDriver, params: dict[str, str], expected: str
) -> None:
    url = f"http://oauth.test/callback?{urllib.parse.urlencode(params)}"
    answer = connect_world.callback(connect_world.browser(), url)
    assert answer.status == 400
    assert expected in answer.body
    assert stored_connection_paths() == []


def test_a_reused_state_is_refused(connect_world: ConnectDriver) -> None:
    browser = connect_world.browser()
    authorization_url = connect_world.authorize("user-1").get_json()["authorization_url"]
    google_url = connect_world.start(browser, authorization_url).headers["Location"]
    callback_url = connect_world.consent(google_url)
    assert connect_world.callback(browser, callback_url).outcome == "connected"
    connect_world.disconnect()
    assert connect_world.callback(browser, callback_url).outcome == "state_used"
    assert stored_connection_paths() == []


def test_an_expired_state_is_refused(connect_world: ConnectDriver) -> None:
    browser = connect_world.browser()
    authorization_url = connect_world.authorize("user-1").get_json()["authorization_url"]
    google_url = connect_world.start(browser, authorization_url).headers["Location"]
    callback_url = connect_world.consent(google_url)
    state_id = urllib.parse.parse_qs(urllib.parse.urlparse(callback_url).query)["state"][0].split(".")[1]
    client().document(f"tenants/acme/oauth_states/{state_id}").update(
        {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}
    )
    assert connect_world.callback(browser, callback_url).outcome == "state_expired"
    assert stored_connection_paths() == []


def test_another_users_browser_cannot_complete_a_connect(connect_world: ConnectDriver) -> None:
    victim, attacker = connect_world.browser(), connect_world.browser()
    url = connect_world.authorize("user-1").get_json()["authorization_url"]
    google_url = connect_world.start(attacker, url).headers["Location"]
    callback_url = connect_world.consent(google_url)
    # The attacker lures the victim onto the callback of a flow the attacker started (login CSRF).
    assert connect_world.callback(victim, callback_url).outcome == "state_not_for_this_browser"
    assert stored_connection_paths() == []


def test_a_code_injected_into_another_flow_fails_the_pkce_check(connect_world: ConnectDriver) -> None:
    browser = connect_world.browser()
    first = connect_world.start(browser, connect_world.authorize("user-1").get_json()["authorization_url"])
    second = connect_world.start(browser, connect_world.authorize("user-1").get_json()["authorization_url"])
    code_of_first = urllib.parse.parse_qs(
        urllib.parse.urlparse(connect_world.consent(first.headers["Location"])).query
    )
    second_state = urllib.parse.parse_qs(urllib.parse.urlparse(second.headers["Location"]).query)["state"][0]
    query = urllib.parse.urlencode({"code": code_of_first["code"][0], "state": second_state})
    injected = f"http://oauth.test/callback?{query}"
    assert connect_world.callback(browser, injected).outcome == "code_exchange_failed"
    assert stored_connection_paths() == []


def test_access_denied_on_the_consent_page_stores_nothing(connect_world: ConnectDriver) -> None:
    assert connect_world.connect(decision="deny").outcome == "access_denied"
    assert stored_connection_paths() == []
    assert sync_requests() == []


def test_partly_granted_scopes_turn_those_features_off_with_a_reason(connect_world: ConnectDriver) -> None:
    granted = ["openid", "email", "https://www.googleapis.com/auth/gmail.readonly"]
    assert connect_world.connect(grant=granted).outcome == "connected"
    features = connect_world.status().get_json()["features"]
    off = {"enabled": False, "reason": "scope_not_granted", "missing_scopes": [GMAIL_SEND]}
    assert features["mail"] == off
    assert features["contacts"] == off  # built on mail: off for the same reason
    assert sync_requests() == []
    assert connect_world.standin.calls.calls(method_id="gmail.users.watch") == []


def test_a_plan_without_email_sync_leaves_mail_off_and_starts_no_gmail_watch(
    connect_world: ConnectDriver,
) -> None:
    connect_world.api.put(
        "/v1/tenants/acme/plan", json={"plan": "Free"}, headers=connect_world.crm.authorization("acme")
    )
    assert connect_world.connect().outcome == "connected"
    status = connect_world.status().get_json()
    assert status["features"]["mail"]["reason"] == "plan_excludes"
    assert status["watches"] == []
    assert connect_world.standin.calls.calls(method_id="gmail.users.watch") == []


def test_a_later_invalid_grant_turns_into_needs_reconnect_without_a_retry_loop(
    connect_world: ConnectDriver,
) -> None:
    connect_world.connect()
    connect_world.standin.oauth.revoke_account(ALICE)
    watch_due_for_renewal()
    from shared.composition import reset_container

    reset_container()  # a fresh instance: no access token in memory, so the renewal must refresh
    answer = connect_world.renew_watches()
    assert answer.status_code == 200
    assert answer.get_json()["needs_reconnect"] == 1
    status = connect_world.status().get_json()
    assert (status["status"], status["needs_reconnect_reason"], status["watches"]) == (
        "needs_reconnect",
        "invalid_grant",
        [],
    )
    refreshes = len(connect_world.standin.calls.calls(method_id="oauth.token"))
    assert connect_world.renew_watches().get_json() == {
        "renewed": 0,
        "started": 0,
        "stopped": 0,
        "needs_reconnect": 0,
        "failed": 0,
        "skipped": 0,
        "safety_net_syncs": 0,
    }
    assert (
        len(connect_world.standin.calls.calls(method_id="oauth.token")) == refreshes
    )  # skipped, not retried


def test_renewal_extends_a_watch_that_ends_soon_and_leaves_a_fresh_one(connect_world: ConnectDriver) -> None:
    connect_world.connect()
    assert connect_world.renew_watches().get_json()["renewed"] == 0  # seven days left: nothing to do
    watch_due_for_renewal()
    assert connect_world.renew_watches().get_json()["renewed"] == 1
    assert len(connect_world.standin.calls.calls(method_id="gmail.users.watch")) == 2
    watch = gmail_watch(connect_world.status().get_json())
    assert watch is not None
    assert datetime.fromisoformat(watch["expires_at"]) - datetime.now(UTC) > timedelta(days=6)
    assert watch["renewed_at"] is not None


def test_a_connection_without_a_recent_sync_gets_one_safety_net_sync(connect_world: ConnectDriver) -> None:
    connect_world.connect()
    assert connect_world.deliver() == [200]  # the first sync
    assert connect_world.renew_watches().get_json()["safety_net_syncs"] == 0  # it just synced
    client().document("tenants/acme/sync_states/user-1_gmail").update(
        {"last_success_at": datetime.now(UTC) - timedelta(hours=2)}  # and nothing since, pushes lost
    )
    assert connect_world.renew_watches().get_json()["safety_net_syncs"] == 1
    assert connect_world.renew_watches().get_json()["safety_net_syncs"] == 0  # one pending already
    assert [(r["source"], r["reason"]) for r in sync_requests()] == [("gmail", "safety_net")]


def test_renew_watches_refuses_a_call_without_the_schedulers_token(connect_world: ConnectDriver) -> None:
    from tests.e2e.functions import function_client

    answer = function_client("renew_watches").post("/")
    assert answer.status_code == 401
    forged = connect_world.standin.oauth.mint_id_token(
        audience=SCHEDULER_AUDIENCE, email="intruder@example.com"
    )
    answer = function_client("renew_watches").post("/", headers={"Authorization": f"Bearer {forged}"})
    assert answer.status_code == 403


def test_disconnect_retries_a_failing_revoke_then_removes_everything(connect_world: ConnectDriver) -> None:
    connect_world.connect()
    for message_id, attached_to in (("m-loose", []), ("m-kept", [{"type": "deal", "id": "d1"}])):
        client().document(f"tenants/acme/messages/{message_id}").set(
            {"tenant_id": "acme", "connection_id": "user-1", "attached_to": attached_to}
        )
    connect_world.standin.faults.add(FaultRule("oauth.revoke", status=503, times=2))
    answer = connect_world.disconnect()
    assert answer.status_code == 200
    assert answer.get_json() == {"disconnected": True}
    assert [call.status for call in connect_world.standin.calls.calls(method_id="oauth.revoke")] == [
        503,
        503,
        200,
    ]
    assert len(connect_world.standin.calls.calls(method_id="gmail.users.stop")) == 1
    assert stored_connection_paths() == []
    assert "tenants/acme/messages/m-kept" in all_document_paths()
    assert "tenants/acme/messages/m-loose" not in all_document_paths()
    assert connect_world.status().status_code == 404


def test_a_second_disconnect_is_a_no_op(connect_world: ConnectDriver) -> None:
    connect_world.connect()
    connect_world.disconnect()
    calls_before = len(connect_world.standin.calls.calls())
    answer = connect_world.disconnect()
    assert (answer.status_code, answer.get_json()) == (200, {"disconnected": False})
    assert len(connect_world.standin.calls.calls()) == calls_before


def test_a_reconnect_while_connected_keeps_the_synced_data_and_cursors(connect_world: ConnectDriver) -> None:
    connect_world.connect()
    assert connect_world.deliver() == [200]
    cursor = client().document(SYNC_STATE_DOC).get().to_dict()["cursor"]
    client().document("tenants/acme/messages/m1").set(
        {"tenant_id": "acme", "connection_id": "user-1", "attached_to": []}
    )
    created_at = connect_world.status().get_json()["created_at"]

    assert connect_world.connect().outcome == "connected"  # consent again, e.g. for another feature
    status = connect_world.status().get_json()
    assert status["status"] == "active"
    assert client().document(SYNC_STATE_DOC).get().to_dict()["cursor"] == cursor
    assert status["sync"][0]["generation"] == 1  # no new full sync was begun
    assert status["created_at"] == created_at
    assert "tenants/acme/messages/m1" in all_document_paths()


def test_a_revocation_purges_unattached_copies_at_once_and_a_reconnect_syncs_afresh(
    connect_world: ConnectDriver,
) -> None:
    connect_world.connect()
    assert connect_world.deliver() == [200]
    assert client().document(SYNC_STATE_DOC).get().to_dict()["cursor"]
    for key, attached in (("m-loose", []), ("m-kept", [{"type": "deal", "id": "d-1"}])):
        client().document(f"tenants/acme/messages/{key}").set(
            {"tenant_id": "acme", "connection_id": "user-1", "attached_to": attached}
        )
    created_at = connect_world.status().get_json()["created_at"]
    connect_world.standin.oauth.revoke_account(ALICE)
    watch_due_for_renewal()
    connect_world.renew_watches()
    status = connect_world.status().get_json()
    assert status["status"] == "needs_reconnect"
    assert client().document(SYNC_STATE_DOC).get().to_dict()["cursor"] is None
    assert "tenants/acme/messages/m-loose" not in all_document_paths()
    assert "tenants/acme/messages/m-kept" in all_document_paths()

    assert connect_world.connect().outcome == "connected"
    status = connect_world.status().get_json()
    assert (status["status"], status["created_at"]) == ("active", created_at)
    assert "tenants/acme/messages/m-kept" in all_document_paths()
    assert [(r["source"], r["reason"]) for r in sync_requests() if r["source"] == "gmail"][-1] == (
        "gmail",
        "connected",
    )


def test_connecting_another_google_account_over_an_existing_connection_is_refused(
    connect_world: ConnectDriver,
) -> None:
    connect_world.connect(account=ALICE)
    before = client().document(CONNECTION_DOC).get().to_dict()
    assert connect_world.connect(account=ALICE_OTHER).outcome == "different_google_account"
    assert client().document(CONNECTION_DOC).get().to_dict() == before


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"features": ["mail"], "return_url": "https://evil.test/x"}, "return_url_not_allowed"),
        ({"features": ["mail"], "return_url": "http://crm.test/x"}, "return_url_not_allowed"),
        ({"features": ["mail"], "return_url": "https://["}, "return_url_not_allowed"),  # urlparse raises
        ({"features": [], "return_url": RETURN_URL}, "validation_failed"),
        ({"features": ["fax"], "return_url": RETURN_URL}, "validation_failed"),
    ],
)
def test_a_bad_authorize_request_is_400_and_writes_nothing(
    connect_world: ConnectDriver, body: dict, code: str
) -> None:
    before = all_document_paths()
    answer = connect_world.api.post(
        "/v1/tenants/acme/users/user-1/google-connection:authorize",
        json=body,
        headers=connect_world.crm.authorization("acme", "user-1"),
    )
    assert (answer.status_code, answer.get_json()["code"]) == (400, code)
    assert all_document_paths() == before


def test_a_user_cannot_act_on_another_users_connection(connect_world: ConnectDriver) -> None:
    connect_world.connect("user-1")
    as_user_2 = connect_world.crm.authorization("acme", "user-2")
    assert (
        connect_world.api.get(
            "/v1/tenants/acme/users/user-1/google-connection", headers=as_user_2
        ).status_code
        == 404
    )
    assert (
        connect_world.api.delete(
            "/v1/tenants/acme/users/user-1/google-connection", headers=as_user_2
        ).status_code
        == 404
    )
    assert connect_world.status().get_json()["status"] == "active"


def test_the_consent_page_round_trip_with_a_scope_unticked(connect_world: ConnectDriver) -> None:
    from local_stack.user_browser import answer_consent

    browser = connect_world.browser()
    authorization_url = connect_world.authorize("user-1", ["mail", "contacts", "calendar"]).get_json()[
        "authorization_url"
    ]
    google_url = connect_world.start(browser, authorization_url).headers["Location"]
    calendar_list = "https://www.googleapis.com/auth/calendar.calendarlist.readonly"
    callback_url, offered = answer_consent(google_url, account=ALICE, untick=[GMAIL_SEND, calendar_list])
    # Least privilege: exactly what mail, contacts and Calendar need (ADR 0014).
    assert sorted(offered) == sorted(
        [
            "https://www.googleapis.com/auth/gmail.readonly",
            GMAIL_SEND,
            "https://www.googleapis.com/auth/calendar.events",
            calendar_list,
        ]
    )
    assert connect_world.callback(browser, callback_url).outcome == "connected"
    features = connect_world.status().get_json()["features"]
    assert (features["mail"]["enabled"], features["mail"]["reason"]) == (False, "scope_not_granted")
    assert (features["calendar"]["enabled"], features["calendar"]["missing_scopes"]) == (
        False,
        [calendar_list],
    )


def test_a_rotated_token_key_reseals_the_grant_on_its_next_use(connect_world: ConnectDriver) -> None:
    import os

    from local_stack.secret_manager import seed_secrets
    from shared.composition import get_container, reset_container
    from tests.conftest import TEST_PROJECT

    connect_world.connect()
    sealed_under = client().document(GRANT_DOC).get().to_dict()["key_version"]
    seed_secrets(
        os.environ["SECRET_MANAGER_ENDPOINT"], TEST_PROJECT, {"token-encryption-key": os.urandom(32)}
    )
    reset_container()  # a new instance: it reads the key's latest version afresh
    container = get_container()
    container.grants.access("acme", container.lifecycle.get("acme", "user-1"))
    resealed = client().document(GRANT_DOC).get().to_dict()
    assert int(resealed["key_version"]) == int(sealed_under) + 1
    watch_due_for_renewal()
    assert connect_world.renew_watches().get_json()["renewed"] == 1  # and it still opens
