"""Tenant-scoped access to Firestore: every path is below ``tenants/{tenant_id}``, every write is stamped.

Capabilities never build a document path themselves; they ask a ``TenantScope`` for one, so no request
can name its way into another tenant's data (invariant 6).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from shared.errors import BadInput, Conflict, NotFound, Retryable
from shared.ids import is_valid_document_id, is_valid_id

if TYPE_CHECKING:
    from google.cloud.firestore import Client, CollectionReference, DocumentReference

    from shared.config import Settings

TENANTS = "tenants"
T = TypeVar("T")


def build_firestore_client(settings: Settings) -> Client:
    """One client per instance. Imported lazily: Firestore costs ~250 ms of import on a cold start."""
    from google.cloud import firestore

    return firestore.Client(project=settings.google_cloud_project, database=settings.firestore_database)


@contextmanager
def translated_errors() -> Iterator[None]:
    """Firestore's passing faults become ``Retryable``; the caller's request can be tried again."""
    from google.api_core import exceptions as gexc

    try:
        yield
    except (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.Aborted, gexc.InternalServerError) as error:
        raise Retryable(f"Firestore is temporarily unavailable ({type(error).__name__}).") from error


@dataclass(frozen=True)
class Page:
    """One page of a listing and the opaque token of the next one (None on the last page)."""

    items: list[dict[str, Any]]
    next_page_token: str | None


class TenantScope:
    """Reads and writes of one tenant's documents."""

    def __init__(self, client: Client, tenant_id: str) -> None:
        if not is_valid_id(tenant_id):
            raise BadInput("The tenant id is not a valid id.", code="invalid_id")
        self._client = client
        self.tenant_id = tenant_id

    @property
    def client(self) -> Client:
        return self._client

    def tenant_document(self) -> DocumentReference:
        return self._client.collection(TENANTS).document(self.tenant_id)

    def collection(self, name: str) -> CollectionReference:
        collection: CollectionReference = self.tenant_document().collection(name)
        return collection

    def document(self, collection: str, document_id: str) -> DocumentReference:
        if not is_valid_document_id(document_id):
            raise BadInput(f"The {collection} id is not a valid id.", code="invalid_id")
        return self.collection(collection).document(document_id)

    def stamp(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Every stored document carries its tenant id, so collection-group reads can be checked."""
        return {**data, "tenant_id": self.tenant_id}

    def get(self, reference: DocumentReference) -> dict[str, Any] | None:
        with translated_errors():
            snapshot = reference.get()
        if not snapshot.exists:
            return None
        data = snapshot.to_dict() or {}
        if data.get("tenant_id") != self.tenant_id:
            # A document under this tenant's path that names another tenant is corrupt: never serve it.
            raise NotFound("No such document.")
        return data

    def create(self, reference: DocumentReference, data: Mapping[str, Any]) -> None:
        """Create, failing with ``Conflict`` if the document exists (atomic: no read-then-write race)."""
        from google.api_core import exceptions as gexc

        with translated_errors():
            try:
                reference.create(self.stamp(data))
            except gexc.AlreadyExists as error:
                raise Conflict("The document already exists.", code="already_exists") from error

    def update(self, reference: DocumentReference, changes: Mapping[str, Any]) -> None:
        """Update fields of an existing document; ``NotFound`` if it does not exist (nothing written)."""
        from google.api_core import exceptions as gexc

        with translated_errors():
            try:
                reference.update(dict(changes))
            except gexc.NotFound as error:
                raise NotFound("No such document.") from error

    def list_page(
        self, collection: str, *, page_size: int, page_token: str | None, descending: bool = False
    ) -> Page:
        """Documents of ``collection`` stamped with this tenant, in id order (``descending``: greatest id
        first): one page, and the token of the next, bound to this listing and its direction."""
        from google.cloud.firestore_v1.base_query import FieldFilter
        from google.cloud.firestore_v1.field_path import FieldPath

        reference = self.collection(collection)
        listing = f"{collection}:descending" if descending else collection
        # The equality on the stamp is served by its single-field index in either direction (the
        # emulator refuses a bare descending scan of ids), and no other tenant's document is read.
        query = (
            reference.where(filter=FieldFilter("tenant_id", "==", self.tenant_id))
            .order_by(FieldPath.document_id(), direction="DESCENDING" if descending else "ASCENDING")
            .limit(page_size + 1)
        )
        after = decode_page_token(page_token, listing=listing)
        if after is not None:
            query = query.start_after({FieldPath.document_id(): reference.document(after)})
        with translated_errors():
            snapshots = list(query.stream())
        items = [snapshot.to_dict() or {} for snapshot in snapshots[:page_size]]
        has_more = len(snapshots) > page_size
        next_token = encode_page_token(snapshots[page_size - 1].id, listing=listing) if has_more else None
        return Page(items=items, next_page_token=next_token)

    def transaction(self, work: Callable[[Any], T]) -> T:
        """Run ``work(transaction)`` in a Firestore transaction (retried by the client on contention)."""
        from google.cloud import firestore

        with translated_errors():
            return firestore.transactional(work)(self._client.transaction())  # type: ignore[no-any-return]


# --- page tokens --------------------------------------------------------------------------------------
# Opaque to callers: base64url JSON of {"v": 1, "l": the listing, "id": the last document served, and,
# for a listing ordered on a value before the id, "at": that value of the last document (an integer:
# microseconds or milliseconds since the epoch)}. The listing name (for filtered listings a hash of the
# listing, tenant and filters) keeps a token from one listing from being replayed on another. Tokens
# are not secret (the cursor is the last item served) but name no address.

_TOKEN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,299}")
_MAX_AT = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z in microseconds


def invalid_page_token() -> BadInput:
    return BadInput("The page_token is not one this listing issued.", code="invalid_page_token")


def encode_page_token(last_id: str, *, listing: str, at: int | None = None) -> str:
    payload: dict[str, Any] = {"v": 1, "l": listing, "id": last_id}
    if at is not None:
        payload["at"] = at
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str | None, *, listing: str) -> str | None:
    """The last id served, from a token of ``listing`` (ordered by id only); None: the first page."""
    if token is None:
        return None
    document_id, at = _decode_page_token(token, listing)
    if at is not None:
        raise invalid_page_token()
    return document_id


def decode_ordered_page_token(token: str | None, *, listing: str) -> tuple[int, str] | None:
    """(the order value, the id) of the last item served, from a token of ``listing`` (ordered by a
    value, then id); None: the first page."""
    if token is None:
        return None
    document_id, at = _decode_page_token(token, listing)
    if at is None:
        raise invalid_page_token()
    return at, document_id


def _decode_page_token(token: str, listing: str) -> tuple[str, int | None]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise invalid_page_token() from error
    if not isinstance(decoded, dict) or decoded.get("v") != 1 or decoded.get("l") != listing:
        raise invalid_page_token()
    document_id, at = decoded.get("id"), decoded.get("at")
    if not isinstance(document_id, str) or not _TOKEN_ID.fullmatch(document_id):
        raise invalid_page_token()
    if at is not None and (not isinstance(at, int) or isinstance(at, bool) or not 0 <= at <= _MAX_AT):
        raise invalid_page_token()
    return document_id, at
