"""What the integration tests share: the stand-in's accounts and scopes, seeding mail, secret settings."""

from __future__ import annotations

from local_stack.google_standin.mime_factory import MessageFactory
from local_stack.google_standin.standin import GoogleStandIn

ALICE = "alice@example.com"
BOB = "bob@example.net"
GMAIL_READ = "https://www.googleapis.com/auth/gmail.readonly"
GMAIL_SEND = "https://www.googleapis.com/auth/gmail.send"
GMAIL_MODIFY = "https://www.googleapis.com/auth/gmail.modify"
ALL_GMAIL = ["openid", "email", GMAIL_READ, GMAIL_SEND, GMAIL_MODIFY]

SECRET_CACHE_SECONDS = 60.0  # the secret store's cache lifetime in the Secret Manager tests


def seed_messages(
    standin: GoogleStandIn, factory: MessageFactory, count: int, account: str = ALICE
) -> list[str]:
    """``count`` plain messages to ``account``, inserted into its stand-in mailbox: their Gmail ids."""
    mailbox = standin.mailbox(account)
    return [str(mailbox.insert(factory.plain(to=[account]).raw)["id"]) for _ in range(count)]
