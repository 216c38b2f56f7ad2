"""The whole local stack in one context manager: emulators, Secret Manager stand-in, functions.

``python -m local_stack.stack`` runs it until Ctrl-C and prints how to reach each part.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from local_stack.crm_backend import CrmBackend
from local_stack.emulators import Emulators, running_emulators
from local_stack.functions import REPO_ROOT, RunningFunction, start_function
from local_stack.google_standin.push import PushSettings
from local_stack.google_standin.standin import GoogleStandIn, StandInSettings
from local_stack.secret_manager import LocalSecretManager

PROJECT = "crm-google-local"
HTTP_FUNCTIONS = ("api",)


@dataclass
class Stack:
    emulators: Emulators
    secret_manager: LocalSecretManager
    google: GoogleStandIn
    crm_backend: CrmBackend
    environment: dict[str, str]
    functions: dict[str, RunningFunction] = field(default_factory=dict)


@contextmanager
def running_stack(log_dir: Path, *, functions: tuple[str, ...] = HTTP_FUNCTIONS) -> Iterator[Stack]:
    """Start every part, yield it, and stop every part on the way out, whatever happened."""
    crm_backend = CrmBackend()
    with ExitStack() as stack:
        emulators = stack.enter_context(running_emulators(log_dir))
        secret_manager = stack.enter_context(LocalSecretManager())
        # Gmail push goes to the Pub/Sub emulator, as Google publishes to the project's topic.
        google = stack.enter_context(
            GoogleStandIn(StandInSettings(push=PushSettings(pubsub_emulator_host=emulators.pubsub.address)))
        )
        environment = {
            **emulators.environment,
            "ENVIRONMENT": "local",
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "SECRET_MANAGER_ENDPOINT": secret_manager.address,
            "CRM_JWT_JWKS": crm_backend.jwks_json,
            "CRM_JWT_ISSUER": crm_backend.issuer,
            "CRM_JWT_AUDIENCE": crm_backend.audience,
        }
        running = Stack(emulators, secret_manager, google, crm_backend, environment)
        for target in functions:
            function = start_function(target, environment=environment, log_dir=log_dir)
            stack.callback(function.stop)
            running.functions[target] = function
        yield running


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--log-dir", type=Path, default=REPO_ROOT / ".cache" / "stack-logs")
    args = parser.parse_args(argv)
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    with running_stack(args.log_dir) as stack:
        lines = [f"{name}={value}" for name, value in stack.environment.items() if name != "CRM_JWT_JWKS"]
        lines += [f"function {name}: {function.url}" for name, function in stack.functions.items()]
        lines += [f"Google stand-in: {stack.google.base_url} (admin API under /standin/)"]
        # The token goes to a file, not the terminal: tokens never reach a log, even a local one.
        token_file = args.log_dir / "crm-token-acme"
        token_file.write_text(stack.crm_backend.token("acme", lifetime_seconds=3600))
        token_file.chmod(0o600)
        lines += [f"a CRM token for tenant 'acme' (1 hour): {token_file}"]
        lines += [f"logs: {args.log_dir}", "Ctrl-C stops everything."]
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        stopped.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
