"""Drive files attached to CRM records and tasks: attach a picked file, make a Google Doc (blank, or a
copy of a template) or upload a file for a record, detach, and share with the record's team.

Everything here runs in the API's request, against the user's Drive with the least scope
(``drive.file``: the files the user picked with the Google Picker, or that this app made):
- a file is checked with ``files.get`` before anything is stored; one this app may not open is a 404
  ``drive_file_not_accessible`` and nothing is written;
- only metadata and links are stored, never content;
- sharing adds a user permission for each member of the team who has none (no email unless asked),
  never a link for anyone or a domain; each permission we add is remembered with the records that needed
  it, and a detach removes a permission of ours only when no attached record still needs it; a file the
  user may not share is attached with sharing ``blocked``;
- a new file (a Doc, an upload) takes an id from ``files.generateIds`` kept under the CRM's
  Idempotency-Key: a retried request makes no second file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from shared.crm_links.entities import CrmEntity, own_object, with_entity, without_entity
from shared.drive.files import (
    DRIVE_FILES,
    GOOGLE_DOCS,
    DriveFileView,
    TeamMember,
    drive_file_doc_id,
    entity_key,
    file_view,
    metadata_fields,
)
from shared.errors import Forbidden, IdTakenAtGoogle, NeedsReconnect, NotFound
from shared.plans import Feature
from shared.storage.documents import Transaction
from shared.storage.scope import TenantScope
from shared.sync.engine import SyncedConnection
from shared.writes.outbox import Outbox, check_key

CREATE_DOC = "drive.docs.create"
UPLOAD = "drive.files.upload"


class DriveFiles(Protocol):
    """What attaching needs of Drive (shared.google_apis.drive.DriveClient provides it)."""

    def get_file(self, file_id: str) -> dict[str, Any]: ...

    def new_file_id(self) -> str: ...

    def create_file(
        self, metadata: Mapping[str, Any], *, content: bytes | None = None, mime_type: str | None = None
    ) -> dict[str, Any]: ...

    def copy_file(self, file_id: str, metadata: Mapping[str, Any]) -> dict[str, Any]: ...

    def permissions(self, file_id: str) -> list[dict[str, Any]]: ...

    def share_with_user(self, file_id: str, email: str, role: str, *, notify: bool) -> dict[str, Any]: ...

    def unshare(self, file_id: str, permission_id: str) -> None: ...


ConnectionOf = Callable[[str, str], SyncedConnection | None]
DriveFor = Callable[[str, SyncedConnection], DriveFiles]


def usable(connection: SyncedConnection | None) -> SyncedConnection:
    """The connection, when its Drive may be used; the reason it may not otherwise."""
    if connection is None:
        raise NotFound("This CRM user has no Google connection.", code="connection_not_found")
    if not connection.is_active:
        raise NeedsReconnect("The Google account must be reconnected.", code="needs_reconnect")
    if not connection.enabled(Feature.DRIVE):
        raise Forbidden("Drive is off for this connection.", code="feature_off")
    return connection


class DriveAttachments:
    def __init__(
        self,
        *,
        connection_of: ConnectionOf,
        drive_for: DriveFor,
        scope_for: Callable[[str], TenantScope],
        outbox: Outbox,
        clock: Callable[[], datetime],
    ) -> None:
        self._connection_of = connection_of
        self._drive_for = drive_for
        self._scope_for = scope_for
        self._outbox = outbox
        self._clock = clock

    # --- attach and detach ---------------------------------------------------------------------------

    def attach(
        self,
        tenant_id: str,
        user_id: str,
        file_id: str,
        entity: CrmEntity,
        team: Sequence[TeamMember],
        *,
        notify: bool,
    ) -> DriveFileView:
        connection = usable(self._connection_of(tenant_id, user_id))
        drive = self._drive_for(tenant_id, connection)
        file = drive.get_file(file_id)  # 404 drive_file_not_accessible: nothing stored, nothing shared
        return self._attach(tenant_id, connection, drive, file, entity, team, notify=notify)

    def detach(self, tenant_id: str, user_id: str, file_id: str, entity: CrmEntity) -> DriveFileView:
        """Detach from ``entity``; the permissions we added for it alone go. The file's record goes with
        its last attachment (Drive keeps the file)."""
        scope = self._scope_for(tenant_id)
        reference = scope.document(DRIVE_FILES, drive_file_doc_id(user_id, file_id))
        data = scope.get(reference)
        if data is None or data.get("connection_id") != user_id:
            raise NotFound("No such attached Drive file.", code="drive_file_not_found")
        key = entity_key(entity)
        ours: dict[str, Any] = dict(data.get("our_permissions") or {})
        orphaned = {
            email: entry
            for email, entry in ours.items()
            if set(entry.get("entities") or []) <= {key} and key in (entry.get("entities") or [])
        }
        if orphaned:
            connection = self._connection_of(tenant_id, user_id)
            if connection is not None and connection.is_active and connection.enabled(Feature.DRIVE):
                drive = self._drive_for(tenant_id, connection)
                for entry in orphaned.values():
                    drive.unshare(file_id, str(entry["permission_id"]))

        def change(transaction: Transaction) -> dict[str, Any] | None:
            current = own_object(scope, transaction.get(reference), user_id)
            if current is None:
                return None
            attached = without_entity(current, entity)
            permissions = {
                email: {**entry, "entities": [e for e in entry.get("entities") or [] if e != key]}
                for email, entry in (current.get("our_permissions") or {}).items()
                if email not in orphaned
            }
            sharing = {k: v for k, v in (current.get("sharing") or {}).items() if k != key}
            remaining = attached if attached is not None else list(current.get("attached_to") or [])
            if not remaining:
                transaction.delete(reference)
                return {**current, "attached_to": [], "sharing": {}}
            changes = {
                "attached_to": remaining,
                "our_permissions": permissions,
                "sharing": sharing,
                "updated_at": self._clock(),
            }
            transaction.update(reference, changes)
            return {**current, **changes}

        after = scope.transaction(change)
        if after is None:
            raise NotFound("No such attached Drive file.", code="drive_file_not_found")
        return file_view(after)

    # --- new files ------------------------------------------------------------------------------------

    def create_doc(
        self,
        tenant_id: str,
        user_id: str,
        key: str | None,
        *,
        name: str,
        kind: str,
        template_file_id: str | None,
        entity: CrmEntity,
        team: Sequence[TeamMember],
        notify: bool,
    ) -> DriveFileView:
        """A Google Doc (blank, or a copy of ``template_file_id``) in the user's Drive, attached to
        ``entity`` and shared with its team; its ``web_view_link`` opens it for editing."""
        check_key(key)
        connection = usable(self._connection_of(tenant_id, user_id))
        drive = self._drive_for(tenant_id, connection)
        if template_file_id is not None:
            drive.get_file(template_file_id)  # not granted: 404 before anything is recorded
        payload = {
            "name": name,
            "kind": kind,
            "template_file_id": template_file_id,
            "entity": entity.as_map(),
            "team": [member.model_dump() for member in team],
            "notify": notify,
        }

        def make(file_id: str) -> dict[str, Any]:
            metadata = {"id": file_id, "name": name}
            if template_file_id is not None:
                return drive.copy_file(template_file_id, metadata)
            return drive.create_file({**metadata, "mimeType": GOOGLE_DOCS[kind]})

        return self._new_file(
            tenant_id, connection, drive, key, CREATE_DOC, payload, make, entity, team, notify
        )

    def upload(
        self,
        tenant_id: str,
        user_id: str,
        key: str | None,
        *,
        filename: str,
        content_type: str,
        data: bytes,
        entity: CrmEntity,
        team: Sequence[TeamMember],
        notify: bool,
    ) -> DriveFileView:
        """The bytes as a new file in the user's Drive, attached to ``entity``."""
        check_key(key)
        connection = usable(self._connection_of(tenant_id, user_id))
        drive = self._drive_for(tenant_id, connection)
        payload = {
            "filename": filename,
            "content_type": content_type,
            "sha256": hashlib.sha256(data).hexdigest(),  # the same key with other bytes is refused
            "entity": entity.as_map(),
            "team": [member.model_dump() for member in team],
            "notify": notify,
        }

        def make(file_id: str) -> dict[str, Any]:
            return drive.create_file({"id": file_id, "name": filename}, content=data, mime_type=content_type)

        return self._new_file(tenant_id, connection, drive, key, UPLOAD, payload, make, entity, team, notify)

    def _new_file(
        self,
        tenant_id: str,
        connection: SyncedConnection,
        drive: DriveFiles,
        key: str | None,
        operation: str,
        payload: dict[str, Any],
        make: Callable[[str], dict[str, Any]],
        entity: CrmEntity,
        team: Sequence[TeamMember],
        notify: bool,
    ) -> DriveFileView:
        record, _ = self._outbox.submit_new(
            tenant_id,
            connection.connection_id,
            key,
            operation,
            payload,
            details=lambda _: {"file_id": drive.new_file_id()},
            publish=False,  # carried out here, now; a retry with the same key carries it out again
        )
        file_id = str(record.details["file_id"])
        if record.result is None:
            try:
                file = make(file_id)
            except IdTakenAtGoogle:
                file = drive.get_file(file_id)  # an earlier attempt made it
        else:
            file = drive.get_file(file_id)
        view = self._attach(tenant_id, connection, drive, file, entity, team, notify=notify)
        self._outbox.complete(tenant_id, record.write_id, {"file_id": file_id})
        return view

    # --- shared ---------------------------------------------------------------------------------------

    def _attach(
        self,
        tenant_id: str,
        connection: SyncedConnection,
        drive: DriveFiles,
        file: Mapping[str, Any],
        entity: CrmEntity,
        team: Sequence[TeamMember],
        *,
        notify: bool,
    ) -> DriveFileView:
        scope = self._scope_for(tenant_id)
        file_id = str(file["id"])
        reference = scope.document(DRIVE_FILES, drive_file_doc_id(connection.connection_id, file_id))
        metadata = metadata_fields(file)
        sharing, added = _share(drive, file_id, metadata, team, notify=notify)
        key = entity_key(entity)
        now = self._clock()

        def store(transaction: Transaction) -> dict[str, Any]:
            snapshot = transaction.get(reference)
            current = own_object(scope, snapshot, connection.connection_id) or {}
            attached = with_entity(current, entity)
            permissions = dict(current.get("our_permissions") or {})
            for email, permission_id in added.items():
                permissions[email] = {"permission_id": permission_id, "entities": []}
            for member in team:
                entry = permissions.get(member.email.lower())
                if entry is not None and key not in entry["entities"]:
                    entry["entities"] = [*entry["entities"], key]
            document = {
                **current,
                **metadata,
                "connection_id": connection.connection_id,
                "attached_to": attached if attached is not None else list(current.get("attached_to") or []),
                "our_permissions": permissions,
                "sharing": {**(current.get("sharing") or {}), key: sharing},
                "updated_at": now,
            }
            document.pop("tenant_id", None)
            transaction.set(reference, scope.stamp(document))
            return document

        return file_view(scope.transaction(store))


