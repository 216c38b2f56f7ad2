"""Mail from the CRM, end to end: api accepts it (POST .../outbound-messages), outbound_worker sends it
through the user's Gmail at the stand-in, the sent copy is stored once and counted, the sync takes it
back as our own. Replies thread; non-ASCII round-trips; Bcc stays hidden from the other recipients; a
retried API call, a redelivery and a crash at each point around the send leave one message in Sent."""

from __future__ import annotations

import email
import email.policy
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local_stack.google_standin.faults import FaultRule
from local_stack.google_standin.mime_factory import MessageFactory
from shared.composition import reset_container
from tests.e2e.connect_support import ALICE, GMAIL_SEND, ConnectDriver
from tests.firestore_reads import client

BOB, CAROL = "bob@example.net", "carol@example.org"
factory = MessageFactory(seed=57)
OUTBOUND = "/v1/tenants/acme/users/user-1/google-connection/outbound-messages"
UPLOADS = "/v1/tenants/acme/users/user-1/google-connection/outbound-attachments"


@pytest.fixture
def world(connect_world: ConnectDriver) -> ConnectDriver:
    """Alice connected (mail and contacts), Bob and Carol with Gmail accounts of their own at the
    stand-in (so what they receive can be read), one message from Bob synced."""
    connect_world.standin.add_account(BOB)
    connect_world.standin.add_account(CAROL)
    date = datetime.now(UTC) - timedelta(hours=2)
    raw = factory.plain(sender=f"Bob <{BOB}>", to=[ALICE], subject="Quarterly numbers", date=date).raw
    connect_world.standin.mailbox(ALICE).insert(raw)
    assert connect_world.connect().outcome == "connected"
    assert connect_world.deliver() == [200]
    return connect_world


def send(world: ConnectDriver, body: dict[str, Any], key: str = "crm-send-0001") -> Any:
    headers = {**world.crm.authorization("acme", "user-1"), "Idempotency-Key": key}
    return world.api.post(OUTBOUND, json=body, headers=headers)


def outbound(world: ConnectDriver, outbound_id: str) -> dict[str, Any]:
    answer = world.api.get(f"{OUTBOUND}/{outbound_id}", headers=world.crm.authorization("acme", "user-1"))
    return dict(answer.get_json())


def synced() -> dict[str, dict[str, Any]]:
    return {
        doc.to_dict()["gmail_id"]: doc.to_dict()
        for doc in client().collection("tenants/acme/messages").stream()
    }


def sent_in_gmail(world: ConnectDriver) -> list[dict[str, Any]]:
    mailbox = world.standin.mailbox(ALICE)
    listed = mailbox.list_messages(q="in:sent", max_results=50).get("messages", [])
    return [mailbox.get_message(item["id"], format="full") for item in listed]


def parsed(world: ConnectDriver, account: str, gmail_id: str) -> email.message.EmailMessage:
    raw = world.standin.mailbox(account).get_message(gmail_id, format="raw")["raw"]
    import base64

    data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def inbox_of(world: ConnectDriver, account: str) -> list[str]:
    return [m["id"] for m in world.standin.mailbox(account).list_messages(q="in:inbox").get("messages", [])]


def original(world: ConnectDriver) -> dict[str, Any]:
    (copy,) = synced().values()
    return copy


