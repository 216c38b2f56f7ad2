"""Every route of the CRM-facing API, each capability's own, in one table; and the OpenAPI document
built from it: ``python -m shared.routes > docs/openapi.json`` (scripts/test fails when it is stale)."""

from __future__ import annotations

from typing import Any

from shared.api import health
from shared.api.openapi import API_VERSION, build_openapi
from shared.api.routing import Route
from shared.calendar import routes as calendar
from shared.connections import routes as connections
from shared.drive import routes as drive
from shared.mail import routes as mail
from shared.retention import routes as retention
from shared.tenants import routes as tenants
from shared.writes import routes as writes


def all_routes() -> list[Route[Any]]:
    return [
        *health.ROUTES,
        *tenants.ROUTES,
        *connections.ROUTES,
        *mail.ROUTES,
        *calendar.ROUTES,
        *drive.ROUTES,
        *writes.ROUTES,
        *retention.ROUTES,
    ]


def main() -> None:
    import json
    import sys

    sys.stdout.write(json.dumps(build_openapi(all_routes(), version=API_VERSION), indent=2) + "\n")


if __name__ == "__main__":
    main()
