"""Gmail, Calendar and Drive clients built the way the product builds them, against the stand-in of
tests/integration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from local_stack.google_standin.standin import GoogleStandIn
from shared.google_apis.discovery import build_service
from tests.integration.google_standin.calendar_helpers import CALENDAR
from tests.integration.google_standin.drive_helpers import DRIVE_FILE
from tests.integration.helpers import ALICE, ALL_GMAIL


@pytest.fixture
def gmail_for(standin: GoogleStandIn) -> Callable[..., Any]:
    def build(account: str = ALICE, scopes: list[str] | None = None) -> Any:
        credentials = standin.credentials(account, scopes or ALL_GMAIL)
        return build_service("gmail", "v1", credentials, root_url=standin.api_root)

    return build


@pytest.fixture
def gmail(gmail_for: Callable[..., Any]) -> Any:
    return gmail_for()


@pytest.fixture
def calendar_service_for(standin: GoogleStandIn) -> Callable[..., Any]:
    def build(account: str = ALICE, scopes: list[str] | None = None) -> Any:
        credentials = standin.credentials(account, scopes or [CALENDAR])
        return build_service("calendar", "v3", credentials, root_url=standin.api_root)

    return build


@pytest.fixture
def calendar_service(calendar_service_for: Callable[..., Any]) -> Any:
    return calendar_service_for()


@pytest.fixture
def drive_for(standin: GoogleStandIn) -> Callable[..., Any]:
    """A Drive v3 client for ``account``; drive.file by default, the scope the product asks for."""

    def build(account: str = ALICE, scopes: list[str] | None = None) -> Any:
        credentials = standin.credentials(account, scopes or [DRIVE_FILE])
        return build_service("drive", "v3", credentials, root_url=standin.api_root)

    return build


@pytest.fixture
def drive(drive_for: Callable[..., Any]) -> Any:
    return drive_for()