def test_a_reply_goes_into_the_thread_with_its_headers_and_is_stored_once(world: ConnectDriver) -> None:
    bobs = original(world)
    answer = send(
        world, {"to": [{"email": BOB, "name": "Bob"}], "text": "Thanks, Bob.", "reply_to": bobs["gmail_id"]}
    )
    assert answer.status_code == 202, answer.get_json()
    queued = answer.get_json()
    assert (queued["status"], queued["thread_id"]) == ("queued", bobs["thread_id"])
    assert world.deliver_writes() == [200]
    done = outbound(world, queued["id"])
    assert done["status"] == "sent"
    assert done["thread_id"] == bobs["thread_id"]
    (sent,) = sent_in_gmail(world)
    assert (sent["id"], sent["threadId"]) == (done["gmail_id"], bobs["thread_id"])
    message = parsed(world, ALICE, sent["id"])
    assert message["In-Reply-To"] == bobs["message_id_header"]
    assert bobs["message_id_header"] in message["References"]
    assert message["Subject"] == "Re: Quarterly numbers"
    assert message["Message-ID"] == done["message_id_header"]
    # Stored at once under the id the sync gives it; the sync takes it back as ours, fetching nothing.
    copies = synced()
    assert copies[sent["id"]]["label_ids"] == ["SENT"]
    gets = len(world.standin.calls.calls(method_id="gmail.users.messages.get"))
    world.push()
    assert world.deliver() == [200]
    assert len(synced()) == 2
    assert len(world.standin.calls.calls(method_id="gmail.users.messages.get")) == gets
    contacts = {
        doc.to_dict()["email"]: doc.to_dict() for doc in client().collection("tenants/acme/contacts").stream()
    }
    contact = contacts[BOB]
    assert (contact["received_count"], contact["sent_count"]) == (1, 1)


def test_non_ascii_names_subjects_and_bodies_round_trip(world: ConnectDriver) -> None:
    subject, text = "Ωμέγα — café ☕ über alles", "Grüße aus Köln, 你好, Ελλάδα 🌍"
    html = "<p>Grüße <b>aus</b> Köln — 你好</p>"
    body = {
        "to": [{"email": BOB, "name": "Zoë Çelik-Ødegård"}],
        "subject": subject,
        "text": text,
        "html": html,
    }
    send(world, body)
    world.deliver_writes()
    (received,) = inbox_of(world, BOB)
    message = parsed(world, BOB, received)
    assert message["Subject"] == subject
    assert message["To"].addresses[0].display_name == "Zoë Çelik-Ødegård"
    assert message.get_body(("plain",)).get_content().strip() == text
    assert "Grüße <b>aus</b> Köln" in message.get_body(("html",)).get_content()
    (sent,) = sent_in_gmail(world)
    assert synced()[sent["id"]]["subject"] == subject


def test_bcc_reaches_its_recipient_and_is_not_shown_to_the_others(world: ConnectDriver) -> None:
    send(world, {"to": [{"email": BOB}], "bcc": [{"email": CAROL}], "subject": "Offer", "text": "Hi"})
    world.deliver_writes()
    (bobs,) = inbox_of(world, BOB)
    (carols,) = inbox_of(world, CAROL)
    assert parsed(world, BOB, bobs)["Bcc"] is None
    assert parsed(world, CAROL, carols)["Bcc"] is None
    assert CAROL not in str(parsed(world, BOB, bobs))
    (sent,) = sent_in_gmail(world)
    assert parsed(world, ALICE, sent["id"])["Bcc"] == CAROL  # the sender's own copy keeps it, as Gmail's


def test_the_apis_retries_and_pubsubs_redeliveries_send_once(world: ConnectDriver) -> None:
    answers = [send(world, {"to": [{"email": BOB}], "text": "Once."}) for _ in range(3)]
    assert {a.status_code for a in answers} == {202}
    assert len({a.get_json()["id"] for a in answers}) == 1
    assert world.deliver_writes(times=3) == [200] * 9
    assert len(sent_in_gmail(world)) == 1
    assert len(world.standin.calls.calls(method_id="gmail.users.messages.send")) == 1
    assert send(world, {"to": [{"email": BOB}], "text": "Once."}).get_json()["status"] == "sent"


