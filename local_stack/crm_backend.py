"""Plays the CRM backend locally: holds an ES256 signing key and mints the tokens it sends to `api`.

Production holds only the public half (the JWKS in CRM_JWT_JWKS); this module exists so the demo and
the tests exercise the very verification path production runs.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ISSUER = "crm-backend"
AUDIENCE = "crm-google-integration"


@dataclass
class CrmBackend:
    """A signing identity. ``jwks_json`` goes into CRM_JWT_JWKS; ``token(...)`` mints bearer tokens."""

    issuer: str = ISSUER
    audience: str = AUDIENCE
    key_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    @property
    def jwks_json(self) -> str:
        public_jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self.private_key.public_key()))
        public_jwk.update({"kid": self.key_id, "alg": "ES256", "use": "sig"})
        return json.dumps({"keys": [public_jwk]})

    def token(
        self,
        tenant_id: str,
        user_id: str = "user-1",
        *,
        lifetime_seconds: int = 300,
        issued_at: float | None = None,
        claims: dict[str, Any] | None = None,
    ) -> str:
        """A signed token; ``claims`` overrides the standard ones, and a claim set to None is left out."""
        now = int(time.time() if issued_at is None else issued_at)
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + lifetime_seconds,
            "tenant_id": tenant_id,
            "user_id": user_id,
            **(claims or {}),
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, self.private_key, algorithm="ES256", headers={"kid": self.key_id})

    def authorization(self, tenant_id: str, user_id: str = "user-1", **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(tenant_id, user_id, **kwargs)}"}
