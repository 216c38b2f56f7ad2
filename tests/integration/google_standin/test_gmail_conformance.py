"""Gmail v1 methods as google-api-python-client sees them: every method the product uses."""

from __future__ import annotations

import base64
import email
import email.policy
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaIoBaseUpload

from local_stack.google_standin.mime_factory import MessageFactory
from local_stack.google_standin.standin import GoogleStandIn
from tests.integration.helpers import ALICE, BOB, GMAIL_SEND


def reason(error: HttpError) -> str:
    return str(error.error_details[0]["reason"]) if error.error_details else ""


def test_get_profile_names_the_account_and_its_history_id(standin: GoogleStandIn, gmail: Any) -> None:
    profile = gmail.users().getProfile(userId="me").execute()
    assert profile["emailAddress"] == ALICE
    assert int(profile["historyId"]) == standin.mailbox(ALICE).history_id


def test_another_users_mailbox_is_refused(gmail: Any) -> None:
    with pytest.raises(HttpError) as refused:
        gmail.users().getProfile(userId=BOB).execute()
    assert refused.value.status_code == 403


def test_list_pages_newest_first_and_covers_every_message_once(
    standin: GoogleStandIn, gmail: Any, factory: MessageFactory
) -> None:
    base = datetime(2026, 11, 1, tzinfo=UTC)
    for day in range(7):
        standin.mailbox(ALICE).insert(factory.plain(to=[ALICE], date=base + timedelta(days=day)).raw)
    seen: list[str] = []
    request = gmail.users().messages().list(userId="me", maxResults=3)
    while request is not None:
        page = request.execute()
        seen += [message["id"] for message in page.get("messages", [])]
        request = gmail.users().messages().list_next(request, page)
    assert len(seen) == len(set(seen)) == 7
    dates = [
        int(gmail.users().messages().get(userId="me", id=i, format="minimal").execute()["internalDate"])
        for i in seen
    ]
    assert dates == sorted(dates, reverse=True)


def test_list_filters_by_query_labels_and_spam_trash(
    standin: GoogleStandIn, gmail: Any, factory: MessageFactory
) -> None:
    mailbox = standin.mailbox(ALICE)
    now = datetime.fromtimestamp(standin.clock.now(), UTC)
    old = mailbox.insert(factory.plain(to=[ALICE], date=now - timedelta(days=40)).raw)
    recent = mailbox.insert(factory.plain(to=[ALICE], date=now - timedelta(days=2)).raw)
    spam = mailbox.insert(factory.plain(to=[ALICE], date=now - timedelta(days=1)).raw, label_ids=["SPAM"])

    def ids(**kwargs: Any) -> set[str]:
        return {
            m["id"]
            for m in gmail.users().messages().list(userId="me", **kwargs).execute().get("messages", [])
        }

    assert ids(q="newer_than:30d") == {recent["id"]}
    assert ids(q=f"after:{int((now - timedelta(days=10)).timestamp())}") == {recent["id"]}
    assert ids(q=f"before:{(now - timedelta(days=30)).strftime('%Y/%m/%d')}") == {old["id"]}
    assert ids(labelIds=["INBOX"]) == {old["id"], recent["id"]}
    assert spam["id"] not in ids()
    assert spam["id"] in ids(includeSpamTrash=True)
    with pytest.raises(HttpError) as refused:
        ids(q="frobnicate:yes")
    assert refused.value.status_code == 400


def test_get_in_every_format_and_attachments_on_demand(
    standin: GoogleStandIn, gmail: Any, factory: MessageFactory
) -> None:
    generated = factory.with_attachments(to=[ALICE], subject="Quarterly figures")
    message_id = standin.mailbox(ALICE).insert(generated.raw)["id"]
    messages = gmail.users().messages()

    full = messages.get(userId="me", id=message_id, format="full").execute()
    headers = {h["name"].lower(): h["value"] for h in full["payload"]["headers"]}
    assert headers["subject"] == "Quarterly figures"
    attachments = [p for p in full["payload"]["parts"] if p.get("filename")]
    assert attachments
    assert all("attachmentId" in p["body"] and "data" not in p["body"] for p in attachments)
    first = attachments[0]
    fetched = (
        messages.attachments()
        .get(userId="me", messageId=message_id, id=first["body"]["attachmentId"])
        .execute()
    )
    assert len(base64.urlsafe_b64decode(fetched["data"])) == first["body"]["size"]

    metadata = messages.get(
        userId="me", id=message_id, format="metadata", metadataHeaders=["Subject"]
    ).execute()
    assert [h["name"] for h in metadata["payload"]["headers"]] == ["Subject"]

    minimal = messages.get(userId="me", id=message_id, format="minimal").execute()
    assert "payload" not in minimal
    assert minimal["threadId"]
    assert minimal["labelIds"]

    raw = messages.get(userId="me", id=message_id, format="raw").execute()
    assert base64.urlsafe_b64decode(raw["raw"]) == generated.raw


