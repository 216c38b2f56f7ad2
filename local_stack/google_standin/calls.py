"""The call log: every request the stand-in answered, so tests can assert what a job did to Google."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class CallRecord:
    at: float
    method_id: str  # a discovery id ("gmail.users.messages.get") or an endpoint ("oauth.token")
    account: str | None  # the mailbox owner, when the call was authenticated
    units: int  # quota units charged (0 when refused before charging)
    status: int  # 0: no answer (a dropped connection)
    in_batch: bool = False
    # What the call did, where the method id alone does not say: Calendar writes name the event, its
    # attendees and whom Google would email. None for everything else.
    details: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class CallLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[CallRecord] = []

    def record(self, record: CallRecord) -> None:
        with self._lock:
            self._records.append(record)

    def calls(
        self, *, method_id: str | None = None, account: str | None = None, prefix: str | None = None
    ) -> list[CallRecord]:
        with self._lock:
            records = list(self._records)
        return [
            record
            for record in records
            if (method_id is None or record.method_id == method_id)
            and (account is None or record.account == account)
            and (prefix is None or record.method_id.startswith(prefix))
        ]

    def units(self, *, account: str | None = None) -> int:
        return sum(record.units for record in self.calls(account=account))

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
