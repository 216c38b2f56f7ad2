"""Drive attachments on in-memory fakes of every port: attaching stores metadata only and shares with
people only, exactly the missing ones; a detach removes only the permissions we added and no other
record still needs; a file the user may not share is attached as blocked; new files are made once
whatever is retried; the changes sync keeps attached files current."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import pytest

from shared.crm_links.entities import CrmEntity
from shared.drive.attachments import DriveAttachments, mark_access_lost
from shared.drive.engine import DriveSyncEngine
from shared.drive.files import TeamMember
from shared.errors import BadInput, Forbidden, GoneAtGoogle, IdTakenAtGoogle, NeedsResync, NotFound
from shared.plans import Feature
from shared.storage.documents import CollectionRef
from shared.sync.requests import Source, SyncRequest
from shared.sync.state import SyncStates
from shared.writes.outbox import Outbox
from tests.fakes import ALICE, CONNECTION, TENANT, SyncWorld

DEAL, TASK = CrmEntity(type="deal", id="D-1"), CrmEntity(type="task", id="T-1")
BOB, CAROL = "bob@example.net", "carol@example.org"


class FakeDrive:
    """The Drive ports, in memory: files the app may open, their permissions, a changes feed."""

    def __init__(self) -> None:
        self.files: dict[str, dict[str, Any]] = {}
        self.permission_list: dict[str, list[dict[str, Any]]] = {}
        self.granted: set[str] = set()  # what drive.file lets this app open
        self.calls: list[str] = []
        self.changes: list[dict[str, Any]] = []
        self.fail_on: set[str] = set()
        self._ids = (f"fileid{n:06d}xyz" for n in itertools.count())

    def add(
        self, name: str, *, granted: bool = True, can_share: bool = True, mime: str = "text/plain"
    ) -> str:
        file_id = next(self._ids)
        self.files[file_id] = {
            "id": file_id,
            "name": name,
            "mimeType": mime,
            "owners": [{"emailAddress": ALICE}],
            "webViewLink": f"https://drive.google.com/file/d/{file_id}/view",
            "capabilities": {"canShare": can_share},
            "trashed": False,
        }
        self.permission_list[file_id] = [
            {"id": "owner", "type": "user", "role": "owner", "emailAddress": ALICE}
        ]
        if granted:
            self.granted.add(file_id)
        return file_id

    def change(self, file_id: str, **fields: Any) -> None:
        self.files[file_id].update(fields)
        self.changes.append({"fileId": file_id, "file": dict(self.files[file_id])})

    def get_file(self, file_id: str) -> dict[str, Any]:
        self.calls.append("files.get")
        if file_id not in self.granted or file_id not in self.files:
            raise GoneAtGoogle("not accessible", code="drive_file_not_accessible")
        return dict(self.files[file_id])

    def new_file_id(self) -> str:
        self.calls.append("files.generateIds")
        return next(self._ids)

    def create_file(
        self, metadata: Mapping[str, Any], *, content: bytes | None = None, mime_type: str | None = None
    ) -> dict[str, Any]:
        self.calls.append("files.create")
        if "files.create" in self.fail_on:
            self.fail_on.discard("files.create")
            self._make(metadata)  # Google made it, then the answer was lost
            raise ConnectionError("cut")
        return self._make(metadata)

    def copy_file(self, file_id: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append("files.copy")
        self.get_file(file_id)
        return self._make({**metadata, "mimeType": self.files[file_id]["mimeType"]})

    def _make(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        file_id = str(metadata["id"])
        if file_id in self.files:
            raise IdTakenAtGoogle("taken", code="drive_id_taken")
        self.files[file_id] = {
            "id": file_id,
            "name": metadata.get("name"),
            "mimeType": metadata.get("mimeType", "application/octet-stream"),
            "owners": [{"emailAddress": ALICE}],
            "webViewLink": f"https://docs.google.com/document/d/{file_id}/edit",
            "capabilities": {"canShare": True},
        }
        self.permission_list[file_id] = [
            {"id": "owner", "type": "user", "role": "owner", "emailAddress": ALICE}
        ]
        self.granted.add(file_id)
        return dict(self.files[file_id])

    def permissions(self, file_id: str) -> list[dict[str, Any]]:
        self.calls.append("permissions.list")
        return list(self.permission_list[file_id])

    def share_with_user(self, file_id: str, email: str, role: str, *, notify: bool) -> dict[str, Any]:
        self.calls.append(f"permissions.create:{email}:{role}:{notify}")
        if not self.files[file_id]["capabilities"]["canShare"]:
            raise Forbidden("no", code="sharing_blocked")
        permission = {"id": f"perm-{email}", "type": "user", "role": role, "emailAddress": email}
        self.permission_list[file_id].append(permission)
        return permission

    def unshare(self, file_id: str, permission_id: str) -> None:
        self.calls.append(f"permissions.delete:{permission_id}")
        self.permission_list[file_id] = [p for p in self.permission_list[file_id] if p["id"] != permission_id]

    def start_page_token(self) -> str:
        return str(len(self.changes))

    def list_changes(self, page_token: str, *, page_size: int = 1000) -> dict[str, Any]:
        if not page_token.isdigit():
            raise NeedsResync("bad token", code="page_token_invalid")
        start = int(page_token)
        return {"changes": self.changes[start:], "newStartPageToken": str(len(self.changes))}

    def emails(self, file_id: str) -> set[str]:
        return {str(p["emailAddress"]) for p in self.permission_list[file_id]}


class World:
    def __init__(self) -> None:
        self.sync = SyncWorld()
        self.drive = FakeDrive()
        self.sync.connection.features.add(Feature.DRIVE)
        self.outbox = Outbox(
            scope_for=self.sync.scope_for,
            publisher=lambda: self.sync.publisher,
            topic="outbound",
            clock=self.sync.clock,
        )
        self.attachments = DriveAttachments(
            connection_of=self.sync.connection_of,
            drive_for=lambda tenant_id, connection: self.drive,
            scope_for=self.sync.scope_for,
            outbox=self.outbox,
            clock=self.sync.clock,
        )
        self.sync.engines[Source.DRIVE] = DriveSyncEngine(drive_for=lambda tenant_id, connection: self.drive)

    def attach(
        self, file_id: str, entity: CrmEntity = DEAL, *team: tuple[str, str], notify: bool = False
    ) -> Any:
        members = [TeamMember(email=email, role=role) for email, role in team]  # type: ignore[arg-type]
        return self.attachments.attach(TENANT, CONNECTION, file_id, entity, members, notify=notify)

    def stored(self) -> dict[str, dict[str, Any]]:
        query = CollectionRef(f"tenants/{TENANT}/drive_files").query()
        return {s.to_dict()["file_id"]: s.to_dict() for s in self.sync.store.stream(query)}

    def run_sync(self) -> Any:
        request = SyncRequest(tenant_id=TENANT, connection_id=CONNECTION, source=Source.DRIVE, reason="push")
        return self.sync.runner.run(request)


@pytest.fixture
def world() -> World:
    return World()


def test_a_file_this_app_may_not_open_is_refused_and_nothing_is_stored_or_shared(world: World) -> None:
    hidden = world.drive.add("Contract.pdf", granted=False)
    with pytest.raises(NotFound) as refused:
        world.attach(hidden, DEAL, (BOB, "writer"))
    assert refused.value.code == "drive_file_not_accessible"
    assert world.stored() == {}
    assert not any(call.startswith("permissions.create") for call in world.drive.calls)


def test_attach_stores_metadata_and_shares_exactly_the_missing_members_silently(world: World) -> None:
    file_id = world.drive.add("Proposal.pdf")
    world.drive.permission_list[file_id].append(
        {"id": "theirs", "type": "user", "role": "reader", "emailAddress": CAROL}
    )
    view = world.attach(file_id, DEAL, (BOB, "writer"), (CAROL, "reader"), (ALICE, "writer"))
    assert view.sharing["deal:D-1"].status == "shared"
    assert [c for c in world.drive.calls if c.startswith("permissions.create")] == [
        f"permissions.create:{BOB}:writer:False"  # Carol had access, Alice owns it: no call for them
    ]
    stored = world.stored()[file_id]
    assert (stored["name"], stored["status"], stored["attached_to"]) == (
        "Proposal.pdf",
        "ok",
        [DEAL.as_map()],
    )
    assert "content" not in stored
    world.attach(file_id, DEAL, (BOB, "writer"))  # a repeat: nothing more
    assert len([c for c in world.drive.calls if c.startswith("permissions.create")]) == 1


def test_detach_removes_only_ours_and_only_when_no_other_record_needs_it(world: World) -> None:
    file_id = world.drive.add("Plan.pdf")
    world.drive.permission_list[file_id].append(
        {"id": "theirs", "type": "user", "role": "reader", "emailAddress": CAROL}
    )
    world.attach(file_id, DEAL, (BOB, "writer"), (CAROL, "reader"))
    world.attach(file_id, TASK, (BOB, "writer"))
    world.attachments.detach(TENANT, CONNECTION, file_id, DEAL)
    assert world.drive.emails(file_id) == {ALICE, BOB, CAROL}  # the task still needs Bob; Carol's is not ours
    world.attachments.detach(TENANT, CONNECTION, file_id, TASK)
    assert world.drive.emails(file_id) == {ALICE, CAROL}
    assert world.stored() == {}  # no record attached: metadata gone, the file stays in Drive
    assert file_id in world.drive.files


def test_a_file_the_user_may_not_share_is_attached_blocked(world: World) -> None:
    file_id = world.drive.add("Theirs.pdf", can_share=False)
    view = world.attach(file_id, DEAL, (BOB, "reader"))
    assert (view.sharing["deal:D-1"].status, view.sharing["deal:D-1"].reason) == (
        "blocked",
        "sharing_blocked",
    )
    assert world.drive.emails(file_id) == {ALICE}
    assert view.attached_to == [DEAL]


def test_a_doc_from_a_template_is_made_once_whatever_is_retried(world: World) -> None:
    template = world.drive.add("Template", mime="application/vnd.google-apps.document")
    world.drive.fail_on = {"files.create"}  # Google makes the blank Doc, and the answer is cut
    with pytest.raises(ConnectionError):
        world.attachments.create_doc(
            TENANT,
            CONNECTION,
            "doc-key-0001",
            name="Blank",
            kind="document",
            template_file_id=None,
            entity=DEAL,
            team=[],
            notify=False,
        )
    view = world.attachments.create_doc(
        TENANT,
        CONNECTION,
        "doc-key-0001",
        name="Blank",
        kind="document",
        template_file_id=None,
        entity=DEAL,
        team=[],
        notify=False,
    )
    blanks = [f for f in world.drive.files.values() if f["name"] == "Blank"]
    assert len(blanks) == 1
    assert view.file_id == blanks[0]["id"]
    copy = world.attachments.create_doc(
        TENANT,
        CONNECTION,
        "doc-key-0002",
        name="Offer",
        kind="document",
        template_file_id=template,
        entity=DEAL,
        team=[TeamMember(email=BOB, role="writer")],
        notify=False,
    )
    again = world.attachments.create_doc(
        TENANT,
        CONNECTION,
        "doc-key-0002",
        name="Offer",
        kind="document",
        template_file_id=template,
        entity=DEAL,
        team=[TeamMember(email=BOB, role="writer")],
        notify=False,
    )
    assert copy.file_id == again.file_id
    assert len([f for f in world.drive.files.values() if f["name"] == "Offer"]) == 1
    assert copy.web_view_link is not None
    assert "/edit" in copy.web_view_link


def test_a_missing_key_is_refused_before_any_google_call(world: World) -> None:
    with pytest.raises(BadInput):
        world.attachments.create_doc(
            TENANT,
            CONNECTION,
            None,
            name="X",
            kind="document",
            template_file_id=None,
            entity=DEAL,
            team=[],
            notify=False,
        )
    assert world.drive.calls == []


def test_the_changes_sync_keeps_attached_files_current_and_a_reconnect_restores_them(world: World) -> None:
    kept, other = world.drive.add("Brief.pdf"), world.drive.add("Unattached.pdf")
    world.attach(kept, DEAL)
    world.run_sync()  # the first: a start token, every attached file read
    world.drive.change(kept, name="Brief v2.pdf")
    world.drive.change(other, name="Not ours.pdf")
    world.run_sync()
    assert world.stored()[kept]["name"] == "Brief v2.pdf"
    assert other not in world.stored()
    world.drive.change(kept, trashed=True)
    world.run_sync()
    assert world.stored()[kept]["status"] == "trashed"
    mark_access_lost(world.sync.scope, CONNECTION)  # a disconnect
    assert world.stored()[kept]["status"] == "access_lost"
    world.drive.files[kept]["trashed"] = False
    SyncStates(world.sync.scope, clock=world.sync.clock).delete_connection(CONNECTION)  # its sync state goes
    world.run_sync()  # the reconnect's first sync
    assert world.stored()[kept]["status"] == "ok"
