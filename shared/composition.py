"""The composition root: builds each collaborator once per instance, lazily, on first use, and nothing
else (no use-case logic lives here).

A push handler that never touches Drive never pays for importing it. Tests build a ``Container`` with
their own settings, or call ``reset_container()`` after changing the environment.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from shared.clock import utc_now
from shared.config import Settings, get_settings

if TYPE_CHECKING:
    from shared.api.routing import Router
    from shared.auth.crm_token import CrmTokenVerifier
    from shared.calendar.selection import CalendarSelection
    from shared.connections.connect import ConnectFlow
    from shared.connections.grants import Grants
    from shared.connections.lifecycle import ConnectionLifecycle
    from shared.connections.plan_effects import PlanEffects
    from shared.connections.records import ConnectionRecord
    from shared.connections.service import ConnectionService
    from shared.google_apis.calendar import CalendarClient
    from shared.google_apis.drive import DriveClient
    from shared.google_apis.gmail import GmailClient
    from shared.google_apis.oauth import GoogleOAuthClient
    from shared.google_apis.oidc import GoogleCallerAuth
    from shared.mail.push import GmailPushHandler
    from shared.mail.uploads import Uploads
    from shared.messaging.ports import Publisher
    from shared.retention.nightly import NightlyPurge
    from shared.secrets import SecretStore
    from shared.storage.documents import DocumentStore
    from shared.storage.scope import TenantScope
    from shared.sync.activation import SyncActivation
    from shared.sync.channels import ChannelRegistry
    from shared.sync.engine import SyncedConnection, SyncEngine
    from shared.sync.requester import SyncRequester
    from shared.sync.requests import Source
    from shared.sync.rounds import DailyRound
    from shared.sync.runner import SyncRunner
    from shared.sync.webhook import ChannelWebhook
    from shared.tenants.service import TenantService
    from shared.vault import TokenVault
    from shared.writes.dispatcher import WriteDispatcher
    from shared.writes.outbox import Outbox

T = TypeVar("T")
# Quota settings of a Google call someone waits for (an API request): fewer, shorter retries, then 503.
QUICK: dict[str, Any] = {"max_attempts": 3, "backoff_max_seconds": 4.0}


class Container:
    def __init__(
        self, settings: Settings, *, store: DocumentStore | None = None, publisher: Publisher | None = None
    ) -> None:
        self.settings = settings
        self._built: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._user_limits: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        if store is not None:  # unit tests: the in-memory store and publisher
            self._built["store"] = store
        if publisher is not None:
            self._built["publisher"] = publisher

    def _once(self, name: str, build: Callable[[], T]) -> T:
        with self._lock:  # instances may serve concurrent requests: build each exactly once
            if name not in self._built:
                self._built[name] = build()
            return self._built[name]  # type: ignore[no-any-return]

    # --- external systems -------------------------------------------------------------------------------

    @property
    def store(self) -> DocumentStore:
        from shared.storage.firestore import build_firestore_store

        return self._once("store", lambda: build_firestore_store(self.settings))

    def tenant_scope(self, tenant_id: str) -> TenantScope:
        from shared.storage.scope import TenantScope

        return TenantScope(self.store, tenant_id)

    def tenant_ids(self) -> list[str]:
        from shared.storage.scope import tenant_ids

        return tenant_ids(self.store)

    @property
    def publisher(self) -> Publisher:
        from shared.messaging.pubsub import publisher_from_settings

        return self._once("publisher", lambda: publisher_from_settings(self.settings))

    @property
    def secrets(self) -> SecretStore:
        from shared.secrets import secret_store_from_settings

        return self._once("secrets", lambda: secret_store_from_settings(self.settings))

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

    def gmail_for(self, tenant_id: str, connection: SyncedConnection, **quota: Any) -> GmailClient:
        """The Gmail client of one connection's current grant, paced by the settings' price list and
        quota (``quota`` overrides fields of QuotaSettings); a grant Google refuses is reported to
        ``grants``, the one place that handles it."""
        from shared.google_apis.gmail import GmailClient
        from shared.google_apis.rate_limit import QuotaSettings

        access = self.grants.access(tenant_id, connection)  # NeedsReconnect when the grant is gone
        settings = self.settings
        limits = QuotaSettings(
            price_list=settings.gmail_price_list,
            user_units_per_minute=settings.gmail_user_units_per_minute,
            max_in_flight=settings.gmail_max_in_flight,
            **quota,
        )
        bucket, in_flight = self._limits_of(tenant_id, connection, limits)
        return GmailClient(
            access.credentials,
            root_url=settings.google_api_root_url or None,
            quota=limits,
            bucket=bucket,
            in_flight=in_flight,
            on_invalid_grant=access.on_dead,
        )

    def calendar_for(self, tenant_id: str, connection: SyncedConnection, **quota: Any) -> CalendarClient:
        """The Calendar client of one connection's current grant, paced to Calendar's 600 requests per
        user per minute (``quota`` overrides fields of QuotaSettings)."""
        from shared.google_apis.calendar import CalendarClient
        from shared.google_apis.rate_limit import QuotaSettings

        access = self.grants.access(tenant_id, connection)
        limits = QuotaSettings(
            api="calendar",
            user_units_per_minute=self.settings.calendar_user_requests_per_minute,
            max_in_flight=self.settings.calendar_max_in_flight,
            **quota,
        )
        bucket, in_flight = self._limits_of(tenant_id, connection, limits)
        return CalendarClient(
            access.credentials,
            root_url=self.settings.google_api_root_url or None,
            quota=limits,
            bucket=bucket,
            in_flight=in_flight,
            on_invalid_grant=access.on_dead,
        )

    def drive_for(self, tenant_id: str, connection: SyncedConnection, **quota: Any) -> DriveClient:
        """The Drive client of one connection's current grant, paced to Drive's per-user units."""
        from shared.google_apis.drive import DriveClient
        from shared.google_apis.rate_limit import QuotaSettings

        access = self.grants.access(tenant_id, connection)
        limits = QuotaSettings(api="drive", **quota)
        bucket, in_flight = self._limits_of(tenant_id, connection, limits)
        return DriveClient(
            access.credentials,
            root_url=self.settings.google_api_root_url or None,
            quota=limits,
            bucket=bucket,
            in_flight=in_flight,
            on_invalid_grant=access.on_dead,
        )

    def _limits_of(self, tenant_id: str, connection: SyncedConnection, limits: Any) -> tuple[Any, Any]:
        """One budget per user and API in this instance: every client of it (a sync, writes, downloads,
        channels) draws on the same quota window and in-flight cap."""
        from shared.google_apis.rate_limit import InFlightLimit

        with self._lock:
            return self._user_limits.setdefault(
                (tenant_id, connection.connection_id, limits.api),
                (limits.bucket(), InFlightLimit(limits.max_in_flight)),
            )

    def _connection_of(self, tenant_id: str, connection_id: str) -> ConnectionRecord | None:
        return self.lifecycle.find(tenant_id, connection_id)

    # --- who calls ------------------------------------------------------------------------------------

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
    def scheduler_auth(self) -> GoogleCallerAuth:
        """Cloud Scheduler's OIDC token, unless Cloud Run IAM checks it (a setting; on by default)."""
        settings = self.settings
        return self._once(
            "scheduler_auth",
            lambda: _caller_auth(
                "scheduler",
                settings.scheduler_auth,
                settings.scheduler_audiences,
                settings.scheduler_service_accounts,
                settings,
            ),
        )

    @property
    def push_auth(self) -> GoogleCallerAuth:
        """Pub/Sub push's OIDC token, unless Cloud Run IAM checks it (a setting; on by default)."""
        settings = self.settings
        return self._once(
            "push_auth",
            lambda: _caller_auth(
                "push", settings.push_auth, settings.push_audiences, settings.push_service_accounts, settings
            ),
        )

    # --- tenants and connections ------------------------------------------------------------------------

    @property
    def tenants(self) -> TenantService:
        from shared.tenants.service import TenantService

        return self._once("tenants", lambda: TenantService(self.tenant_scope))

    @property
    def vault(self) -> TokenVault:
        from shared.vault import TokenVault

        secret_name = self.settings.token_key_secret_name
        return self._once("vault", lambda: TokenVault(self.secrets, key_secret_id=secret_name))

    @property
    def grants(self) -> Grants:
        from shared.connections.grants import Grants

        return self._once(
            "grants",
            lambda: Grants(
                scope_for=self.tenant_scope,
                oauth=self.google_oauth,
                vault=lambda: self.vault,
                on_dead=lambda: self.lifecycle.grant_died,
            ),
        )

    @property
    def lifecycle(self) -> ConnectionLifecycle:
        from shared.calendar.store import purge_connection_events
        from shared.connections.lifecycle import ConnectionLifecycle
        from shared.drive.attachments import mark_access_lost
        from shared.retention.purge import purge_connection_copies

        def purge_copies(scope: TenantScope, connection_id: str) -> int:
            """Mail and events the connection synced go (unless attached); Drive files, which are
            links, stay marked access_lost."""
            mark_access_lost(scope, connection_id)
            return purge_connection_copies(scope, connection_id) + purge_connection_events(
                scope, connection_id
            )

        return self._once(
            "lifecycle",
            lambda: ConnectionLifecycle(
                scope_for=self.tenant_scope,
                grants=self.grants,
                revoke=self.google_oauth.revoke,
                channels=lambda: self.channels,
                purge_copies=purge_copies,
                clock=utc_now,
            ),
        )

    @property
    def connections(self) -> ConnectionService:
        from shared.connections.service import ConnectionService

        return self._once(
            "connections",
            lambda: ConnectionService(self.tenant_scope, channels=lambda: self.channels, clock=utc_now),
        )

    @property
    def connect_flow(self) -> ConnectFlow:
        from shared.connections.connect import ConnectFlow

        return self._once(
            "connect_flow",
            lambda: ConnectFlow(
                settings=self.settings,
                scope_for=self.tenant_scope,
                tenants=self.tenants,
                oauth=self.google_oauth,
                vault=lambda: self.vault,
                grants=self.grants,
                on_connected=lambda tenant_id, connection, plan: self.activation.activate(
                    tenant_id, connection, plan, reason="connected"
                ),
                clock=utc_now,
            ),
        )

    @property
    def plan_effects(self) -> PlanEffects:
        from shared.connections.plan_effects import PlanEffects

        return self._once(
            "plan_effects",
            lambda: PlanEffects(
                scope_for=self.tenant_scope,
                activation=self.activation,
                write_back=self.settings.mail_read_state_write_back,
            ),
        )

    # --- the sync engine ----------------------------------------------------------------------------------

    @property
    def engines(self) -> dict[Source, SyncEngine]:
        from shared.calendar.engine import CalendarSyncEngine
        from shared.drive.engine import DriveSyncEngine
        from shared.mail.engine import GmailSyncEngine

        def build() -> dict[Source, SyncEngine]:
            gmail = GmailSyncEngine(gmail_for=self.gmail_for, page_size=self.settings.gmail_list_page_size)
            calendar = CalendarSyncEngine(
                calendar_for=self.calendar_for,
                days_back=self.settings.calendar_sync_days_back,
                days_ahead=self.settings.calendar_sync_days_ahead,
                page_size=self.settings.calendar_list_page_size,
            )
            drive = DriveSyncEngine(drive_for=self.drive_for)
            return {gmail.source: gmail, calendar.source: calendar, drive.source: drive}

        return self._once("engines", build)

    @property
    def channels(self) -> ChannelRegistry:
        from shared.calendar.watch import CalendarChannelProvider
        from shared.drive.watch import DriveChannelProvider
        from shared.mail.watch import GmailWatchProvider
        from shared.sync.channels import ChannelProvider, ChannelRegistry

        def build() -> ChannelRegistry:
            gmail = GmailWatchProvider(topic=self.settings.gmail_push_topic, gmail_for=self.gmail_for)
            calendar = CalendarChannelProvider(
                address=self.settings.calendar_push_url,
                ttl_seconds=self.settings.calendar_channel_ttl_seconds,
                calendar_for=self.calendar_for,
            )
            drive = DriveChannelProvider(
                address=self.settings.drive_push_url,
                ttl_seconds=self.settings.drive_channel_ttl_seconds,
                drive_for=self.drive_for,
            )
            providers: dict[Source, ChannelProvider] = {
                gmail.source: gmail,
                calendar.source: calendar,
                drive.source: drive,
            }
            return ChannelRegistry(
                scope_for=self.tenant_scope,
                providers=providers,
                renew_within=timedelta(seconds=self.settings.watch_renew_within_seconds),
                clock=utc_now,
            )

        return self._once("channels", build)

    @property
    def requester(self) -> SyncRequester:
        from shared.connections.records import connection_ref
        from shared.sync.requester import SyncRequester

        return self._once(
            "requester",
            lambda: SyncRequester(
                scope_for=self.tenant_scope,
                connection_ref=connection_ref,
                publisher=lambda: self.publisher,
                topic=self.settings.sync_requests_topic,
                coalesce_seconds=self.settings.push_coalesce_seconds,
                clock=utc_now,
            ),
        )

    @property
    def activation(self) -> SyncActivation:
        from shared.sync.activation import SyncActivation

        return self._once(
            "activation",
            lambda: SyncActivation(
                engines=self.engines, channels=lambda: self.channels, requester=lambda: self.requester
            ),
        )

    @property
    def sync_runner(self) -> SyncRunner:
        from shared.sync.runner import SyncRunner

        return self._once(
            "sync_runner",
            lambda: SyncRunner(
                engines=self.engines,
                scope_for=self.tenant_scope,
                plan_of=self.tenants.plan_of,
                connection_of=self._connection_of,
                requester=self.requester,
                lease_seconds=self.settings.sync_lease_seconds,
                time_budget_seconds=self.settings.sync_time_budget_seconds,
                clock=utc_now,
            ),
        )

    @property
    def daily_round(self) -> DailyRound:
        from shared.connections.service import active_connections
        from shared.sync.rounds import DailyRound

        return self._once(
            "daily_round",
            lambda: DailyRound(
                tenant_ids=self.tenant_ids,
                plan_of=lambda tenant_id: self.tenants.get(tenant_id).plan,
                active_connections=lambda tenant_id: active_connections(self.tenant_scope(tenant_id)),
                scope_for=self.tenant_scope,
                activation=self.activation,
                channels=self.channels,
                requester=self.requester,
                safety_net_after=timedelta(seconds=self.settings.safety_net_after_seconds),
                clock=utc_now,
            ),
        )

    @property
    def gmail_push(self) -> GmailPushHandler:
        from shared.connections.service import connections_by_email
        from shared.mail.push import GmailPushHandler

        return self._once(
            "gmail_push",
            lambda: GmailPushHandler(
                connections_of=lambda email: connections_by_email(self.store, email),
                requester=lambda: self.requester,
            ),
        )

    @property
    def calendar_push(self) -> ChannelWebhook:
        from shared.calendar.calendars import calendar_synced
        from shared.sync.requests import Source

        return self._once("calendar_push", lambda: self._webhook(Source.CALENDAR, calendar_synced))

    @property
    def drive_push(self) -> ChannelWebhook:
        from shared.drive.watch import drive_synced
        from shared.sync.requests import Source

        return self._once("drive_push", lambda: self._webhook(Source.DRIVE, drive_synced))

    def _webhook(self, source: Source, synced: Callable[[Any, Any], bool]) -> ChannelWebhook:
        from shared.sync.channels import channel_by_id, note_message
        from shared.sync.webhook import ChannelWebhook

        return ChannelWebhook(
            source=source,
            synced=synced,
            find_channel=lambda channel_id: channel_by_id(self.store, channel_id),
            note_message=lambda tenant_id, channel, number, version: note_message(
                self.tenant_scope(tenant_id), channel, number, version
            ),
            connection_of=self._connection_of,
            requester=lambda: self.requester,
            clock=utc_now,
        )

    @property
    def calendar_selection(self) -> CalendarSelection:
        from shared.calendar.selection import CalendarSelection

        return self._once(
            "calendar_selection",
            lambda: CalendarSelection(
                connection_of=self._connection_of,
                calendar_for=lambda tenant_id, connection: self.calendar_for(tenant_id, connection, **QUICK),
                scope_for=self.tenant_scope,
                plan_of=self.tenants.plan_of,
                channels=lambda: self.channels,
                requester=lambda: self.requester,
                clock=utc_now,
            ),
        )

    # --- the write path ------------------------------------------------------------------------------------

    @property
    def outbox(self) -> Outbox:
        from shared.writes.outbox import Outbox

        return self._once(
            "outbox",
            lambda: Outbox(
                scope_for=self.tenant_scope,
                publisher=lambda: self.publisher,
                topic=self.settings.outbound_requests_topic,
                clock=utc_now,
            ),
        )

    @property
    def uploads(self) -> Uploads:
        from shared.mail.uploads import Uploads

        return self._once("uploads", lambda: Uploads(scope_for=self.tenant_scope, clock=utc_now))

    @property
    def write_dispatcher(self) -> WriteDispatcher:
        from shared.calendar.writes import calendar_operations
        from shared.mail.sending import SendMessage
        from shared.mail.writes import ModifyLabels
        from shared.writes.dispatcher import WriteDispatcher, WriteOperation

        def build() -> WriteDispatcher:
            modify = ModifyLabels(
                connection_of=self._connection_of,
                gmail_for=self.gmail_for,
                scope_for=self.tenant_scope,
                write_back=self.settings.mail_read_state_write_back,
                clock=utc_now,
            )
            send = SendMessage(
                connection_of=self._connection_of,
                gmail_for=self.gmail_for,
                drive_for=self.drive_for,
                uploads=self.uploads,
                scope_for=self.tenant_scope,
                clock=utc_now,
            )
            operations: dict[str, WriteOperation] = {modify.name: modify, send.name: send}
            for operation in calendar_operations(
                connection_of=self._connection_of,
                calendar_for=self.calendar_for,
                scope_for=self.tenant_scope,
                clock=utc_now,
            ):
                operations[operation.name] = operation
            return WriteDispatcher(
                operations=operations,
                scope_for=self.tenant_scope,
                claim_seconds=self.settings.write_claim_seconds,
                clock=utc_now,
            )

        return self._once("write_dispatcher", build)

    # --- retention ---------------------------------------------------------------------------------------

    @property
    def nightly_purge(self) -> NightlyPurge:
        from shared.retention.nightly import NightlyPurge

        return self._once(
            "nightly_purge",
            lambda: NightlyPurge(
                tenant_ids=self.tenant_ids,
                scope_for=self.tenant_scope,
                publisher=lambda: self.publisher,
                topic=self.settings.purge_requests_topic,
                time_budget_seconds=self.settings.purge_time_budget_seconds,
                clock=utc_now,
            ),
        )

    # --- the API ---------------------------------------------------------------------------------------

    @property
    def api_router(self) -> Router:
        return self._once("api_router", self._build_router)

    def _build_router(self) -> Router:
        from shared.api import health
        from shared.api.routing import Router, mount
        from shared.calendar import routes as calendar_routes
        from shared.calendar.writes import CalendarWrites
        from shared.connections import routes as connection_routes
        from shared.drive import routes as drive_routes
        from shared.drive.attachments import DriveAttachments
        from shared.mail import routes as mail_routes
        from shared.mail.sending import OutboundMail
        from shared.mail.writes import LabelChanges
        from shared.retention import routes as retention_routes
        from shared.tenants import routes as tenant_routes
        from shared.writes import routes as write_routes

        def mail_api() -> mail_routes.MailApi:
            return mail_routes.MailApi(
                tenants=self.tenants,
                scope_for=self.tenant_scope,
                attachments_of=lambda tenant_id, user_id: self.gmail_for(
                    tenant_id, self.lifecycle.get(tenant_id, user_id), **QUICK
                ),
                labels=LabelChanges(
                    outbox=self.outbox,
                    connection_of=self._connection_of,
                    gmail_for=lambda tenant_id, connection: self.gmail_for(tenant_id, connection, **QUICK),
                    scope_for=self.tenant_scope,
                    write_back=self.settings.mail_read_state_write_back,
                ),
                outbound=OutboundMail(
                    outbox=self.outbox,
                    uploads=self.uploads,
                    connection_of=self._connection_of,
                    scope_for=self.tenant_scope,
                ),
                uploads=self.uploads,
            )

        return Router(
            [
                *mount(health.ROUTES, lambda: None),
                *mount(
                    tenant_routes.ROUTES,
                    lambda: tenant_routes.TenantApi(
                        tenants=self.tenants, apply_plan_change=self.plan_effects.apply
                    ),
                ),
                *mount(
                    connection_routes.ROUTES,
                    lambda: connection_routes.ConnectionApi(
                        tenants=self.tenants,
                        connections=self.connections,
                        connect_flow=self.connect_flow,
                        lifecycle=self.lifecycle,
                    ),
                ),
                *mount(mail_routes.ROUTES, lambda: self._once("mail_api", mail_api)),
                *mount(
                    calendar_routes.ROUTES,
                    lambda: self._once(
                        "calendar_api",
                        lambda: calendar_routes.CalendarApi(
                            tenants=self.tenants,
                            scope_for=self.tenant_scope,
                            selection=self.calendar_selection,
                            writes=CalendarWrites(
                                outbox=self.outbox,
                                connection_of=self._connection_of,
                                scope_for=self.tenant_scope,
                                clock=utc_now,
                            ),
                        ),
                    ),
                ),
                *mount(
                    drive_routes.ROUTES,
                    lambda: self._once(
                        "drive_api",
                        lambda: drive_routes.DriveApi(
                            tenants=self.tenants,
                            scope_for=self.tenant_scope,
                            attachments=DriveAttachments(
                                connection_of=self._connection_of,
                                drive_for=lambda tenant_id, connection: self.drive_for(
                                    tenant_id, connection, **QUICK
                                ),
                                scope_for=self.tenant_scope,
                                outbox=self.outbox,
                                clock=utc_now,
                            ),
                            connection_of=self._connection_of,
                            exporter_of=lambda tenant_id, connection: self.drive_for(
                                tenant_id, connection, **QUICK
                            ),
                        ),
                    ),
                ),
                *mount(write_routes.ROUTES, lambda: write_routes.WritesApi(outbox=self.outbox)),
                *mount(
                    retention_routes.ROUTES,
                    lambda: retention_routes.RetentionApi(tenants=self.tenants, scope_for=self.tenant_scope),
                ),
            ],
            verifier=lambda: self.crm_tokens,
            max_request_bytes=lambda: self.settings.max_request_bytes,
        )

    def configure_logging(self) -> None:
        from shared.structured_logging import configure_logging

        self._once(
            "logging",
            lambda: configure_logging(
                project=self.settings.google_cloud_project, level=self.settings.log_level
            ),
        )


def _caller_auth(
    caller: str, mode: str, audiences: str, accounts: str, settings: Settings
) -> GoogleCallerAuth:
    from shared.google_apis.oidc import GoogleCallerAuth

    return GoogleCallerAuth(
        caller=caller,
        mode=mode,
        audiences=_split(audiences),
        accounts=_split(accounts),
        certs_url=settings.google_oauth_certs_url,
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
