"""Google Drive's data: one ``DriveAccount`` per account (its My Drive): files, their permissions, the
ids generateIds handed out, and the change log that changes.list and changes.watch read.

Every write, through the API, the admin API or the Python API, goes through the same methods: the same
checks, a new ``version`` (and ``modifiedTime`` for what the user would call an edit), one change in the
log, and ``on_change`` (push channels) once the lock is released. The Python API acts as the user in
Drive's UI (or another app): it sees every file, and what it creates is not the app's (drive.file) until
``grant_to_app``, as a file picked with the Google Picker.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from local_stack.google_standin.calendar_times import rfc3339_millis
from local_stack.google_standin.drive_export import import_paragraphs, render
from local_stack.google_standin.drive_files import (
    ANYONE_PERMISSION_ID,
    DOCS_EDITORS,
    EXPORTS,
    FOLDER,
    GOOGLE_DOC,
    PERMISSION_TYPES,
    ROLES,
    USER,
    Access,
    Permission,
    StoredFile,
    new_file_id,
    permission_id_for,
)
from local_stack.google_standin.errors import (
    GoogleApiError,
    app_not_authorized_to_file,
    bad_request,
    conversion_not_supported,
    export_size_limit_exceeded,
    file_id_in_use,
    file_id_not_usable,
    file_not_downloadable,
    file_not_exportable,
    file_not_found,
    import_not_supported,
    insufficient_file_permissions,
    insufficient_scopes,
    invalid_value,
    out_of_range,
    permission_not_found,
)

EXPORT_LIMIT_BYTES = 10 * 1024 * 1024  # "the exported content is limited to 10 MB" (files.export)
MAX_GENERATED_IDS = 1000


@dataclass
class DriveSettings:
    # Drive's maximum channel lifetime is unpublished (google-facts-calendar-drive-risc.md): 7 days here,
    # for changes.watch; a longer `expiration` or `params.ttl` is cut to it.
    max_channel_ttl_seconds: float = 604_800
    # A watch with neither `expiration` nor `params.ttl`: one hour, as recalled from Drive's push guide.
    default_channel_ttl_seconds: float = 3600
    min_interval_seconds: float = 0.0  # per channel: a `change` closer than this to the last is dropped
    export_limit_bytes: int = EXPORT_LIMIT_BYTES


@dataclass(frozen=True)
class Change:
    """One entry of the account's change log."""

    number: int
    file_id: str
    time: float
    removed: bool  # the file was deleted for good
    app_visible: bool  # whether drive.file tokens saw the file when it changed
    changed: frozenset[str]  # Drive's X-Goog-Changed: content, properties, parents, permissions


@dataclass(frozen=True)
class NewFile:
    """A file to create, from files.create or copy, or from the Python API."""

    name: str
    mime_type: str
    parents: list[str] | None = None
    description: str | None = None
    file_id: str | None = None
    content: bytes | None = None
    paragraphs: list[str] | None = None
    writers_can_share: bool = True
    viewers_can_copy_content: bool = True
    properties: dict[str, str] | None = None
    app_properties: dict[str, str] | None = None


@dataclass(frozen=True)
class PermissionRequest:
    type: str
    role: str
    email_address: str | None = None
    domain: str | None = None
    allow_file_discovery: bool | None = None
    expiration_time: str | None = None
    send_notification_email: bool | None = None
    transfer_ownership: bool = False


