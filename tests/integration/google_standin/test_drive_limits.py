"""Drive around its methods: batch on /batch/drive/v3, its own units and budgets, fault scripts on its
method ids, and the admin API's Drive levers."""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from local_stack.google_standin.faults import FaultAction, FaultRule
from local_stack.google_standin.limits import LimitSettings
from local_stack.google_standin.standin import GoogleStandIn, StandInSettings
from tests.integration.google_standin.admin_client import admin
from tests.integration.google_standin.calendar_helpers import reason, refused
from tests.integration.google_standin.drive_helpers import DOC, names
from tests.integration.helpers import ALICE


def test_a_batch_serves_each_part_on_its_own(standin: GoogleStandIn, drive: Any) -> None:
    doc = drive.files().create(body={"name": "Proposal", "mimeType": DOC}).execute()
    answers: dict[str, Any] = {}

    def collect(request_id: str, response: Any, exception: HttpError | None) -> None:
        answers[request_id] = exception.status_code if exception is not None else response

    batch = drive.new_batch_http_request(callback=collect)
    batch.add(drive.files().get(fileId=doc["id"], fields="name"), request_id="get")
    batch.add(
        drive.permissions().create(
            fileId=doc["id"], body={"type": "user", "role": "reader", "emailAddress": "c@customer.example"}
        ),
        request_id="share",
    )
    batch.add(drive.files().get(fileId="1" + "x" * 32), request_id="missing")
    batch.execute()
    assert answers["get"] == {"name": "Proposal"}
    assert answers["share"]["role"] == "reader"
    assert answers["missing"] == 404
    batched = [
        (c.method_id, c.status, c.in_batch) for c in standin.calls.calls(prefix="drive.") if c.in_batch
    ]
    assert batched == [
        ("drive.files.get", 200, True),
        ("drive.permissions.create", 200, True),
        ("drive.files.get", 404, True),
    ]


def test_list_pages_cost_100_units_and_other_methods_10(standin: GoogleStandIn, drive: Any) -> None:
    drive.files().list().execute()
    drive.files().create(body={"name": "x"}).execute()
    drive.changes().list(pageToken="1").execute()
    assert [(c.method_id, c.units) for c in standin.calls.calls(prefix="drive.")] == [
        ("drive.files.list", 100),
        ("drive.files.create", 10),
        ("drive.changes.list", 100),
    ]


class TestOverBudget:
    @pytest.fixture
    def standin_settings(self) -> StandInSettings:
        return StandInSettings(limits=LimitSettings(drive_user_units_per_minute=250))

    def test_the_user_budget_refuses_with_retry_after_and_leaves_other_apis_alone(
        self, standin: GoogleStandIn, drive: Any, calendar_service: Any
    ) -> None:
        drive.files().list().execute()
        drive.files().list().execute()
        error = refused(drive.files().list())
        assert (error.status_code, reason(error)) == (403, "userRateLimitExceeded")
        assert error.error_details[0]["domain"] == "usageLimits"
        assert int(error.resp["retry-after"]) >= 1
        calendar_service.calendarList().list().execute()  # Calendar's budget is its own
        standin.advance_clock(61)
        drive.files().list().execute()

    def test_the_project_budget_is_shared_by_every_user(self, standin: GoogleStandIn, drive_for: Any) -> None:
        standin.limits.drive_user_units_per_minute = 10_000
        standin.limits.drive_project_units_per_minute = 150
        drive_for(ALICE).files().list().execute()
        error = refused(drive_for("bob@example.net").files().list())
        assert (error.status_code, reason(error)) == (403, "rateLimitExceeded")


def test_a_scripted_429_on_files_get_then_the_file(standin: GoogleStandIn, drive: Any) -> None:
    doc = drive.files().create(body={"name": "Proposal", "mimeType": DOC}).execute()
    standin.faults.add(FaultRule("drive.files.get", status=429))
    error = refused(drive.files().get(fileId=doc["id"]))
    assert (error.status_code, reason(error)) == (429, "rateLimitExceeded")
    assert drive.files().get(fileId=doc["id"]).execute()["name"] == "Proposal"
    assert [c.status for c in standin.calls.calls(method_id="drive.files.get")] == [429, 200]


def test_requests_beyond_the_concurrency_cap_get_429(standin: GoogleStandIn, drive_for: Any) -> None:
    clients = [drive_for() for _ in range(2)]  # httplib2 is not thread-safe: one client per thread
    doc = clients[0].files().create(body={"name": "Proposal", "mimeType": DOC}).execute()
    standin.limits.user_concurrency = 1
    slow = standin.faults.add(FaultRule("drive.files.get", FaultAction.DELAY, delay_seconds=0.5, times=1))
    outcomes: list[int] = []

    def fetch(client: Any) -> None:
        try:
            client.files().get(fileId=doc["id"]).execute()
            outcomes.append(200)
        except HttpError as error:
            outcomes.append(error.status_code)

    first = threading.Thread(target=fetch, args=(clients[0],))
    first.start()
    while not slow.hits:
        time.sleep(0.005)
    time.sleep(0.1)  # the slow get, past its fault script, now holds the only slot
    fetch(clients[1])
    first.join()
    assert sorted(outcomes) == [200, 429]


def test_the_admin_api_drives_files_as_the_user(standin: GoogleStandIn, drive: Any) -> None:
    base = f"/standin/accounts/{ALICE}/drive/files"
    status, doc = admin(standin, "POST", base, {"name": "Template", "mimeType": DOC, "text": "Dear client"})
    assert status == 201
    status, binary = admin(
        standin,
        "POST",
        base,
        {"name": "logo.png", "mimeType": "image/png", "contentBase64": base64.b64encode(b"\x89PNG").decode()},
    )
    assert (status, binary["size"]) == (201, "4")
    assert names(drive.files().list().execute()["files"]) == []  # not the app's until granted
    assert admin(standin, "POST", f"{base}/{doc['id']}/grant")[0] == 200
    assert names(drive.files().list().execute()["files"]) == ["Template"]
    assert (
        admin(standin, "POST", f"{base}/{doc['id']}/rename", {"name": "Template v2"})[1]["name"]
        == "Template v2"
    )
    assert admin(standin, "PUT", f"{base}/{doc['id']}/text", {"text": "Dear customer"})[0] == 200
    assert admin(standin, "GET", f"{base}/{doc['id']}/text") == (200, {"text": "Dear customer"})
    assert admin(standin, "GET", f"{base}/{binary['id']}/content") == (200, {"contentBase64": "iVBORw=="})
    assert admin(standin, "POST", f"{base}/{doc['id']}/trash")[1]["trashed"] is True
    assert admin(standin, "POST", f"{base}/{doc['id']}/untrash")[1]["trashed"] is False
    sharing = admin(standin, "PUT", f"{base}/{doc['id']}/sharing", {"canShare": False})[1]
    assert sharing["capabilities"]["canShare"] is False
    assert admin(standin, "DELETE", f"{base}/{binary['id']}")[0] == 200
    status, listed = admin(standin, "GET", base)
    assert (status, names(listed["files"])) == (200, ["Template v2"])
    assert admin(standin, "GET", f"{base}/{binary['id']}")[0] == 404
    assert admin(standin, "GET", "/standin/accounts/nobody@example.com/drive/files")[0] == 404