def _share(
    drive: DriveFiles,
    file_id: str,
    metadata: Mapping[str, Any],
    team: Sequence[TeamMember],
    *,
    notify: bool,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Give each member of ``team`` who has no access a user permission. Returns the sharing state
    for the record and the permissions added (address -> permission id)."""
    members = [member.model_copy(update={"email": member.email.lower()}) for member in team]
    if not members:
        return {"team": [], "status": "not_asked", "reason": None}, {}
    team_json = [member.model_dump() for member in members]
    if not metadata.get("can_share"):
        return {"team": team_json, "status": "blocked", "reason": "sharing_blocked"}, {}
    have = {
        str(permission.get("emailAddress", "")).lower()
        for permission in drive.permissions(file_id)
        if permission.get("type") in ("user", "group")
    } | set(metadata.get("owners") or [])
    added: dict[str, str] = {}
    for member in members:
        if member.email in have or member.email in added:
            continue
        try:
            permission = drive.share_with_user(file_id, member.email, member.role, notify=notify)
        except Forbidden as refused:
            if refused.code != "sharing_blocked":
                raise
            return {"team": team_json, "status": "blocked", "reason": "sharing_blocked"}, added
        added[member.email] = str(permission["id"])
    return {"team": team_json, "status": "shared", "reason": None}, added


def mark_access_lost(scope: TenantScope, connection_id: str) -> int:
    """The connection is gone (disconnected, revoked): its attached files stay, as links, marked
    ``access_lost`` until a reconnect's first sync reads them again. Returns how many."""
    query = (
        scope.collection(DRIVE_FILES).query().where("connection_id", "==", connection_id).select(["status"])
    )
    snapshots = scope.stream(query)
    for start in range(0, len(snapshots), 400):
        batch = scope.batch()
        for snapshot in snapshots[start : start + 400]:
            batch.update(snapshot.ref, {"status": "access_lost"})
        batch.commit()
    return len(snapshots)
