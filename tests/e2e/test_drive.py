"""Drive files and Google Docs from the CRM, end to end, through api and drive_push (served over real
HTTP in this process) against the stand-in's Drive under `drive.file`: a file the user did not pick is
refused and nothing stored; a Doc from a template opens by its link; an export is a real PDF; sharing
adds exactly the missing people and a detach removes only ours; renames and trashes in Drive reach the
CRM through a push; a 429 is retried; a mail carries a Doc as PDF."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import Any

import functions_framework
import pytest
from pypdf import PdfReader
from werkzeug.serving import make_server

from local_stack.google_standin.faults import FaultRule
from shared.composition import reset_container
from tests.conftest import REPO_ROOT
from tests.e2e.connect_support import ALICE, ConnectDriver
from tests.firestore_reads import client

CONNECTION = "/v1/tenants/acme/users/user-1/google-connection"
DOC = "application/vnd.google-apps.document"
BOB, CAROL = "bob@example.net", "carol@example.org"
DEAL = {"type": "deal", "id": "D-42"}


class Webhook:
    """drive_push on a loopback port, as Drive's channels reach it."""

    def __init__(self) -> None:
        source = REPO_ROOT / "functions" / "drive_push" / "main.py"
        app = functions_framework.create_app("drive_push", str(source), "http")
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class DriveWorld:
    def __init__(self, driver: ConnectDriver) -> None:
        self.driver = driver
        self.standin = driver.standin
        self.api = driver.api
        self.auth = driver.crm.authorization("acme", "user-1")

    @property
    def drive(self) -> Any:
        return self.standin.drive(ALICE)

    def picked(self, name: str, *, text: str | None = None, mime: str = DOC) -> str:
        """A file in Alice's Drive that she picked for the CRM with the Google Picker."""
        made = (
            self.drive.create(name, mime, text=text)
            if text is not None
            else self.drive.create(name, mime, content=b"%")
        )
        self.drive.grant_to_app(made["id"])
        return str(made["id"])

    def attach(
        self, file_id: str, team: list[dict[str, str]] | None = None, entity: dict[str, str] = DEAL
    ) -> Any:
        body = {"file_id": file_id, "entity": entity, "team": team or []}
        return self.api.post(f"{CONNECTION}/drive-files", json=body, headers=self.auth)

    def stored(self) -> dict[str, dict[str, Any]]:
        return {
            d.to_dict()["file_id"]: d.to_dict()
            for d in client().collection("tenants/acme/drive_files").stream()
        }

    def shared_with(self, file_id: str) -> dict[str, str]:
        return {p.get("emailAddress") or p["type"]: p["role"] for p in self.drive.permissions(file_id)}

    def settle(self) -> list[int]:
        assert self.standin.drive_push.drain()
        return self.driver.deliver()


@pytest.fixture
def world(connect_world: ConnectDriver, monkeypatch: pytest.MonkeyPatch) -> Iterator[DriveWorld]:
    webhook = Webhook()
    monkeypatch.setenv("DRIVE_PUSH_URL", webhook.url)
    reset_container()
    connect_world.standin.add_account(BOB)
    assert connect_world.connect(features=["mail", "contacts", "drive"]).outcome == "connected"
    drive = DriveWorld(connect_world)
    drive.settle()
    yield drive
    webhook.close()


def test_a_file_the_user_did_not_pick_is_refused_and_nothing_is_stored_or_shared(world: DriveWorld) -> None:
    hidden = world.drive.create("Salaries.xlsx", "application/vnd.google-apps.spreadsheet")["id"]
    answer = world.attach(hidden, [{"email": BOB, "role": "writer"}])
    assert answer.status_code == 404
    assert answer.get_json()["code"] == "drive_file_not_accessible"
    assert world.stored() == {}
    assert world.shared_with(hidden) == {ALICE: "owner"}


