"""End-to-end tests drive the `api` function through functions-framework's own Flask app."""

from __future__ import annotations

from pathlib import Path

import functions_framework
import pytest
from flask.testing import FlaskClient

from tests.conftest import REPO_ROOT


def function_client(target: str) -> FlaskClient:
    source = Path(REPO_ROOT) / "functions" / target / "main.py"
    return functions_framework.create_app(target, str(source), "http").test_client()


@pytest.fixture
def api(stack_environment: dict[str, str]) -> FlaskClient:
    return function_client("api")
