"""Web-hook channels, as Google's APIs share them: the one registry of every channel that Calendar's
events.watch and Drive's changes.watch opened, and the worker that POSTs their notifications.

As Google sends them: a POST with no body, only headers (X-Goog-Channel-ID, -Channel-Token when the
channel has one, -Channel-Expiration, -Resource-ID, -Resource-URI, -Resource-State, -Message-Number,
and Drive's X-Goog-Changed when the sender says what changed); ``sync`` once when the channel opens,
then one message per change, message numbers counting up per channel. Nothing is coalesced unless the
channel's API has a minimum interval (Google may send several messages for one change: receivers must
treat them as hints). Expired (by the stand-in clock) and stopped channels send nothing more.

Delivery runs on one worker thread, once per message: Google retries failed deliveries with backoff, the
stand-in records the failure and moves on.
"""

from __future__ import annotations

import dataclasses
import email.utils
import ipaddress
import logging
import queue
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local_stack.google_standin.errors import GoogleApiError, invalid, not_found, required

logger = logging.getLogger(__name__)

MAX_CHANNEL_ID_LENGTH = 64
_CHANNEL_ID = re.compile(r"^[A-Za-z0-9\-_+/=]+$")  # the characters the push guide allows
_WEBHOOK_TYPES = frozenset({"web_hook", "webhook"})


@dataclass
class Channel:
    id: str
    api: str  # "calendar" or "drive": the API that opened it, and whose channels.stop stops it
    watched: str  # what it reports on: a calendar's id (its events), or the account (Drive's changes)
    resource_id: str
    resource_uri: str
    account: str
    address: str
    token: str | None
    expiration_ms: int
    # Drive: False when the token that opened it had only drive.file, so it hears only of changes to
    # the files the app may see, as changes.list would show them.
    sees_all: bool = True
    stopped: bool = False
    messages_sent: int = 0
    last_sent_at: float | None = None

    @property
    def calendar_id(self) -> str | None:
        return self.watched if self.api == "calendar" else None

    def live(self, now: float) -> bool:
        return not self.stopped and now * 1000 < self.expiration_ms

    def to_json(self) -> dict[str, Any]:
        """As the admin API lists it: Calendar's channels name their calendar, Drive's their scope."""
        answer: dict[str, Any] = {"id": self.id, "resource_id": self.resource_id}
        if self.api == "calendar":
            answer["calendar_id"] = self.watched
        answer.update(
            account=self.account,
            address=self.address,
            token=self.token,
            expiration_ms=self.expiration_ms,
            stopped=self.stopped,
        )
        if self.api == "drive":
            answer["sees_all"] = self.sees_all
        return answer


@dataclass(frozen=True)
class Delivery:
    """One POST to a channel's address, and how the receiver answered it."""

    channel_id: str
    state: str  # "sync", then Calendar's "exists" or Drive's "change"
    message_number: int
    status: int | None  # the receiver's HTTP status; None when no answer came
    error: str | None = None  # why no answer came
    api: str = "calendar"
    changed: str | None = None  # Drive's X-Goog-Changed, when it was sent

    def to_json(self) -> dict[str, Any]:
        answer = dataclasses.asdict(self)
        del answer["api"]
        if self.api != "drive":
            del answer["changed"]  # Calendar sends no X-Goog-Changed
        return answer


@dataclass(frozen=True)
class WatchRequest:
    """A watch body, checked: what every API's watch method takes alike."""

    channel_id: str
    address: str
    token: str | None
    expiration_ms: int | None  # the `expiration` the caller asked for (Drive's way), if any
    ttl_seconds: int | None  # `params.ttl` (Calendar's way), if any


@dataclass(frozen=True)
class _Message:
    channel_id: str
    api: str
    address: str
    state: str
    number: int
    headers: dict[str, str]
    changed: str | None


def read_watch_body(body: Any) -> WatchRequest:
    """The checks Google makes on a Channel body, with its errors."""
    if not isinstance(body, dict):
        raise invalid("The channel must be a JSON object.")
    channel_id, address, token = body.get("id"), body.get("address"), body.get("token")
    if not isinstance(channel_id, str) or not channel_id:
        raise required("Missing channel id.")
    if len(channel_id) > MAX_CHANNEL_ID_LENGTH or not _CHANNEL_ID.match(channel_id):
        raise invalid(f"Invalid channel id: {channel_id}")
    if body.get("type") not in _WEBHOOK_TYPES:
        raise GoogleApiError(
            400, "push.channelTypeNotSupported", f"Channel type not supported: {body.get('type')}"
        )
    if not isinstance(address, str) or not address:
        raise required("Missing channel address.")
    if not _acceptable_address(address):
        raise GoogleApiError(400, "push.webhookUrlNotHttps", f"WebHook callback must be HTTPS: {address}")
    if token is not None and not isinstance(token, str):
        raise invalid("Invalid channel token.")
    return WatchRequest(
        channel_id, address, token, _expiration(body.get("expiration")), _ttl(body.get("params"))
    )


