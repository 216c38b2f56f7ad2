"""TokenVault through SecretStore and the real Secret Manager client against the local stand-in."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from google.cloud.secretmanager_v1 import SecretManagerServiceClient, SecretPayload

from shared.config import Settings
from shared.errors import Permanent
from shared.secrets import SecretStore, build_secret_manager_client
from shared.vault import SealedSecret, TokenVault
from tests.clocks import FakeClock
from tests.integration.helpers import SECRET_CACHE_SECONDS

KEY_ID = "token-key"
TENANT = "tenant-a"
CONNECTION = "conn-1"
TOKEN = "1//0g-refresh-token-not-a-real-one-" + "x" * 40


@pytest.fixture
def store(secret_settings: Settings) -> Iterator[SecretStore]:
    store = SecretStore(
        lambda: build_secret_manager_client(secret_settings),
        project=secret_settings.google_cloud_project,
        cache_seconds=SECRET_CACHE_SECONDS,
    )
    store.ensure_secret(KEY_ID)
    yield store
    store.close()


@pytest.fixture
def vault(store: SecretStore) -> TokenVault:
    return TokenVault(store, key_secret_id=KEY_ID)


def add_key(store: SecretStore, data: bytes | None = None) -> str:
    """Adds a data key version, as an operator would with `openssl rand 32 | base64`."""
    return store.add_version(KEY_ID, base64.b64encode(os.urandom(32)) + b"\n" if data is None else data)


def seal(vault: TokenVault, plaintext: str = TOKEN) -> SealedSecret:
    return vault.seal(plaintext, tenant_id=TENANT, connection_id=CONNECTION)


def open_error(vault: TokenVault, sealed: SealedSecret, tenant: str, connection: str) -> Permanent:
    with pytest.raises(Permanent) as raised:
        vault.open(sealed, tenant_id=tenant, connection_id=connection)
    return raised.value


def flip_first_bit(data: bytes) -> bytes:
    return bytes([data[0] ^ 0x01]) + data[1:]


def test_sealed_token_opens_to_the_same_plaintext(store: SecretStore, vault: TokenVault) -> None:
    add_key(store)

    sealed = seal(vault, "grüße-token")
    opened = vault.open(sealed, tenant_id=TENANT, connection_id=CONNECTION)

    assert opened.plaintext == "grüße-token"
    assert opened.stale_key is False
    assert sealed.key_version == "1"


def test_sealed_document_survives_a_round_trip_and_holds_no_plaintext(
    store: SecretStore, vault: TokenVault
) -> None:
    add_key(store)

    document = seal(vault).to_document()
    as_json = json.dumps(document)
    decoded = [base64.b64decode(document[name]) for name in ("ciphertext", "nonce")]
    restored = SealedSecret.from_document(json.loads(as_json))

    assert set(document) == {"ciphertext", "nonce", "key_version", "algorithm"}
    assert document["algorithm"] == "AES-256-GCM"
    assert TOKEN not in as_json
    assert TOKEN[:16] not in as_json
    assert all(TOKEN.encode()[:16] not in field for field in decoded)
    assert vault.open(restored, tenant_id=TENANT, connection_id=CONNECTION).plaintext == TOKEN


def test_token_copied_to_another_tenant_does_not_open(store: SecretStore, vault: TokenVault) -> None:
    add_key(store)

    error = open_error(vault, seal(vault), "tenant-b", CONNECTION)

    assert error.code == "token_undecryptable"


def test_token_copied_to_another_connection_does_not_open(store: SecretStore, vault: TokenVault) -> None:
    add_key(store)

    error = open_error(vault, seal(vault), TENANT, "conn-2")

    assert error.code == "token_undecryptable"


def test_binding_is_unambiguous_across_the_tenant_connection_boundary(
    store: SecretStore, vault: TokenVault
) -> None:
    add_key(store)
    sealed = vault.seal(TOKEN, tenant_id="a:b", connection_id="c")

    error = open_error(vault, sealed, "a", "b:c")

    assert error.code == "token_undecryptable"


def test_altered_ciphertext_does_not_open(store: SecretStore, vault: TokenVault) -> None:
    add_key(store)
    sealed = seal(vault)

    error = open_error(
        vault, replace(sealed, ciphertext=flip_first_bit(sealed.ciphertext)), TENANT, CONNECTION
    )

    assert error.code == "token_undecryptable"
    assert TOKEN not in str(error)


def test_altered_tag_does_not_open(store: SecretStore, vault: TokenVault) -> None:
    add_key(store)
    sealed = seal(vault)
    altered = sealed.ciphertext[:-1] + bytes([sealed.ciphertext[-1] ^ 0x80])

    error = open_error(vault, replace(sealed, ciphertext=altered), TENANT, CONNECTION)

    assert error.code == "token_undecryptable"


def test_altered_nonce_does_not_open(store: SecretStore, vault: TokenVault) -> None:
    add_key(store)
    sealed = seal(vault)

    error = open_error(vault, replace(sealed, nonce=flip_first_bit(sealed.nonce)), TENANT, CONNECTION)

    assert error.code == "token_undecryptable"


def test_two_seals_of_one_token_use_fresh_nonces(store: SecretStore, vault: TokenVault) -> None:
    add_key(store)

    first, second = seal(vault), seal(vault)

    assert first.nonce != second.nonce
    assert first.ciphertext != second.ciphertext
    assert len(first.nonce) == len(second.nonce) == 12


def test_rotation_opens_old_seals_flags_them_stale_and_reseals_under_the_new_key(
    store: SecretStore, vault: TokenVault
) -> None:
    add_key(store)
    old = seal(vault)
    assert old.key_version == "1"

    assert add_key(store) == "2"
    opened = vault.open(old, tenant_id=TENANT, connection_id=CONNECTION)
    resealed = vault.reseal_if_stale(opened, old, tenant_id=TENANT, connection_id=CONNECTION)

    assert opened.plaintext == TOKEN
    assert opened.stale_key is True
    assert resealed is not None
    assert resealed.key_version == "2"
    reopened = vault.open(resealed, tenant_id=TENANT, connection_id=CONNECTION)
    assert (reopened.plaintext, reopened.stale_key) == (TOKEN, False)
    assert vault.reseal_if_stale(reopened, resealed, tenant_id=TENANT, connection_id=CONNECTION) is None


def test_rotation_by_another_instance_is_seen_once_the_cache_expires(
    secret_settings: Settings, store: SecretStore
) -> None:
    clock = FakeClock()
    local = SecretStore(
        lambda: build_secret_manager_client(secret_settings),
        project=secret_settings.google_cloud_project,
        cache_seconds=SECRET_CACHE_SECONDS,
        clock=clock,
    )
    vault = TokenVault(local, key_secret_id=KEY_ID)
    add_key(store)
    sealed = seal(vault)

    add_key(store)  # an operator's rotation: this instance's cache still holds version 1 as latest
    assert vault.open(sealed, tenant_id=TENANT, connection_id=CONNECTION).stale_key is False
    clock.advance(SECRET_CACHE_SECONDS + 1)

    assert vault.open(sealed, tenant_id=TENANT, connection_id=CONNECTION).stale_key is True
    assert seal(vault).key_version == "2"
    local.close()


def test_disabled_key_version_surfaces_as_secret_disabled(
    secret_settings: Settings, store: SecretStore, vault: TokenVault
) -> None:
    add_key(store)
    sealed = seal(vault)
    add_key(store)
    admin: SecretManagerServiceClient = build_secret_manager_client(secret_settings)
    admin.disable_secret_version(name=f"projects/{store.project}/secrets/{KEY_ID}/versions/1")
    admin.transport.close()  # type: ignore[no-untyped-call]
    store.invalidate(KEY_ID)

    with pytest.raises(Permanent) as raised:
        vault.open(sealed, tenant_id=TENANT, connection_id=CONNECTION)

    assert raised.value.code == "secret_disabled"


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda key: key, id="raw-32-bytes"),
        pytest.param(base64.b64encode, id="base64"),
        pytest.param(lambda key: base64.b64encode(key) + b"\n", id="base64-with-newline"),
        pytest.param(lambda key: base64.b64encode(key) + b"\r\n", id="base64-with-crlf"),
    ],
)
def test_key_is_accepted_raw_or_as_standard_base64(
    store: SecretStore, vault: TokenVault, encode: Any
) -> None:
    key = os.urandom(32)
    add_key(store, encode(key))

    sealed = seal(vault)

    assert vault.open(sealed, tenant_id=TENANT, connection_id=CONNECTION).plaintext == TOKEN


def test_raw_and_base64_forms_of_one_key_are_the_same_key(store: SecretStore, vault: TokenVault) -> None:
    key = os.urandom(32)
    add_key(store, key)
    sealed = seal(vault)

    add_key(store, base64.b64encode(key) + b"\n")  # version 2: the same key, written as text
    resealed = replace(sealed, key_version="2")

    assert vault.open(resealed, tenant_id=TENANT, connection_id=CONNECTION).plaintext == TOKEN


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(bytes(range(16)), id="16-raw-bytes"),
        pytest.param(base64.b64encode(bytes(range(16))), id="base64-of-16-bytes"),
        pytest.param(b"!" * 44, id="44-chars-not-base64"),
        pytest.param(bytes(range(33)), id="33-raw-bytes"),
    ],
)
def test_key_that_is_not_256_bits_is_token_key_invalid(
    store: SecretStore, vault: TokenVault, key: bytes
) -> None:
    add_key(store, key)

    with pytest.raises(Permanent) as raised:
        seal(vault)

    message = str(raised.value)
    assert raised.value.code == "token_key_invalid"
    assert "version 1" in message
    assert key.decode("latin-1") not in message
    assert base64.b64encode(key).decode() not in message
    assert key.hex() not in message


def test_sealed_secret_naming_an_invalid_key_version_is_token_key_invalid(
    store: SecretStore, vault: TokenVault
) -> None:
    add_key(store)
    sealed = seal(vault)
    add_key(store, bytes(16))
    pointing_at_bad_key = replace(sealed, key_version="2")

    with pytest.raises(Permanent) as raised:
        vault.open(pointing_at_bad_key, tenant_id=TENANT, connection_id=CONNECTION)

    assert raised.value.code == "token_key_invalid"
    assert "version 2" in str(raised.value)


def test_reseal_onto_an_invalid_new_key_is_token_key_invalid(store: SecretStore, vault: TokenVault) -> None:
    add_key(store)
    sealed = seal(vault)
    add_key(store, bytes(16))

    opened = vault.open(sealed, tenant_id=TENANT, connection_id=CONNECTION)
    with pytest.raises(Permanent) as raised:
        vault.reseal_if_stale(opened, sealed, tenant_id=TENANT, connection_id=CONNECTION)

    assert opened.stale_key is True
    assert raised.value.code == "token_key_invalid"
    assert "version 2" in str(raised.value)


def test_reprs_carry_no_token_or_ciphertext(store: SecretStore, vault: TokenVault) -> None:
    add_key(store)
    sealed = seal(vault)
    opened = vault.open(sealed, tenant_id=TENANT, connection_id=CONNECTION)

    assert TOKEN not in repr(opened)
    assert repr(sealed.ciphertext) not in repr(sealed)
    assert repr(store.access(KEY_ID).data) not in repr(store.access(KEY_ID))


def _valid_document() -> dict[str, Any]:
    return {
        "ciphertext": base64.b64encode(bytes(32)).decode(),
        "nonce": base64.b64encode(bytes(12)).decode(),
        "key_version": "1",
        "algorithm": "AES-256-GCM",
    }


@pytest.mark.parametrize(
    "document",
    [
        pytest.param({}, id="empty"),
        pytest.param("not a document", id="a-string"),
        pytest.param({**_valid_document(), "ciphertext": "%%% not base64 %%%"}, id="ciphertext-not-base64"),
        pytest.param({**_valid_document(), "ciphertext": 12}, id="ciphertext-not-a-string"),
        pytest.param({**_valid_document(), "ciphertext": ""}, id="ciphertext-shorter-than-the-tag"),
        pytest.param({**_valid_document(), "nonce": base64.b64encode(bytes(8)).decode()}, id="nonce-8-bytes"),
        pytest.param({k: v for k, v in _valid_document().items() if k != "nonce"}, id="no-nonce"),
        pytest.param({**_valid_document(), "key_version": "latest"}, id="key-version-not-a-number"),
        pytest.param({**_valid_document(), "key_version": 1}, id="key-version-not-a-string"),
        pytest.param({**_valid_document(), "algorithm": "AES-128-CBC"}, id="other-algorithm"),
        pytest.param({k: v for k, v in _valid_document().items() if k != "algorithm"}, id="no-algorithm"),
    ],
)
def test_malformed_document_is_sealed_secret_malformed(document: Any) -> None:
    with pytest.raises(Permanent) as raised:
        SealedSecret.from_document(document)

    assert raised.value.code == "sealed_secret_malformed"


def test_well_formed_document_is_read_back() -> None:
    sealed = SealedSecret.from_document(_valid_document())

    assert (sealed.ciphertext, sealed.nonce, sealed.key_version) == (bytes(32), bytes(12), "1")


def test_raw_key_added_by_an_operator_through_the_api_seals_and_opens(
    store: SecretStore, secret_settings: Settings
) -> None:
    """The key as `openssl rand 32 | gcloud secrets versions add` writes it: raw bytes, no checksum."""
    key = os.urandom(32)
    admin: SecretManagerServiceClient = build_secret_manager_client(secret_settings)
    admin.add_secret_version(
        parent=f"projects/{store.project}/secrets/{KEY_ID}", payload=SecretPayload(data=key)
    )
    admin.transport.close()  # type: ignore[no-untyped-call]
    vault = TokenVault(store, key_secret_id=KEY_ID)

    sealed = seal(vault)

    assert sealed.key_version == "1"
    assert vault.open(sealed, tenant_id=TENANT, connection_id=CONNECTION).plaintext == TOKEN
