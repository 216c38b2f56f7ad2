"""End-to-end tests drive the functions through functions-framework's own Flask app."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.e2e.connect_support import connect_world  # noqa: F401 - the fixture of the connect tests
from tests.e2e.functions import function_client


@pytest.fixture
def api(stack_environment: dict[str, str]) -> FlaskClient:
    return function_client("api")
