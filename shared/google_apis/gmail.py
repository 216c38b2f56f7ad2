"""Gmail: every call the product makes, through one quota-aware client, each answer translated into
our error hierarchy in one place.

``GmailClient`` paces itself under the user's quota (rate_limit.TokenBucket), caps requests in flight,
batches message fetches, retries what Google says to retry, and reports a grant Google refuses to the
one place that handles it (``on_invalid_grant``): the sync, watches, attachment downloads and writes
all use it.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.errors import NeedsResync, Retryable
from shared.google_apis.client import (
    ApiName,
    Failure,
    PacedClient,
    call_errors,
    http_status,
    is_billed,
    is_retryable_http,
    translate_http_error,
)
from shared.google_apis.rate_limit import MAX_BATCH_PARTS, InFlightLimit, QuotaSettings, TokenBucket

if TYPE_CHECKING:
    pass

__all__ = ["GmailClient", "GmailWatch", "InFlightLimit", "QuotaSettings", "TokenBucket"]

# Above this, a message goes as a media upload rather than inline base64url in a JSON body (which adds a
# third and has a smaller limit than the upload's 35 MB).
INLINE_SEND_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class GmailWatch:
    history_id: str
    expires_at: datetime


class GmailClient(PacedClient):
    """The quota-aware Gmail client (client.PacedClient): one instance per thread; instances working on
    the same mailbox share a ``bucket`` and an ``in_flight`` limit. A batch of gets acquires the sum of
    its parts' units and holds a slot per part (at most all of them)."""

    api = ApiName("Gmail", "gmail")
    discovery = ("gmail", "v1")
    default_quota = QuotaSettings()

    # --- the methods ---------------------------------------------------------------------------------

    def profile(self) -> dict[str, Any]:
        answer: dict[str, Any] = self._call(
            "gmail.users.getProfile", lambda: self._service.users().getProfile(userId="me")
        )
        return answer

    def list_message_ids(
        self, *, query: str | None, page_token: str | None, max_results: int = 500
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ``{"id", "threadId"}``, newest first, and the next page's token."""
        arguments: dict[str, Any] = {"userId": "me", "maxResults": max_results}
        if query:
            arguments["q"] = query
        if page_token:
            arguments["pageToken"] = page_token
        answer = self._call(
            "gmail.users.messages.list", lambda: self._service.users().messages().list(**arguments)
        )
        return list(answer.get("messages", [])), answer.get("nextPageToken") or None

    def list_history(
        self, *, start_history_id: str, page_token: str | None, max_results: int = 500
    ) -> dict[str, Any]:
        """One page of history after ``start_history_id``; ``NeedsResync`` when Gmail forgot it."""
        arguments: dict[str, Any] = {
            "userId": "me",
            "startHistoryId": start_history_id,
            "maxResults": max_results,
        }
        if page_token:
            arguments["pageToken"] = page_token
        answer: dict[str, Any] = self._call(
            "gmail.users.history.list",
            lambda: self._service.users().history().list(**arguments),
            on_status={
                404: lambda _: NeedsResync(
                    "Gmail no longer keeps history that far back.", code="history_expired"
                )
            },
        )
        return answer

    def watch(self, topic_name: str) -> GmailWatch:
        """Start, or renew, the mailbox's watch: Gmail publishes its changes to ``topic_name``."""
        answer = self._call(
            "gmail.users.watch",
            lambda: self._service.users().watch(userId="me", body={"topicName": topic_name}),
        )
        expires_at = datetime.fromtimestamp(int(answer["expiration"]) / 1000, UTC)
        return GmailWatch(history_id=str(answer["historyId"]), expires_at=expires_at)

    def stop(self) -> None:
        self._call("gmail.users.stop", lambda: self._service.users().stop(userId="me"))

    def label_ids(self, message_id: str) -> list[str]:
        """The message's labels now (``format=minimal``)."""
        answer = self._call(
            "gmail.users.messages.get",
            lambda: self._service.users().messages().get(userId="me", id=message_id, format="minimal"),
        )
        return [str(label) for label in answer.get("labelIds", [])]

    def modify(self, message_id: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()) -> list[str]:
        """Add and remove labels of one message (read state is the UNREAD label); its labels after."""
        body = {"addLabelIds": list(add), "removeLabelIds": list(remove)}
        answer = self._call(
            "gmail.users.messages.modify",
            lambda: self._service.users().messages().modify(userId="me", id=message_id, body=body),
        )
        return [str(label) for label in answer.get("labelIds", [])]

    def batch_modify(
        self, message_ids: Sequence[str], *, add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> None:
        """Add and remove labels of up to 1,000 messages in one call (Gmail answers nothing)."""
        body = {"ids": list(message_ids), "addLabelIds": list(add), "removeLabelIds": list(remove)}
        self._call(
            "gmail.users.messages.batchModify",
            lambda: self._service.users().messages().batchModify(userId="me", body=body),
        )

    def labels(self) -> list[dict[str, str]]:
        """The mailbox's labels: ``{"id", "name", "type"}`` each."""
        answer = self._call(
            "gmail.users.labels.list", lambda: self._service.users().labels().list(userId="me")
        )
        return [
            {
                "id": str(label.get("id", "")),
                "name": str(label.get("name", "")),
                "type": str(label.get("type", "")),
            }
            for label in answer.get("labels", [])
        ]

    def send(self, raw: bytes, *, thread_id: str | None = None) -> dict[str, str]:
        """Send an RFC 822 message: ``{"id", "threadId"}``. Inline (base64url ``raw``) while small, as a
        media upload above ``INLINE_SEND_BYTES`` (Gmail takes up to 35 MB that way)."""
        body: dict[str, Any] = {"threadId": thread_id} if thread_id else {}

        def request() -> Any:
            messages = self._service.users().messages()
            if len(raw) <= INLINE_SEND_BYTES:
                return messages.send(
                    userId="me", body={**body, "raw": base64.urlsafe_b64encode(raw).decode()}
                )
            from googleapiclient.http import MediaInMemoryUpload

            media = MediaInMemoryUpload(raw, mimetype="message/rfc822", resumable=False)
            return messages.send(userId="me", body=body or None, media_body=media)

        answer = self._call("gmail.users.messages.send", request, repeatable=False)
        return {"id": str(answer["id"]), "threadId": str(answer.get("threadId", answer["id"]))}

    def find_by_message_id(self, message_id_header: str) -> dict[str, str] | None:
        """The message whose Message-ID header is ``message_id_header`` (``rfc822msgid:``), sent or received,
        anywhere in the mailbox: ``{"id", "threadId"}``, or None."""
        query = f"rfc822msgid:{message_id_header.strip().strip('<>')}"
        answer = self._call(
            "gmail.users.messages.list",
            lambda: (
                self._service.users()
                .messages()
                .list(userId="me", q=query, includeSpamTrash=True, maxResults=5)
            ),
        )
        found = answer.get("messages") or []
        if not found:
            return None
        return {"id": str(found[0]["id"]), "threadId": str(found[0].get("threadId", found[0]["id"]))}

    def get_attachment(self, message_id: str, attachment_id: str) -> bytes:
        answer = self._call(
            "gmail.users.messages.attachments.get",
            lambda: (
                self._service.users()
                .messages()
                .attachments()
                .get(userId="me", messageId=message_id, id=attachment_id)
            ),
        )
        data = str(answer.get("data", ""))
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))

    def get_messages(
        self, ids: Sequence[str], *, format: str = "full"
    ) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """Messages by id, in batches of at most 50: (found by id, ids Gmail answered 404 for).

        Each part is billed; parts that fail with a passing fault go again in a new batch of their own.
        A batch is smaller than 50 when the quota window has room for only that many right now.
        """
        queue = list(dict.fromkeys(ids))
        found: dict[str, dict[str, Any]] = {}
        missing: set[str] = set()
        units = self._quota.units("gmail.users.messages.get")
        size = self._batch_size("gmail.users.messages.get")
        while queue:
            self._check_grant()
            parts, waited = self._bucket.acquire_parts(units, min(size, len(queue)))
            self.seconds_waited_for_quota += waited
            self._get_batch(queue[:parts], format, found, missing)
            queue = queue[parts:]
        return found, missing

    # --- one batch of gets ---------------------------------------------------------------------------

    def _batch_size(self, method_id: str) -> int:
        """Parts per batch: 50, fewer when the bucket cannot grant that many at once (a small quota)."""
        units = self._quota.units(method_id)
        return max(1, min(MAX_BATCH_PARTS, int(self._bucket.largest_request // units)))

    def _get_batch(
        self, ids: list[str], format: str, found: dict[str, dict[str, Any]], missing: set[str]
    ) -> None:
        """One batch of gets whose units are already granted, then rounds of its failed parts."""
        units = self._quota.units("gmail.users.messages.get")
        pending = ids
        failure: Failure | None = None
        # googleapiclient rebuilds a resource from the discovery document on every users()/messages()
        # call (about 0.8 ms of CPU each): take it once per batch, not once per part.
        messages = self._service.users().messages()
        for attempt in range(self._quota.max_attempts):
            if failure is not None:
                self._back_off(attempt, failure, calls=len(pending))
                self._check_grant()
                self.seconds_waited_for_quota += self._bucket.acquire(units * len(pending))
            answers: dict[str, tuple[Any, Any]] = {}
            batch = self._service.new_batch_http_request(callback=functools.partial(_collect, answers))
            for message_id in pending:
                batch.add(
                    messages.get(userId="me", id=message_id, format=format),
                    request_id=message_id,
                )
            with self._in_flight.slots(len(pending)):
                self.requests_sent += len(pending)
                self.batches_sent += 1
                try:
                    batch.execute()
                except call_errors() as error:  # the batch as a whole failed: every part goes again
                    failure = self._failure(error)
                    continue
            failed: list[str] = []
            failure = None
            for message_id in pending:
                if message_id not in answers:  # the batch answer lacked this part: send it again
                    failed.append(message_id)
                    failure = _merge(failure, Failure(Retryable("A batch answer lacked a part.")))
                    continue
                response, part_error = answers[message_id]
                if part_error is None:
                    self.units_spent += units
                    found[message_id] = response
                elif http_status(part_error) == 404:  # deleted between list and get
                    self.units_spent += units
                    missing.add(message_id)
                elif is_retryable_http(part_error):
                    failed.append(message_id)
                    failure = _merge(failure, self._failure(part_error))
                else:
                    if is_billed(part_error):
                        self.units_spent += units
                    raise translate_http_error(part_error, self.api) from part_error
            if not failed:
                return
            pending = failed
        raise self._exhausted(failure)


def _collect(answers: dict[str, tuple[Any, Any]], request_id: str, response: Any, exception: Any) -> None:
    answers[request_id] = (response, exception)


def _merge(first: Failure | None, second: Failure) -> Failure:
    return second if first is None else first.merged(second)