@pytest.mark.parametrize(
    "point",
    ["send.before_gmail", "send.after_gmail", "send.after_copy_stored", "write.after_google_before_record"],
)
def test_a_crash_at_each_point_around_the_send_leaves_one_message_in_sent(
    world: ConnectDriver, point: str
) -> None:
    os.environ.update({"CRASH_POINTS": point, "WRITE_CLAIM_SECONDS": "0.2"})
    reset_container()
    outbound_id = send(world, {"to": [{"email": BOB}], "text": "Exactly once."}).get_json()["id"]
    assert world.deliver_writes(limit=1) == [500]
    del os.environ["CRASH_POINTS"]
    reset_container()
    time.sleep(0.3)  # the crashed worker's claim expires
    assert world.deliver_writes() == [200]
    assert outbound(world, outbound_id)["status"] == "sent"
    sent = sent_in_gmail(world)
    assert len(sent) == 1
    assert len(inbox_of(world, BOB)) == 1
    assert sent[0]["id"] in synced()


def test_a_25_mb_attachment_goes_and_a_larger_one_is_refused_before_any_google_call(
    world: ConnectDriver,
) -> None:
    limit = 25 * 1024 * 1024
    headers = {**world.crm.authorization("acme", "user-1"), "Content-Type": "application/pdf"}
    too_big = world.api.post(f"{UPLOADS}?filename=big.pdf", data=b"x" * (limit + 1), headers=headers)
    assert (too_big.status_code, too_big.get_json()["code"]) == (413, "payload_too_large")
    fits = world.api.post(
        f"{UPLOADS}?filename=report.pdf", data=b"%PDF" + b"0" * (limit - 4), headers=headers
    )
    assert fits.status_code == 201, fits.get_json()
    small = world.api.post(f"{UPLOADS}?filename=extra.pdf", data=b"%PDF-1", headers=headers).get_json()
    both = send(
        world,
        {
            "to": [{"email": BOB}],
            "text": "Two",
            "attachments": [{"upload_id": fits.get_json()["upload_id"]}, {"upload_id": small["upload_id"]}],
        },
        key="crm-send-too-big",
    )
    assert (both.status_code, both.get_json()["code"]) == (413, "message_too_large")
    assert world.standin.calls.calls(method_id="gmail.users.messages.send") == []
    answer = send(
        world,
        {
            "to": [{"email": BOB}],
            "text": "The report.",
            "attachments": [{"upload_id": fits.get_json()["upload_id"]}],
        },
    )
    assert answer.status_code == 202
    assert world.deliver_writes() == [200]
    (received,) = inbox_of(world, BOB)
    (attachment,) = list(parsed(world, BOB, received).iter_attachments())
    assert (attachment.get_filename(), len(attachment.get_content())) == ("report.pdf", limit)
    (send_call,) = world.standin.calls.calls(method_id="gmail.users.messages.send")
    assert send_call.status == 200


def test_an_attachment_of_a_synced_copy_is_forwarded(world: ConnectDriver) -> None:
    date = datetime.now(UTC) - timedelta(hours=1)
    generated = factory.with_attachments(
        sender=BOB, to=[ALICE], attachments=[("plan.csv", "text/csv", b"a,b\n1,2\n")], date=date
    )
    world.standin.mailbox(ALICE).insert(generated.raw)
    world.push()
    world.deliver()
    copy = next(c for c in synced().values() if c["attachments"])
    part = copy["attachments"][0]["part_id"]
    send(
        world,
        {
            "to": [{"email": CAROL}],
            "text": "FYI",
            "attachments": [{"gmail_id": copy["gmail_id"], "part_id": part}],
        },
    )
    assert world.deliver_writes() == [200]
    (received,) = inbox_of(world, CAROL)
    (attachment,) = list(parsed(world, CAROL, received).iter_attachments())
    assert (attachment.get_filename(), attachment.get_content()) == ("plan.csv", "a,b\n1,2\n")


