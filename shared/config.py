"""Every setting the system reads: typed, validated and read from the environment once per process."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
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
    write_claim_seconds: float = Field(
        120.0,
        gt=0,
        description="How long a worker's claim on a write lasts; a crashed worker's write is retried then.",
    )
    purge_requests_topic: str = Field(
        "purge-requests", description="Pub/Sub topic of per-tenant purge requests."
    )
    pubsub_publish_timeout_seconds: float = Field(
        10.0, gt=0, description="How long a publish may wait for Pub/Sub's acknowledgement."
    )
    google_oauth_client_id: str = Field("", description="OAuth client id of this integration at Google.")
    google_oauth_client_secret_name: str = Field(
        "oauth-client-secret", description="Secret Manager secret holding the OAuth client secret."
    )
    token_key_secret_name: str = Field(
        "token-encryption-key",
        description="Secret Manager secret holding the AES-256 key of the token vault.",
    )
    google_oauth_auth_uri: str = Field(
        "https://accounts.google.com/o/oauth2/v2/auth", description="Google's authorization endpoint."
    )
    google_oauth_token_uri: str = Field(
        "https://oauth2.googleapis.com/token", description="Google's token endpoint."
    )
    google_oauth_revoke_uri: str = Field(
        "https://oauth2.googleapis.com/revoke", description="Google's token revocation endpoint."
    )
    google_oauth_certs_url: str = Field(
        "https://www.googleapis.com/oauth2/v1/certs", description="Google's ID-token signing certificates."
    )
    google_api_root_url: str = Field(
        "",
        description="Replaces Google's root URL in discovery documents (the local stand-in); empty: Google.",
    )
    oauth_callback_url: str = Field(
        "",
        description="Public URL of the oauth_callback function; Google redirects to `<this>/callback`, "
        "which must be registered as the client's redirect URI.",
    )
    crm_return_origins: str = Field(
        "",
        description="Comma-separated origins (https://crm.example.com) a CRM return URL may point at.",
    )
    oauth_state_ttl_seconds: int = Field(600, gt=0, description="How long a connect attempt may take.")
    mail_read_state_write_back: bool = Field(
        False,
        description="Ask for gmail.modify at connect and write read state set in the CRM back to Gmail.",
    )
    gmail_push_topic: str = Field(
        "",
        description="Full name of the topic Gmail publishes to (projects/P/topics/T); empty: no Gmail watch.",
    )
    calendar_push_url: str = Field(
        "",
        description="calendar_push's public HTTPS URL, where Calendar channels POST; empty: no channels.",
    )
    calendar_channel_ttl_seconds: int = Field(
        604800, gt=0, description="How long a Calendar channel is asked to live (Google's default: 7 days)."
    )
    calendar_sync_days_back: int = Field(
        30, ge=0, le=3650, description="A calendar's first (full) sync lists events from this many days ago."
    )
    calendar_sync_days_ahead: int = Field(365, ge=1, le=3650, description="... up to this many days ahead.")
    calendar_user_requests_per_minute: int | None = Field(
        None, gt=0, description="Per-user Calendar budget the clients pace to; empty: Google's 600."
    )
    calendar_list_page_size: int = Field(
        2500, gt=0, le=2500, description="Events per events.list page (Google allows 2,500)."
    )
    calendar_max_in_flight: int = Field(
        10, gt=0, description="Calendar requests one connection keeps in flight at most."
    )
    drive_push_url: str = Field(
        "",
        description="drive_push's public HTTPS URL, where Drive changes channels POST; empty: no channels.",
    )
    drive_channel_ttl_seconds: int = Field(
        604800, gt=0, description="How long a Drive changes channel is asked to live."
    )
    scheduler_audiences: str = Field(
        "",
        description="Comma-separated audiences accepted on Cloud Scheduler's tokens (the function URLs).",
    )
    scheduler_service_accounts: str = Field(
        "", description="Comma-separated service accounts allowed to call the scheduled functions."
    )
    push_audiences: str = Field("", description="Comma-separated audiences accepted on Pub/Sub push tokens.")
    push_service_accounts: str = Field(
        "", description="Comma-separated service accounts whose Pub/Sub push tokens gmail_push accepts."
    )
    push_auth: Literal["oidc", "platform"] = Field(
        "oidc",
        description="`oidc`: verify Pub/Sub push tokens in code; `platform`: leave it to Cloud Run IAM.",
    )
    push_coalesce_seconds: float = Field(
        30.0, gt=0, description="After a push queues a sync, further pushes for the mailbox wait this long."
    )
    sync_time_budget_seconds: float = Field(
        420.0, gt=0, description="A sync run stops and queues its continuation after this long."
    )
    sync_lease_seconds: float = Field(
        600.0, gt=0, description="How long a sync's lease lasts; a crashed holder blocks others no longer."
    )
    gmail_price_list: Literal["2026-05", "legacy"] = Field(
        "2026-05", description="Gmail quota prices: `2026-05` (projects from 2026-05-01) or `legacy`."
    )
    gmail_user_units_per_minute: int | None = Field(
        None, gt=0, description="Per-user Gmail budget the sync paces itself to; empty: the price list's."
    )
    gmail_max_in_flight: int = Field(10, gt=0, description="Gmail requests one sync keeps in flight at most.")
    gmail_list_page_size: int = Field(
        500, gt=0, le=500, description="Message ids per list page in a full sync (Gmail allows 500)."
    )
    safety_net_after_seconds: int = Field(
        3600, gt=0, description="renew_watches queues a sync for connections without success for this long."
    )
    watch_renew_within_seconds: int = Field(
        172800, gt=0, description="renew_watches renews watches and channels that end within this long."
    )
    purge_time_budget_seconds: float = Field(
        420.0, gt=0, description="A tenant's purge stops and queues its continuation after this long."
    )
    crash_points: str = Field(
        "", description="Local tests only: comma-separated named points where a sync crashes on purpose."
    )
    scheduler_auth: Literal["oidc", "platform"] = Field(
        "oidc",
        description="`oidc`: verify Cloud Scheduler's token in code; `platform`: leave it to Cloud Run IAM.",
    )

    @model_validator(mode="after")
    def _local_only(self) -> Settings:
        if self.crash_points and self.environment != "local":
            raise ValueError("crash_points may only be set when ENVIRONMENT is local")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read on first use. Tests call ``get_settings.cache_clear()``."""
    return Settings()
