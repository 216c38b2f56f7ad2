"""How fast the Google stand-in is ready: in process, and as a fresh process (imports included).

    python -m benchmarks.standin_startup [--runs 7]

"Ready" means it has answered a Gmail getProfile through google-api-python-client (in process) or
printed its address (fresh process, ``python -m local_stack.google_standin``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from local_stack.google_standin.standin import GoogleStandIn
from shared.google_apis.discovery import build_service

READ = "https://www.googleapis.com/auth/gmail.readonly"


def in_process() -> float:
    started = time.perf_counter()
    with GoogleStandIn() as standin:
        standin.add_account("bench@example.com")
        gmail = build_service(
            "gmail", "v1", standin.credentials("bench@example.com", [READ]), root_url=standin.api_root
        )
        gmail.users().getProfile(userId="me").execute()
        return (time.perf_counter() - started) * 1000


def fresh_process() -> float:
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "local_stack.google_standin"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()  # the address line: it is serving
        return (time.perf_counter() - started) * 1000
    finally:
        process.terminate()
        process.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    in_process()  # warm the imports once, so in-process runs measure the stand-in, not the interpreter
    rows = {
        "in process: start, add an account, consent, first getProfile": [
            in_process() for _ in range(args.runs)
        ],
        "fresh process: python -m local_stack.google_standin until serving": [
            fresh_process() for _ in range(args.runs)
        ],
    }
    print(f"Google stand-in start-up, {args.runs} runs each\n")
    print("| what | median ms | min ms | max ms |")
    print("|---|---:|---:|---:|")
    for label, times in rows.items():
        print(f"| {label} | {statistics.median(times):.0f} | {min(times):.0f} | {max(times):.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