class DriveAccount:
    """One account's My Drive."""

    def __init__(
        self,
        email: str,
        *,
        clock: Callable[[], float],
        settings: DriveSettings,
        on_change: Callable[[DriveAccount, Change], None] | None = None,
    ) -> None:
        self.email = email.lower()
        self.settings = settings
        self.on_change = on_change
        self._clock = clock
        self._lock = threading.RLock()
        self._files: dict[str, StoredFile] = {}
        self._changes: list[Change] = []
        self._generated: set[str] = set()
        self._pending: list[Change] = []  # recorded under the lock, announced after it
        now = clock()
        self.root_id = "0A" + new_file_id(19)[1:]
        self._files[self.root_id] = StoredFile(
            id=self.root_id,
            name="My Drive",
            mime_type=FOLDER,
            parents=[],
            owner=self.email,
            created=now,
            modified=now,
            permissions=[self._owner_permission()],
            is_root=True,
        )

    # --- the Python API: the user in Drive's UI, or another app (not in the call log) ----------------

    def create(
        self,
        name: str,
        mime_type: str,
        *,
        content: bytes | None = None,
        text: str | None = None,
        parents: list[str] | None = None,
        app_created: bool = False,
    ) -> dict[str, Any]:
        """A new file. A Google Doc holds ``text`` (paragraphs: its lines); a binary file holds
        ``content`` (or ``text`` encoded as UTF-8). ``app_created``: as if this app made it (drive.file
        tokens see it); otherwise only after ``grant_to_app``."""
        if mime_type == GOOGLE_DOC:
            body = text if text is not None else (content or b"").decode()
            spec = NewFile(name, mime_type, parents=parents, paragraphs=body.split("\n") if body else [])
        elif mime_type in DOCS_EDITORS or mime_type == FOLDER:
            spec = NewFile(name, mime_type, parents=parents)
        else:
            data = content if content is not None else (text or "").encode()
            spec = NewFile(name, mime_type, parents=parents, content=data)
        return self.insert(spec, USER, app_created=app_created)

    def grant_to_app(self, file_id: str) -> None:
        """The user picked the file with the Google Picker: drive.file tokens now see it (no change)."""
        with self._lock:
            self._stored(file_id, USER).app_visible = True

    def get(self, file_id: str) -> dict[str, Any]:
        with self._lock:
            return self._stored(file_id, USER).resource(self.email)

    def files(self) -> list[dict[str, Any]]:
        """Every file (not the root), in the order they were created, trashed ones included."""
        with self._lock:
            return [f.resource(self.email) for f in self._files.values() if not f.is_root]

    def rename(self, file_id: str, name: str) -> dict[str, Any]:
        return self.update(file_id, {"name": name}, USER)

    def trash(self, file_id: str) -> dict[str, Any]:
        return self.update(file_id, {"trashed": True}, USER)

    def untrash(self, file_id: str) -> dict[str, Any]:
        return self.update(file_id, {"trashed": False}, USER)

    def delete(self, file_id: str) -> None:
        self.remove(file_id, USER)

    def set_text(self, file_id: str, text: str) -> dict[str, Any]:
        """A Doc's body, replaced by ``text`` (its lines are its paragraphs). Large text makes a large
        Doc: over 10 MB, exports answer 403 exportSizeLimitExceeded."""
        with self._announcing():
            stored = self._stored(file_id, USER)
            if stored.mime_type != GOOGLE_DOC:
                raise bad_request("Only a Google Doc holds text.")
            stored.paragraphs = text.split("\n") if text else []
            self._record(stored, {"content"})
            return stored.resource(self.email)

    def text(self, file_id: str) -> str:
        with self._lock:
            stored = self._stored(file_id, USER)
            if stored.mime_type != GOOGLE_DOC:
                raise bad_request("Only a Google Doc holds text.")
            return "\n".join(stored.paragraphs or [])

    def content(self, file_id: str) -> bytes:
        with self._lock:
            stored = self._stored(file_id, USER)
            if not stored.is_binary:
                raise file_not_downloadable()
            return stored.content or b""

    def permissions(self, file_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [p.resource() for p in self._stored(file_id, USER).permissions]

    def set_sharing(self, file_id: str, *, can_share: bool) -> dict[str, Any]:
        """``can_share=False``: the file now belongs to someone outside the stand-in, who shared it with
        the user as a writer and turned off "Editors can change permissions and share" (writersCanShare
        false): permissions.create answers 403. ``can_share=True`` turns writersCanShare back on."""
        with self._announcing():
            stored = self._stored(file_id, USER)
            if can_share:
                stored.writers_can_share = True
            else:
                outsider = f"owner-{hashlib.sha256(stored.id.encode()).hexdigest()[:8]}@elsewhere.example"
                stored.owner = outsider
                stored.permissions = [
                    _user_permission(outsider, "owner"),
                    _user_permission(self.email, "writer"),
                    *(p for p in stored.permissions if p.role != "owner" and p.email_address != self.email),
                ]
                stored.writers_can_share = False
            self._record(stored, {"permissions"}, edit=False)
            return stored.resource(self.email)

    def add_permission(
        self,
        file_id: str,
        *,
        type: str,
        role: str,
        email_address: str | None = None,
        domain: str | None = None,
    ) -> dict[str, Any]:
        """A permission added by another client (the user in Drive's UI)."""
        return self.create_permission(
            file_id, PermissionRequest(type, role, email_address=email_address, domain=domain), USER
        )

    # --- files: the operations behind the API --------------------------------------------------------

    def insert(
        self,
        spec: NewFile,
        access: Access,
        *,
        app_created: bool = True,
        media: tuple[str, bytes] | None = None,
    ) -> dict[str, Any]:
        """files.create: metadata, and media (imported into a Doc when it is one)."""
        with self._announcing():
            stored = self._new_file(spec, access, app_created=app_created)
            if media is not None:
                self._put_media(stored, *media)
            self._files[stored.id] = stored
            self._record(stored, set())
            return stored.resource(self.email)

    def copy(self, file_id: str, body: dict[str, Any], access: Access) -> dict[str, Any]:
        """files.copy: a new file, owned by the caller and the app's, with the source's content."""
        with self._announcing():
            source = self._stored(file_id, access)
            if source.is_folder:
                raise GoogleApiError(403, "cannotCopyFile", "This file cannot be copied by the user.")
            spec = NewFile(
                name=str(body.get("name") or f"Copy of {source.name}"),
                mime_type=source.mime_type,
                parents=body.get("parents") or [p for p in source.parents if p in self._files],
                description=body.get("description", source.description),
                file_id=body.get("id"),
                content=source.content,
                paragraphs=list(source.paragraphs) if source.paragraphs is not None else None,
                writers_can_share=bool(body.get("writersCanShare", True)),
                viewers_can_copy_content=bool(body.get("viewersCanCopyContent", True)),
                properties={**source.properties, **(body.get("properties") or {})},
                app_properties={**source.app_properties, **(body.get("appProperties") or {})},
            )
            stored = self._new_file(spec, access, app_created=True)
            self._files[stored.id] = stored
            self._record(stored, set())
            return stored.resource(self.email)

    def update(
        self,
        file_id: str,
        body: dict[str, Any],
        access: Access,
        *,
        add_parents: list[str] | None = None,
        remove_parents: list[str] | None = None,
        media: tuple[str, bytes] | None = None,
    ) -> dict[str, Any]:
        """files.update (PATCH semantics): name, description, trashed, sharing flags, properties,
        parents through addParents/removeParents, and new content."""
        with self._announcing():
            stored = self._writable(file_id, access)
            capabilities = stored.capabilities(self.email)
            changed: set[str] = set()
            if "trashed" in body and bool(body["trashed"]) != stored.trashed:
                if not capabilities["canTrash"]:
                    raise insufficient_file_permissions()
                stored.trashed = bool(body["trashed"])
                changed.add("properties")
            if any(key in body for key in ("name", "description")) and not capabilities["canRename"]:
                raise insufficient_file_permissions()
            for key, attribute in (("name", "name"), ("description", "description")):
                if key in body and body[key] != getattr(stored, attribute):
                    setattr(stored, attribute, None if body[key] is None else str(body[key]))
                    changed.add("properties")
            for key, attribute in (
                ("writersCanShare", "writers_can_share"),
                ("viewersCanCopyContent", "viewers_can_copy_content"),
            ):
                if key in body and bool(body[key]) != getattr(stored, attribute):
                    if not capabilities["canShare"]:
                        raise insufficient_file_permissions()
                    setattr(stored, attribute, bool(body[key]))
                    changed.add("permissions")
            for key, attribute in (("properties", "properties"), ("appProperties", "app_properties")):
                if isinstance(body.get(key), dict) and _merge_properties(
                    getattr(stored, attribute), body[key]
                ):
                    changed.add("properties")
            if (add_parents or remove_parents) and self._move(
                stored, add_parents or [], remove_parents or [], access
            ):
                changed.add("parents")
            if media is not None:
                self._put_media(stored, *media)
                changed.add("content")
            if changed:
                self._record(stored, changed)
            return stored.resource(self.email)

    def remove(self, file_id: str, access: Access) -> None:
        """files.delete: gone for good, a folder with what it holds; each a ``removed`` change."""
        with self._announcing():
            stored = self._writable(file_id, access)
            if stored.is_root or not stored.capabilities(self.email)["canDelete"]:
                raise insufficient_file_permissions()
            for doomed in [stored, *self._descendants(stored.id)]:
                del self._files[doomed.id]
                self._log(
                    Change(self._next_change, doomed.id, self._clock(), True, doomed.app_visible, frozenset())
                )

    def resource(self, file_id: str, access: Access) -> dict[str, Any]:
        with self._lock:
            return self._stored(file_id, access).resource(self.email)

    def listing(self, predicate: Callable[[StoredFile], bool], access: Access) -> list[dict[str, Any]]:
        """Every file the token sees that ``predicate`` keeps (the root is no listed file)."""
        with self._lock:
            return [
                f.resource(self.email)
                for f in self._files.values()
                if not f.is_root and access.sees(f) and predicate(f)
            ]

    def download(self, file_id: str, access: Access) -> tuple[str, bytes]:
        """alt=media: a binary file's content and type; 403 fileNotDownloadable for the rest."""
        with self._lock:
            stored = self._stored(file_id, access)
            if not stored.is_binary:
                raise file_not_downloadable()
            if not access.reads_content(stored):
                raise insufficient_scopes()
            return stored.mime_type, stored.content or b""

    def export(self, file_id: str, export_type: str, access: Access) -> bytes:
        with self._lock:
            stored = self._stored(file_id, access)
            if stored.mime_type not in EXPORTS:
                raise file_not_exportable()
            if not access.reads_content(stored):
                raise insufficient_scopes()
            if export_type not in EXPORTS[stored.mime_type]:
                raise conversion_not_supported()
            paragraphs, title = list(stored.paragraphs or []), stored.name
        limit = self.settings.export_limit_bytes
        # The Doc's own text over the limit: refused before rendering, whatever the format.
        if sum(len(p.encode()) + 1 for p in paragraphs) > limit:
            raise export_size_limit_exceeded()
        rendered = render(stored.mime_type, export_type, title=title, paragraphs=paragraphs)
        if len(rendered) > limit:
            raise export_size_limit_exceeded()
        return rendered

    def generate_ids(self, count: int) -> list[str]:
        if not 1 <= count <= MAX_GENERATED_IDS:
            raise out_of_range("count", str(count), 1, MAX_GENERATED_IDS)
        ids = [new_file_id() for _ in range(count)]
        with self._lock:
            self._generated.update(ids)
        return ids

    # --- permissions ---------------------------------------------------------------------------------

    def permission_list(self, file_id: str, access: Access) -> list[dict[str, Any]]:
        with self._lock:
            return [p.resource() for p in self._stored(file_id, access).permissions]

    def create_permission(self, file_id: str, request: PermissionRequest, access: Access) -> dict[str, Any]:
        """permissions.create; the same grantee again answers its permission (with the new role)."""
        _check_permission_request(request)
        with self._announcing():
            stored = self._writable(file_id, access)
            if not stored.capabilities(self.email)["canShare"]:
                raise insufficient_file_permissions()
            key = (request.email_address or request.domain or "").lower()
            existing = next(
                (
                    p
                    for p in stored.permissions
                    if p.type == request.type and (p.email_address or p.domain or "").lower() == key
                ),
                None,
            )
            if request.role == "owner":
                self._transfer_ownership(stored, str(request.email_address))
                self._record(stored, {"permissions"}, edit=False)
                return next(p for p in stored.permissions if p.role == "owner").resource()
            if existing is not None:
                if existing.role != request.role:
                    if existing.role == "owner":
                        raise GoogleApiError(403, "forbidden", "The owner's role cannot be changed this way.")
                    existing.role = request.role
                    self._record(stored, {"permissions"}, edit=False)
                return existing.resource()
            permission = Permission(
                id=ANYONE_PERMISSION_ID if request.type == "anyone" else permission_id_for(key),
                type=request.type,
                role=request.role,
                email_address=request.email_address,
                domain=request.domain,
                allow_file_discovery=(
                    bool(request.allow_file_discovery) if request.type in ("domain", "anyone") else None
                ),
                expiration_time=request.expiration_time,
            )
            stored.permissions.append(permission)
            self._record(stored, {"permissions"}, edit=False)
            return permission.resource()

    def delete_permission(self, file_id: str, permission_id: str, access: Access) -> dict[str, Any]:
        """permissions.delete; answers the permission it took off (for the call log)."""
        with self._announcing():
            stored = self._writable(file_id, access)
            found = next((p for p in stored.permissions if p.id == permission_id), None)
            if found is None:
                raise permission_not_found(permission_id)
            if not stored.capabilities(self.email)["canShare"]:
                raise insufficient_file_permissions()
            if found.role == "owner":
                raise GoogleApiError(403, "cannotRemoveOwner", "The owner of a file cannot be removed.")
            stored.permissions.remove(found)
            self._record(stored, {"permissions"}, edit=False)
            return found.resource()

    # --- changes -------------------------------------------------------------------------------------

    def start_page_token(self) -> str:
        with self._lock:
            return str(self._next_change)

    def list_changes(
        self, page_token: str, *, page_size: int, include_removed: bool, access: Access
    ) -> dict[str, Any]:
        """changes.list: the changes from ``page_token`` on, the latest one per file, in order; a page
        ends with nextPageToken when more remain, else with newStartPageToken."""
        with self._lock:
            start = self._read_page_token(page_token)
            latest: dict[str, Change] = {}
            for change in self._changes[start - 1 :]:
                latest.pop(change.file_id, None)
                latest[change.file_id] = change  # re-inserted: dicts keep the order of the last change
            shown = [c for c in latest.values() if self._shows(c, access, include_removed)]
            page, rest = shown[:page_size], shown[page_size:]
            answer: dict[str, Any] = {
                "kind": "drive#changeList",
                "changes": [self._change_resource(c) for c in page],
            }
            if rest:
                answer["nextPageToken"] = str(rest[0].number)
            else:
                answer["newStartPageToken"] = str(self._next_change)
            return answer

    def validate_page_token(self, page_token: str) -> None:
        with self._lock:
            self._read_page_token(page_token)

    def visible_to_app(self, file_id: str) -> bool:
        with self._lock:
            stored = self._files.get(file_id)
            return stored is not None and stored.app_visible

    # --- internals -----------------------------------------------------------------------------------

    @property
    def _next_change(self) -> int:
        return len(self._changes) + 1

    def _read_page_token(self, page_token: str) -> int:
        if not page_token.isdigit() or not 1 <= int(page_token) <= self._next_change:
            raise invalid_value("pageToken")
        return int(page_token)

    def _shows(self, change: Change, access: Access, include_removed: bool) -> bool:
        if change.removed:
            return include_removed and (access.read_all or (access.app_files and change.app_visible))
        stored = self._files.get(change.file_id)
        return stored is not None and access.sees(stored)

    def _change_resource(self, change: Change) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "kind": "drive#change",
            "changeType": "file",
            "time": rfc3339_millis(change.time),
            "removed": change.removed,
            "fileId": change.file_id,
        }
        stored = self._files.get(change.file_id)
        if not change.removed and stored is not None:
            answer["file"] = stored.resource(self.email)
        return answer

    @contextmanager
    def _announcing(self) -> Iterator[None]:
        """Hold the lock for a write; announce its changes (push) after letting go of it."""
        with self._lock:
            try:
                yield
            finally:
                pending, self._pending = self._pending, []
        if self.on_change is not None:
            for change in pending:
                self.on_change(self, change)

    def _record(self, stored: StoredFile, changed: set[str], *, edit: bool = True) -> None:
        """A file changed: a new version, a new modifiedTime for an edit (not for sharing), a change."""
        now = self._clock()
        stored.version += 1 if changed else 0
        if edit and changed:
            stored.modified = now
        self._log(Change(self._next_change, stored.id, now, False, stored.app_visible, frozenset(changed)))

    def _log(self, change: Change) -> None:
        self._changes.append(change)
        self._pending.append(change)

    def _stored(self, file_id: str, access: Access) -> StoredFile:
        """The file, if it exists and the token may see it: Google's 404 for both otherwise."""
        stored = self._files.get(self.root_id if file_id == "root" else file_id)
        if stored is None or not access.sees(stored):
            raise file_not_found(file_id)
        return stored

    def _writable(self, file_id: str, access: Access) -> StoredFile:
        stored = self._stored(file_id, access)
        if not access.writes(stored):
            raise app_not_authorized_to_file(file_id)
        return stored

    def _new_file(self, spec: NewFile, access: Access, *, app_created: bool) -> StoredFile:
        if spec.file_id is not None:
            if spec.file_id in self._files:
                raise file_id_in_use()
            if spec.file_id not in self._generated:
                raise file_id_not_usable()
            self._generated.discard(spec.file_id)
        file_id = spec.file_id or new_file_id(44 if spec.mime_type in DOCS_EDITORS else 33)
        parents = [self._parent(p, access) for p in (spec.parents or ["root"])]
        if len(parents) > 1:
            raise _too_many_parents()
        now = self._clock()
        return StoredFile(
            id=file_id,
            name=spec.name,
            mime_type=spec.mime_type,
            parents=parents,
            owner=self.email,
            created=now,
            modified=now,
            permissions=[self._owner_permission()],
            description=spec.description,
            content=(spec.content or b"")
            if spec.mime_type not in DOCS_EDITORS and spec.mime_type != FOLDER
            else None,
            paragraphs=(spec.paragraphs or []) if spec.mime_type == GOOGLE_DOC else None,
            app_visible=app_created,
            writers_can_share=spec.writers_can_share,
            viewers_can_copy_content=spec.viewers_can_copy_content,
            properties=dict(spec.properties or {}),
            app_properties=dict(spec.app_properties or {}),
        )

    def _parent(self, parent_id: str, access: Access) -> str:
        parent = self._stored(parent_id, access)
        if not parent.is_folder:
            raise bad_request(f"The parent {parent_id} is not a folder.")
        return parent.id

    def _move(self, stored: StoredFile, add: list[str], remove: list[str], access: Access) -> bool:
        before = list(stored.parents)
        added = [self._parent(p, access) for p in add]
        removed = {self.root_id if p == "root" else p for p in remove}
        parents = [p for p in stored.parents if p not in removed]
        parents += [p for p in added if p not in parents]
        inside = {d.id for d in self._descendants(stored.id)}
        if stored.id in parents or inside & set(added):
            raise bad_request("A file cannot be a parent of itself or of a folder it holds.")
        if len(parents) > 1:
            raise _too_many_parents()
        stored.parents = parents
        return parents != before

    def _descendants(self, folder_id: str) -> list[StoredFile]:
        found: list[StoredFile] = []
        frontier = [folder_id]
        while frontier:
            parent = frontier.pop()
            for child in self._files.values():
                if parent in child.parents and child not in found:
                    found.append(child)
                    frontier.append(child.id)
        return found

    def _put_media(self, stored: StoredFile, media_type: str, data: bytes) -> None:
        if stored.mime_type == GOOGLE_DOC:
            stored.paragraphs = import_paragraphs(media_type, data)
        elif stored.mime_type in DOCS_EDITORS or stored.is_folder:
            raise import_not_supported()
        else:
            stored.content = data

    def _transfer_ownership(self, stored: StoredFile, new_owner: str) -> None:
        """The new owner gets the owner's permission; the old owner stays on as a writer."""
        previous = stored.owner
        kept = [
            p
            for p in stored.permissions
            if p.role != "owner" and (p.email_address or "").lower() != new_owner.lower()
        ]
        stored.permissions = [_user_permission(new_owner, "owner"), *kept]
        if not any((p.email_address or "").lower() == previous.lower() for p in kept):
            stored.permissions.append(_user_permission(previous, "writer"))
        stored.owner = new_owner

    def _owner_permission(self) -> Permission:
        return _user_permission(self.email, "owner")


