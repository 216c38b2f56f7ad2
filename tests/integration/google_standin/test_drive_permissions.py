"""permissions.create, .list and .delete through the real client: the grantee types and roles, the
idempotent repeat, canShare, and what the call log records."""

from __future__ import annotations

from typing import Any

from local_stack.google_standin.standin import GoogleStandIn
from tests.integration.google_standin.admin_client import admin
from tests.integration.google_standin.calendar_helpers import reason, refused
from tests.integration.google_standin.drive_helpers import DOC
from tests.integration.helpers import ALICE

CLIENT = "client@customer.example"


def new_doc(drive: Any) -> str:
    return str(drive.files().create(body={"name": "Proposal", "mimeType": DOC}).execute()["id"])


def test_create_list_and_delete_a_users_permission(standin: GoogleStandIn, drive: Any) -> None:
    file_id = new_doc(drive)
    made = (
        drive.permissions()
        .create(
            fileId=file_id,
            body={"type": "user", "role": "reader", "emailAddress": CLIENT},
            sendNotificationEmail=False,
            fields="id,type,role,emailAddress",
        )
        .execute()
    )
    assert (made["type"], made["role"], made["emailAddress"]) == ("user", "reader", CLIENT)
    assert made["id"].isdigit()
    listed = drive.permissions().list(fileId=file_id, fields="permissions(id,role,emailAddress)").execute()
    assert sorted((p["role"], p["emailAddress"]) for p in listed["permissions"]) == [
        ("owner", ALICE),
        ("reader", CLIENT),
    ]
    assert set(drive.permissions().list(fileId=file_id).execute()["permissions"][0]) == {
        "kind",
        "id",
        "type",
        "role",
    }
    assert drive.files().get(fileId=file_id, fields="shared").execute() == {"shared": True}

    assert drive.permissions().delete(fileId=file_id, permissionId=made["id"]).execute() == ""
    assert [p["role"] for p in standin.drive(ALICE).permissions(file_id)] == ["owner"]
    gone = refused(drive.permissions().delete(fileId=file_id, permissionId=made["id"]))
    assert (gone.status_code, reason(gone)) == (404, "notFound")


def test_the_same_grant_twice_answers_the_same_permission(standin: GoogleStandIn, drive: Any) -> None:
    file_id = new_doc(drive)
    body = {"type": "user", "role": "writer", "emailAddress": CLIENT}
    first = drive.permissions().create(fileId=file_id, body=body).execute()
    again = drive.permissions().create(fileId=file_id, body=body).execute()
    assert first == again
    assert len(standin.drive(ALICE).permissions(file_id)) == 2
    promoted = drive.permissions().create(fileId=file_id, body={**body, "role": "commenter"}).execute()
    assert (promoted["id"], promoted["role"]) == (first["id"], "commenter")


def test_anyone_and_domain_permissions_are_taken_and_logged(standin: GoogleStandIn, drive: Any) -> None:
    """Google takes them, so the stand-in does; the product must never send them, and the call log is
    where a test sees that it did not."""
    file_id = new_doc(drive)
    anyone = drive.permissions().create(fileId=file_id, body={"type": "anyone", "role": "reader"}).execute()
    assert anyone["id"] == "anyoneWithLink"
    domain = (
        drive.permissions()
        .create(fileId=file_id, body={"type": "domain", "role": "reader", "domain": "customer.example"})
        .execute()
    )
    assert domain["type"] == "domain"
    drive.permissions().create(
        fileId=file_id, body={"type": "user", "role": "writer", "emailAddress": CLIENT}, emailMessage="Hi"
    ).execute()
    drive.permissions().delete(fileId=file_id, permissionId="anyoneWithLink").execute()
    details = [call.details for call in standin.calls.calls(prefix="drive.permissions.")]
    assert details == [
        {"fileId": file_id, "type": "anyone", "role": "reader", "sendNotificationEmail": None},
        {
            "fileId": file_id,
            "type": "domain",
            "role": "reader",
            "domain": "customer.example",
            "sendNotificationEmail": None,
        },
        {
            "fileId": file_id,
            "type": "user",
            "role": "writer",
            "emailAddress": CLIENT,
            "sendNotificationEmail": None,
        },
        {
            "fileId": file_id,
            "type": "anyone",
            "role": "reader",
            "sendNotificationEmail": None,
            "permissionId": "anyoneWithLink",
        },
    ]


def test_bad_permissions_are_refused(drive: Any) -> None:
    file_id = new_doc(drive)
    cases: list[tuple[dict[str, Any], dict[str, Any], int]] = [
        ({"type": "user", "role": "reader"}, {}, 400),  # no emailAddress
        ({"type": "domain", "role": "reader"}, {}, 400),  # no domain
        ({"type": "anyone", "role": "reader"}, {"sendNotificationEmail": False}, 400),
        ({"type": "robot", "role": "reader"}, {}, 400),
        ({"type": "user", "role": "boss", "emailAddress": CLIENT}, {}, 400),
        ({"type": "user", "role": "owner", "emailAddress": CLIENT}, {}, 403),  # transferOwnership missing
    ]
    for body, params, status in cases:
        assert refused(drive.permissions().create(fileId=file_id, body=body, **params)).status_code == status


def test_a_user_who_cannot_share_gets_insufficient_file_permissions(
    standin: GoogleStandIn, drive: Any
) -> None:
    file_id = new_doc(drive)
    standin.drive(ALICE).set_sharing(file_id, can_share=False)
    shown = drive.files().get(
        fileId=file_id, fields="capabilities(canShare,canEdit),writersCanShare,ownedByMe"
    )
    assert shown.execute() == {
        "capabilities": {"canShare": False, "canEdit": True},
        "writersCanShare": False,
        "ownedByMe": False,
    }
    error = refused(
        drive.permissions().create(
            fileId=file_id, body={"type": "user", "role": "reader", "emailAddress": CLIENT}
        )
    )
    assert (error.status_code, reason(error)) == (403, "insufficientFilePermissions")
    assert error.error_details[0]["message"] == "The user does not have sufficient permissions for this file."
    assert standin.calls.calls(method_id="drive.permissions.create")[0].details == {
        "fileId": file_id,
        "type": "user",
        "role": "reader",
        "emailAddress": CLIENT,
        "sendNotificationEmail": None,
    }
    standin.drive(ALICE).set_sharing(file_id, can_share=True)
    drive.permissions().create(
        fileId=file_id, body={"type": "user", "role": "reader", "emailAddress": CLIENT}
    ).execute()


def test_permissions_through_the_admin_api(standin: GoogleStandIn, drive: Any) -> None:
    file_id = new_doc(drive)
    status, made = admin(
        standin,
        "POST",
        f"/standin/accounts/{ALICE}/drive/files/{file_id}/permissions",
        {"type": "user", "role": "writer", "emailAddress": CLIENT},
    )
    assert (status, made["role"]) == (201, "writer")
    status, listed = admin(standin, "GET", f"/standin/accounts/{ALICE}/drive/files/{file_id}/permissions")
    assert (status, [p["role"] for p in listed["permissions"]]) == (200, ["owner", "writer"])
    assert standin.calls.calls(prefix="drive.permissions.") == []