def test_attach_to_keeps_the_sent_copy_on_a_crm_record(world: ConnectDriver) -> None:
    deal = {"type": "deal", "id": "D-7"}
    send(world, {"to": [{"email": BOB}], "text": "Proposal", "attach_to": [deal]})
    world.deliver_writes()
    (sent,) = sent_in_gmail(world)
    assert synced()[sent["id"]]["attached_to"] == [deal]
    listed = world.api.get(
        "/v1/tenants/acme/crm-records/deal/D-7/messages", headers=world.crm.authorization("acme", "user-1")
    )
    assert [item["gmail_id"] for item in listed.get_json()["items"]] == [sent["id"]]


def test_sent_mail_is_listed_newest_first(world: ConnectDriver) -> None:
    ids = [
        send(world, {"to": [{"email": BOB}], "text": f"#{n}"}, key=f"crm-send-list-{n}").get_json()["id"]
        for n in range(3)
    ]
    world.deliver_writes()
    headers = world.crm.authorization("acme", "user-1")
    first = world.api.get(f"{OUTBOUND}?page_size=2", headers=headers).get_json()
    second = world.api.get(
        f"{OUTBOUND}?page_size=2&page_token={first['next_page_token']}", headers=headers
    ).get_json()
    assert [item["id"] for item in first["items"] + second["items"]] == list(reversed(ids))
    assert {item["status"] for item in first["items"]} == {"sent"}
    assert second["next_page_token"] is None


def test_an_invalid_recipient_ends_failed_with_gmails_reason_and_is_not_retried(world: ConnectDriver) -> None:
    world.standin.faults.add(
        FaultRule("gmail.users.messages.send", status=400, reason="invalidArgument", times=1)
    )
    outbound_id = send(world, {"to": [{"email": BOB}], "text": "x"}).get_json()["id"]
    assert world.deliver_writes() == [200]  # acknowledged: retrying cannot cure it
    failed = outbound(world, outbound_id)
    assert (failed["status"], failed["failure"]["code"]) == ("failed", "gmail_400")
    assert world.deliver_writes() == []


def test_a_passing_gmail_failure_is_retried_and_sends_once(world: ConnectDriver) -> None:
    world.standin.faults.add(FaultRule("gmail.users.messages.send", status=503, times=1))
    os.environ["WRITE_CLAIM_SECONDS"] = "0.2"
    reset_container()
    outbound_id = send(world, {"to": [{"email": BOB}], "text": "x"}).get_json()["id"]
    assert world.deliver_writes() == [500, 200]  # nacked, redelivered: it looked for its Message-ID first
    assert outbound(world, outbound_id)["status"] == "sent"
    assert len(sent_in_gmail(world)) == 1


def test_without_the_send_scope_sending_is_refused(connect_world: ConnectDriver) -> None:
    granted = ["openid", "email", "https://www.googleapis.com/auth/gmail.readonly"]
    connect_world.connect(grant=granted)
    answer = send(connect_world, {"to": [{"email": BOB}], "text": "x"})
    assert (answer.status_code, answer.get_json()["code"]) == (403, "scope_not_granted")
    assert client().collection("tenants/acme/writes").get() == []
    assert GMAIL_SEND  # the scope that was not granted


def test_a_free_tenant_cannot_send(world: ConnectDriver) -> None:
    world.api.put("/v1/tenants/acme/plan", json={"plan": "Free"}, headers=world.crm.authorization("acme"))
    answer = send(world, {"to": [{"email": BOB}], "text": "x"})
    assert (answer.status_code, answer.get_json()["code"]) == (403, "plan_excludes")
    assert client().collection("tenants/acme/writes").get() == []


