"""SecretStore through the real google-cloud-secret-manager client against the local stand-in."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from google.api_core import exceptions as api_exceptions
from google.cloud.secretmanager_v1 import Secret, SecretManagerServiceClient, SecretPayload, SecretVersion

from local_stack.secret_manager import LocalSecretManager
from shared.config import Settings
from shared.errors import Permanent, Retryable
from shared.secrets import SecretStore, build_secret_manager_client, crc32c, secret_store_from_settings
from tests.clocks import FakeClock
from tests.integration.helpers import SECRET_CACHE_SECONDS


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(secret_settings: Settings, clock: FakeClock) -> Iterator[SecretStore]:
    store = SecretStore(
        lambda: build_secret_manager_client(secret_settings),
        project=secret_settings.google_cloud_project,
        cache_seconds=SECRET_CACHE_SECONDS,
        clock=clock,
    )
    yield store
    store.close()


@pytest.fixture
def admin(secret_settings: Settings) -> Iterator[SecretManagerServiceClient]:
    """The raw client, acting as an operator or another instance changing secrets behind the store's back."""
    client = build_secret_manager_client(secret_settings)
    yield client
    client.transport.close()  # type: ignore[no-untyped-call]


def secret_name(store: SecretStore, secret_id: str) -> str:
    return f"projects/{store.project}/secrets/{secret_id}"


def test_crc32c_matches_the_castagnoli_check_value() -> None:
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0


def test_added_versions_are_read_by_number_and_as_latest(store: SecretStore) -> None:
    store.ensure_secret("oauth-client")

    assert store.add_version("oauth-client", b"first") == "1"
    assert store.add_version("oauth-client", b"second") == "2"

    assert store.get("oauth-client", "1") == b"first"
    assert store.get("oauth-client", "2") == b"second"
    assert store.get("oauth-client") == b"second"
    assert store.get_text("oauth-client", "1") == "first"


def test_access_resolves_latest_to_its_version_number_and_caches_it(
    store: SecretStore, secret_manager: LocalSecretManager, admin: SecretManagerServiceClient
) -> None:
    store.ensure_secret("data-key")
    store.add_version("data-key", b"first")
    store.add_version("data-key", b"second")
    reads_before = secret_manager.calls("AccessSecretVersion")

    latest = store.access("data-key")
    admin.add_secret_version(parent=secret_name(store, "data-key"), payload=SecretPayload(data=b"third"))
    cached = store.access("data-key", "latest")
    first = store.access("data-key", "1")

    assert (latest.version, latest.data) == ("2", b"second")
    assert cached == latest  # the cached "latest" keeps the number it resolved to
    assert (first.version, first.data) == ("1", b"first")
    assert store.get("data-key") == b"second"  # get reads through the same cache
    assert secret_manager.calls("AccessSecretVersion") - reads_before == 2
    assert "second" not in repr(latest)


def test_access_sees_the_new_latest_number_after_the_ttl(
    store: SecretStore, admin: SecretManagerServiceClient, clock: FakeClock
) -> None:
    store.ensure_secret("data-key")
    store.add_version("data-key", b"first")
    assert store.access("data-key").version == "1"

    admin.add_secret_version(parent=secret_name(store, "data-key"), payload=SecretPayload(data=b"second"))
    clock.advance(SECRET_CACHE_SECONDS + 1)

    assert store.access("data-key").version == "2"


def test_ensure_secret_is_idempotent(store: SecretStore, secret_manager: LocalSecretManager) -> None:
    creates_before = secret_manager.calls("CreateSecret")

    store.ensure_secret("jwt-key")
    store.ensure_secret("jwt-key")

    assert secret_manager.calls("CreateSecret") - creates_before == 2
    assert store.add_version("jwt-key", b"k") == "1"


def test_latest_skips_disabled_versions(store: SecretStore, admin: SecretManagerServiceClient) -> None:
    store.ensure_secret("api-key")
    store.add_version("api-key", b"old")
    store.add_version("api-key", b"new")

    admin.disable_secret_version(name=f"{secret_name(store, 'api-key')}/versions/2")

    assert store.get("api-key") == b"old"


def test_disabled_version_is_permanent_and_names_no_value(
    store: SecretStore, admin: SecretManagerServiceClient
) -> None:
    store.ensure_secret("api-key")
    store.add_version("api-key", b"very-secret-value")
    admin.disable_secret_version(name=f"{secret_name(store, 'api-key')}/versions/1")

    with pytest.raises(Permanent) as raised:
        store.get("api-key", "1")

    assert raised.value.code == "secret_disabled"
    assert isinstance(raised.value.__cause__, api_exceptions.FailedPrecondition)
    assert "very-secret-value" not in str(raised.value)


