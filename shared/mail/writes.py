"""Writing read state back to Gmail, through the write path (shared.writes).

The CRM marks a synced copy read or unread; when the tenant writes read state back
(``MAIL_READ_STATE_WRITE_BACK``) and the user granted ``gmail.modify``, the change is recorded with the
CRM's idempotency key and carried out by ``outbound_worker`` with ``messages.modify``. The copy takes
Gmail's answer, and the label set it answered is remembered as our own write, so the history record the
change causes comes back through the sync as an echo and writes nothing. Nothing else we do modifies a
Gmail original.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from shared.connections.features import GMAIL_MODIFY, has_scope
from shared.connections.records import ConnectionRecord
from shared.errors import DocumentMissing, Forbidden, NeedsReconnect, NotFound
from shared.mail.labels import label_version
from shared.mail.records import MESSAGES, message_doc_id
from shared.plans import Feature
from shared.storage.scope import TenantScope
from shared.sync.requests import DEFAULT_PARTITIONS, Source, SyncKey
from shared.sync.state import SyncStates
from shared.writes.dispatcher import WriteAttempt
from shared.writes.outbox import Outbox, WriteRecord

SET_READ = "gmail.set_read"


class GmailLabels(Protocol):
    """What writing read state needs of Gmail (shared.google_apis.gmail.GmailClient provides it)."""

    def label_ids(self, message_id: str) -> list[str]: ...

    def modify(self, message_id: str, *, add: list[str], remove: list[str]) -> list[str]: ...


ConnectionOf = Callable[[str, str], ConnectionRecord | None]


def _writable(connection: ConnectionRecord | None, *, write_back: bool) -> ConnectionRecord:
    """The connection, when read state may be written to its Gmail; the reason it may not otherwise."""
    if connection is None:
        raise NotFound("This CRM user has no Google connection.", code="connection_not_found")
    if not connection.is_active:
        raise NeedsReconnect("The Google account must be reconnected.", code="needs_reconnect")
    if not connection.enabled(Feature.MAIL):
        reason = connection.features.get(Feature.MAIL)
        code = reason.reason.value if reason is not None and reason.reason is not None else "feature_off"
        raise Forbidden("Mail is off for this connection.", code=code)
    if not write_back or not has_scope(connection.granted_scopes, GMAIL_MODIFY):
        raise Forbidden(
            f"Writing read state to Gmail needs the tenant's write-back setting and the {GMAIL_MODIFY} scope "
            "granted at connect.",
            code="feature_not_granted",
        )
    return connection


class ReadStateWrites:
    """The API's side: check, record, queue."""

    def __init__(
        self,
        *,
        outbox: Outbox,
        connection_of: ConnectionOf,
        scope_for: Callable[[str], TenantScope],
        write_back: bool,
    ) -> None:
        self._outbox = outbox
        self._connection_of = connection_of
        self._scope_for = scope_for
        self._write_back = write_back

    def submit(
        self, tenant_id: str, user_id: str, gmail_id: str, *, read: bool, key: str | None
    ) -> WriteRecord:
        _writable(self._connection_of(tenant_id, user_id), write_back=self._write_back)
        scope = self._scope_for(tenant_id)
        copy = scope.get(scope.document(MESSAGES, message_doc_id(user_id, gmail_id)))
        if copy is None or copy.get("connection_id") != user_id:
            raise NotFound("No such message.", code="message_not_found")
        return self._outbox.submit(tenant_id, user_id, key, SET_READ, {"gmail_id": gmail_id, "read": read})


class SetReadState:
    """The worker's side: one ``messages.modify``, looked up first when an earlier attempt may have
    made it."""

    name = SET_READ

    def __init__(
        self,
        *,
        connection_of: ConnectionOf,
        gmail_for: Callable[[str, ConnectionRecord], GmailLabels],
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
        record = attempt.record
        tenant_id = attempt.tenant_id
        connection = _writable(
            self._connection_of(tenant_id, record.connection_id), write_back=self._write_back
        )
        gmail_id, read = str(record.payload["gmail_id"]), bool(record.payload["read"])
        gmail = self._gmail_for(tenant_id, connection)
        labels: list[str] | None = None
        if attempt.may_have_happened:
            current = gmail.label_ids(gmail_id)
            if ("UNREAD" not in current) == read:
                labels = current  # the earlier attempt reached Gmail: nothing more to write
        if labels is None:
            add, remove = ([], ["UNREAD"]) if read else (["UNREAD"], [])
            labels = gmail.modify(gmail_id, add=add, remove=remove)
        scope = self._scope_for(tenant_id)
        # Remembered before the copy changes: the sync that meets the echo must know it is ours.
        SyncStates(scope, clock=self._clock).record_own_write(
            SyncKey(connection.connection_id, Source.GMAIL, DEFAULT_PARTITIONS[Source.GMAIL]),
            gmail_id,
            label_version(labels),
        )
        # A copy purged or removed meanwhile: Gmail has the change, there is no copy to show it.
        with contextlib.suppress(DocumentMissing):
            scope.update(
                scope.document(MESSAGES, message_doc_id(connection.connection_id, gmail_id)),
                {"label_ids": labels, "unread": "UNREAD" in labels},
            )
        return {"gmail_id": gmail_id, "label_ids": labels, "unread": "UNREAD" in labels}
