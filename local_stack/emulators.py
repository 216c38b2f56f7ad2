"""Starts and stops the Firestore and Pub/Sub emulators that ship with the Google Cloud CLI.

Each emulator runs in its own process group, so stopping it stops the JVM behind its wrapper script.
When the CLI or an emulator component is missing, ``MissingEmulatorError`` says exactly what to install.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# Measured on our machines: both emulators ready in about 2 s together, memory capped (local-stack.md).
_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xss512k -Xmx512m"
_READY_TIMEOUT_SECONDS = 60.0
_STOP_GRACE_SECONDS = 5.0


class MissingEmulatorError(RuntimeError):
    """The machine lacks something the emulators need; the message names it and how to get it."""


@dataclass(frozen=True)
class EmulatorSpec:
    name: str
    env_var: str
    launcher: tuple[str, ...]  # path under the SDK root, then arguments before host and port
    apt_package: str


FIRESTORE = EmulatorSpec(
    name="firestore",
    env_var="FIRESTORE_EMULATOR_HOST",
    launcher=("platform/cloud-firestore-emulator/cloud_firestore_emulator", "start"),
    apt_package="google-cloud-cli-firestore-emulator",
)
PUBSUB = EmulatorSpec(
    name="pubsub",
    env_var="PUBSUB_EMULATOR_HOST",
    launcher=("platform/pubsub-emulator/bin/cloud-pubsub-emulator",),
    apt_package="google-cloud-cli-pubsub-emulator",
)


def find_sdk_root() -> Path:
    """The Google Cloud CLI's installation root, found from ``gcloud`` on PATH (or CLOUDSDK_ROOT_DIR)."""
    configured = os.environ.get("CLOUDSDK_ROOT_DIR")
    if configured:
        return Path(configured)
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise MissingEmulatorError(
            "The Google Cloud CLI (`gcloud`) is not on PATH; the Firestore and Pub/Sub emulators come with "
            "it. Install the Debian packages google-cloud-cli, google-cloud-cli-firestore-emulator and "
            "google-cloud-cli-pubsub-emulator, or set CLOUDSDK_ROOT_DIR to the SDK root."
        )
    # .../google-cloud-sdk/bin/gcloud -> .../google-cloud-sdk; cheaper than `gcloud info` (a Python start).
    return Path(gcloud).resolve().parent.parent


def _check_prerequisites(spec: EmulatorSpec, sdk_root: Path) -> Path:
    launcher = sdk_root / spec.launcher[0]
    if not launcher.exists():
        raise MissingEmulatorError(
            f"The {spec.name} emulator is not installed: {launcher} does not exist. "
            f"Install the Debian package {spec.apt_package} (or `gcloud components install`)."
        )
    if shutil.which("java") is None:
        raise MissingEmulatorError(
            f"The {spec.name} emulator needs Java 11 or newer on PATH: install openjdk-17-jre-headless."
        )
    return launcher


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningEmulator:
    spec: EmulatorSpec
    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        stop_process_group(self.process)


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the whole group, then SIGKILL what is left, and reap the leader so no zombie stays."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=_STOP_GRACE_SECONDS)
    # Children (the JVM behind a wrapper script) may outlive the leader: kill the group regardless.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _is_ready(address: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}/", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_emulator(spec: EmulatorSpec, *, log_dir: Path, host: str = "127.0.0.1") -> RunningEmulator:
    """Start one emulator on a free loopback port and wait until it answers ``GET /``."""
    launcher = _check_prerequisites(spec, find_sdk_root())
    port = free_port(host)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{spec.name}-emulator.log"
    env = {**os.environ, "JAVA_TOOL_OPTIONS": _JAVA_OPTIONS}
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [str(launcher), *spec.launcher[1:], f"--host={host}", f"--port={port}"],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group: stop_process_group reaches the JVM too
        )
    emulator = RunningEmulator(spec=spec, process=process, host=host, port=port, log_path=log_path)
    deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
    while not _is_ready(emulator.address):
        if process.poll() is not None or time.monotonic() > deadline:
            emulator.stop()
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"The {spec.name} emulator did not become ready. Its log ends:\n{tail}")
        time.sleep(0.05)
    return emulator


@dataclass
class Emulators:
    firestore: RunningEmulator
    pubsub: RunningEmulator

    @property
    def environment(self) -> Mapping[str, str]:
        """The variables that point the Google client libraries at these emulators."""
        return {FIRESTORE.env_var: self.firestore.address, PUBSUB.env_var: self.pubsub.address}

    def reset(self, project: str) -> None:
        """Wipe all data: Firestore documents of ``project`` and every Pub/Sub topic and subscription."""
        self.reset_firestore(project)
        self.reset_pubsub()

    def reset_firestore(self, project: str) -> None:
        """Delete every Firestore document of ``project`` (the emulator's own endpoint)."""
        _request(
            "DELETE",
            f"http://{self.firestore.address}/emulator/v1/projects/{project}/databases/(default)/documents",
        )

    def reset_pubsub(self) -> None:
        """Delete every Pub/Sub topic and subscription, of every project."""
        _request("POST", f"http://{self.pubsub.address}/reset")

    def stop(self) -> None:
        for emulator in (self.firestore, self.pubsub):
            emulator.stop()


def _request(method: str, url: str) -> None:
    request = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


@contextmanager
def running_emulators(log_dir: Path) -> Iterator[Emulators]:
    """Both emulators, started side by side, always stopped on exit."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(start_emulator, spec, log_dir=log_dir) for spec in (FIRESTORE, PUBSUB)]
        started: list[RunningEmulator] = []
        failure: BaseException | None = None
        for future in futures:
            try:
                started.append(future.result())
            except BaseException as error:  # noqa: BLE001 - stop the other one, then re-raise
                failure = failure or error
    if failure is not None:
        for emulator in started:
            emulator.stop()
        raise failure
    emulators = Emulators(firestore=started[0], pubsub=started[1])
    try:
        yield emulators
    finally:
        emulators.stop()