class ChannelRegistry:
    """Every channel of every API, and the worker that delivers their messages."""

    def __init__(self, *, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._channels: list[Channel] = []
        self._deliveries: list[Delivery] = []
        self.dropped: dict[str, int] = {}  # per API: messages dropped by a minimum interval
        self._queue: queue.Queue[_Message | threading.Event | None] = queue.Queue()
        self._worker = threading.Thread(target=self._deliver_forever, name="push-channels", daemon=True)
        self._worker.start()

    def channels(self, api: str | None = None) -> list[Channel]:
        with self._lock:
            return [dataclasses.replace(c) for c in self._channels if api is None or c.api == api]

    def deliveries(self, api: str | None = None) -> list[Delivery]:
        with self._lock:
            return [d for d in self._deliveries if api is None or d.api == api]

    def open(self, channel: Channel) -> None:
        """Register a channel (its id unique among live channels, as Google requires) and queue its
        ``sync`` message."""
        now = self._clock()
        with self._lock:
            if any(other.id == channel.id and other.live(now) for other in self._channels):
                raise GoogleApiError(400, "channelIdNotUnique", "Channel id not unique")
            self._channels.append(channel)
            message = self._message(channel, "sync", now, None)
        self._queue.put(message)

    def stop(self, api: str, account: str, body: Any) -> None:
        """channels.stop: the account's channel of this API with this id and resource id; 404 for any
        other (a channel of another API included: Google's answer to such a mix is unpublished, and a
        product that stops a channel through the wrong API has a bug worth seeing)."""
        channel_id = body.get("id") if isinstance(body, dict) else None
        resource_id = body.get("resourceId") if isinstance(body, dict) else None
        with self._lock:
            for channel in self._channels:
                if (
                    channel.api == api
                    and channel.id == channel_id
                    and channel.resource_id == resource_id
                    and channel.account.lower() == account.lower()
                    and not channel.stopped
                ):
                    channel.stopped = True
                    return
        raise not_found()

    def notify(
        self,
        api: str,
        hears: Callable[[Channel], bool],
        state: str,
        *,
        min_interval_seconds: float = 0.0,
        changed: str | None = None,
    ) -> None:
        """One ``state`` message to every live channel of ``api`` that ``hears`` the change."""
        now = self._clock()
        messages = []
        with self._lock:
            for channel in self._channels:
                if channel.api != api or not channel.live(now) or not hears(channel):
                    continue
                if (
                    min_interval_seconds
                    and channel.last_sent_at is not None
                    and now - channel.last_sent_at < min_interval_seconds
                ):
                    self.dropped[api] = self.dropped.get(api, 0) + 1
                    continue
                messages.append(self._message(channel, state, now, changed))
        for message in messages:
            self._queue.put(message)

    def _message(self, channel: Channel, state: str, now: float, changed: str | None) -> _Message:
        channel.messages_sent += 1
        channel.last_sent_at = now
        headers = {
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Channel-Expiration": email.utils.formatdate(channel.expiration_ms / 1000, usegmt=True),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-URI": channel.resource_uri,
            "X-Goog-Resource-State": state,
            "X-Goog-Message-Number": str(channel.messages_sent),
        }
        if channel.token is not None:
            headers["X-Goog-Channel-Token"] = channel.token
        if changed is not None:
            headers["X-Goog-Changed"] = changed
        return _Message(
            channel.id, channel.api, channel.address, state, channel.messages_sent, headers, changed
        )

    # --- the worker ---------------------------------------------------------------------------------

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every message queued so far was delivered (or failed). False on timeout."""
        reached = threading.Event()
        self._queue.put(reached)
        return reached.wait(timeout)

    def close(self) -> None:
        if self._worker.is_alive():
            self._queue.put(None)
            self._worker.join(timeout=10)

    def _deliver_forever(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            delivery = self._post(item)
            with self._lock:
                self._deliveries.append(delivery)

    def _post(self, message: _Message) -> Delivery:
        request = urllib.request.Request(message.address, data=b"", method="POST", headers=message.headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status = int(response.status)
        except urllib.error.HTTPError as refused:
            status = refused.code
        except (urllib.error.URLError, OSError) as failed:
            logger.warning("%s push delivery failed", message.api, exc_info=True)
            return Delivery(
                message.channel_id,
                message.state,
                message.number,
                None,
                str(failed),
                message.api,
                message.changed,
            )
        return Delivery(
            message.channel_id, message.state, message.number, status, None, message.api, message.changed
        )


def _ttl(params: Any) -> int | None:
    value = params.get("ttl") if isinstance(params, dict) else None
    if value is None:
        return None
    try:
        ttl = int(value)
    except (TypeError, ValueError):
        raise invalid(f"Invalid ttl: {value}") from None
    if ttl <= 0:
        raise invalid(f"Invalid ttl: {value}")
    return ttl


def _expiration(value: Any) -> int | None:
    """The Channel's `expiration`: Unix milliseconds, an int64 (a string in JSON, or a number)."""
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid(f"Invalid expiration: {value}") from None


def _acceptable_address(address: str) -> bool:
    """HTTPS, as Google requires; and, for the stand-in only, plain HTTP to a loopback receiver."""
    parsed = urllib.parse.urlsplit(address)
    if not parsed.hostname:
        return False
    if parsed.scheme == "https":
        return True
    if parsed.scheme != "http":
        return False
    if parsed.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parsed.hostname).is_loopback
    except ValueError:
        return False
