"""The registry of push channels with a fake provider: reconcile starts what is missing, renews what
ends soon (replacing a channel that cannot be renewed in place), stops what is no longer wanted; tokens
are kept only as hashes and checked in constant time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from shared.errors import NeedsReconnect, Retryable
from shared.plans import PLAN_POLICIES, Feature, Plan, PlanPolicy
from shared.storage.memory import MemoryStore
from shared.storage.scope import TenantScope
from shared.sync.channels import Channel, ChannelGrant, ChannelRegistry
from shared.sync.engine import SyncedConnection
from shared.sync.requests import Source
from tests.fakes import TENANT, Clock, FakeConnection

STANDARD = PLAN_POLICIES[Plan.STANDARD]


@dataclass
class FakeProvider:
    """Calendar-like: one channel per calendar, ended by Google, never renewed in place."""

    clock: Clock
    source: Source = Source.CALENDAR
    partitions: list[str] = field(default_factory=lambda: ["primary"])
    started: list[tuple[str, str, str]] = field(default_factory=list)  # (partition, channel id, token)
    stopped: list[str] = field(default_factory=list)
    fail: Exception | None = None

    def wanted(self, connection: SyncedConnection, policy: PlanPolicy) -> list[str]:
        return (
            self.partitions
            if connection.enabled(Feature.CALENDAR) and policy.allows(Feature.CALENDAR)
            else []
        )

    def start(
        self, tenant_id: str, connection: SyncedConnection, partition: str, channel_id: str, token: str
    ) -> ChannelGrant:
        if self.fail is not None:
            raise self.fail
        self.started.append((partition, channel_id, token))
        return ChannelGrant(expires_at=self.clock.now + timedelta(days=7), resource_id=f"res-{channel_id}")

    def stop(self, tenant_id: str, connection: SyncedConnection, channel: Channel) -> None:
        self.stopped.append(channel.channel_id)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def provider(clock: Clock) -> FakeProvider:
    return FakeProvider(clock)


@pytest.fixture
def registry(provider: FakeProvider, clock: Clock) -> ChannelRegistry:
    store = MemoryStore()
    return ChannelRegistry(
        scope_for=lambda tenant_id: TenantScope(store, tenant_id),
        providers={Source.CALENDAR: provider},
        renew_within=timedelta(days=2),
        clock=clock,
    )


@pytest.fixture
def connection() -> FakeConnection:
    return FakeConnection(features={Feature.CALENDAR})


def test_a_missing_channel_is_started_and_stored_without_its_token(
    registry: ChannelRegistry, provider: FakeProvider, connection: FakeConnection
) -> None:
    report = registry.reconcile(TENANT, connection, STANDARD)
    assert (report.started, report.renewed, report.stopped) == (1, 0, 0)
    (channel,) = registry.of_connection(TENANT, connection.connection_id)
    (_, channel_id, token) = provider.started[0]
    assert channel.channel_id == channel_id
    assert channel.resource_id == f"res-{channel_id}"
    assert token not in channel.model_dump_json()
    assert channel.token_matches(token)
    assert not channel.token_matches(token + "x")
    assert registry.reconcile(TENANT, connection, STANDARD).started == 0  # a repeat does nothing


def test_a_channel_ending_soon_is_replaced_and_the_old_one_stopped(
    registry: ChannelRegistry, provider: FakeProvider, connection: FakeConnection, clock: Clock
) -> None:
    registry.reconcile(TENANT, connection, STANDARD)
    first = registry.of_connection(TENANT, connection.connection_id)[0]
    clock.advance(days=6)
    report = registry.reconcile(TENANT, connection, STANDARD)
    assert report.renewed == 1
    (renewed,) = registry.of_connection(TENANT, connection.connection_id)
    assert renewed.channel_id != first.channel_id
    assert renewed.expires_at - clock.now == timedelta(days=7)
    assert (renewed.started_at, renewed.renewed_at) == (first.started_at, clock.now)
    assert provider.stopped == [first.channel_id]


def test_a_channel_no_longer_wanted_is_stopped_and_forgotten(
    registry: ChannelRegistry, provider: FakeProvider, connection: FakeConnection
) -> None:
    registry.reconcile(TENANT, connection, STANDARD)
    connection.features = set()
    assert registry.reconcile(TENANT, connection, STANDARD).stopped == 1
    assert registry.of_connection(TENANT, connection.connection_id) == []
    assert len(provider.stopped) == 1


def test_a_failed_start_is_counted_and_the_rest_go_on(
    registry: ChannelRegistry, provider: FakeProvider, connection: FakeConnection
) -> None:
    provider.partitions = ["primary", "team"]
    provider.fail = Retryable("Calendar answered 503.")
    assert registry.reconcile(TENANT, connection, STANDARD).failed == 2
    provider.fail = None
    assert registry.reconcile(TENANT, connection, STANDARD).started == 2


def test_a_dead_grant_stops_the_reconcile(
    registry: ChannelRegistry, provider: FakeProvider, connection: FakeConnection
) -> None:
    provider.fail = NeedsReconnect("Google refused the stored grant.", code="invalid_grant")
    with pytest.raises(NeedsReconnect):
        registry.reconcile(TENANT, connection, STANDARD)


def test_forgetting_calls_no_google_and_stopping_calls_it_once_per_channel(
    registry: ChannelRegistry, provider: FakeProvider, connection: FakeConnection
) -> None:
    provider.partitions = ["primary", "team"]
    registry.reconcile(TENANT, connection, STANDARD)
    registry.forget_all(TENANT, connection.connection_id)
    assert registry.of_connection(TENANT, connection.connection_id) == []
    assert provider.stopped == []
    registry.reconcile(TENANT, connection, STANDARD)
    registry.stop_all(TENANT, connection)
    assert len(provider.stopped) == 2
    assert registry.of_connection(TENANT, connection.connection_id) == []


def test_a_connection_that_needs_reconnecting_wants_no_channel(
    registry: ChannelRegistry, provider: FakeProvider, connection: FakeConnection
) -> None:
    connection.active = False
    assert registry.reconcile(TENANT, connection, STANDARD).started == 0
    assert provider.started == []