def test_a_missing_message_is_404(gmail: Any) -> None:
    with pytest.raises(HttpError) as refused:
        gmail.users().messages().get(userId="me", id="0123456789abcdef").execute()
    assert refused.value.status_code == 404


def test_history_lists_each_change_type_and_pages(
    standin: GoogleStandIn, gmail: Any, factory: MessageFactory
) -> None:
    mailbox = standin.mailbox(ALICE)
    start = gmail.users().getProfile(userId="me").execute()["historyId"]
    added = [mailbox.insert(factory.plain(to=[ALICE]).raw)["id"] for _ in range(3)]
    gmail.users().messages().modify(userId="me", id=added[0], body={"removeLabelIds": ["UNREAD"]}).execute()
    gmail.users().messages().modify(userId="me", id=added[1], body={"addLabelIds": ["STARRED"]}).execute()
    mailbox.delete(added[2])

    records: list[dict[str, Any]] = []
    request = gmail.users().history().list(userId="me", startHistoryId=start, maxResults=2)
    pages = 0
    while request is not None:
        page = request.execute()
        pages += 1
        records += page.get("history", [])
        request = gmail.users().history().list_next(request, page)
    assert pages >= 3
    kinds = [
        key
        for record in records
        for key in ("messagesAdded", "labelsRemoved", "labelsAdded", "messagesDeleted")
        if key in record
    ]
    assert kinds == ["messagesAdded"] * 3 + ["labelsRemoved", "labelsAdded", "messagesDeleted"]
    ids = [int(record["id"]) for record in records]
    assert ids == sorted(ids)
    assert ids[0] > int(start)

    only_added = (
        gmail.users()
        .history()
        .list(userId="me", startHistoryId=start, historyTypes=["messageAdded"])
        .execute()
    )
    assert all("messagesAdded" in record for record in only_added["history"])


def test_an_expired_history_id_is_404(standin: GoogleStandIn, gmail: Any, factory: MessageFactory) -> None:
    start = gmail.users().getProfile(userId="me").execute()["historyId"]
    standin.mailbox(ALICE).insert(factory.plain(to=[ALICE]).raw)
    standin.mailbox(ALICE).forget_history()
    with pytest.raises(HttpError) as refused:
        gmail.users().history().list(userId="me", startHistoryId=start).execute()
    assert refused.value.status_code == 404
    assert reason(refused.value) == "notFound"


def test_send_lands_in_sent_and_threads_by_thread_id(
    standin: GoogleStandIn, gmail: Any, factory: MessageFactory
) -> None:
    first = factory.plain(sender=ALICE, to=[BOB], subject="Proposal")
    sent = (
        gmail.users()
        .messages()
        .send(userId="me", body={"raw": base64.urlsafe_b64encode(first.raw).decode()})
        .execute()
    )
    assert sent["labelIds"] == ["SENT"]
    reply = factory.plain(sender=ALICE, to=[BOB], subject="Re: Proposal", in_reply_to=first)
    threaded = (
        gmail.users()
        .messages()
        .send(
            userId="me",
            body={"raw": base64.urlsafe_b64encode(reply.raw).decode(), "threadId": sent["threadId"]},
        )
        .execute()
    )
    assert threaded["threadId"] == sent["threadId"]
    stored = gmail.users().messages().get(userId="me", id=sent["id"], format="raw").execute()
    parsed = email.message_from_bytes(base64.urlsafe_b64decode(stored["raw"]), policy=email.policy.default)
    assert parsed["Message-ID"]


