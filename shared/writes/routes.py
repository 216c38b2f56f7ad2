"""The API's view of the write path: a write's progress, and the header every write endpoint takes."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field

from shared.api.routing import Call, HeaderParam, Reply, Route
from shared.writes.outbox import KEY_PATTERN, Outbox, WriteView

CONNECTION = "/v1/tenants/<tenant_id>/users/<user_id>/google-connection"

IDEMPOTENCY_KEY = HeaderParam(
    "Idempotency-Key",
    "Names this change: a retry with the same key and body is answered with the same write and changes "
    "Google once; the same key with another body is refused (409 idempotency_key_reused).",
    KEY_PATTERN,
)


class WritePath(BaseModel):
    write_id: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="The write's id, from the answer that queued it."
    )


@dataclass(frozen=True)
class WritesApi:
    outbox: Outbox


def get_write(api: WritesApi, call: Call) -> Reply:
    record = api.outbox.get(call.path["tenant_id"], call.path["user_id"], call.path["write_id"])
    return Reply(WriteView.of(record))


ROUTES: list[Route[WritesApi]] = [
    Route(
        "GET",
        f"{CONNECTION}/writes/<write_id>",
        "getWrite",
        "A change queued for Google: queued, in_progress, done (with Google's answer) or failed (why).",
        get_write,
        WriteView,
        path_model=WritePath,
    ),
]
