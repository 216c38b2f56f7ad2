"""Reading attached Drive files for the API: a user's, and a CRM record's (every user's), latest
changed first. tests/unit/test_firestore_indexes.py checks each query shape against the indexes."""

from __future__ import annotations

from shared.crm_links.entities import CrmEntity
from shared.drive.files import DRIVE_FILES, DriveFilePage, file_view
from shared.errors import NotFound
from shared.storage.documents import DOCUMENT_ID, Direction, Query
from shared.storage.page_tokens import (
    decode_ordered_page_token,
    encode_page_token,
    from_micros,
    listing_key,
    micros,
)
from shared.storage.scope import TenantScope
from shared.storage.shapes import QueryShape, build_query

_LATEST: tuple[tuple[str, Direction], ...] = (("updated_at", "DESCENDING"), (DOCUMENT_ID, "DESCENDING"))
QUERY_SHAPES: dict[str, QueryShape] = {
    "connection_files": QueryShape(DRIVE_FILES, equality=("connection_id",), order=_LATEST),
    "attached": QueryShape(DRIVE_FILES, array_contains="attached_to", order=_LATEST),
}


def list_files(
    scope: TenantScope, connection_id: str, *, page_size: int, page_token: str | None
) -> DriveFilePage:
    query = build_query(
        scope.collection(DRIVE_FILES),
        QUERY_SHAPES["connection_files"],
        equal={"connection_id": connection_id},
    )
    return _page(
        scope, query, listing_key("drive_files", scope.tenant_id, connection_id), page_size, page_token
    )


def list_attached(
    scope: TenantScope, entity: CrmEntity, *, page_size: int, page_token: str | None
) -> DriveFilePage:
    query = build_query(
        scope.collection(DRIVE_FILES), QUERY_SHAPES["attached"], equal={}, contains=entity.as_map()
    )
    listing = listing_key("attached_drive_files", scope.tenant_id, entity.type, entity.id)
    return _page(scope, query, listing, page_size, page_token)


def get_file(scope: TenantScope, connection_id: str, file_id: str) -> dict[str, object]:
    from shared.drive.files import drive_file_doc_id

    data = scope.get(scope.document(DRIVE_FILES, drive_file_doc_id(connection_id, file_id)))
    if data is None or data.get("connection_id") != connection_id:
        raise NotFound("No such attached Drive file.", code="drive_file_not_found")
    return data


def _page(
    scope: TenantScope, query: Query, listing: str, page_size: int, page_token: str | None
) -> DriveFilePage:
    cursor = decode_ordered_page_token(page_token, listing=listing)
    if cursor is not None:
        at, document_id = cursor
        query = query.start_after(
            {"updated_at": from_micros(at), DOCUMENT_ID: scope.collection(DRIVE_FILES).document(document_id)}
        )
    snapshots = scope.stream(query.limit(page_size + 1))
    served = snapshots[:page_size]
    items = [file_view(s.to_dict()) for s in served if s.get("tenant_id") == scope.tenant_id]
    next_token = None
    if len(snapshots) > page_size:
        last = served[-1]
        next_token = encode_page_token(last.id, listing=listing, at=micros(last.get("updated_at")))
    return DriveFilePage(items=items, next_page_token=next_token)
