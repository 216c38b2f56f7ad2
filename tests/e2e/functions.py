"""Driving a function through functions-framework's own Flask app, without a socket."""

from __future__ import annotations

import functions_framework
from flask.testing import FlaskClient

from tests.conftest import REPO_ROOT


def function_client(target: str) -> FlaskClient:
    source = REPO_ROOT / "functions" / target / "main.py"
    return functions_framework.create_app(target, str(source), "http").test_client()
