"""The Gmail watch as a push channel of the registry (shared.sync.channels): Gmail publishes a mailbox's
changes to our topic for 7 days after ``users.watch``; calling it again renews the same watch."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from shared.mail.engine import MAILBOX
from shared.plans import Feature, PlanPolicy
from shared.sync.channels import Channel, ChannelGrant
from shared.sync.engine import SyncedConnection
from shared.sync.requests import Source


class WatchAnswer(Protocol):
    @property
    def history_id(self) -> str: ...

    @property
    def expires_at(self) -> datetime: ...


class GmailWatcher(Protocol):
    """What the watch needs from Gmail (shared.google_apis.gmail.GmailClient provides it)."""

    def watch(self, topic_name: str) -> WatchAnswer:
        """Start or renew the watch."""
        ...

    def stop(self) -> None: ...


class GmailWatchProvider:
    source = Source.GMAIL

    def __init__(self, *, topic: str, gmail_for: Callable[[str, SyncedConnection], GmailWatcher]) -> None:
        self._topic = topic  # projects/P/topics/T; empty: push is not set up, no watch is wanted
        self._gmail_for = gmail_for

    def wanted(self, connection: SyncedConnection, policy: PlanPolicy) -> list[str]:
        if self._topic and policy.allows(Feature.MAIL) and connection.enabled(Feature.MAIL):
            return [MAILBOX]
        return []

    def start(
        self, tenant_id: str, connection: SyncedConnection, partition: str, channel_id: str, token: str
    ) -> ChannelGrant:
        # Gmail's watch has no channel id or token of ours: the push carries only the address, and the
        # push subscription's OIDC token proves it came through our topic.
        answer = self._gmail_for(tenant_id, connection).watch(self._topic)
        return ChannelGrant(expires_at=answer.expires_at, details={"history_id": answer.history_id})

    def stop(self, tenant_id: str, connection: SyncedConnection, channel: Channel) -> None:
        self._gmail_for(tenant_id, connection).stop()
