"""Drive push: channels opened by changes.watch and closed by Drive's channels.stop, on the stand-in's
one channel registry (push_channels.py, which Calendar shares).

``sync`` once when a channel opens, then ``change`` for every change to the account's files that the
watching token could list with changes.list (a drive.file token's channel hears only of the app's
files). Each ``change`` carries X-Goog-Changed (``content``, ``parents``, ``permissions``,
``properties``) when the change is an edit of an existing file; creations and deletions carry none.
Google documents the header for files.watch; whether changes channels send it is unverified, so
receivers should treat it as a hint.
"""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from collections.abc import Callable
from typing import Any

from local_stack.google_standin.drive_store import Change, DriveAccount, DriveSettings
from local_stack.google_standin.errors import invalid
from local_stack.google_standin.push_channels import Channel, ChannelRegistry, Delivery, read_watch_body

API = "drive"


class DrivePush:
    """Drive's view of the channel registry: its channels, its deliveries, its notifications."""

    def __init__(
        self, settings: DriveSettings, *, clock: Callable[[], float], registry: ChannelRegistry
    ) -> None:
        self.settings = settings
        self._clock = clock
        self.registry = registry

    @property
    def channels(self) -> list[Channel]:
        return self.registry.channels(API)

    @property
    def deliveries(self) -> list[Delivery]:
        return self.registry.deliveries(API)

    @property
    def dropped(self) -> int:
        """`change` messages dropped by min_interval_seconds."""
        return self.registry.dropped.get(API, 0)

    def watch(
        self, account: DriveAccount, page_token: str, body: Any, *, sees_all: bool, api_root: str
    ) -> dict[str, Any]:
        """changes.watch: a channel on the account's changes; the answer is Google's Channel resource.
        Its lifetime: the `expiration` asked for, else `params.ttl`, else the default; at most the max."""
        asked = read_watch_body(body)
        now = self._clock()
        if asked.expiration_ms is not None:
            ttl = asked.expiration_ms / 1000 - now
            if ttl <= 0:
                raise invalid(f"Invalid expiration: {asked.expiration_ms} is in the past.")
        else:
            ttl = asked.ttl_seconds or self.settings.default_channel_ttl_seconds
        ttl = min(ttl, self.settings.max_channel_ttl_seconds)
        channel = Channel(
            id=asked.channel_id,
            api=API,
            watched=account.email,
            resource_id=_resource_id(account.email),
            resource_uri=f"{api_root.rstrip('/')}/drive/v3/changes?alt=json&pageToken="
            f"{urllib.parse.quote(page_token)}",
            account=account.email,
            address=asked.address,
            token=asked.token,
            expiration_ms=int((now + ttl) * 1000),
            sees_all=sees_all,
        )
        self.registry.open(channel)
        answer: dict[str, Any] = {
            "kind": "api#channel",
            "id": channel.id,
            "resourceId": channel.resource_id,
            "resourceUri": channel.resource_uri,
            "expiration": str(channel.expiration_ms),  # an int64: a string in JSON, as Google sends it
        }
        if asked.token is not None:
            answer["token"] = asked.token
        return answer

    def stop(self, account: str, body: Any) -> None:
        self.registry.stop(API, account, body)

    def on_change(self, account: DriveAccount, change: Change) -> None:
        """DriveAccount.on_change hook: `change` to every live channel on the account's changes that
        may hear of this file."""

        def hears(channel: Channel) -> bool:
            return channel.watched == account.email and (channel.sees_all or change.app_visible)

        edited = bool(change.changed) and not change.removed
        self.registry.notify(
            API,
            hears,
            "change",
            min_interval_seconds=self.settings.min_interval_seconds,
            changed=",".join(sorted(change.changed)) if edited else None,
        )

    def drain(self, timeout: float = 10.0) -> bool:
        return self.registry.drain(timeout)


def _resource_id(account: str) -> str:
    """Opaque, and stable for one account's changes (every channel on them shares it)."""
    digest = hashlib.sha256(f"changes:{account}".encode()).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode()
