"""Fixtures the integration tests share: a fresh Google stand-in per test, messages to seed it with, and
Secret Manager settings of a project of their own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from local_stack.google_standin.mime_factory import MessageFactory
from local_stack.google_standin.standin import GoogleStandIn, StandInSettings
from local_stack.secret_manager import LocalSecretManager
from shared.config import Settings
from tests.integration.helpers import ALICE, BOB, SECRET_CACHE_SECONDS


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
def factory() -> MessageFactory:
    return MessageFactory(seed=7)


@pytest.fixture
def secret_settings(secret_manager: LocalSecretManager) -> Settings:
    # A project of its own per test: tests share one stand-in but never see each other's secrets.
    return Settings(
        environment="local",
        secret_manager_endpoint=secret_manager.address,
        google_cloud_project=f"test-{uuid.uuid4().hex[:12]}",
        secret_cache_seconds=SECRET_CACHE_SECONDS,
    )
