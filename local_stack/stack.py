"""The whole local stack in one context manager: emulators, Secret Manager stand-in, functions.

``python -m local_stack.stack`` runs it until Ctrl-C and prints how to reach each part.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from local_stack.crm_backend import CrmBackend
from local_stack.emulators import Emulators, free_port, running_emulators
from local_stack.functions import REPO_ROOT, RunningFunction, start_function
from local_stack.google_standin.push import PushSettings
from local_stack.google_standin.standin import GoogleStandIn, StandInSettings
from local_stack.secret_manager import LocalSecretManager

PROJECT = "crm-google-local"
HTTP_FUNCTIONS = (
    "api",
    "oauth_callback",
    "renew_watches",
    "gmail_push",
    "calendar_push",
    "drive_push",
    "sync_worker",
    "outbound_worker",
    "daily_purge",
    "purge_worker",
)
# The workers are fed by push subscriptions; functions-framework turns the envelope into a CloudEvent.
SIGNATURES = {"sync_worker": "cloudevent", "outbound_worker": "cloudevent", "purge_worker": "cloudevent"}
SCHEDULED = ("renew_watches", "daily_purge")  # called by Cloud Scheduler: their URLs are token audiences
TOPICS = ("sync-requests", "outbound-requests", "purge-requests", "gmail-notifications")
GMAIL_TOPIC = f"projects/{PROJECT}/topics/gmail-notifications"
OAUTH_CLIENT_ID = "crm-local.apps.googleusercontent.com"
SCHEDULER_ACCOUNT = f"scheduler@{PROJECT}.iam.gserviceaccount.com"
CRM_ORIGIN = "http://crm.localhost"


@dataclass
class Stack:
    emulators: Emulators
    secret_manager: LocalSecretManager
    google: GoogleStandIn
    crm_backend: CrmBackend
    environment: dict[str, str]
    functions: dict[str, RunningFunction] = field(default_factory=dict)

    def url(self, target: str) -> str:
        return self.functions[target].url


@contextmanager
def running_stack(
    log_dir: Path,
    *,
    functions: tuple[str, ...] = HTTP_FUNCTIONS,
    callback_url: str | None = None,
    settings: Mapping[str, str] | None = None,
) -> Iterator[Stack]:
    """Start every part, provision it as Terraform and ops would, and stop every part on the way out.

    ``functions`` are the ones served; none leaves the emulators and the stand-ins, for a caller that runs
    the product in its own process. ``callback_url`` is where Google sends the browser back when
    oauth_callback is not served (the connect flow then completes in the caller's process).
    ``settings``: environment variables every function gets on top of the stack's own."""
    if callback_url is not None and "oauth_callback" in functions:
        raise ValueError("callback_url is oauth_callback's own address when it is served")
    crm_backend = CrmBackend()
    with ExitStack() as stack:
        emulators = stack.enter_context(running_emulators(log_dir))
        secret_manager = stack.enter_context(LocalSecretManager())
        # Gmail push goes to the Pub/Sub emulator, as Google publishes to the project's topic.
        google = stack.enter_context(
            GoogleStandIn(StandInSettings(push=PushSettings(pubsub_emulator_host=emulators.pubsub.address)))
        )
        ports = {target: free_port() for target in functions}
        urls = {target: _local_url(port) for target, port in ports.items()}
        if callback_url is not None:
            urls["oauth_callback"] = callback_url
        environment = {
            **stack_environment(emulators, secret_manager, google, crm_backend, urls),
            **(settings or {}),
        }
        provision(environment, google, secret_manager)
        running = Stack(emulators, secret_manager, google, crm_backend, environment)
        serve_functions(running, ports, log_dir=log_dir, cleanup=stack)
        yield running


def serve_functions(running: Stack, ports: Mapping[str, int], *, log_dir: Path, cleanup: ExitStack) -> None:
    """Serve each function of ``ports`` on its port, side by side, with the stack's environment, each
    stopped by ``cleanup``; then the push subscriptions Terraform creates for those Pub/Sub feeds."""
    with ThreadPoolExecutor(max_workers=len(ports) or 1) as pool:
        starting = {
            target: pool.submit(
                start_function,
                target,
                environment=running.environment,
                log_dir=log_dir,
                port=port,
                signature_type=SIGNATURES.get(target, "http"),
            )
            for target, port in ports.items()
        }
        for target, future in starting.items():
            function = future.result()
            cleanup.callback(function.stop)
            running.functions[target] = function
    _subscribe_pushes(running.environment, {target: _local_url(port) for target, port in ports.items()})


def _local_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def _subscribe_pushes(environment: Mapping[str, str], urls: Mapping[str, str]) -> None:
    """The push subscriptions Terraform creates: Gmail's topic to gmail_push, sync, outbound and purge
    requests to sync_worker, outbound_worker and purge_worker (for those of them in ``urls``)."""
    import grpc
    from google.cloud import pubsub_v1
    from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

    pushes = {
        "gmail-notifications": "gmail_push",
        "sync-requests": "sync_worker",
        "outbound-requests": "outbound_worker",
        "purge-requests": "purge_worker",
    }
    with grpc.insecure_channel(environment["PUBSUB_EMULATOR_HOST"]) as channel:
        subscriber = pubsub_v1.SubscriberClient(transport=SubscriberGrpcTransport(channel=channel))
        for topic, target in pushes.items():
            if target in urls:
                subscriber.create_subscription(
                    name=f"projects/{PROJECT}/subscriptions/{topic}-push",
                    topic=f"projects/{PROJECT}/topics/{topic}",
                    push_config={"push_endpoint": f"{urls[target]}/"},
                    ack_deadline_seconds=60,
                )


def base_environment(emulators: Emulators, crm_backend: CrmBackend, project: str) -> dict[str, str]:
    """What any local function instance runs with: the emulators, ``project``, and the CRM backend's
    public keys (the tokens api accepts)."""
    return {
        **emulators.environment,
        "ENVIRONMENT": "local",
        "GOOGLE_CLOUD_PROJECT": project,
        "CRM_JWT_JWKS": crm_backend.jwks_json,
        "CRM_JWT_ISSUER": crm_backend.issuer,
        "CRM_JWT_AUDIENCE": crm_backend.audience,
    }


def google_environment(google: GoogleStandIn, client_id: str = OAUTH_CLIENT_ID) -> dict[str, str]:
    """Google's endpoints, the stand-in's, and the OAuth client (registered there) the product is."""
    return {
        "GOOGLE_OAUTH_CLIENT_ID": client_id,
        "GOOGLE_OAUTH_AUTH_URI": google.auth_uri,
        "GOOGLE_OAUTH_TOKEN_URI": google.token_uri,
        "GOOGLE_OAUTH_REVOKE_URI": google.revoke_uri,
        "GOOGLE_OAUTH_CERTS_URL": google.certs_url,
        "GOOGLE_API_ROOT_URL": google.api_root,
    }


def stack_environment(
    emulators: Emulators,
    secret_manager: LocalSecretManager,
    google: GoogleStandIn,
    crm_backend: CrmBackend,
    urls: Mapping[str, str],
) -> dict[str, str]:
    """The settings every local function runs with: Google's endpoints are the stand-in's.
    ``urls`` are the functions' own addresses (the OAuth callback, the scheduler audiences)."""
    return {
        **base_environment(emulators, crm_backend, PROJECT),
        "SECRET_MANAGER_ENDPOINT": secret_manager.address,
        **google_environment(google),
        "OAUTH_CALLBACK_URL": urls.get("oauth_callback", ""),
        "CRM_RETURN_ORIGINS": CRM_ORIGIN,
        "GMAIL_PUSH_TOPIC": GMAIL_TOPIC,
        # Calendar channels POST here (the stand-in delivers to loopback over http; Google wants https).
        "CALENDAR_PUSH_URL": urls.get("calendar_push", ""),
        "DRIVE_PUSH_URL": urls.get("drive_push", ""),
        "SCHEDULER_AUDIENCES": ",".join(urls[name] for name in SCHEDULED if name in urls),
        "SCHEDULER_SERVICE_ACCOUNTS": SCHEDULER_ACCOUNT,
        # The Pub/Sub emulator pushes without an OIDC token; in the cloud, IAM checks it (platform).
        "PUSH_AUTH": "platform",
    }


def provision(environment: dict[str, str], google: GoogleStandIn, secret_manager: LocalSecretManager) -> None:
    """What ops do once per project: the OAuth client at Google, the two secrets, the topics."""
    import grpc
    from google.cloud import pubsub_v1
    from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport

    from local_stack.secret_manager import seed_secrets

    client_secret = secrets.token_urlsafe(24)
    callback = environment["OAUTH_CALLBACK_URL"]
    google.oauth.register_client(
        OAUTH_CLIENT_ID, client_secret, [f"{callback}/callback"], display_name="Acme CRM"
    )
    seed_secrets(
        secret_manager.address,
        PROJECT,
        {"oauth-client-secret": client_secret.encode(), "token-encryption-key": os.urandom(32)},
    )
    with grpc.insecure_channel(environment["PUBSUB_EMULATOR_HOST"]) as channel:
        publisher = pubsub_v1.PublisherClient(transport=PublisherGrpcTransport(channel=channel))
        for topic in TOPICS:
            publisher.create_topic(name=f"projects/{PROJECT}/topics/{topic}")


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