def test_unknown_secret_is_permanent_secret_not_found(store: SecretStore) -> None:
    with pytest.raises(Permanent) as raised:
        store.get("never-created")

    assert raised.value.code == "secret_not_found"


def test_second_read_within_ttl_makes_no_rpc(store: SecretStore, secret_manager: LocalSecretManager) -> None:
    store.ensure_secret("api-key")
    store.add_version("api-key", b"v1")
    reads_before = secret_manager.calls("AccessSecretVersion")

    assert store.get("api-key") == b"v1"
    assert store.get("api-key") == b"v1"

    assert secret_manager.calls("AccessSecretVersion") - reads_before == 1


def test_read_after_ttl_sees_a_version_added_elsewhere(
    store: SecretStore, admin: SecretManagerServiceClient, clock: FakeClock
) -> None:
    store.ensure_secret("api-key")
    store.add_version("api-key", b"v1")
    assert store.get("api-key") == b"v1"

    admin.add_secret_version(parent=secret_name(store, "api-key"), payload=SecretPayload(data=b"v2"))
    clock.advance(SECRET_CACHE_SECONDS - 1)
    assert store.get("api-key") == b"v1"

    clock.advance(2)
    assert store.get("api-key") == b"v2"


def test_invalidate_forces_a_reread(store: SecretStore, admin: SecretManagerServiceClient) -> None:
    store.ensure_secret("api-key")
    store.add_version("api-key", b"v1")
    assert store.get("api-key") == b"v1"
    admin.add_secret_version(parent=secret_name(store, "api-key"), payload=SecretPayload(data=b"v2"))

    store.invalidate("api-key")

    assert store.get("api-key") == b"v2"


def test_invalidate_without_id_forgets_every_secret(
    store: SecretStore, admin: SecretManagerServiceClient
) -> None:
    for secret_id in ("first", "second"):
        store.ensure_secret(secret_id)
        store.add_version(secret_id, b"v1")
        assert store.get(secret_id) == b"v1"
        admin.add_secret_version(parent=secret_name(store, secret_id), payload=SecretPayload(data=b"v2"))

    store.invalidate()

    assert (store.get("first"), store.get("second")) == (b"v2", b"v2")