def _user_permission(email: str, role: str) -> Permission:
    return Permission(id=permission_id_for(email), type="user", role=role, email_address=email)


def _merge_properties(target: dict[str, str], patch: dict[str, Any]) -> bool:
    """Drive's PATCH of properties: a key set to null goes, the others are set."""
    before = dict(target)
    for key, value in patch.items():
        if value is None:
            target.pop(str(key), None)
        else:
            target[str(key)] = str(value)
    return target != before


def _too_many_parents() -> GoogleApiError:
    return GoogleApiError(403, "cannotAddParent", "Increasing the number of parents is not allowed.")


def _check_permission_request(request: PermissionRequest) -> None:
    """The checks Drive makes on a permission before it looks at the file (wording: the stand-in's)."""
    if request.type not in PERMISSION_TYPES:
        raise GoogleApiError(400, "invalid", f"Invalid value for permission type: {request.type}")
    if request.role not in ROLES:
        raise GoogleApiError(400, "invalid", f"Invalid value for permission role: {request.role}")
    if request.role in ("organizer", "fileOrganizer"):
        raise GoogleApiError(400, "invalidSharingRequest", "The organizer roles apply to shared drives only.")
    if request.type in ("user", "group") and not request.email_address:
        raise GoogleApiError(400, "required", f"An emailAddress is required for a {request.type} permission.")
    if request.type == "domain" and not request.domain:
        raise GoogleApiError(400, "required", "A domain is required for a domain permission.")
    if request.type in ("domain", "anyone") and request.send_notification_email is not None:
        raise GoogleApiError(
            400,
            "badRequest",
            "sendNotificationEmail is not allowed for permissions of type domain or anyone.",
            extra={"location": "sendNotificationEmail", "locationType": "parameter"},
        )
    if request.role == "owner":
        if request.type != "user":
            raise GoogleApiError(400, "invalidSharingRequest", "Only a user can own a file.")
        if not request.transfer_ownership:
            raise GoogleApiError(
                403,
                "forbidden",
                "The transferOwnership parameter must be enabled when the permission role is 'owner'.",
                extra={"location": "transferOwnership", "locationType": "parameter"},
            )
        if request.send_notification_email is False:
            raise GoogleApiError(
                400, "badRequest", "sendNotificationEmail must not be disabled for ownership transfers."
            )
