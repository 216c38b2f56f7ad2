"""The leftover check finds processes that still carry a run's marker, and only those."""

from __future__ import annotations

import os
import subprocess
import time
import uuid

from local_stack.leftovers import RUN_ID_VARIABLE, main, processes_with_marker


def test_a_process_carrying_the_marker_is_found_and_killed() -> None:
    run_id = uuid.uuid4().hex
    child = subprocess.Popen(["sleep", "30"], env={**os.environ, RUN_ID_VARIABLE: run_id})
    try:
        # /proc shows the child's own environment only once its exec is through: wait for that, boundedly.
        found: list[int] = []
        for _ in range(200):
            found = [pid for pid, _ in processes_with_marker(run_id)]
            if found:
                break
            time.sleep(0.01)
        assert found == [child.pid]
        assert processes_with_marker(uuid.uuid4().hex) == []
        assert main([run_id, "--kill"]) == 1
        child.wait(timeout=5)
        assert main([run_id]) == 0
    finally:
        child.kill()
        child.wait()
