"""Tenant-scoped access to the document store: every path is below ``tenants/{tenant_id}``, every
stored document is stamped with its tenant.

Capabilities never build a document path themselves; they ask a ``TenantScope`` for one, so no request
can name its way into another tenant's data (invariant 6). The scope speaks the store port
(``shared.storage.documents``), so the same code runs on Firestore and on the in-memory store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from shared.errors import BadInput, NotFound
from shared.ids import is_valid_document_id, is_valid_id
from shared.storage.documents import (
    DOCUMENT_ID,
    CollectionRef,
    DocRef,
    DocumentStore,
    Query,
    Snapshot,
    Transaction,
    WriteBatch,
)
from shared.storage.page_tokens import decode_page_token, encode_page_token

TENANTS = "tenants"
T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    """One page of a listing and the opaque token of the next one (None on the last page)."""

    items: list[dict[str, Any]]
    next_page_token: str | None


def tenant_ids(store: DocumentStore) -> list[str]:
    """Every tenant's id: the daily rounds (watch renewal, purge fan-out) walk them all."""
    return store.list_document_ids(CollectionRef(TENANTS))


class TenantScope:
    """Reads and writes of one tenant's documents."""

    def __init__(self, store: DocumentStore, tenant_id: str) -> None:
        if not is_valid_id(tenant_id):
            raise BadInput("The tenant id is not a valid id.", code="invalid_id")
        self._store = store
        self.tenant_id = tenant_id

    # --- names ----------------------------------------------------------------------------------------

    def tenant_document(self) -> DocRef:
        return CollectionRef(TENANTS).document(self.tenant_id)

    def collection(self, name: str) -> CollectionRef:
        return self.tenant_document().collection(name)

    def document(self, collection: str, document_id: str) -> DocRef:
        if not is_valid_document_id(document_id):
            raise BadInput(f"The {collection} id is not a valid id.", code="invalid_id")
        return self.collection(collection).document(document_id)

    def stamp(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Every stored document carries its tenant id, so collection-group reads can be checked."""
        return {**data, "tenant_id": self.tenant_id}

    # --- reads ----------------------------------------------------------------------------------------

    def get(self, ref: DocRef) -> dict[str, Any] | None:
        """The document's fields, None when it does not exist."""
        snapshot = self._store.get(ref)
        if not snapshot.exists:
            return None
        data = snapshot.to_dict()
        if data.get("tenant_id") != self.tenant_id:
            # A document under this tenant's path that names another tenant is corrupt: never serve it.
            raise NotFound("No such document.")
        return data

    def snapshot(self, ref: DocRef, *, fields: Sequence[str] | None = None) -> Snapshot:
        return self._store.get(ref, fields=fields)

    def get_all(self, refs: Sequence[DocRef], *, fields: Sequence[str] | None = None) -> list[Snapshot]:
        return self._store.get_all(refs, fields=fields) if refs else []

    def stream(self, query: Query) -> list[Snapshot]:
        return self._store.stream(query)

    def count(self, query: Query) -> int:
        return self._store.count(query)

    # --- writes ---------------------------------------------------------------------------------------

    def create(self, ref: DocRef, data: Mapping[str, Any]) -> datetime:
        """Create, stamped; ``AlreadyExists`` (a ``Conflict``) if it exists: atomic, no read-then-write."""
        return self._store.create(ref, self.stamp(data))

    def set(self, ref: DocRef, data: Mapping[str, Any], *, merge: bool = False) -> datetime:
        return self._store.set(ref, self.stamp(data), merge=merge)

    def update(
        self, ref: DocRef, changes: Mapping[str, Any], *, if_updated_at: datetime | None = None
    ) -> datetime:
        """Update fields of an existing document; ``DocumentMissing`` (a ``NotFound``) if it does not
        exist, and nothing is written."""
        return self._store.update(ref, changes, if_updated_at=if_updated_at)

    def delete(self, ref: DocRef, *, if_updated_at: datetime | None = None) -> None:
        self._store.delete(ref, if_updated_at=if_updated_at)

    def batch(self) -> WriteBatch:
        return self._store.batch()

    def transaction(self, work: Callable[[Transaction], T]) -> T:
        """Run ``work(transaction)`` in a transaction (run again by the store on contention)."""
        return self._store.run_transaction(work)

    # --- listings -------------------------------------------------------------------------------------

    def list_page(
        self, collection: str, *, page_size: int, page_token: str | None, descending: bool = False
    ) -> Page:
        """Documents of ``collection`` stamped with this tenant, in id order (``descending``: greatest id
        first): one page, and the token of the next, bound to this listing and its direction."""
        reference = self.collection(collection)
        listing = f"{collection}:descending" if descending else collection
        # The equality on the stamp is served by its single-field index in either direction (the
        # emulator refuses a bare descending scan of ids), and no other tenant's document is read.
        query = (
            reference.query()
            .where("tenant_id", "==", self.tenant_id)
            .order_by(DOCUMENT_ID, "DESCENDING" if descending else "ASCENDING")
            .limit(page_size + 1)
        )
        after = decode_page_token(page_token, listing=listing)
        if after is not None:
            query = query.start_after({DOCUMENT_ID: reference.document(after)})
        snapshots = self._store.stream(query)
        items = [snapshot.to_dict() for snapshot in snapshots[:page_size]]
        has_more = len(snapshots) > page_size
        next_token = encode_page_token(snapshots[page_size - 1].id, listing=listing) if has_more else None
        return Page(items=items, next_page_token=next_token)
