"""The composition root: builds each client once per instance, lazily, on first use.

A push handler that never touches Drive never pays for importing it. Tests build a ``Container`` with
their own settings, or call ``reset_container()`` after changing the environment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from shared.config import Settings, get_settings

if TYPE_CHECKING:
    from google.cloud.firestore import Client

    from shared.api.routing import Router
    from shared.auth.crm_token import CrmTokenVerifier
    from shared.connections.service import ConnectionService
    from shared.messaging.pubsub import Publisher
    from shared.secrets import SecretStore
    from shared.storage.firestore import TenantScope
    from shared.tenants.service import TenantService

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


@lru_cache(maxsize=1)
def get_container() -> Container:
    return Container(get_settings())


def reset_container() -> None:
    """Forget the instance's settings and clients (tests, after changing the environment)."""
    get_settings.cache_clear()
    get_container.cache_clear()


def setup_instance() -> None:
    """Run by every entry point before it handles a call: configures logging once per instance."""
    get_container().configure_logging()
