"""Files the CRM uploads to attach to a mail it sends: kept until the send that uses them ends, or a day.

tenants/{t}/outbound_uploads/{upload id}           connection, file name, media type, size, SHA-256,
                                                    chunk count, expiry (a TTL policy's field)
tenants/{t}/outbound_uploads/{upload id}/upload_chunks/{n}  the bytes, 900 KB a document, and the
                                                            same expiry

The chunks are written first and the upload document last, so an upload that exists is whole. Uploads
belong to one connection (another user's id finds nothing) and to one message: they are deleted when
it ends. What no message used expires (a TTL policy on ``expires_at`` of both collections).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from shared.errors import BadInput, NotFound, PayloadTooLarge
from shared.storage.documents import DocRef
from shared.storage.scope import TenantScope

UPLOADS = "outbound_uploads"
CHUNKS = "upload_chunks"
CHUNK_BYTES = 900_000
KEEP = timedelta(days=1)
# Gmail takes up to 25 MB of attachments in one message: a larger file could never be sent.
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
UPLOAD_ID_PATTERN = r"^[0-9a-f]{32}$"
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


class Upload(BaseModel):
    upload_id: str
    connection_id: str = Field(exclude=True)
    filename: str
    mime_type: str
    size: int
    sha256: str
    chunk_count: int = Field(exclude=True)
    created_at: datetime
    expires_at: datetime = Field(description="Unused by then, it is deleted.")


def media_type(content_type: str | None) -> str:
    """The upload's media type, lower-cased, its parameters dropped; 400 when there is none."""
    value = (content_type or "").split(";", 1)[0].strip().lower()
    if not _MEDIA_TYPE.fullmatch(value):
        raise BadInput(
            "The upload needs a Content-Type naming the file's media type.",
            code="validation_failed",
            errors=[
                {
                    "location": ["header", "Content-Type"],
                    "message": "a media type, e.g. application/pdf",
                    "type": "media_type",
                }
            ],
        )
    return value


class Uploads:
    def __init__(self, *, scope_for: Callable[[str], TenantScope], clock: Callable[[], datetime]) -> None:
        self._scope_for = scope_for
        self._clock = clock

    def _ref(self, scope: TenantScope, upload_id: str) -> DocRef:
        return scope.document(UPLOADS, upload_id)

    def put(
        self, tenant_id: str, connection_id: str, *, filename: str, content_type: str | None, data: bytes
    ) -> Upload:
        mime_type = media_type(content_type)
        if not data:
            raise BadInput(
                "The upload is empty.", code="validation_failed", errors=[_body_error("an empty file")]
            )
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise PayloadTooLarge(
                f"A file may have at most {MAX_ATTACHMENT_BYTES} bytes: Gmail sends no more."
            )
        scope = self._scope_for(tenant_id)
        now = self._clock()
        upload = Upload(
            upload_id=uuid.uuid4().hex,
            connection_id=connection_id,
            filename=filename,
            mime_type=mime_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            chunk_count=(len(data) + CHUNK_BYTES - 1) // CHUNK_BYTES,
            created_at=now,
            expires_at=now + KEEP,
        )
        reference = self._ref(scope, upload.upload_id)
        for index in range(upload.chunk_count):
            chunk = data[index * CHUNK_BYTES : (index + 1) * CHUNK_BYTES]
            chunk_ref = reference.collection(CHUNKS).document(str(index))
            scope.set(chunk_ref, {"index": index, "data": chunk, "expires_at": upload.expires_at})
        scope.create(
            reference,
            upload.model_dump(mode="python")
            | {"connection_id": connection_id, "chunk_count": upload.chunk_count},
        )
        return upload

    def get(self, tenant_id: str, connection_id: str, upload_id: str) -> Upload:
        """The upload, if it is this connection's and not expired; 404 otherwise."""
        scope = self._scope_for(tenant_id)
        data = scope.get(self._ref(scope, upload_id))
        if data is None or data.get("connection_id") != connection_id or data["expires_at"] <= self._clock():
            raise NotFound("No such upload (or it expired).", code="upload_not_found")
        return Upload.model_validate(data)

    def read(self, tenant_id: str, upload: Upload) -> bytes:
        scope = self._scope_for(tenant_id)
        reference = self._ref(scope, upload.upload_id)
        snapshots = scope.get_all(
            [reference.collection(CHUNKS).document(str(i)) for i in range(upload.chunk_count)]
        )
        data = b"".join(snapshot.get("data") or b"" for snapshot in snapshots)
        if hashlib.sha256(data).hexdigest() != upload.sha256:
            raise NotFound("The upload is no longer whole.", code="upload_not_found")
        return data

    def delete(self, tenant_id: str, upload: Upload) -> None:
        scope = self._scope_for(tenant_id)
        reference = self._ref(scope, upload.upload_id)
        batch = scope.batch()
        batch.delete(reference)  # first, in the same batch: never an upload without its chunks
        for index in range(upload.chunk_count):
            batch.delete(reference.collection(CHUNKS).document(str(index)))
        batch.commit()


def _body_error(message: str) -> dict[str, object]:
    return {"location": ["body"], "message": message, "type": "file"}
