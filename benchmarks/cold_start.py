"""Cold start of each HTTP function: import plus first request in a fresh process, against a hello-world.

Each sample is a new Python process that imports functions-framework, loads the function's source and
serves one request through the real Flask app. Ratios to the hello-world measured in the same run are
what to compare across machines; absolute figures vary with load (2 shared cores).

    python -m benchmarks.cold_start [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from local_stack.crm_backend import CrmBackend
from local_stack.emulators import running_emulators
from local_stack.functions import REPO_ROOT
from local_stack.stack import base_environment

# Runs inside the fresh process: time from interpreter start-up done to first response, and peak RSS.
_PROBE = """
import json, sys, time
started = time.perf_counter()
import functions_framework
target, source, path, authorization, method = sys.argv[1:6]
client = functions_framework.create_app(target, source, "http").test_client()
headers = {"Authorization": authorization} if authorization else {}
response = client.open(path, method=method, headers=headers)
elapsed = (time.perf_counter() - started) * 1000
# VmHWM, not ru_maxrss: a child's ru_maxrss starts from its parent's peak on Linux.
peak_kib = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"ms": elapsed, "status": response.status_code, "rss_mib": peak_kib / 1024}))
"""

CASES = [
    # (label, target, source, path, needs a token, method)
    ("hello-world (baseline)", "hello", "benchmarks/hello_world/main.py", "/", False, "GET"),
    ("api: GET /v1/health", "api", "functions/api/main.py", "/v1/health", False, "GET"),
    (
        "api: GET /v1/tenants/{id} (token, Firestore)",
        "api",
        "functions/api/main.py",
        "/v1/tenants/bench",
        True,
        "GET",
    ),
    ("gmail_push: a malformed push", "gmail_push", "functions/gmail_push/main.py", "/", False, "POST"),
    (
        "calendar_push: a notification without headers",
        "calendar_push",
        "functions/calendar_push/main.py",
        "/",
        False,
        "POST",
    ),
    (
        "drive_push: a notification without headers",
        "drive_push",
        "functions/drive_push/main.py",
        "/",
        False,
        "POST",
    ),
    (
        "oauth_callback: /callback, no state",
        "oauth_callback",
        "functions/oauth_callback/main.py",
        "/callback",
        False,
        "GET",
    ),
    (
        "renew_watches: refused, no token",
        "renew_watches",
        "functions/renew_watches/main.py",
        "/",
        False,
        "POST",
    ),
    (
        "daily_purge: first call (auth unset: 500)",
        "daily_purge",
        "functions/daily_purge/main.py",
        "/",
        False,
        "POST",
    ),
]


def sample(
    target: str, source: str, path: str, authorization: str, method: str, environment: dict[str, str]
) -> dict[str, float]:
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE, target, str(REPO_ROOT / source), path, authorization, method],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPO_ROOT,
        check=True,
    )
    result: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    crm = CrmBackend()
    with tempfile.TemporaryDirectory() as logs, running_emulators(Path(logs)) as emulators:
        environment = {
            **os.environ,
            **base_environment(emulators, crm, "crm-google-bench"),
            "LOG_LEVEL": "WARNING",
            "PUSH_AUTH": "platform",  # as deployed: Cloud Run IAM checks the push token
        }
        results: dict[str, list[dict[str, float]]] = {label: [] for label, *_ in CASES}
        for _ in range(args.runs):  # interleaved, so drift in machine load hits every case alike
            for label, target, source, path, needs_token, method in CASES:
                authorization = f"Bearer {crm.token('bench')}" if needs_token else ""
                results[label].append(sample(target, source, path, authorization, method, environment))
    baseline = statistics.median(s["ms"] for s in results[CASES[0][0]])
    print(
        f"Cold start, median of {args.runs} fresh processes each (python {sys.version.split()[0]}, "
        f"{os.cpu_count()} cores)\n"
    )
    print(
        "| function and first request | status | median ms | min ms | ratio to hello-world | peak RSS MiB |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for label, samples in results.items():
        times = [s["ms"] for s in samples]
        median = statistics.median(times)
        print(
            f"| {label} | {int(samples[0]['status'])} | {median:.0f} | {min(times):.0f} | "
            f"{median / baseline:.2f} | {statistics.median(s['rss_mib'] for s in samples):.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