def test_concurrent_first_reads_make_one_rpc(store: SecretStore, secret_manager: LocalSecretManager) -> None:
    store.ensure_secret("api-key")
    store.add_version("api-key", b"shared")
    reads_before = secret_manager.calls("AccessSecretVersion")
    start = threading.Barrier(8)
    results: list[bytes] = []

    def read() -> None:
        start.wait()
        results.append(store.get("api-key"))

    # The slow answer keeps the first read in flight while the other seven arrive.
    secret_manager.set_latency("AccessSecretVersion", 0.2)
    try:
        threads = [threading.Thread(target=read) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        secret_manager.set_latency("AccessSecretVersion", 0)

    assert results == [b"shared"] * 8
    assert secret_manager.calls("AccessSecretVersion") - reads_before == 1


def test_checksum_mismatch_is_retryable(store: SecretStore, secret_manager: LocalSecretManager) -> None:
    store.ensure_secret("api-key")
    store.add_version("api-key", b"v1")

    secret_manager.set_corrupt_checksums(True)
    try:
        with pytest.raises(Retryable) as raised:
            store.get("api-key")
    finally:
        secret_manager.set_corrupt_checksums(False)

    assert raised.value.code == "secret_checksum_mismatch"
    assert store.get("api-key") == b"v1"  # the corrupt answer was not cached


def test_stopped_secret_manager_is_retryable(secret_settings: Settings) -> None:
    with LocalSecretManager() as unreachable:
        local = secret_settings.model_copy(update={"secret_manager_endpoint": unreachable.address})
    store = SecretStore(
        lambda: build_secret_manager_client(local),
        project=local.google_cloud_project,
        cache_seconds=SECRET_CACHE_SECONDS,
        timeout_seconds=0.5,
    )

    with pytest.raises(Retryable) as raised:
        store.get("api-key")

    assert raised.value.code == "secret_unavailable"
    store.close()


def test_local_endpoint_is_refused_outside_local() -> None:
    prod = Settings(environment="prod", secret_manager_endpoint="127.0.0.1:1")

    with pytest.raises(Permanent) as from_builder:
        build_secret_manager_client(prod)
    with pytest.raises(Permanent) as from_factory:
        secret_store_from_settings(prod)

    assert from_builder.value.code == from_factory.value.code == "secret_manager_endpoint_refused"


def test_store_from_settings_reads_through_the_local_endpoint(secret_settings: Settings) -> None:
    store = secret_store_from_settings(secret_settings)
    store.ensure_secret("api-key")
    store.add_version("api-key", "grüße".encode())

    assert store.get_text("api-key") == "grüße"
    store.close()


def test_malformed_secret_id_is_refused_before_any_rpc(
    store: SecretStore, secret_manager: LocalSecretManager
) -> None:
    reads_before = secret_manager.calls("AccessSecretVersion")

    with pytest.raises(Permanent) as raised:
        store.get("other-secret/versions/1")

    assert raised.value.code == "secret_invalid_name"
    assert secret_manager.calls("AccessSecretVersion") == reads_before


# The stand-in itself, through the real client: the answers Google gives.


def test_stand_in_refuses_a_duplicate_secret(store: SecretStore, admin: SecretManagerServiceClient) -> None:
    store.ensure_secret("api-key")

    with pytest.raises(api_exceptions.AlreadyExists):
        admin.create_secret(parent=f"projects/{store.project}", secret_id="api-key", secret=Secret())


def test_stand_in_rejects_a_wrong_client_checksum(
    store: SecretStore, admin: SecretManagerServiceClient
) -> None:
    store.ensure_secret("api-key")

    with pytest.raises(api_exceptions.InvalidArgument):
        admin.add_secret_version(
            parent=secret_name(store, "api-key"),
            payload=SecretPayload(data=b"v1", data_crc32c=crc32c(b"v1") ^ 1),
        )


def test_stand_in_records_and_returns_checksums(
    store: SecretStore, admin: SecretManagerServiceClient
) -> None:
    store.ensure_secret("api-key")
    with_checksum = admin.add_secret_version(
        parent=secret_name(store, "api-key"), payload=SecretPayload(data=b"v1", data_crc32c=crc32c(b"v1"))
    )
    without_checksum = admin.add_secret_version(
        parent=secret_name(store, "api-key"), payload=SecretPayload(data=b"v2")
    )

    accessed = admin.access_secret_version(name=f"{secret_name(store, 'api-key')}/versions/latest")

    assert with_checksum.client_specified_payload_checksum is True
    assert without_checksum.client_specified_payload_checksum is False
    assert accessed.name == f"{secret_name(store, 'api-key')}/versions/2"
    assert accessed.payload.data_crc32c == crc32c(b"v2")


def test_stand_in_lists_versions_newest_first_with_their_states(
    store: SecretStore, admin: SecretManagerServiceClient
) -> None:
    store.ensure_secret("api-key")
    for data in (b"v1", b"v2", b"v3"):
        store.add_version("api-key", data)
    name = secret_name(store, "api-key")
    admin.disable_secret_version(name=f"{name}/versions/2")
    admin.destroy_secret_version(name=f"{name}/versions/1")

    listed = [(v.name.rsplit("/", 1)[-1], v.state) for v in admin.list_secret_versions(parent=name)]
    enabled = [
        v.name for v in admin.list_secret_versions(request={"parent": name, "filter": "state:ENABLED"})
    ]

    state = SecretVersion.State
    assert listed == [("3", state.ENABLED), ("2", state.DISABLED), ("1", state.DESTROYED)]
    assert enabled == [f"{name}/versions/3"]


def test_stand_in_refuses_access_to_destroyed_versions_and_reenables_disabled_ones(
    store: SecretStore, admin: SecretManagerServiceClient
) -> None:
    store.ensure_secret("api-key")
    store.add_version("api-key", b"v1")
    store.add_version("api-key", b"v2")
    name = secret_name(store, "api-key")
    admin.destroy_secret_version(name=f"{name}/versions/1")
    admin.disable_secret_version(name=f"{name}/versions/2")

    with pytest.raises(api_exceptions.FailedPrecondition):
        admin.access_secret_version(name=f"{name}/versions/1")
    with pytest.raises(api_exceptions.FailedPrecondition):
        admin.enable_secret_version(name=f"{name}/versions/1")

    admin.enable_secret_version(name=f"{name}/versions/2")
    assert admin.access_secret_version(name=f"{name}/versions/latest").payload.data == b"v2"


def test_stand_in_forgets_a_deleted_secret(store: SecretStore, admin: SecretManagerServiceClient) -> None:
    store.ensure_secret("api-key")
    store.add_version("api-key", b"v1")

    admin.delete_secret(name=secret_name(store, "api-key"))

    with pytest.raises(api_exceptions.NotFound):
        admin.get_secret(name=secret_name(store, "api-key"))
    with pytest.raises(api_exceptions.NotFound):
        admin.access_secret_version(name=f"{secret_name(store, 'api-key')}/versions/1")


def test_stand_in_rejects_malformed_names(admin: SecretManagerServiceClient) -> None:
    with pytest.raises(api_exceptions.InvalidArgument):
        admin.get_secret(name="projects/p/topics/t")
    with pytest.raises(api_exceptions.InvalidArgument):
        admin.access_secret_version(name="projects/p/secrets/s")