def test_send_as_a_media_upload(gmail: Any, factory: MessageFactory) -> None:
    message = factory.plain(sender=ALICE, to=[BOB], subject="Uploaded")
    media = MediaIoBaseUpload(io.BytesIO(message.raw), mimetype="message/rfc822")
    sent = gmail.users().messages().send(userId="me", media_body=media).execute()
    assert sent["labelIds"] == ["SENT"]


def test_send_without_a_recipient_is_400(gmail: Any) -> None:
    raw = base64.urlsafe_b64encode(b"From: alice@example.com\r\nSubject: nobody\r\n\r\nhello\r\n").decode()
    with pytest.raises(HttpError) as refused:
        gmail.users().messages().send(userId="me", body={"raw": raw}).execute()
    assert refused.value.status_code == 400


def test_modify_and_batch_modify_change_labels(
    standin: GoogleStandIn, gmail: Any, factory: MessageFactory
) -> None:
    ids = [standin.mailbox(ALICE).insert(factory.plain(to=[ALICE]).raw)["id"] for _ in range(3)]
    modified = (
        gmail.users().messages().modify(userId="me", id=ids[0], body={"removeLabelIds": ["UNREAD"]}).execute()
    )
    assert "UNREAD" not in modified["labelIds"]
    gmail.users().messages().batchModify(userId="me", body={"ids": ids, "addLabelIds": ["STARRED"]}).execute()
    for message_id in ids:
        labels = (
            gmail.users().messages().get(userId="me", id=message_id, format="minimal").execute()["labelIds"]
        )
        assert "STARRED" in labels
    with pytest.raises(HttpError) as refused:
        gmail.users().messages().modify(
            userId="me", id=ids[0], body={"addLabelIds": ["NO_SUCH_LABEL"]}
        ).execute()
    assert refused.value.status_code == 400


def test_labels_list_has_the_system_labels(gmail: Any) -> None:
    labels = {label["id"] for label in gmail.users().labels().list(userId="me").execute()["labels"]}
    assert {"INBOX", "SENT", "UNREAD", "SPAM", "TRASH"} <= labels


def test_watch_expires_in_seven_days_and_stop_ends_it(standin: GoogleStandIn, gmail: Any) -> None:
    answer = gmail.users().watch(userId="me", body={"topicName": "projects/p/topics/gmail"}).execute()
    expires_in = int(answer["expiration"]) / 1000 - standin.clock.now()
    assert 7 * 86400 - 60 < expires_in <= 7 * 86400
    assert standin.mailbox(ALICE).watch_state is not None
    gmail.users().stop(userId="me").execute()
    assert standin.mailbox(ALICE).watch_state is None


def test_a_token_without_the_methods_scope_is_403(gmail_for: Any) -> None:
    send_only = gmail_for(ALICE, ["openid", "email", GMAIL_SEND])
    with pytest.raises(HttpError) as refused:
        send_only.users().messages().list(userId="me").execute()
    assert refused.value.status_code == 403
    assert reason(refused.value) == "insufficientPermissions"


def test_a_reply_sent_without_thread_id_joins_its_thread_by_references(
    standin: GoogleStandIn, gmail: Any, factory: MessageFactory
) -> None:
    original = factory.plain(sender=BOB, to=[ALICE], subject="Contract")
    received = standin.mailbox(ALICE).insert(original.raw)
    reply = factory.plain(sender=ALICE, to=[BOB], subject="Re: Contract", in_reply_to=original)
    sent = (
        gmail.users()
        .messages()
        .send(userId="me", body={"raw": base64.urlsafe_b64encode(reply.raw).decode()})
        .execute()
    )
    assert sent["threadId"] == received["threadId"]
    unrelated = factory.plain(sender=ALICE, to=[BOB], subject="Lunch")
    other = (
        gmail.users()
        .messages()
        .send(userId="me", body={"raw": base64.urlsafe_b64encode(unrelated.raw).decode()})
        .execute()
    )
    assert other["threadId"] != received["threadId"]


def test_max_results_is_capped_at_500(standin: GoogleStandIn, gmail: Any, factory: MessageFactory) -> None:
    mailbox = standin.mailbox(ALICE)
    for _ in range(501):
        mailbox.insert(factory.plain(to=[ALICE]).raw)
    page = gmail.users().messages().list(userId="me", maxResults=1000).execute()
    assert len(page["messages"]) == 500
    assert page["nextPageToken"]
