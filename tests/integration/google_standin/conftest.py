"""A fresh Google stand-in per test, and Gmail clients built the way the product builds them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local_stack.google_standin.mime_factory import MessageFactory
from local_stack.google_standin.standin import GoogleStandIn, StandInSettings
from shared.google_apis.discovery import build_service

ALICE = "alice@example.com"
BOB = "bob@example.net"
GMAIL_READ = "https://www.googleapis.com/auth/gmail.readonly"
GMAIL_SEND = "https://www.googleapis.com/auth/gmail.send"
GMAIL_MODIFY = "https://www.googleapis.com/auth/gmail.modify"
ALL_GMAIL = ["openid", "email", GMAIL_READ, GMAIL_SEND, GMAIL_MODIFY]


@pytest.fixture
def standin_settings() -> StandInSettings:
    """Override in a test module to start the stand-in with other limits or push settings."""
    return StandInSettings()


@pytest.fixture
def standin(standin_settings: StandInSettings) -> Iterator[GoogleStandIn]:
    with GoogleStandIn(standin_settings) as running:
        running.add_account(ALICE)
        running.add_account(BOB)
        yield running


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
def factory() -> MessageFactory:
    return MessageFactory(seed=7)
