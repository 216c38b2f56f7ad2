"""Secret Manager access, the only module of shared/ that imports its client: checked, cached reads."""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import google_crc32c

from shared.errors import IntegrationError, Permanent, Retryable

if TYPE_CHECKING:
    # Annotations only: importing pydantic or the client here would slow every importer down.
    from google.cloud.secretmanager_v1 import SecretManagerServiceClient

    from shared.config import Settings

__all__ = [
    "SecretStore",
    "SecretVersion",
    "build_secret_manager_client",
    "crc32c",
    "secret_store_from_settings",
]

_log = logging.getLogger(__name__)

# What Secret Manager accepts as a secret id; checked here so an id built from data cannot reach
# another resource through a "/".
_SECRET_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
_VERSION = re.compile(r"[A-Za-z0-9_-]{1,63}")  # a number, "latest" or a version alias

DEFAULT_TIMEOUT_SECONDS = 10.0


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum Secret Manager puts in ``SecretPayload.data_crc32c``."""
    return int(google_crc32c.value(data))


def _refuse_local_endpoint_outside_local(settings: Settings) -> None:
    if settings.secret_manager_endpoint and settings.environment != "local":
        raise Permanent(
            f"secret_manager_endpoint is set while environment is {settings.environment!r}: the plaintext "
            "local endpoint is only allowed when environment is 'local'",
            code="secret_manager_endpoint_refused",
        )


def build_secret_manager_client(settings: Settings) -> SecretManagerServiceClient:
    """A client for the local stand-in when ``secret_manager_endpoint`` is set, else for Google (ADC)."""
    _refuse_local_endpoint_outside_local(settings)
    from google.cloud.secretmanager_v1 import SecretManagerServiceClient

    if settings.secret_manager_endpoint:
        import grpc
        from google.cloud.secretmanager_v1.services.secret_manager_service.transports.grpc import (
            SecretManagerServiceGrpcTransport,
        )

        # An explicit plaintext channel: with only api_endpoint the client tries TLS and hangs.
        channel = grpc.insecure_channel(settings.secret_manager_endpoint)
        return SecretManagerServiceClient(transport=SecretManagerServiceGrpcTransport(channel=channel))

    from google.auth.exceptions import DefaultCredentialsError

    try:
        return SecretManagerServiceClient()
    except DefaultCredentialsError as exc:
        raise Permanent(
            "no Application Default Credentials to reach Secret Manager",
            code="secret_manager_credentials_missing",
        ) from exc


@functools.cache
def _error_table() -> dict[type[Exception], tuple[type[IntegrationError], str, str]]:
    """Secret Manager failure -> (our error, stable code, what it means). Built on first failure."""
    from google.api_core import exceptions as api

    return {
        api.NotFound: (Permanent, "secret_not_found", "does not exist"),
        api.FailedPrecondition: (Permanent, "secret_disabled", "is disabled or destroyed"),
        api.PermissionDenied: (Permanent, "secret_permission_denied", "may not be read by this identity"),
        api.Unauthenticated: (
            Permanent,
            "secret_permission_denied",
            "was asked for without valid credentials",
        ),
        api.InvalidArgument: (Permanent, "secret_invalid_request", "was asked for with an invalid request"),
        api.AlreadyExists: (Permanent, "secret_already_exists", "already exists"),
        api.MethodNotImplemented: (
            Permanent,
            "secret_invalid_request",
            "was asked for with an unsupported call",
        ),
        api.ServiceUnavailable: (Retryable, "secret_unavailable", "could not be reached"),
        api.DeadlineExceeded: (Retryable, "secret_unavailable", "did not answer in time"),
        api.InternalServerError: (Retryable, "secret_unavailable", "failed inside Secret Manager"),
        api.TooManyRequests: (Retryable, "secret_unavailable", "is over quota"),
        api.RetryError: (Retryable, "secret_unavailable", "could not be reached before the deadline"),
    }


def _translate(exc: Exception, resource: str) -> IntegrationError:
    """Our error for a Secret Manager failure. Details name the resource, never a value."""
    table = _error_table()
    for cls in type(exc).__mro__:
        if cls in table:
            error_class, code, meaning = table[cls]
            return error_class(f"Secret Manager: {resource} {meaning}", code=code)
    # Anything else (aborted, unknown, cancelled, ...) is treated as passing: a retry costs little.
    return Retryable(f"Secret Manager: {resource} failed ({type(exc).__name__})", code="secret_unavailable")


@dataclass(frozen=True)
class SecretVersion:
    """One version's value and its number, resolved: ``"3"``, never ``"latest"``."""

    version: str
    data: bytes

    def __repr__(self) -> str:
        # The value stays out of every repr, traceback and log line.
        return f"SecretVersion(version={self.version!r}, data=<{len(self.data)} bytes>)"


