"""Read state and labels set in the CRM, written back to Gmail through the write path (shared.writes).

When the tenant writes read state back (``MAIL_READ_STATE_WRITE_BACK``) and the user granted
``gmail.modify``, the CRM marks a synced copy, or every copy of a thread, read or unread and adds or
removes labels (user labels by name, from ``labels.list``; INBOX, STARRED, IMPORTANT by id). The copies
change at once; the change is recorded under the CRM's idempotency key and carried out by
``outbound_worker`` (``messages.modify`` for one message, ``messages.batchModify`` for a thread). The
label sets it leaves are remembered as our own writes, so the history records the change causes come
back through the sync as an echo and write nothing. A change Gmail refuses for good puts the copies
back as they were. Nothing else we do modifies a Gmail original.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from shared.connections.features import GMAIL_MODIFY, has_scope
from shared.connections.records import ConnectionRecord
from shared.errors import BadInput, DocumentMissing, Forbidden, NeedsReconnect, NotFound
from shared.mail.labels import label_version
from shared.mail.records import MESSAGES, message_doc_id
from shared.mail.shapes import QUERY_SHAPES
from shared.plans import Feature
from shared.storage.scope import TenantScope
from shared.storage.shapes import build_query
from shared.sync.requests import DEFAULT_PARTITIONS, Source, SyncKey
from shared.sync.state import SyncStates
from shared.writes.dispatcher import WriteAttempt
from shared.writes.outbox import Outbox, WriteRecord

MODIFY = "gmail.modify"
THREAD_LIMIT = 100  # Gmail threads hold at most 100 messages
# System labels the CRM may set or clear by id (read state goes through ``read``: UNREAD).
SYSTEM_LABELS = frozenset({"INBOX", "STARRED", "IMPORTANT"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
LabelName = Annotated[str, StringConstraints(min_length=1, max_length=225)]


class LabelChange(BaseModel):
    """A change of read state and labels; what is not named stays as it is."""

    model_config = ConfigDict(extra="forbid")

    read: bool | None = Field(None, description="Mark read (true) or unread (false).")
    add_labels: list[LabelName] = Field(
        default_factory=list, max_length=20, description="User labels by name; INBOX, STARRED, IMPORTANT."
    )
    remove_labels: list[LabelName] = Field(default_factory=list, max_length=20)

    @field_validator("add_labels", "remove_labels")
    @classmethod
    def _plain(cls, value: list[str]) -> list[str]:
        if any(_CONTROL.search(name) for name in value):
            raise ValueError("label names must not hold control characters")
        return value

    @model_validator(mode="after")
    def _something(self) -> LabelChange:
        if self.read is None and not self.add_labels and not self.remove_labels:
            raise ValueError("name a change: read, add_labels or remove_labels")
        if {n.lower() for n in self.add_labels} & {n.lower() for n in self.remove_labels}:
            raise ValueError("a label cannot be both added and removed")
        return self


class GmailLabels(Protocol):
    """What label changes need of Gmail (shared.google_apis.gmail.GmailClient provides it)."""

    def labels(self) -> list[dict[str, str]]: ...

    def label_ids(self, message_id: str) -> list[str]: ...

    def modify(self, message_id: str, *, add: list[str], remove: list[str]) -> list[str]: ...

    def batch_modify(self, message_ids: list[str], *, add: list[str], remove: list[str]) -> None: ...


ConnectionOf = Callable[[str, str], ConnectionRecord | None]
GmailFor = Callable[[str, ConnectionRecord], GmailLabels]


def writable(connection: ConnectionRecord | None, *, write_back: bool) -> ConnectionRecord:
    """The connection, when labels may be written to its Gmail; the reason they may not otherwise."""
    if connection is None:
        raise NotFound("This CRM user has no Google connection.", code="connection_not_found")
    if not connection.is_active:
        raise NeedsReconnect("The Google account must be reconnected.", code="needs_reconnect")
    state = connection.features.get(Feature.MAIL)
    if state is None or not state.enabled:
        code = state.reason.value if state is not None and state.reason is not None else "feature_off"
        raise Forbidden("Mail is off for this connection.", code=code)
    if not write_back or not has_scope(connection.granted_scopes, GMAIL_MODIFY):
        raise Forbidden(
            f"Writing read state and labels to Gmail needs the tenant's write-back setting and the "
            f"{GMAIL_MODIFY} scope granted at connect.",
            code="feature_not_granted",
        )
    return connection


def changed(labels: Iterable[str], add: Iterable[str], remove: Iterable[str]) -> list[str]:
    """``labels`` with ``add`` added and ``remove`` removed, in a stable order."""
    result = [label for label in labels if label not in set(remove)]
    return result + [label for label in add if label not in result]


class LabelChanges:
    """The API's side: check, resolve label names, change the copies at once, record and queue."""

    def __init__(
        self,
        *,
        outbox: Outbox,
        connection_of: ConnectionOf,
        gmail_for: GmailFor,
        scope_for: Callable[[str], TenantScope],
        write_back: bool,
    ) -> None:
        self._outbox = outbox
        self._connection_of = connection_of
        self._gmail_for = gmail_for
        self._scope_for = scope_for
        self._write_back = write_back

    def of_message(
        self, tenant_id: str, user_id: str, gmail_id: str, change: LabelChange, key: str | None
    ) -> WriteRecord:
        scope = self._scope_for(tenant_id)
        connection = writable(self._connection_of(tenant_id, user_id), write_back=self._write_back)
        copy = scope.get(scope.document(MESSAGES, message_doc_id(user_id, gmail_id)))
        if copy is None or copy.get("connection_id") != user_id:
            raise NotFound("No such message.", code="message_not_found")
        return self._submit(tenant_id, connection, {gmail_id: copy}, {"gmail_id": gmail_id}, change, key)

    def of_thread(
        self, tenant_id: str, user_id: str, thread_id: str, change: LabelChange, key: str | None
    ) -> WriteRecord:
        scope = self._scope_for(tenant_id)
        connection = writable(self._connection_of(tenant_id, user_id), write_back=self._write_back)
        query = build_query(
            scope.collection(MESSAGES),
            QUERY_SHAPES["thread"],
            equal={"connection_id": user_id, "thread_id": thread_id},
        ).limit(THREAD_LIMIT)
        copies = {
            str(data["gmail_id"]): data
            for snapshot in scope.stream(query)
            if (data := snapshot.to_dict()).get("tenant_id") == tenant_id
        }
        if not copies:
            raise NotFound("No such thread.", code="thread_not_found")
        return self._submit(tenant_id, connection, copies, {"thread_id": thread_id}, change, key)

    def _submit(
        self,
        tenant_id: str,
        connection: ConnectionRecord,
        copies: Mapping[str, Mapping[str, Any]],
        target: dict[str, str],
        change: LabelChange,
        key: str | None,
    ) -> WriteRecord:
        add, remove = self._label_ids(tenant_id, connection, change)
        previous = {gmail_id: list(copy.get("label_ids") or []) for gmail_id, copy in copies.items()}
        payload = {**target, **change.model_dump(mode="json", exclude_none=True)}
        details = {"gmail_ids": sorted(copies), "add": add, "remove": remove, "previous": previous}
        record, created = self._outbox.submit_new(
            tenant_id, connection.connection_id, key, MODIFY, payload, details=lambda _: details
        )
        if created:  # the copies change at once; a repeat of the request finds them changed already
            scope = self._scope_for(tenant_id)
            for gmail_id, labels in previous.items():
                _show(scope, connection.connection_id, gmail_id, changed(labels, add, remove))
        return record

    def _label_ids(
        self, tenant_id: str, connection: ConnectionRecord, change: LabelChange
    ) -> tuple[list[str], list[str]]:
        add: list[str] = []
        remove: list[str] = []
        if change.read is not None:
            (remove if change.read else add).append("UNREAD")
        if change.add_labels or change.remove_labels:
            known = self._gmail_for(tenant_id, connection).labels()
            add += _resolve(known, change.add_labels, "add_labels")
            remove += _resolve(known, change.remove_labels, "remove_labels")
        return sorted(set(add)), sorted(set(remove))


