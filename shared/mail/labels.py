"""Gmail's labels as the mail sync reads them: what it does not hold, and how a write of ours names the
label set it left on a message (so the sync recognises that set coming back as our own echo)."""

from __future__ import annotations

from collections.abc import Iterable

# The own-write version of a message sent from the CRM (stored when sent: the sync fetches nothing).
SENT = "sent"
# Mail the CRM does not hold: drafts, chats, spam and trash (a copy that moves there is removed).
SKIP_LABELS = frozenset({"SPAM", "TRASH", "DRAFT", "CHAT"})


def label_version(labels: Iterable[str]) -> str:
    return ",".join(sorted(set(labels)))