def test_attach_shares_exactly_the_missing_people_and_detach_removes_only_ours(world: DriveWorld) -> None:
    file_id = world.picked("Proposal", text="Our offer")
    world.drive.add_permission(file_id, type="user", role="reader", email_address=CAROL)  # shared by hand
    team = [{"email": BOB, "role": "writer"}, {"email": CAROL, "role": "writer"}]
    answer = world.attach(file_id, team)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["sharing"]["deal:D-42"]["status"] == "shared"
    assert world.shared_with(file_id) == {ALICE: "owner", BOB: "writer", CAROL: "reader"}
    creates = world.standin.calls.calls(method_id="drive.permissions.create")
    assert [
        (c.details["type"], c.details["emailAddress"], c.details["sendNotificationEmail"]) for c in creates
    ] == [("user", BOB, False)]
    assert not any(c.details and c.details.get("type") in ("anyone", "domain") for c in creates)
    assert world.stored()[file_id]["web_view_link"].startswith("https://docs.google.com/document/d/")
    gone = world.api.delete(
        f"{CONNECTION}/drive-files/{file_id}/attachments-to-crm", query_string=DEAL, headers=world.auth
    )
    assert gone.status_code == 200
    assert world.shared_with(file_id) == {ALICE: "owner", CAROL: "reader"}
    assert world.stored() == {}


def test_a_doc_from_a_template_opens_by_its_link_and_exports_as_a_real_pdf(world: DriveWorld) -> None:
    template = world.picked("Offer template", text="Dear customer,\nHere is our offer.")
    body = {
        "name": "Offer for ACME",
        "template_file_id": template,
        "entity": DEAL,
        "team": [{"email": BOB, "role": "writer"}],
    }
    headers = {**world.auth, "Idempotency-Key": "drive-doc-0001"}
    made = [world.api.post(f"{CONNECTION}/drive-docs", json=body, headers=headers) for _ in range(2)]
    assert [m.status_code for m in made] == [201, 201]
    doc = made[0].get_json()
    assert made[1].get_json()["file_id"] == doc["file_id"]
    offers = [f for f in world.drive.files() if f["name"] == "Offer for ACME"]
    assert len(offers) == 1  # the retry made no second Doc
    assert doc["web_view_link"] == world.drive.get(doc["file_id"])["webViewLink"]
    assert world.drive.text(doc["file_id"]).startswith("Dear customer,")
    assert world.shared_with(doc["file_id"])[BOB] == "writer"
    pdf = world.api.get(
        f"{CONNECTION}/drive-files/{doc['file_id']}/export",
        query_string={"format": "pdf"},
        headers=world.auth,
    )
    assert pdf.status_code == 200
    assert pdf.mimetype == "application/pdf"
    assert 'filename="Offer for ACME.pdf"' in pdf.headers["Content-Disposition"]
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.get_data())).pages)
    assert "Here is our offer." in text
    listed = world.api.get(
        "/v1/tenants/acme/crm-records/deal/D-42/drive-files", headers=world.auth
    ).get_json()
    assert [item["file_id"] for item in listed["items"]] == [doc["file_id"]]


def test_a_rename_and_a_trash_in_drive_reach_the_crm_through_a_push(world: DriveWorld) -> None:
    file_id = world.picked("Brief", text="v1")
    assert world.attach(file_id).status_code == 200
    world.drive.rename(file_id, "Brief (final)")
    assert world.settle() == [200]
    assert world.stored()[file_id]["name"] == "Brief (final)"
    world.drive.trash(file_id)
    world.settle()
    assert world.stored()[file_id]["status"] == "trashed"
    world.drive.delete(file_id)
    world.settle()
    assert world.stored()[file_id]["status"] == "removed"


def test_a_429_from_drive_is_retried(world: DriveWorld) -> None:
    file_id = world.picked("Notes", text="x")
    world.standin.faults.add(FaultRule("drive.files.get", status=429, times=1))
    assert world.attach(file_id).status_code == 200
    gets = world.standin.calls.calls(method_id="drive.files.get")
    assert [call.status for call in gets][-2:] == [429, 200]


def test_a_file_the_user_may_not_share_is_attached_with_sharing_blocked(world: DriveWorld) -> None:
    file_id = world.picked("Their file", text="x")
    world.drive.set_sharing(file_id, can_share=False)
    answer = world.attach(file_id, [{"email": BOB, "role": "reader"}]).get_json()
    assert (answer["sharing"]["deal:D-42"]["status"], answer["sharing"]["deal:D-42"]["reason"]) == (
        "blocked",
        "sharing_blocked",
    )
    assert BOB not in world.shared_with(file_id)
    assert world.standin.calls.calls(method_id="drive.permissions.create") == []


