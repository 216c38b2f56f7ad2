"""Verification of the CRM backend's bearer tokens: what is accepted and what is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from local_stack.crm_backend import CrmBackend
from shared.auth.crm_token import CrmPrincipal, CrmTokenVerifier
from shared.errors import Unauthenticated


def verifier_for(*backends: CrmBackend, max_lifetime: int = 3600) -> CrmTokenVerifier:
    keys = [json.loads(backend.jwks_json)["keys"][0] for backend in backends]
    return CrmTokenVerifier(
        jwks_json=json.dumps({"keys": keys}),
        issuer="crm-backend",
        audience="crm-google-integration",
        max_lifetime_seconds=max_lifetime,
        leeway_seconds=30,
    )


def valid_claims(crm: CrmBackend) -> dict:
    now = int(time.time())
    return {
        "iss": crm.issuer,
        "aud": crm.audience,
        "iat": now,
        "exp": now + 60,
        "tenant_id": "a",
        "user_id": "u",
    }


def refused_code(verifier: CrmTokenVerifier, authorization: str | None) -> str:
    with pytest.raises(Unauthenticated) as refused:
        verifier.verify(authorization)
    return refused.value.code


def test_a_valid_token_names_its_tenant_and_user() -> None:
    crm = CrmBackend()
    assert verifier_for(crm).verify(f"Bearer {crm.token('acme', 'u-7')}") == CrmPrincipal("acme", "u-7")


def test_keys_rotate_by_kid() -> None:
    old, new = CrmBackend(), CrmBackend()
    verifier = verifier_for(old, new)
    assert verifier.verify(f"Bearer {old.token('a')}").tenant_id == "a"
    assert verifier.verify(f"Bearer {new.token('b')}").tenant_id == "b"


def test_a_token_without_kid_is_accepted_only_when_one_key_is_configured() -> None:
    crm = CrmBackend()
    claims = valid_claims(crm)
    token = jwt.encode(claims, crm.private_key, algorithm="ES256")
    assert verifier_for(crm).verify(f"Bearer {token}").tenant_id == "a"
    assert refused_code(verifier_for(crm, CrmBackend()), f"Bearer {token}") == "invalid_token"


def test_an_hmac_token_signed_with_the_public_key_is_refused() -> None:
    crm = CrmBackend()
    public_jwk = json.loads(crm.jwks_json)["keys"][0]
    claims = valid_claims(crm)

    # The classic confusion attack: HS256 keyed with the public key. Built by hand; PyJWT refuses to.
    def segment(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    signing_input = f"{segment({'alg': 'HS256', 'kid': crm.key_id})}.{segment(claims)}"
    mac = hmac.new(json.dumps(public_jwk).encode(), signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    assert refused_code(verifier_for(crm), f"Bearer {forged}") == "invalid_token"


def test_a_token_signed_by_an_unknown_key_is_refused() -> None:
    crm = CrmBackend()
    stranger_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = valid_claims(crm)
    token = jwt.encode(claims, stranger_key, algorithm="RS256", headers={"kid": crm.key_id})
    assert refused_code(verifier_for(crm), f"Bearer {token}") == "invalid_token"


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"exp": int(time.time()) - 120}, "expired_token"),
        ({"iat": None}, "invalid_token"),
        ({"user_id": None}, "invalid_token"),
        ({"tenant_id": "../other"}, "invalid_token"),
        ({"tenant_id": 17}, "invalid_token"),
        ({"nbf": int(time.time()) + 600}, "invalid_token"),
    ],
)
def test_bad_claims_are_refused(claims: dict, code: str) -> None:
    crm = CrmBackend()
    assert refused_code(verifier_for(crm), f"Bearer {crm.token('a', claims=claims)}") == code


def test_no_configured_keys_refuses_everything() -> None:
    crm = CrmBackend()
    verifier = CrmTokenVerifier(
        jwks_json="",
        issuer="crm-backend",
        audience="crm-google-integration",
        max_lifetime_seconds=60,
        leeway_seconds=0,
    )
    assert refused_code(verifier, f"Bearer {crm.token('a')}") == "invalid_token"


def test_a_lifetime_beyond_the_maximum_is_refused() -> None:
    crm = CrmBackend()
    assert refused_code(
        verifier_for(crm, max_lifetime=600), f"Bearer {crm.token('a', lifetime_seconds=601)}"
    ) == ("invalid_token")
    assert verifier_for(crm, max_lifetime=600).verify(f"Bearer {crm.token('a', lifetime_seconds=600)}")
