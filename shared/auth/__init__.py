"""Who is calling: the CRM backend's signed tokens (Google's push and Scheduler tokens are verified by
shared.google_apis.oidc, Google's side)."""

from __future__ import annotations

from shared.errors import Unauthenticated


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; 401 when there is none."""
    if not authorization or not authorization.strip():
        raise Unauthenticated("An Authorization: Bearer token is required.", code="missing_token")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("The Authorization header must be 'Bearer <token>'.", code="missing_token")
    return token
