"""Calendar push: channels opened by events.watch and closed by channels.stop, and their webhook POSTs.

As Google sends them: a POST with no body, only headers (X-Goog-Channel-ID, -Channel-Token when the
channel has one, -Channel-Expiration, -Resource-ID, -Resource-URI, -Resource-State, -Message-Number);
``sync`` once when the channel opens, then ``exists`` on every change to the calendar's events, message
numbers counting up per channel. Nothing is coalesced unless ``min_interval_seconds`` says so (Google
may send several ``exists`` for one change: receivers must treat them as hints). Expired (by the
stand-in clock) and stopped channels send nothing more.

Delivery runs on a worker thread, once per message: Google retries failed deliveries with backoff, the
stand-in records the failure and moves on.
"""

from __future__ import annotations

import base64
import dataclasses
import email.utils
import hashlib
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

from local_stack.google_standin.calendar_store import Calendar, CalendarSettings
from local_stack.google_standin.errors import GoogleApiError, invalid, not_found, required

logger = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 604_800  # params.ttl's default: 7 days
MAX_CHANNEL_ID_LENGTH = 64
_CHANNEL_ID = re.compile(r"^[A-Za-z0-9\-_+/=]+$")  # the characters the push guide allows
_WEBHOOK_TYPES = frozenset({"web_hook", "webhook"})


@dataclass
class Channel:
    id: str
    resource_id: str
    resource_uri: str
    calendar_id: str
    account: str
    address: str
    token: str | None
    expiration_ms: int
    stopped: bool = False
    messages_sent: int = 0
    last_sent_at: float | None = None

    def live(self, now: float) -> bool:
        return not self.stopped and now * 1000 < self.expiration_ms

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "resource_id": self.resource_id,
            "calendar_id": self.calendar_id,
            "account": self.account,
            "address": self.address,
            "token": self.token,
            "expiration_ms": self.expiration_ms,
            "stopped": self.stopped,
        }


@dataclass(frozen=True)
class Delivery:
    """One POST to a channel's address, and how the receiver answered it."""

    channel_id: str
    state: str  # "sync" or "exists"
    message_number: int
    status: int | None  # the receiver's HTTP status; None when no answer came
    error: str | None = None  # why no answer came

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class _Message:
    channel_id: str
    address: str
    state: str
    number: int
    headers: dict[str, str]


class CalendarPush:
    def __init__(self, settings: CalendarSettings, *, clock: Callable[[], float]) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._channels: list[Channel] = []
        self._deliveries: list[Delivery] = []
        self.dropped = 0  # `exists` messages dropped by min_interval_seconds
        self._queue: queue.Queue[_Message | threading.Event | None] = queue.Queue()
        self._worker = threading.Thread(target=self._deliver_forever, name="calendar-push", daemon=True)
        self._worker.start()

    @property
    def channels(self) -> list[Channel]:
        with self._lock:
            return [dataclasses.replace(channel) for channel in self._channels]

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    # --- events.watch and channels.stop -------------------------------------------------------------

    def watch(self, calendar: Calendar, body: Any, *, api_root: str) -> dict[str, Any]:
        """Open a channel on ``calendar``'s events; the answer is Google's Channel resource."""
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
        ttl = min(_ttl(body.get("params")), self.settings.max_channel_ttl_seconds)
        now = self._clock()
        channel = Channel(
            id=channel_id,
            resource_id=_resource_id(calendar.id),
            resource_uri=f"{api_root.rstrip('/')}/calendar/v3/calendars/"
            f"{urllib.parse.quote(calendar.id, safe='@')}/events?alt=json",
            calendar_id=calendar.id,
            account=calendar.account,
            address=address,
            token=token,
            expiration_ms=int((now + ttl) * 1000),
        )
        with self._lock:
            if any(other.id == channel_id and other.live(now) for other in self._channels):
                raise GoogleApiError(400, "channelIdNotUnique", "Channel id not unique")
            self._channels.append(channel)
            message = self._message(channel, "sync", now)
        self._queue.put(message)
        answer: dict[str, Any] = {
            "kind": "api#channel",
            "id": channel.id,
            "resourceId": channel.resource_id,
            "resourceUri": channel.resource_uri,
            "expiration": str(channel.expiration_ms),  # an int64: a string in JSON, as Google sends it
        }
        if token is not None:
            answer["token"] = token
        return answer

    def stop(self, account: str, body: Any) -> None:
        """channels.stop: the account's channel with this id and resource id; 404 for any other."""
        channel_id = body.get("id") if isinstance(body, dict) else None
        resource_id = body.get("resourceId") if isinstance(body, dict) else None
        with self._lock:
            for channel in self._channels:
                if (
                    channel.id == channel_id
                    and channel.resource_id == resource_id
                    and channel.account.lower() == account.lower()
                    and not channel.stopped
                ):
                    channel.stopped = True
                    return
        raise not_found()

    # --- notifications ------------------------------------------------------------------------------

    def on_change(self, calendar: Calendar) -> None:
        """Calendar.on_change hook: `exists` to every live channel on the calendar's events."""
        now = self._clock()
        messages = []
        with self._lock:
            for channel in self._channels:
                if channel.calendar_id != calendar.id or not channel.live(now):
                    continue
                interval = self.settings.min_interval_seconds
                if interval and channel.last_sent_at is not None and now - channel.last_sent_at < interval:
                    self.dropped += 1
                    continue
                messages.append(self._message(channel, "exists", now))
        for message in messages:
            self._queue.put(message)

    def _message(self, channel: Channel, state: str, now: float) -> _Message:
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
        return _Message(channel.id, channel.address, state, channel.messages_sent, headers)

    # --- the worker ---------------------------------------------------------------------------------

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every message queued so far was delivered (or failed). False on timeout."""
        reached = threading.Event()
        self._queue.put(reached)
        return reached.wait(timeout)

    def close(self) -> None:
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
            logger.warning("calendar push delivery failed", exc_info=True)
            return Delivery(message.channel_id, message.state, message.number, None, str(failed))
        return Delivery(message.channel_id, message.state, message.number, status)


def _ttl(params: Any) -> float:
    value = params.get("ttl") if isinstance(params, dict) else None
    if value is None:
        return DEFAULT_TTL_SECONDS
    try:
        ttl = int(value)
    except (TypeError, ValueError):
        raise invalid(f"Invalid ttl: {value}") from None
    if ttl <= 0:
        raise invalid(f"Invalid ttl: {value}")
    return ttl


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


def _resource_id(calendar_id: str) -> str:
    """Opaque, and stable for one calendar's events collection (every channel on it shares it)."""
    digest = hashlib.sha256(f"events:{calendar_id}".encode()).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode()
