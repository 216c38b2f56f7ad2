"""Every setting the system reads: typed, validated and read from the environment once per process."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Environment variables share the field names, upper-cased (``LOG_LEVEL`` for ``log_level``)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    environment: Literal["local", "dev", "prod"] = Field(
        "local", description="Where this runs. Local-only conveniences are refused outside `local`."
    )
    google_cloud_project: str = Field(
        "crm-google-local", description="Project id that owns Firestore, Pub/Sub and the secrets."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Lowest severity written to the log."
    )
    firestore_database: str = Field("(default)", description="Firestore database id.")
    secret_manager_endpoint: str = Field(
        "",
        description="host:port of a local Secret Manager stand-in (plaintext gRPC); empty: Google's.",
    )
    secret_cache_seconds: float = Field(
        300.0, ge=0, description="How long a secret value read from Secret Manager is reused in memory."
    )
    crm_jwt_jwks: str = Field(
        "",
        description="JSON Web Key Set holding the CRM backend's public signing keys (ES256 or RS256). "
        "Empty: every API call is refused (401).",
    )
    crm_jwt_issuer: str = Field("crm-backend", description="Required `iss` of the CRM backend's tokens.")
    crm_jwt_audience: str = Field(
        "crm-google-integration", description="Required `aud` of the CRM backend's tokens."
    )
    crm_jwt_max_lifetime_seconds: int = Field(
        3600, gt=0, description="Longest accepted span between a token's `iat` and `exp`."
    )
    crm_jwt_leeway_seconds: int = Field(
        30, ge=0, description="Clock skew tolerated on `exp`, `iat` and `nbf`."
    )
    max_request_bytes: int = Field(
        1_048_576, gt=0, description="Largest request body the HTTP functions accept (413 beyond it)."
    )
    sync_requests_topic: str = Field("sync-requests", description="Pub/Sub topic of sync requests.")
    outbound_requests_topic: str = Field(
        "outbound-requests", description="Pub/Sub topic of CRM-to-Google writes (send mail, calendar writes)."
    )
    purge_requests_topic: str = Field(
        "purge-requests", description="Pub/Sub topic of per-tenant purge requests."
    )
    pubsub_publish_timeout_seconds: float = Field(
        10.0, gt=0, description="How long a publish may wait for Pub/Sub's acknowledgement."
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read on first use. Tests call ``get_settings.cache_clear()``."""
    return Settings()
