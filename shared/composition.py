"""The composition root: builds each client once per instance, lazily, on first use.

A push handler that never touches Drive never pays for importing it. Tests build a ``Container`` with
their own settings, or call ``reset_container()`` after changing the environment.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from shared.config import Settings, get_settings
from shared.errors import IntegrationError

if TYPE_CHECKING:
    import flask
    from google.cloud.firestore import Client
    from google.oauth2.credentials import Credentials

    from shared.api.routing import Router
    from shared.auth.crm_token import CrmTokenVerifier
    from shared.auth.google_oidc import GoogleOidcVerifier
    from shared.connections.connect import ConnectFlow
    from shared.connections.lifecycle import ConnectionLifecycle
    from shared.connections.service import ConnectionService
    from shared.connections.watches import RenewalReport
    from shared.google_apis.gmail import GmailClient, GmailSyncClient
    from shared.google_apis.oauth import GoogleOAuthClient, TokenGrant
    from shared.messaging.pubsub import Publisher
    from shared.retention.nightly import FanOut, PurgeReport, PurgeRequest
    from shared.secrets import SecretStore
    from shared.storage.firestore import TenantScope
    from shared.tenants.service import TenantService
    from shared.vault import TokenVault

T = TypeVar("T")


class Container:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._built: dict[str, Any] = {}
        self._lock = threading.RLock()

    def _once(self, name: str, build: Callable[[], T]) -> T:
        with self._lock:  # instances may serve concurrent requests: build each client exactly once
            if name not in self._built:
                self._built[name] = build()
            return self._built[name]  # type: ignore[no-any-return]

    @property
    def firestore(self) -> Client:
        from shared.storage.firestore import build_firestore_client

        return self._once("firestore", lambda: build_firestore_client(self.settings))

    def tenant_scope(self, tenant_id: str) -> TenantScope:
        from shared.storage.firestore import TenantScope

        return TenantScope(self.firestore, tenant_id)

    @property
    def publisher(self) -> Publisher:
        from shared.messaging.pubsub import publisher_from_settings

        return self._once("publisher", lambda: publisher_from_settings(self.settings))

    @property
    def secrets(self) -> SecretStore:
        from shared.secrets import secret_store_from_settings

        return self._once("secrets", lambda: secret_store_from_settings(self.settings))

    @property
    def crm_tokens(self) -> CrmTokenVerifier:
        from shared.auth.crm_token import CrmTokenVerifier

        settings = self.settings
        return self._once(
            "crm_tokens",
            lambda: CrmTokenVerifier(
                jwks_json=settings.crm_jwt_jwks,
                issuer=settings.crm_jwt_issuer,
                audience=settings.crm_jwt_audience,
                max_lifetime_seconds=settings.crm_jwt_max_lifetime_seconds,
                leeway_seconds=settings.crm_jwt_leeway_seconds,
            ),
        )

    @property
    def tenants(self) -> TenantService:
        from shared.tenants.service import TenantService

        return self._once("tenants", lambda: TenantService(self.tenant_scope))

    @property
    def connections(self) -> ConnectionService:
        from shared.connections.service import ConnectionService

        return self._once("connections", lambda: ConnectionService(self.tenant_scope))

    @property
    def google_oauth(self) -> GoogleOAuthClient:
        from shared.google_apis.oauth import GoogleOAuthClient

        settings = self.settings
        return self._once(
            "google_oauth",
            lambda: GoogleOAuthClient(
                client_id=settings.google_oauth_client_id,
                client_secret=lambda: self.secrets.get_text(settings.google_oauth_client_secret_name).strip(),
                auth_uri=settings.google_oauth_auth_uri,
                token_uri=settings.google_oauth_token_uri,
                revoke_uri=settings.google_oauth_revoke_uri,
                certs_url=settings.google_oauth_certs_url,
            ),
        )

    @property
    def vault(self) -> TokenVault:
        from shared.vault import TokenVault

        secret_name = self.settings.token_key_secret_name
        return self._once("vault", lambda: TokenVault(self.secrets, key_secret_id=secret_name))

    def gmail(self, credentials: Credentials) -> GmailClient:
        from shared.google_apis.gmail import GmailClient

        return GmailClient(credentials, root_url=self.settings.google_api_root_url)

    def gmail_sync(
        self, tenant_id: str, connection_id: str, credentials: Credentials, **quota: Any
    ) -> GmailSyncClient:
        """The quota-aware Gmail client for one connection, paced by the settings' price list and
        quota (``quota`` overrides fields of QuotaSettings); ``invalid_grant`` turns the connection
        to needs-reconnect."""
        from shared.google_apis.gmail import GmailSyncClient
        from shared.google_apis.rate_limit import QuotaSettings

        settings = self.settings
        lifecycle = self.lifecycle
        return GmailSyncClient(
            credentials,
            root_url=settings.google_api_root_url or None,
            quota=QuotaSettings(
                price_list=settings.gmail_price_list,
                user_units_per_minute=settings.gmail_user_units_per_minute,
                max_in_flight=settings.gmail_max_in_flight,
                **quota,
            ),
            on_invalid_grant=lambda: lifecycle.mark_needs_reconnect(
                tenant_id, connection_id, reason="invalid_grant"
            ),
        )

    def request_gmail_sync(self, tenant_id: str, connection_id: str, *, reason: str) -> bool:
        """Queue a Gmail sync of the connection unless one is pending (coalesced over
        ``push_coalesce_seconds``); True when a request was published."""
        from shared.sync.pending import request_sync_once
        from shared.sync.requests import Source, SyncRequest
        from shared.tenants.service import utc_now

        request = SyncRequest(
            tenant_id=tenant_id, connection_id=connection_id, source=Source.GMAIL, reason=reason
        )
        return request_sync_once(
            self.tenant_scope(tenant_id),
            request,
            publisher=self.publisher,
            topic=self.settings.sync_requests_topic,
            window_seconds=self.settings.push_coalesce_seconds,
            clock=utc_now,
        )

    def _gmail_for_grant(self, grant: TokenGrant) -> GmailClient:
        credentials = self.google_oauth.credentials(
            str(grant.refresh_token), grant.granted_scopes, access_token=grant.access_token
        )
        return self.gmail(credentials)

    @property
    def connect_flow(self) -> ConnectFlow:
        from shared.connections.connect import ConnectFlow
        from shared.tenants.service import utc_now

        return self._once(
            "connect_flow",
            lambda: ConnectFlow(
                settings=self.settings,
                scope_for=self.tenant_scope,
                tenants=self.tenants,
                oauth=self.google_oauth,
                vault=lambda: self.vault,
                publisher=lambda: self.publisher,
                gmail_for=self._gmail_for_grant,
                clock=utc_now,
            ),
        )

    @property
    def lifecycle(self) -> ConnectionLifecycle:
        from shared.connections.lifecycle import ConnectionLifecycle
        from shared.tenants.service import utc_now

        return self._once(
            "lifecycle",
            lambda: ConnectionLifecycle(
                scope_for=self.tenant_scope,
                oauth=self.google_oauth,
                vault=lambda: self.vault,
                gmail_for=self.gmail,
                clock=utc_now,
            ),
        )

    def authenticate_scheduler(self, request: flask.Request) -> None:
        """Cloud Scheduler's OIDC token, unless Cloud Run IAM checks it (a setting; on by default)."""
        settings = self.settings
        self._authenticate_google_caller(
            request,
            "scheduler",
            settings.scheduler_auth,
            settings.scheduler_audiences,
            settings.scheduler_service_accounts,
        )

    def authenticate_push(self, request: flask.Request) -> None:
        """Pub/Sub push's OIDC token, unless Cloud Run IAM checks it (a setting; on by default)."""
        settings = self.settings
        self._authenticate_google_caller(
            request, "push", settings.push_auth, settings.push_audiences, settings.push_service_accounts
        )

    def _authenticate_google_caller(
        self, request: flask.Request, caller: str, mode: str, audiences: str, accounts: str
    ) -> None:
        if mode == "platform":
            return  # Cloud Run IAM verified the token (and strips its signature before we see it)
        if not (_split(audiences) and _split(accounts)):
            raise IntegrationError(
                f"{caller} authentication is not configured (audiences and service accounts).",
                code=f"{caller}_auth_not_configured",
            )
        verifier = self._once(
            f"{caller}_tokens",
            lambda: _oidc_verifier(audiences, accounts, self.settings.google_oauth_certs_url),
        )
        verifier.verify(request.headers.get("Authorization"))

    def renew_gmail_watches(self) -> RenewalReport:
        from datetime import timedelta

        from shared.connections.watches import renew_gmail_watches
        from shared.tenants.service import utc_now

        settings = self.settings

        def request_sync(tenant_id: str, connection_id: str) -> bool:
            return self.request_gmail_sync(tenant_id, connection_id, reason="safety_net")

        return renew_gmail_watches(
            firestore=self.firestore,
            scope_for=self.tenant_scope,
            tenants=self.tenants,
            lifecycle=self.lifecycle,
            gmail_for=self.gmail,
            request_sync=request_sync,
            topic=settings.gmail_push_topic,
            renew_within=timedelta(seconds=settings.watch_renew_within_seconds),
            safety_net_after=timedelta(seconds=settings.safety_net_after_seconds),
            clock=utc_now,
        )

    def fan_out_purge(self, *, dry_run: bool) -> FanOut:
        from shared.retention.nightly import fan_out
        from shared.tenants.service import tenant_ids, utc_now

        # One run id per night (a rerun the same night continues the same reports); dry runs apart.
        run_id = utc_now().strftime("%Y%m%d") + ("-dry" if dry_run else "")
        topic = self.settings.purge_requests_topic
        return fan_out(
            tenant_ids(self.firestore),
            run_id=run_id,
            dry_run=dry_run,
            publish=lambda request: self.publisher.publish(topic, request),
        )

    def run_purge(self, request: PurgeRequest) -> PurgeReport:
        from shared.retention.nightly import purge_tenant
        from shared.tenants.service import utc_now

        report = purge_tenant(
            self.tenant_scope(request.tenant_id),
            request,
            clock=utc_now,
            time_budget_seconds=self.settings.purge_time_budget_seconds,
        )
        if report.status == "continued":
            self.publisher.publish(self.settings.purge_requests_topic, request)
        return report

    @property
    def api_router(self) -> Router[Container]:
        from shared.api.endpoints import ROUTES
        from shared.api.routing import Router

        return self._once(
            "api_router",
            lambda: Router(
                ROUTES,
                services=lambda: self,
                verifier=lambda: self.crm_tokens,
                max_request_bytes=lambda: self.settings.max_request_bytes,
            ),
        )

    def configure_logging(self) -> None:
        from shared.structured_logging import configure_logging

        self._once(
            "logging",
            lambda: configure_logging(
                project=self.settings.google_cloud_project, level=self.settings.log_level
            ),
        )


def _oidc_verifier(audiences: str, accounts: str, certs_url: str) -> GoogleOidcVerifier:
    from shared.auth.google_oidc import GoogleOidcVerifier

    return GoogleOidcVerifier(
        audiences=_split(audiences), allowed_emails=_split(accounts), certs_url=certs_url
    )


def _split(values: str) -> list[str]:
    return [value.strip() for value in values.split(",") if value.strip()]


@lru_cache(maxsize=1)
def get_container() -> Container:
    return Container(get_settings())


def reset_container() -> None:
    """Forget the instance's settings and clients (tests, after changing the environment)."""
    get_settings.cache_clear()
    get_container.cache_clear()


def setup_instance() -> None:
    """Run by every entry point before it handles a call: configures logging once per instance.

    When the settings themselves cannot be read, logging is still set up (from the environment's
    project) before the error goes on, so its traceback, which quotes the offending values, passes the
    redaction net like every other line."""
    try:
        get_container().configure_logging()
    except Exception:
        from shared.structured_logging import configure_logging

        configure_logging(project=os.environ.get("GOOGLE_CLOUD_PROJECT", ""))
        raise
