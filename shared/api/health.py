"""Liveness of the API: no token needed, nothing read."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from shared.api.routing import Call, Reply, Route


class Health(BaseModel):
    status: Literal["ok"] = "ok"


def get_health(services: object, call: Call) -> Reply:
    return Reply(Health())


ROUTES: list[Route[object]] = [
    Route("GET", "/v1/health", "getHealth", "Liveness of the API.", get_health, Health, authenticated=False),
]
