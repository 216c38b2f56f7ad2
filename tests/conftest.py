"""Test harness: the emulators (once per session), isolation of environment and logging between tests.

Tests are kept apart by folder: tests/unit (pure Python), tests/integration (real Firestore and Pub/Sub
emulators, local stand-ins), tests/e2e (functions-framework's HTTP stack). The folder sets the marker.
The emulators are never skipped: if they cannot start, every test that needs them fails and says why.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack.crm_backend import CrmBackend
from local_stack.emulators import Emulators, running_emulators
from local_stack.functions import REPO_ROOT
from local_stack.secret_manager import LocalSecretManager
from shared.composition import reset_container

TEST_PROJECT = "crm-google-test"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        kind = Path(str(item.fspath)).relative_to(REPO_ROOT / "tests").parts[0]
        if kind in ("unit", "integration", "e2e"):
            item.add_marker(getattr(pytest.mark, kind))


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped test hides a missing part: the run fails instead (there is no optional part here)."""
    if _skipped and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        sys.stderr.write(f"\nfailing the run: {len(_skipped)} test(s) skipped: {', '.join(_skipped[:5])}\n")


@pytest.fixture(autouse=True)
def _isolated_environment() -> Iterator[None]:
    """Each test sees the environment, settings and clients it started with, whatever it changed."""
    saved = dict(os.environ)
    reset_container()
    yield
    os.environ.clear()
    os.environ.update(saved)
    reset_container()


@pytest.fixture(autouse=True)
def _isolated_logging() -> Iterator[None]:
    """functions-framework and our configure_logging change the root logger; put it back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in ("werkzeug", "shared")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, saved_level in levels.items():
        logging.getLogger(name).setLevel(saved_level)


@pytest.fixture(scope="session")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulators]:
    with running_emulators(tmp_path_factory.mktemp("emulator-logs")) as running:
        yield running


@pytest.fixture(scope="session")
def secret_manager() -> Iterator[LocalSecretManager]:
    """The Secret Manager stand-in; tests keep apart by using a project of their own."""
    with LocalSecretManager() as manager:
        yield manager


@pytest.fixture(scope="session")
def crm_backend() -> CrmBackend:
    return CrmBackend()


@pytest.fixture
def stack_environment(emulators: Emulators, crm_backend: CrmBackend) -> dict[str, str]:
    """A clean emulator state and the environment a function instance would get, applied to this process."""
    from local_stack.stack import base_environment  # the stand-ins' libraries: only for the tests that use it

    emulators.reset(TEST_PROJECT)
    environment = base_environment(emulators, crm_backend, TEST_PROJECT)
    os.environ.update(environment)
    reset_container()
    return environment
