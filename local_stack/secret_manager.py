"""A local stand-in for Google Secret Manager v1 (plaintext gRPC, in memory) for tests and the local demo."""

from __future__ import annotations

import argparse
import itertools
import logging
import re
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType, TracebackType
from typing import Any, Self

import grpc
from google.cloud.secretmanager_v1 import types
from google.protobuf import empty_pb2  # type: ignore[import-untyped]  # types-protobuf is not installed

from shared.secrets import crc32c

SERVICE_NAME = "google.cloud.secretmanager.v1.SecretManagerService"
MAX_PAYLOAD_BYTES = 64 * 1024  # Google's limit on one version's data
MAX_PAGE_SIZE = 25_000

_log = logging.getLogger(__name__)

_PROJECT = r"projects/(?P<project>[a-z0-9][a-z0-9-]{0,62})"  # a project id or number
_SECRET = _PROJECT + r"/secrets/(?P<secret>[A-Za-z0-9_-]{1,255})"
_PROJECT_NAME = re.compile(_PROJECT)
_SECRET_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
_SECRET_NAME = re.compile(_SECRET)
_VERSION_NAME = re.compile(_SECRET + r"/versions/(?P<version>[A-Za-z0-9_-]{1,63})")
_STATE_FILTER = re.compile(r"\s*state\s*[:=]\s*(?P<state>ENABLED|DISABLED|DESTROYED)\s*")

State = types.SecretVersion.State


