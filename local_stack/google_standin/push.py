"""Gmail push: when a watched mailbox changes, publish {"emailAddress", "historyId"} to its topic.

As Gmail does: at most one notification per second per user, the extras dropped (so receivers must
treat pushes as hints and sync from their own cursor). Two ways out, either or both:
- to the watch's topic on the Pub/Sub emulator (which then pushes to subscribers, without a token);
- straight to a push endpoint, in Pub/Sub's push envelope, with an OIDC token the stand-in signs, so
  that token verification is exercised end to end.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import threading
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from local_stack.google_standin.gmail_mailbox import Mailbox

logger = logging.getLogger(__name__)


@dataclass
class PushSettings:
    pubsub_emulator_host: str | None = None  # host:port; None: nothing is published to Pub/Sub
    push_endpoint: str | None = None  # URL for direct delivery; None: no direct delivery
    push_audience: str | None = None  # the OIDC token's audience (default: the endpoint)
    push_service_account: str = "gmail-push@crm-google-local.iam.gserviceaccount.com"
    push_subscription: str = "projects/crm-google-local/subscriptions/gmail-push"
    min_interval_seconds: float = 1.0


@dataclass(frozen=True)
class Notification:
    email_address: str
    history_id: int
    topic: str
    at: float

    @property
    def data(self) -> bytes:
        return json.dumps({"emailAddress": self.email_address, "historyId": self.history_id}).encode()


class GmailPush:
    def __init__(
        self,
        settings: PushSettings,
        *,
        clock: Callable[[], float],
        mint_token: Callable[[str, str], str],  # (audience, service account email) -> signed OIDC token
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._mint_token = mint_token
        self._lock = threading.Lock()
        self._last_sent: dict[str, float] = {}
        self.sent: list[Notification] = []
        self.dropped = 0
        self.delivery_failures = 0
        self._queue: queue.Queue[Notification | threading.Event | None] = queue.Queue()
        self._publisher: Any = None
        self._worker = threading.Thread(target=self._deliver_forever, name="gmail-push", daemon=True)
        self._worker.start()

    def on_change(self, mailbox: Mailbox) -> None:
        """Mailbox.on_change hook: notify if watched, unless this user was notified under a second ago."""
        watch = mailbox.watch_state
        if watch is None:
            return
        now = self._clock()
        with self._lock:
            last = self._last_sent.get(mailbox.email)
            if last is not None and now - last < self.settings.min_interval_seconds:
                self.dropped += 1
                return
            self._last_sent[mailbox.email] = now
            notification = Notification(mailbox.email, mailbox.history_id, watch.topic_name, now)
            self.sent.append(notification)
        self._queue.put(notification)

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far was delivered (tests and the demo). False on timeout."""
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
            try:
                self._deliver(item)
            except Exception:  # like Gmail, a failed push is lost, not retried
                self.delivery_failures += 1
                logger.warning("push delivery failed", exc_info=True)

    def _deliver(self, notification: Notification) -> None:
        if self.settings.pubsub_emulator_host:
            self._publish(notification)
        if self.settings.push_endpoint:
            self._post(notification)

    def _publish(self, notification: Notification) -> None:
        if self._publisher is None:
            import grpc
            from google.cloud import pubsub_v1
            from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport

            channel = grpc.insecure_channel(str(self.settings.pubsub_emulator_host))
            self._publisher = pubsub_v1.PublisherClient(transport=PublisherGrpcTransport(channel=channel))
        self._publisher.publish(notification.topic, notification.data).result(timeout=10)

    def _post(self, notification: Notification) -> None:
        endpoint = str(self.settings.push_endpoint)
        envelope = {
            "message": {
                "data": base64.b64encode(notification.data).decode(),
                "messageId": uuid.uuid4().hex,
                "publishTime": datetime.fromtimestamp(notification.at, UTC)
                .isoformat()
                .replace("+00:00", "Z"),
                "attributes": {},
            },
            "subscription": self.settings.push_subscription,
        }
        token = self._mint_token(self.settings.push_audience or endpoint, self.settings.push_service_account)
        request = urllib.request.Request(
            endpoint,
            data=json.dumps(envelope).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