UPLOAD_ID = "0" * 32
BAD_FIELDS = [
    ({"to": []}, ["body"]),
    ({"to": [{"email": "not an address"}]}, ["body", "to", "0", "email"]),
    ({"to": [{"email": BOB, "name": "Eve\r\nBcc: spy@evil.test"}]}, ["body", "to", "0", "name"]),
    ({"to": [{"email": BOB}], "cc": [{"email": "x@"}]}, ["body", "cc", "0", "email"]),
    ({"to": [{"email": BOB}], "bcc": "carol@example.org"}, ["body", "bcc"]),
    ({"to": [{"email": BOB}] * 101}, ["body", "to"]),
    ({"to": [{"email": BOB}], "subject": "Hi\nBcc: spy@evil.test"}, ["body", "subject"]),
    ({"to": [{"email": BOB}], "subject": "x" * 999}, ["body", "subject"]),
    ({"to": [{"email": BOB}], "text": 42}, ["body", "text"]),
    ({"to": [{"email": BOB}], "html": ["<p>"]}, ["body", "html"]),
    ({"to": [{"email": BOB}], "text": "x" * 700_000}, ["body"]),
    ({"to": [{"email": BOB}], "reply_to": "NOT-HEX"}, ["body", "reply_to"]),
    ({"to": [{"email": BOB}], "attachments": [{}]}, ["body", "attachments", "0"]),
    (
        {"to": [{"email": BOB}], "attachments": [{"upload_id": "xyz"}]},
        ["body", "attachments", "0", "upload_id"],
    ),
    (
        {"to": [{"email": BOB}], "attachments": [{"upload_id": UPLOAD_ID, "gmail_id": "18a"}]},
        ["body", "attachments", "0"],
    ),
    ({"to": [{"email": BOB}], "attachments": [{"gmail_id": "18a"}]}, ["body", "attachments", "0"]),
    (
        {"to": [{"email": BOB}], "attach_to": [{"type": "Deal!", "id": "1"}]},
        ["body", "attach_to", "0", "type"],
    ),
    ({"to": [{"email": BOB}], "surprise": True}, ["body", "surprise"]),
]


@pytest.mark.parametrize(("body", "location"), BAD_FIELDS)
def test_each_wrong_field_is_a_400_naming_it_and_nothing_is_queued(
    world: ConnectDriver, body: dict[str, Any], location: list[str]
) -> None:
    answer = send(world, body)
    assert answer.status_code == 400, answer.get_json()
    problem = answer.get_json()
    assert problem["code"] == "validation_failed"
    assert any(error["location"][: len(location)] == location for error in problem["errors"]), problem[
        "errors"
    ]
    assert client().collection("tenants/acme/writes").get() == []
    assert world.deliver_writes() == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"to": [{"email": BOB}], "reply_to": "18ffffffffffffff"}, "message_not_found"),
        ({"to": [{"email": BOB}], "attachments": [{"upload_id": UPLOAD_ID}]}, "upload_not_found"),
        (
            {"to": [{"email": BOB}], "attachments": [{"gmail_id": "18ffffffffffffff", "part_id": "1"}]},
            "attachment_not_found",
        ),
    ],
)
def test_what_the_request_names_must_exist(world: ConnectDriver, body: dict[str, Any], code: str) -> None:
    answer = send(world, body)
    assert (answer.status_code, answer.get_json()["code"]) == (404, code)
    assert client().collection("tenants/acme/writes").get() == []


@pytest.mark.parametrize(
    ("query", "content_type", "data", "status"),
    [
        ("", "application/pdf", b"x", 400),
        ("?filename=a/b.pdf", "application/pdf", b"x", 400),
        ("?filename=a.pdf", "", b"x", 400),
        ("?filename=a.pdf", "not a type", b"x", 400),
        ("?filename=a.pdf", "application/pdf", b"", 400),
    ],
)
def test_a_bad_upload_is_refused_and_stores_nothing(
    world: ConnectDriver, query: str, content_type: str, data: bytes, status: int
) -> None:
    headers = dict(world.crm.authorization("acme", "user-1"))
    if content_type:
        headers["Content-Type"] = content_type
    answer = world.api.post(f"{UPLOADS}{query}", data=data, headers=headers)
    assert answer.status_code == status
    assert client().collection("tenants/acme/outbound_uploads").get() == []