@dataclass(frozen=True)
class _CachedValue:
    value: SecretVersion
    expires_at: float


class SecretStore:
    """Reads secret values, checks their checksum and keeps them in memory for ``cache_seconds``.

    The client is built on first use, once. Concurrent first reads of one (secret, version) make one
    call; the others wait for it.
    """

    def __init__(
        self,
        client_factory: Callable[[], SecretManagerServiceClient],
        *,
        project: str,
        cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self._client_factory = client_factory
        self._project = project
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._timeout_seconds = timeout_seconds
        self._client: SecretManagerServiceClient | None = None
        self._client_lock = threading.Lock()
        self._lock = threading.Lock()  # guards the fields below, never held during a call
        self._cache: dict[tuple[str, str], _CachedValue] = {}
        self._loading: dict[tuple[str, str], threading.Lock] = {}
        # Bumped by invalidate(): a read that started before must not fill the cache with an old value.
        self._generation = 0

    @property
    def project(self) -> str:
        return self._project

    def get(self, secret_id: str, version: str = "latest") -> bytes:
        """The value of ``secret_id`` at ``version`` (a number or ``"latest"``, the newest enabled one).

        With ``cache_seconds`` 0 every call reads from Secret Manager.
        """
        return self.access(secret_id, version).data

    def access(self, secret_id: str, version: str = "latest") -> SecretVersion:
        """The value of ``secret_id`` at ``version`` with the version number it resolved to.

        Cached like ``get``: a cached ``"latest"`` keeps the number it resolved to when it was read.
        With ``cache_seconds`` 0 every call reads from Secret Manager.
        """
        name = self._version_name(secret_id, version)
        if self._cache_seconds <= 0:
            return self._access(name)
        key = (secret_id, version)
        with self._lock:
            cached = self._fresh(key)
            if cached is not None:
                return cached
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                cached = self._fresh(key)  # another thread may have read it while we waited
                if cached is not None:
                    return cached
                generation = self._generation
            value = self._access(name)
            with self._lock:
                if generation == self._generation:
                    self._cache[key] = _CachedValue(value, self._clock() + self._cache_seconds)
            return value

    def get_text(self, secret_id: str, version: str = "latest") -> str:
        """The value decoded as UTF-8."""
        try:
            return self.get(secret_id, version).decode("utf-8")
        except UnicodeDecodeError:
            # `from None`: the decode error quotes bytes of the value.
            raise Permanent(
                f"Secret Manager: {self._version_name(secret_id, version)} is not UTF-8 text",
                code="secret_not_text",
            ) from None

    def invalidate(self, secret_id: str | None = None) -> None:
        """Forgets cached values of ``secret_id`` (every secret when None), e.g. after a key rotation."""
        with self._lock:
            self._generation += 1
            if secret_id is None:
                self._cache.clear()
            else:
                for key in [key for key in self._cache if key[0] == secret_id]:
                    del self._cache[key]

    def ensure_secret(self, secret_id: str) -> None:
        """Creates the secret (automatic replication) unless it exists already."""
        name = self._secret_name(secret_id)
        request = {
            "parent": f"projects/{self._project}",
            "secret_id": secret_id,
            "secret": {"replication": {"automatic": {}}},
        }
        try:
            # Retried safely: a create that landed before a lost answer comes back as "already exists".
            self._call("create_secret", request, name, retry=True)
        except Permanent as error:
            if error.code != "secret_already_exists":
                raise

    def add_version(self, secret_id: str, data: bytes) -> str:
        """Adds ``data`` as the newest version and returns its number; this store's cache of it is dropped."""
        name = self._secret_name(secret_id)
        request = {"parent": name, "payload": {"data": data, "data_crc32c": crc32c(data)}}
        # Not retried: a retry after a lost answer would add a second version.
        version = self._call("add_secret_version", request, name, retry=False)
        self.invalidate(secret_id)
        number: str = version.name.rsplit("/", 1)[-1]
        _log.info("added version %s of secret %s", number, secret_id)
        return number

    def close(self) -> None:
        """Closes the client's channel, if one was built."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            # The generated transport leaves close() unannotated.
            client.transport.close()  # type: ignore[no-untyped-call]

    def _fresh(self, key: tuple[str, str]) -> SecretVersion | None:
        cached = self._cache.get(key)
        if cached is not None and self._clock() < cached.expires_at:
            return cached.value
        return None

    def _access(self, name: str) -> SecretVersion:
        response = self._call("access_secret_version", {"name": name}, name, retry=True)
        payload = response.payload
        if "data_crc32c" in payload and payload.data_crc32c != crc32c(payload.data):
            raise Retryable(
                f"Secret Manager: {name} arrived corrupted (checksum mismatch)",
                code="secret_checksum_mismatch",
            )
        _log.debug("read %s from Secret Manager", response.name)
        # The answer names the version it resolved to: ".../versions/3" when "latest" was asked.
        resolved: str = response.name.rsplit("/", 1)[-1]
        data: bytes = payload.data
        return SecretVersion(version=resolved, data=data)

    def _call(self, method: str, request: dict[str, Any], resource: str, *, retry: bool) -> Any:
        from google.api_core import exceptions as api
        from google.api_core import retry as retries

        policy = None
        if retry:
            policy = retries.Retry(
                predicate=retries.if_exception_type(
                    api.ServiceUnavailable, api.DeadlineExceeded, api.InternalServerError, api.TooManyRequests
                ),
                initial=0.1,
                maximum=1.0,
                multiplier=2.0,
                timeout=self._timeout_seconds,
            )
        try:
            return getattr(self._client_or_build(), method)(
                request=request, retry=policy, timeout=self._timeout_seconds
            )
        except api.GoogleAPIError as exc:
            raise _translate(exc, resource) from exc

    def _client_or_build(self) -> SecretManagerServiceClient:
        with self._client_lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client

    def _secret_name(self, secret_id: str) -> str:
        self._check_secret_id(secret_id)
        return f"projects/{self._project}/secrets/{secret_id}"

    def _version_name(self, secret_id: str, version: str) -> str:
        if not _VERSION.fullmatch(version):
            raise Permanent(
                "secret version must be a number, 'latest' or an alias", code="secret_invalid_name"
            )
        return f"{self._secret_name(secret_id)}/versions/{version}"

    @staticmethod
    def _check_secret_id(secret_id: str) -> None:
        # The id is not echoed: a value passed by mistake as an id must not reach a log.
        if not _SECRET_ID.fullmatch(secret_id):
            raise Permanent("secret id must match [A-Za-z0-9_-]{1,255}", code="secret_invalid_name")


def secret_store_from_settings(settings: Settings) -> SecretStore:
    """The process's SecretStore as configured; refuses a local endpoint outside ``local`` right away."""
    _refuse_local_endpoint_outside_local(settings)
    return SecretStore(
        functools.partial(build_secret_manager_client, settings),
        project=settings.google_cloud_project,
        cache_seconds=settings.secret_cache_seconds,
    )