class _RpcStatusError(Exception):
    """Ends the current RPC with a non-OK status, as Google would answer."""

    def __init__(self, code: Any, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Version:
    number: int
    data: bytes
    data_crc32c: int
    client_specified_checksum: bool
    created_at: datetime
    etag: str
    state: int = State.ENABLED  # a State member; mypy sees proto-plus enum members as int
    destroyed_at: datetime | None = None


@dataclass
class _Secret:
    name: str
    resource: types.Secret  # as stored: never handed out, only copies
    etag: str
    versions: dict[int, _Version] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(UTC)


def _copy_secret(secret: types.Secret) -> types.Secret:
    copy: types.Secret = types.Secret.deserialize(types.Secret.serialize(secret))
    return copy


def _match(pattern: re.Pattern[str], name: str, kind: str) -> re.Match[str]:
    match = pattern.fullmatch(name)
    if match is None:
        raise _RpcStatusError(grpc.StatusCode.INVALID_ARGUMENT, f"Malformed {kind} name: {name!r}")
    return match


class _SecretManagerState:
    """The service's behaviour, independent of gRPC; all state is read and changed under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: dict[str, _Secret] = {}
        self._etags = itertools.count(1)

    def _etag(self) -> str:
        return f'"{next(self._etags):016x}"'

    def _secret(self, name: str) -> _Secret:
        _match(_SECRET_NAME, name, "secret")
        secret = self._secrets.get(name)
        if secret is None:
            raise _RpcStatusError(grpc.StatusCode.NOT_FOUND, f"Secret [{name}] not found.")
        return secret

    def _version(self, name: str) -> tuple[_Secret, _Version]:
        match = _match(_VERSION_NAME, name, "secret version")
        secret = self._secret(name.rsplit("/versions/", 1)[0])
        wanted = match["version"]
        if wanted == "latest":
            enabled = [v for v in secret.versions.values() if v.state == State.ENABLED]
            if not enabled:
                raise _RpcStatusError(
                    grpc.StatusCode.NOT_FOUND, f"Secret [{secret.name}] has no enabled versions."
                )
            return secret, max(enabled, key=lambda version: version.number)
        # The stand-in knows no custom version aliases: any other non-number is an unknown version.
        version = secret.versions.get(int(wanted)) if wanted.isdigit() else None
        if version is None:
            raise _RpcStatusError(grpc.StatusCode.NOT_FOUND, f"Secret Version [{name}] not found.")
        return secret, version

    @staticmethod
    def _check_etag(given: str, current: str, name: str) -> None:
        if given and given != current:
            raise _RpcStatusError(
                grpc.StatusCode.ABORTED, f"Etag {given} does not match the current etag of [{name}]."
            )

    @staticmethod
    def _version_resource(secret: _Secret, version: _Version) -> types.SecretVersion:
        resource = types.SecretVersion(
            name=f"{secret.name}/versions/{version.number}",
            create_time=version.created_at,
            state=version.state,
            etag=version.etag,
            client_specified_payload_checksum=version.client_specified_checksum,
        )
        if version.destroyed_at is not None:
            resource.destroy_time = version.destroyed_at
        return resource

    def create_secret(self, request: types.CreateSecretRequest) -> types.Secret:
        _match(_PROJECT_NAME, request.parent, "project")
        if not _SECRET_ID.fullmatch(request.secret_id):
            raise _RpcStatusError(
                grpc.StatusCode.INVALID_ARGUMENT, f"Malformed secret id: {request.secret_id!r}"
            )
        name = f"{request.parent}/secrets/{request.secret_id}"
        with self._lock:
            if name in self._secrets:
                raise _RpcStatusError(grpc.StatusCode.ALREADY_EXISTS, f"Secret [{name}] already exists.")
            resource = _copy_secret(request.secret)
            resource.name = name
            resource.create_time = _now()
            resource.etag = self._etag()
            self._secrets[name] = _Secret(name=name, resource=resource, etag=resource.etag)
            return _copy_secret(resource)

    def get_secret(self, request: types.GetSecretRequest) -> types.Secret:
        with self._lock:
            return _copy_secret(self._secret(request.name).resource)

    def delete_secret(self, request: types.DeleteSecretRequest) -> Any:
        with self._lock:
            secret = self._secret(request.name)
            self._check_etag(request.etag, secret.etag, secret.name)
            del self._secrets[secret.name]
        return empty_pb2.Empty()

    def add_secret_version(self, request: types.AddSecretVersionRequest) -> types.SecretVersion:
        payload = request.payload
        if len(payload.data) > MAX_PAYLOAD_BYTES:
            raise _RpcStatusError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Secret payload exceeds the limit of {MAX_PAYLOAD_BYTES} bytes.",
            )
        actual_crc32c = crc32c(payload.data)
        client_specified = "data_crc32c" in payload
        if client_specified and payload.data_crc32c != actual_crc32c:
            raise _RpcStatusError(
                grpc.StatusCode.INVALID_ARGUMENT, "Checksum mismatch: data corruption detected."
            )
        with self._lock:
            secret = self._secret(request.parent)
            number = max(secret.versions, default=0) + 1
            version = _Version(
                number=number,
                data=payload.data,
                data_crc32c=actual_crc32c,
                client_specified_checksum=client_specified,
                created_at=_now(),
                etag=self._etag(),
            )
            secret.versions[number] = version
            return self._version_resource(secret, version)

    def access_secret_version(
        self, request: types.AccessSecretVersionRequest
    ) -> types.AccessSecretVersionResponse:
        with self._lock:
            secret, version = self._version(request.name)
            name = f"{secret.name}/versions/{version.number}"
            if version.state != State.ENABLED:
                raise _RpcStatusError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"Secret Version [{name}] is in {State(version.state).name} state.",
                )
            payload = types.SecretPayload(data=version.data, data_crc32c=version.data_crc32c)
            return types.AccessSecretVersionResponse(name=name, payload=payload)

    def get_secret_version(self, request: types.GetSecretVersionRequest) -> types.SecretVersion:
        with self._lock:
            return self._version_resource(*self._version(request.name))

    def list_secret_versions(
        self, request: types.ListSecretVersionsRequest
    ) -> types.ListSecretVersionsResponse:
        wanted_state: int | None = None
        if request.filter:
            state_filter = _STATE_FILTER.fullmatch(request.filter)
            if state_filter is None:
                raise _RpcStatusError(
                    grpc.StatusCode.UNIMPLEMENTED,
                    "The local stand-in only filters on `state:ENABLED|DISABLED|DESTROYED`.",
                )
            wanted_state = State.__members__[state_filter["state"]]
        if request.page_size < 0:
            raise _RpcStatusError(grpc.StatusCode.INVALID_ARGUMENT, "page_size must not be negative.")
        if request.page_token and not request.page_token.isdigit():
            raise _RpcStatusError(grpc.StatusCode.INVALID_ARGUMENT, "Invalid page_token.")
        start = int(request.page_token or 0)
        page_size = min(request.page_size or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
        with self._lock:
            secret = self._secret(request.parent)
            # Newest first, as Google lists them.
            matching = [
                version
                for _, version in sorted(secret.versions.items(), reverse=True)
                if wanted_state is None or version.state == wanted_state
            ]
            page = matching[start : start + page_size]
            next_start = start + len(page)
            return types.ListSecretVersionsResponse(
                versions=[self._version_resource(secret, version) for version in page],
                next_page_token=str(next_start) if next_start < len(matching) else "",
                total_size=len(matching),
            )

    def _change_state(self, name: str, etag: str, new_state: int) -> types.SecretVersion:
        with self._lock:
            secret, version = self._version(name)
            self._check_etag(etag, version.etag, f"{secret.name}/versions/{version.number}")
            if version.state == State.DESTROYED:
                raise _RpcStatusError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"Secret Version [{secret.name}/versions/{version.number}] is in DESTROYED state.",
                )
            if version.state != new_state:
                version.state = new_state
                version.etag = self._etag()
                if new_state == State.DESTROYED:
                    version.data = b""
                    version.destroyed_at = _now()
            return self._version_resource(secret, version)

    def disable_secret_version(self, request: types.DisableSecretVersionRequest) -> types.SecretVersion:
        return self._change_state(request.name, request.etag, State.DISABLED)

    def enable_secret_version(self, request: types.EnableSecretVersionRequest) -> types.SecretVersion:
        return self._change_state(request.name, request.etag, State.ENABLED)

    def destroy_secret_version(self, request: types.DestroySecretVersionRequest) -> types.SecretVersion:
        return self._change_state(request.name, request.etag, State.DESTROYED)


class LocalSecretManager:
    """Serves Secret Manager v1 from memory on ``host:port``; ``port=0`` picks a free port.

    Besides the API it offers what tests need: a count of calls per method, an artificial latency per
    method, and payloads answered with a wrong checksum. Secrets survive a stop and a new start.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._state = _SecretManagerState()
        self._server: Any = None
        self._bound_port: int | None = None
        self._test_lock = threading.Lock()
        self._latency: dict[str, float] = {}
        self._corrupt_checksums = False
        self._methods: dict[str, tuple[Callable[[Any], Any], Any, Callable[[Any], bytes]]] = {
            "CreateSecret": (self._state.create_secret, types.CreateSecretRequest, types.Secret.serialize),
            "GetSecret": (self._state.get_secret, types.GetSecretRequest, types.Secret.serialize),
            "DeleteSecret": (self._state.delete_secret, types.DeleteSecretRequest, _serialize_empty),
            "AddSecretVersion": (
                self._state.add_secret_version,
                types.AddSecretVersionRequest,
                types.SecretVersion.serialize,
            ),
            "AccessSecretVersion": (
                self._access_secret_version,
                types.AccessSecretVersionRequest,
                types.AccessSecretVersionResponse.serialize,
            ),
            "GetSecretVersion": (
                self._state.get_secret_version,
                types.GetSecretVersionRequest,
                types.SecretVersion.serialize,
            ),
            "ListSecretVersions": (
                self._state.list_secret_versions,
                types.ListSecretVersionsRequest,
                types.ListSecretVersionsResponse.serialize,
            ),
            "DisableSecretVersion": (
                self._state.disable_secret_version,
                types.DisableSecretVersionRequest,
                types.SecretVersion.serialize,
            ),
            "EnableSecretVersion": (
                self._state.enable_secret_version,
                types.EnableSecretVersionRequest,
                types.SecretVersion.serialize,
            ),
            "DestroySecretVersion": (
                self._state.destroy_secret_version,
                types.DestroySecretVersionRequest,
                types.SecretVersion.serialize,
            ),
        }
        self._calls: dict[str, int] = dict.fromkeys(self._methods, 0)

    @property
    def address(self) -> str:
        """``host:port`` the server listens (or, once stopped, last listened) on."""
        if self._bound_port is None:
            raise RuntimeError("LocalSecretManager is not started")
        return f"{self._host}:{self._bound_port}"

    def start(self) -> str:
        """Starts serving in background threads and returns ``host:port``."""
        if self._server is not None:
            raise RuntimeError("LocalSecretManager is already started")
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="secret-manager"))
        handlers = {method: self._handler(method) for method in self._methods}
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
        try:
            bound_port = server.add_insecure_port(f"{self._host}:{self._port}")
        except RuntimeError as exc:  # newer grpcio raises; older ones return 0
            raise OSError(f"cannot listen on {self._host}:{self._port}") from exc
        if not bound_port:
            raise OSError(f"cannot listen on {self._host}:{self._port}")
        server.start()
        self._server, self._bound_port = server, int(bound_port)
        return self.address

    def stop(self, grace: float | None = None) -> None:
        """Stops serving; in-flight calls are cancelled after ``grace`` seconds. Safe to call twice."""
        if self._server is not None:
            self._server.stop(grace).wait()
            self._server = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def calls(self, method: str) -> int:
        """How many ``method`` calls (e.g. ``"AccessSecretVersion"``) arrived, failed ones included."""
        with self._test_lock:
            if method not in self._calls:
                raise ValueError(f"unknown Secret Manager method {method!r}; known: {sorted(self._calls)}")
            return self._calls[method]

    def set_latency(self, method: str, seconds: float) -> None:
        """Delays every answer of ``method`` by ``seconds`` (0 removes the delay)."""
        with self._test_lock:
            if method not in self._calls:
                raise ValueError(f"unknown Secret Manager method {method!r}")
            self._latency[method] = seconds

    def set_corrupt_checksums(self, corrupt: bool) -> None:
        """When on, AccessSecretVersion answers with a data_crc32c that does not match the data."""
        with self._test_lock:
            self._corrupt_checksums = corrupt

    def _access_secret_version(
        self, request: types.AccessSecretVersionRequest
    ) -> types.AccessSecretVersionResponse:
        response = self._state.access_secret_version(request)
        with self._test_lock:
            corrupt = self._corrupt_checksums
        if corrupt:
            response.payload.data_crc32c = (response.payload.data_crc32c + 1) % 2**32
        return response

    def _handler(self, method: str) -> Any:
        implementation, request_type, serialize = self._methods[method]

        def handle(request: Any, context: Any) -> Any:
            with self._test_lock:
                self._calls[method] += 1
                latency = self._latency.get(method, 0.0)
            if latency:
                time.sleep(latency)
            try:
                return implementation(request)
            except _RpcStatusError as failure:
                context.abort(failure.code, failure.message)

        return grpc.unary_unary_rpc_method_handler(
            handle, request_deserializer=request_type.deserialize, response_serializer=serialize
        )


def _serialize_empty(message: Any) -> bytes:
    serialized: bytes = message.SerializeToString()
    return serialized


def seed_secrets(address: str, project: str, values: Mapping[str, bytes]) -> None:
    """Add each value as a new version of its secret, through the real client: what ops do with gcloud."""
    from shared.config import Settings
    from shared.secrets import SecretStore, build_secret_manager_client

    settings = Settings(environment="local", secret_manager_endpoint=address, google_cloud_project=project)
    store = SecretStore(lambda: build_secret_manager_client(settings), project=project, cache_seconds=0)
    try:
        for name, value in values.items():
            store.ensure_secret(name)
            store.add_version(name, value)
    finally:
        store.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=0, help="port to listen on; 0 picks a free one (default: 0)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, request_stop)
    with LocalSecretManager(args.host, args.port) as manager:
        _log.info("Secret Manager stand-in listening on %s", manager.address)
        stop_requested.wait()
        _log.info("Secret Manager stand-in stopping")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
