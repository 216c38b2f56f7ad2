"""Runs one Cloud Function entry point under a real functions-framework server, as Cloud Run would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from local_stack.emulators import free_port, stop_process_group

REPO_ROOT = Path(__file__).resolve().parent.parent
_READY_TIMEOUT_SECONDS = 30.0


@dataclass
class RunningFunction:
    target: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process_group(self.process)


def start_function(
    target: str,
    *,
    environment: Mapping[str, str],
    log_dir: Path,
    signature_type: str = "http",
    ready_path: str = "/",
    port: int | None = None,
) -> RunningFunction:
    """Serve ``functions/<target>/main.py`` on loopback (a free port unless given), once it answers."""
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"function-{target}.log"
    command = [
        sys.executable,
        "-m",
        "functions_framework",
        f"--target={target}",
        f"--source={REPO_ROOT / 'functions' / target / 'main.py'}",
        f"--signature-type={signature_type}",
        "--host=127.0.0.1",
        f"--port={port}",
    ]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **environment},
            cwd=REPO_ROOT,
            start_new_session=True,
        )
    running = RunningFunction(target=target, process=process, port=port, log_path=log_path)
    deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
    while True:
        try:
            with urllib.request.urlopen(f"{running.url}{ready_path}", timeout=1):
                break
        except urllib.error.HTTPError:
            break  # any HTTP answer, even an error status, means the server is up
        except (urllib.error.URLError, OSError):
            if process.poll() is not None or time.monotonic() > deadline:
                running.stop()
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(
                    f"functions-framework for {target} did not start. Its log ends:\n{tail}"
                ) from None
            time.sleep(0.05)
    return running
