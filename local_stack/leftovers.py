"""Finds processes left behind by a run: every process whose environment carries the run's marker.

scripts/demo and scripts/test export ``CRM_STACK_RUN_ID``; every child inherits it, so after the run
any process still carrying it was leaked. This check makes "leaves no process behind" a fact, not a hope.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from pathlib import Path

RUN_ID_VARIABLE = "CRM_STACK_RUN_ID"


def processes_with_marker(run_id: str) -> list[tuple[int, str]]:
    """(pid, command line) of live, non-zombie processes whose environment holds the run id."""
    needle = f"{RUN_ID_VARIABLE}={run_id}".encode()
    own = os.getpid()
    found: list[tuple[int, str]] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            if (entry / "stat").read_text().split(") ", 1)[1].startswith("Z"):
                continue  # a zombie holds no resources; its parent reaps it
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        found.append((int(entry.name), command.strip()[:200]))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_id")
    parser.add_argument("--kill", action="store_true", help="kill what is found (after reporting it)")
    args = parser.parse_args(argv)
    leftovers = [(pid, cmd) for pid, cmd in processes_with_marker(args.run_id) if pid != os.getppid()]
    if not leftovers:
        sys.stderr.write("leftover check: no process left behind\n")
        return 0
    sys.stderr.write(f"leftover check: {len(leftovers)} process(es) left behind:\n")
    for pid, command in leftovers:
        sys.stderr.write(f"  {pid} {command}\n")
        if args.kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
