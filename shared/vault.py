"""The token vault: the only module that turns refresh tokens into what is stored, and back.

AES-256-GCM under a data key held in Secret Manager (ADR 0006). The associated data binds each
ciphertext to its tenant and connection, so a ciphertext copied onto another record does not open.
Every seal uses the newest key version and records it; opening uses the recorded version, and says
when that version is no longer the newest so the caller can reseal (lazy rotation).

This module logs nothing, and no error it raises carries a token, a ciphertext or a key.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.errors import Permanent
from shared.secrets import SecretStore

__all__ = ["ALGORITHM", "Opened", "SealedSecret", "TokenVault"]

ALGORITHM = "AES-256-GCM"
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
_AAD_PURPOSE = "crm-google-token/v1"
_BASE64_KEY_CHARS = 44  # standard base64 of 32 bytes, with its one "=" of padding
_KEY_VERSION = re.compile(r"[1-9][0-9]{0,18}")  # a resolved Secret Manager version number


def _malformed(detail: str) -> Permanent:
    return Permanent(f"sealed secret: {detail}", code="sealed_secret_malformed")


@dataclass(frozen=True)
class SealedSecret:
    """What is stored in Firestore in place of a token: nothing in it is secret without the key."""

    ciphertext: bytes = field(repr=False)  # AES-256-GCM output: ciphertext followed by the 16-byte tag
    nonce: bytes
    key_version: str  # the Secret Manager version of the data key that sealed it

    def __post_init__(self) -> None:
        if not isinstance(self.ciphertext, bytes) or len(self.ciphertext) < TAG_BYTES:
            raise _malformed(f"ciphertext must be bytes of at least {TAG_BYTES} (the tag)")
        if not isinstance(self.nonce, bytes) or len(self.nonce) != NONCE_BYTES:
            raise _malformed(f"nonce must be {NONCE_BYTES} bytes")
        if not isinstance(self.key_version, str) or not _KEY_VERSION.fullmatch(self.key_version):
            raise _malformed("key_version must be a Secret Manager version number")

    def to_document(self) -> dict[str, Any]:
        return {
            "ciphertext": base64.b64encode(self.ciphertext).decode("ascii"),
            "nonce": base64.b64encode(self.nonce).decode("ascii"),
            "key_version": self.key_version,
            "algorithm": ALGORITHM,
        }

    @classmethod
    def from_document(cls, data: Mapping[str, Any]) -> SealedSecret:
        """The sealed secret of a stored document; anything malformed is ``sealed_secret_malformed``."""
        if not isinstance(data, Mapping):
            raise _malformed("the stored value is not a document")
        if data.get("algorithm") != ALGORITHM:
            raise _malformed(f"algorithm must be {ALGORITHM!r}")
        key_version = data.get("key_version")
        if not isinstance(key_version, str):
            raise _malformed("key_version must be a string")
        return cls(
            ciphertext=_decode_field(data, "ciphertext"),
            nonce=_decode_field(data, "nonce"),
            key_version=key_version,
        )


def _decode_field(data: Mapping[str, Any], name: str) -> bytes:
    value = data.get(name)
    if not isinstance(value, str):
        raise _malformed(f"{name} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        # `from None`: the decoder's message may quote the stored value.
        raise _malformed(f"{name} is not valid base64") from None


@dataclass(frozen=True)
class Opened:
    plaintext: str = field(repr=False)
    stale_key: bool  # sealed under an older key version: the caller should reseal and store


def _associated_data(tenant_id: str, connection_id: str) -> bytes:
    # A JSON list is unambiguous: ("a:b", "c") and ("a", "b:c") encode differently.
    return json.dumps([_AAD_PURPOSE, tenant_id, connection_id], separators=(",", ":")).encode("utf-8")


class TokenVault:
    """Seals and opens refresh tokens with the data key ``key_secret_id`` read through ``secrets``."""

    def __init__(self, secrets: SecretStore, *, key_secret_id: str) -> None:
        self._secrets = secrets
        self._key_secret_id = key_secret_id

    def seal(self, plaintext: str, *, tenant_id: str, connection_id: str) -> SealedSecret:
        """``plaintext`` encrypted under the newest key version, bound to (tenant, connection)."""
        version, key = self._key("latest")
        nonce = os.urandom(NONCE_BYTES)  # 96 random bits per seal: never reused under one key
        ciphertext = key.encrypt(nonce, plaintext.encode("utf-8"), _associated_data(tenant_id, connection_id))
        return SealedSecret(ciphertext=ciphertext, nonce=nonce, key_version=version)

    def open(self, sealed: SealedSecret, *, tenant_id: str, connection_id: str) -> Opened:
        """The plaintext of ``sealed``, which must have been sealed for this (tenant, connection).

        Raises ``Permanent`` ``token_undecryptable`` when the ciphertext, nonce or binding does not
        authenticate; it never returns unauthenticated bytes.
        """
        _, key = self._key(sealed.key_version)
        try:
            data = key.decrypt(sealed.nonce, sealed.ciphertext, _associated_data(tenant_id, connection_id))
            plaintext = data.decode("utf-8")
        except (InvalidTag, UnicodeDecodeError):
            raise Permanent(
                f"the stored token does not decrypt under key version {sealed.key_version} for this "
                "tenant and connection (altered, or copied from another record)",
                code="token_undecryptable",
            ) from None
        latest = self._secrets.access(self._key_secret_id, "latest").version
        return Opened(plaintext=plaintext, stale_key=sealed.key_version != latest)

    def reseal_if_stale(
        self, opened: Opened, sealed: SealedSecret, *, tenant_id: str, connection_id: str
    ) -> SealedSecret | None:
        """A new seal under the newest key when ``opened`` came from an older one, else None.

        The caller stores the returned value in place of ``sealed``.
        """
        if not opened.stale_key:
            return None
        resealed = self.seal(opened.plaintext, tenant_id=tenant_id, connection_id=connection_id)
        if resealed.key_version == sealed.key_version:
            return None  # the newest version went back to the one it was sealed under
        return resealed

    def _key(self, version: str) -> tuple[str, AESGCM]:
        secret = self._secrets.access(self._key_secret_id, version)
        return secret.version, AESGCM(self._key_bytes(secret.version, secret.data))

    def _key_bytes(self, version: str, data: bytes) -> bytes:
        if len(data) == KEY_BYTES:
            return data
        text = data.removesuffix(b"\n").removesuffix(b"\r")
        if len(text) == _BASE64_KEY_CHARS:
            try:
                key = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                key = b""
            if len(key) == KEY_BYTES:
                return key
        # Names the version and its size, never a byte of it.
        raise Permanent(
            f"token key {self._key_secret_id} version {version} is not a 256-bit key "
            f"({len(data)} bytes; expected 32 raw bytes or their 44-character standard base64)",
            code="token_key_invalid",
        )
