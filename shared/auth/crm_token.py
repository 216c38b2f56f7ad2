"""Verifies the bearer JWT the CRM backend signs for each call and says which tenant and user it is for.

The CRM backend holds the private key; we hold only its public keys (a JWKS), so a leak on our side
cannot mint tokens. Tenant scope comes from the token alone, never from the URL or the body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import jwt

from shared.auth import bearer_token
from shared.errors import Unauthenticated
from shared.ids import is_valid_id

# Asymmetric algorithms only: an HMAC or "none" token can never be accepted, whatever its header says.
ALLOWED_ALGORITHMS = frozenset({"ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "EdDSA"})


@dataclass(frozen=True)
class CrmPrincipal:
    tenant_id: str
    user_id: str


class CrmTokenVerifier:
    def __init__(
        self,
        *,
        jwks_json: str,
        issuer: str,
        audience: str,
        max_lifetime_seconds: int,
        leeway_seconds: int,
    ) -> None:
        self._keys: dict[str | None, jwt.PyJWK] = {}
        if jwks_json.strip():
            keys = jwt.PyJWKSet.from_dict(json.loads(jwks_json)).keys
            self._keys = {key.key_id: key for key in keys}
            if len(keys) == 1:
                self._keys[None] = keys[0]  # a single key may be used by tokens without a `kid`
        self._issuer = issuer
        self._audience = audience
        self._max_lifetime_seconds = max_lifetime_seconds
        self._leeway_seconds = leeway_seconds

    def verify(self, authorization: str | None) -> CrmPrincipal:
        token = bearer_token(authorization)
        invalid = Unauthenticated("The token is not valid.", code="invalid_token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as error:
            raise invalid from error
        key = self._keys.get(header.get("kid"))
        if (
            key is None
            or key.algorithm_name not in ALLOWED_ALGORITHMS
            or header.get("alg") != key.algorithm_name
        ):
            raise invalid
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[key.algorithm_name],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway_seconds,
                options={"require": ["exp", "iat", "iss", "aud", "tenant_id", "user_id"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise Unauthenticated("The token has expired.", code="expired_token") from error
        except jwt.InvalidTokenError as error:
            raise invalid from error
        issued_at, expires_at = claims["iat"], claims["exp"]
        if not isinstance(issued_at, int | float) or expires_at - issued_at > self._max_lifetime_seconds:
            raise Unauthenticated("The token lives longer than allowed.", code="invalid_token")
        tenant_id, user_id = claims["tenant_id"], claims["user_id"]
        if not (isinstance(tenant_id, str) and is_valid_id(tenant_id)):
            raise invalid
        if not (isinstance(user_id, str) and is_valid_id(user_id)):
            raise invalid
        return CrmPrincipal(tenant_id=tenant_id, user_id=user_id)