def _resolve(known: list[dict[str, str]], names: list[str], field: str) -> list[str]:
    by_name = {label["name"].lower(): label["id"] for label in known if label.get("type") == "user"}
    ids: list[str] = []
    errors: list[dict[str, Any]] = []
    for index, name in enumerate(names):
        if name.upper() in SYSTEM_LABELS:
            ids.append(name.upper())
        elif name.lower() in by_name:
            ids.append(by_name[name.lower()])
        else:
            errors.append(
                {
                    "location": ["body", field, index],
                    "message": "no such user label in Gmail",
                    "type": "unknown_label",
                }
            )
    if errors:
        raise BadInput("A label named is not one of the mailbox's.", code="validation_failed", errors=errors)
    return ids


def _show(scope: TenantScope, connection_id: str, gmail_id: str, labels: list[str]) -> None:
    # A copy purged or removed meanwhile: Gmail has the change, there is no copy to show it.
    with contextlib.suppress(DocumentMissing):
        scope.update(
            scope.document(MESSAGES, message_doc_id(connection_id, gmail_id)),
            {"label_ids": labels, "unread": "UNREAD" in labels},
        )


class ModifyLabels:
    """The worker's side: one ``messages.modify`` (one message) or ``batchModify`` (a thread)."""

    name = MODIFY

    def __init__(
        self,
        *,
        connection_of: ConnectionOf,
        gmail_for: GmailFor,
        scope_for: Callable[[str], TenantScope],
        write_back: bool,
        clock: Callable[[], datetime],
    ) -> None:
        self._connection_of = connection_of
        self._gmail_for = gmail_for
        self._scope_for = scope_for
        self._write_back = write_back
        self._clock = clock

    def perform(self, attempt: WriteAttempt) -> dict[str, Any]:
        record, tenant_id = attempt.record, attempt.tenant_id
        connection = writable(
            self._connection_of(tenant_id, record.connection_id), write_back=self._write_back
        )
        ids: list[str] = list(record.details["gmail_ids"])
        add, remove = list(record.details["add"]), list(record.details["remove"])
        previous: dict[str, list[str]] = record.details["previous"]
        gmail = self._gmail_for(tenant_id, connection)
        if len(ids) == 1:
            (gmail_id,) = ids
            current = gmail.label_ids(gmail_id) if attempt.may_have_happened else None
            if current is not None and set(add) <= set(current) and not set(remove) & set(current):
                results = {gmail_id: current}  # the earlier attempt reached Gmail: nothing more to write
            else:
                results = {gmail_id: gmail.modify(gmail_id, add=add, remove=remove)}
        else:
            gmail.batch_modify(ids, add=add, remove=remove)  # the same change again changes nothing more
            results = {gmail_id: changed(previous.get(gmail_id, []), add, remove) for gmail_id in ids}
        scope = self._scope_for(tenant_id)
        # Remembered before the copies change: the sync that meets the echo must know it is ours.
        SyncStates(scope, clock=self._clock).record_own_writes(
            SyncKey(connection.connection_id, Source.GMAIL, DEFAULT_PARTITIONS[Source.GMAIL]),
            {gmail_id: label_version(labels) for gmail_id, labels in results.items()},
        )
        for gmail_id, labels in results.items():
            _show(scope, connection.connection_id, gmail_id, labels)
        return {
            "messages": [
                {"gmail_id": gmail_id, "label_ids": labels, "unread": "UNREAD" in labels}
                for gmail_id, labels in sorted(results.items())
            ]
        }

    def on_failed(self, attempt: WriteAttempt) -> None:
        """Gmail refused for good: the copies go back to what they showed before the change."""
        scope = self._scope_for(attempt.tenant_id)
        for gmail_id, labels in dict(attempt.record.details.get("previous") or {}).items():
            _show(scope, attempt.record.connection_id, gmail_id, list(labels))
