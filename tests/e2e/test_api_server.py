"""The `api` entry point served by a real functions-framework process, as Cloud Run serves it."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

from local_stack.crm_backend import CrmBackend
from local_stack.functions import start_function


def test_the_deployed_entry_point_serves_over_http_and_stops_cleanly(
    stack_environment: dict[str, str], crm_backend: CrmBackend, tmp_path: Path
) -> None:
    server = start_function("api", environment=stack_environment, log_dir=tmp_path, ready_path="/v1/health")
    try:
        request = urllib.request.Request(
            f"{server.url}/v1/tenants/acme",
            data=json.dumps({"name": "Acme", "plan": "Professional"}).encode(),
            method="PUT",
            headers={"Content-Type": "application/json", **crm_backend.authorization("acme")},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
            assert json.loads(response.read())["plan"] == "Professional"
    finally:
        server.stop()
    try:
        os.killpg(server.process.pid, 0)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError("the functions-framework process group outlived stop()")
    log = server.log_path.read_text()
    assert '"severity": "INFO"' in log