def test_an_upload_lands_in_drive_once(world: DriveWorld) -> None:
    headers = {**world.auth, "Idempotency-Key": "drive-upload-01", "Content-Type": "application/pdf"}
    query = {"filename": "scan.pdf", "entity_type": "deal", "entity_id": "D-42"}
    answers = [
        world.api.post(
            f"{CONNECTION}/drive-uploads", data=b"%PDF-1.4 scan", query_string=query, headers=headers
        )
        for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [201, 201]
    (upload,) = [f for f in world.drive.files() if f["name"] == "scan.pdf"]
    assert world.drive.content(upload["id"]) == b"%PDF-1.4 scan"


def test_a_mail_carries_an_attached_doc_as_pdf(world: DriveWorld) -> None:
    file_id = world.picked("Quote", text="Total: 100 EUR")
    assert world.attach(file_id).status_code == 200
    body = {"to": [{"email": BOB}], "text": "The quote.", "attachments": [{"drive_file_id": file_id}]}
    sent = world.api.post(
        f"{CONNECTION}/outbound-messages",
        json=body,
        headers={**world.auth, "Idempotency-Key": "mail-drive-01"},
    )
    assert sent.status_code == 202, sent.get_json()
    world.driver.deliver_writes()
    (received,) = world.standin.mailbox(BOB).list_messages(q="in:inbox")["messages"]
    message = world.standin.mailbox(BOB).get_message(received["id"], format="full")
    names = [part.get("filename") for part in message["payload"].get("parts", [])]
    assert "Quote.pdf" in names


def test_disconnect_keeps_attached_files_as_links_and_a_reconnect_restores_them(world: DriveWorld) -> None:
    file_id = world.picked("Contract", text="x")
    world.attach(file_id)
    assert world.driver.disconnect().status_code == 200
    assert world.stored()[file_id]["status"] == "access_lost"
    assert world.driver.connect(features=["mail", "contacts", "drive"]).outcome == "connected"
    world.settle()
    assert world.stored()[file_id]["status"] == "ok"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        ("post", "/drive-files", {"json": {"file_id": "short", "entity": DEAL}}, "file_id"),
        (
            "post",
            "/drive-files",
            {"json": {"file_id": "a" * 33, "entity": DEAL, "team": [{"email": "bob"}]}},
            "email",
        ),
        (
            "post",
            "/drive-files",
            {"json": {"file_id": "a" * 33, "entity": DEAL, "team": [{"email": BOB, "role": "owner"}]}},
            "role",
        ),
        (
            "post",
            "/drive-files",
            {"json": {"file_id": "a" * 33, "entity": {"type": "Deal!", "id": "1"}}},
            "type",
        ),
        ("post", "/drive-docs", {"json": {"name": "", "entity": DEAL}}, "name"),
        ("post", "/drive-docs", {"json": {"name": "x", "kind": "folder", "entity": DEAL}}, "kind"),
        (
            "post",
            "/drive-uploads",
            {"query_string": {"filename": "a/b", "entity_type": "deal", "entity_id": "1"}, "data": b"x"},
            "filename",
        ),
        ("get", "/drive-files/" + "a" * 33 + "/export", {"query_string": {"format": "exe"}}, "format"),
        (
            "delete",
            "/drive-files/" + "a" * 33 + "/attachments-to-crm",
            {"query_string": {"type": "deal"}},
            "id",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written_or_shared(
    world: DriveWorld, method: str, path: str, kwargs: dict[str, Any], field: str
) -> None:
    before = (world.stored(), len(list(client().collection("tenants/acme/writes").stream())))
    calls = len(world.standin.calls.calls(prefix="drive."))
    headers = {**world.auth, "Idempotency-Key": "drive-bad-0001"}
    answer = getattr(world.api, method)(f"{CONNECTION}{path}", headers=headers, **kwargs)
    assert 400 <= answer.status_code < 500, answer.get_json()
    problem = answer.get_json()
    assert any(field in [str(part) for part in error["location"]] for error in problem.get("errors", [])), (
        problem
    )
    assert (world.stored(), len(list(client().collection("tenants/acme/writes").stream()))) == before
    assert len(world.standin.calls.calls(prefix="drive.")) == calls
