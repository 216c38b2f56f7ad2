"""Drive files through the real client: the drive.file rule, Docs from nothing and from a template,
uploads and downloads, generated ids, listing with q, order and pages, updates and deletes."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from local_stack.google_standin.errors import GoogleApiError
from local_stack.google_standin.standin import GoogleStandIn
from tests.integration.google_standin.calendar_helpers import reason, refused
from tests.integration.google_standin.drive_helpers import DOC, DRIVE, DRIVE_READONLY, FOLDER, media, names
from tests.integration.helpers import ALICE, BOB


def test_drive_file_sees_only_the_apps_files_and_the_picked_ones(
    standin: GoogleStandIn, drive: Any, drive_for: Any
) -> None:
    user_file = standin.drive(ALICE).create("Board minutes", DOC, text="Secret")
    ours = drive.files().create(body={"name": "Proposal", "mimeType": DOC}).execute()
    error = refused(drive.files().get(fileId=user_file["id"]))
    assert (error.status_code, reason(error)) == (404, "notFound")
    assert error.error_details[0]["message"] == f"File not found: {user_file['id']}."
    assert error.error_details[0]["location"] == "fileId"
    assert names(drive.files().list().execute()["files"]) == ["Proposal"]
    assert refused(drive.files().copy(fileId=user_file["id"], body={})).status_code == 404

    standin.drive(ALICE).grant_to_app(user_file["id"])  # the user picks it with the Picker
    assert drive.files().get(fileId=user_file["id"]).execute()["name"] == "Board minutes"
    assert sorted(names(drive.files().list().execute()["files"])) == ["Board minutes", "Proposal"]
    # The full scope sees everything; another account's Drive is another Drive.
    assert len(drive_for(ALICE, [DRIVE]).files().list().execute()["files"]) == 2
    assert refused(drive_for(BOB).files().get(fileId=ours["id"])).status_code == 404


def test_a_file_readable_but_not_the_apps_is_refused_for_writes(
    standin: GoogleStandIn, drive_for: Any
) -> None:
    user_file = standin.drive(ALICE).create("Budget", DOC)
    reader = drive_for(ALICE, [DRIVE_READONLY, "https://www.googleapis.com/auth/drive.file"])
    assert reader.files().get(fileId=user_file["id"]).execute()["name"] == "Budget"
    error = refused(reader.files().update(fileId=user_file["id"], body={"name": "Mine now"}))
    assert (error.status_code, reason(error)) == (403, "appNotAuthorizedToFile")
    readonly = refused(drive_for(ALICE, [DRIVE_READONLY]).files().create(body={"name": "x"}))
    assert (readonly.status_code, reason(readonly)) == (403, "insufficientPermissions")


def test_a_blank_doc_and_a_copy_of_a_template(standin: GoogleStandIn, drive: Any) -> None:
    blank = (
        drive.files()
        .create(
            body={"name": "Notes", "mimeType": DOC}, fields="id,name,mimeType,webViewLink,version,createdTime"
        )
        .execute()
    )
    assert blank["webViewLink"] == f"https://docs.google.com/document/d/{blank['id']}/edit?usp=drivesdk"
    assert blank["version"] == "1"
    assert blank["createdTime"].endswith("Z")
    assert standin.drive(ALICE).text(blank["id"]) == ""

    template = standin.drive(ALICE).create("Quote template", DOC, text="Dear {name},\nOur offer.")
    standin.drive(ALICE).grant_to_app(template["id"])
    copy = drive.files().copy(fileId=template["id"], body={"name": "Quote for Acme"}, fields="*").execute()
    assert (copy["name"], copy["mimeType"], copy["ownedByMe"]) == ("Quote for Acme", DOC, True)
    assert copy["owners"][0]["emailAddress"] == ALICE
    assert copy["exportLinks"]["application/pdf"].endswith(f"id={copy['id']}&exportFormat=pdf")
    assert standin.drive(ALICE).text(copy["id"]) == "Dear {name},\nOur offer."
    unnamed = drive.files().copy(fileId=template["id"], body={}).execute()
    assert unnamed["name"] == "Copy of Quote template"
    assert len(copy["id"]) == 44
    assert all(c.isalnum() or c in "-_" for c in copy["id"])


def test_fields_default_to_googles_four_and_select_what_is_asked(standin: GoogleStandIn, drive: Any) -> None:
    made = drive.files().create(body={"name": "Plan", "mimeType": DOC}).execute()
    assert set(made) == {"kind", "id", "name", "mimeType"}
    picked = drive.files().get(fileId=made["id"], fields="id,name,mimeType,webViewLink").execute()
    assert set(picked) == {"id", "name", "mimeType", "webViewLink"}
    everything = drive.files().get(fileId=made["id"], fields="*").execute()
    assert {"capabilities", "owners", "modifiedTime", "version", "shared", "webViewLink"} <= set(everything)
    assert everything["capabilities"]["canShare"] is True
    nested = (
        drive.files().get(fileId=made["id"], fields="capabilities/canEdit,owners(emailAddress)").execute()
    )
    assert nested == {"capabilities": {"canEdit": True}, "owners": [{"emailAddress": ALICE}]}
    error = refused(drive.files().get(fileId=made["id"], fields="id,nmae"))
    assert (error.status_code, reason(error)) == (400, "invalidParameter")


def test_multipart_and_media_uploads_round_trip_through_alt_media(standin: GoogleStandIn, drive: Any) -> None:
    data = bytes(range(256)) * 64 + b"\r\n--boundary-like\r\n"
    made = (
        drive.files()
        .create(
            body={"name": "scan.bin", "description": "a scan"},
            media_body=media(data, "application/x-scan"),
            fields="id,size,md5Checksum,mimeType,webContentLink,description",
        )
        .execute()
    )
    assert made["size"] == str(len(data))
    assert made["md5Checksum"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert (made["mimeType"], made["description"]) == ("application/x-scan", "a scan")
    assert made["webContentLink"] == f"https://drive.google.com/uc?id={made['id']}&export=download"
    assert drive.files().get_media(fileId=made["id"]).execute() == data
    assert standin.drive(ALICE).content(made["id"]) == data

    simple = drive.files().create(media_body=media(b"plain words", "text/plain")).execute()
    assert (simple["name"], simple["mimeType"]) == ("Untitled", "text/plain")
    replaced = drive.files().update(
        fileId=simple["id"], media_body=media(b"new words", "text/plain"), fields="version"
    )
    assert replaced.execute()["version"] == "2"
    assert drive.files().get_media(fileId=simple["id"]).execute() == b"new words"


def test_a_doc_cannot_be_downloaded_and_an_uploaded_text_becomes_its_paragraphs(
    standin: GoogleStandIn, drive: Any
) -> None:
    imported = (
        drive.files()
        .create(body={"name": "Imported", "mimeType": DOC}, media_body=media(b"First\nSecond", "text/plain"))
        .execute()
    )
    assert standin.drive(ALICE).text(imported["id"]) == "First\nSecond"
    error = refused(drive.files().get_media(fileId=imported["id"]))
    assert (error.status_code, reason(error)) == (403, "fileNotDownloadable")
    assert error.error_details[0]["message"] == (
        "Only files with binary content can be downloaded. Use Export with Docs Editors files."
    )


def test_generated_ids_are_taken_once_and_a_repeat_is_409(drive: Any) -> None:
    ids = drive.files().generateIds(count=3).execute()
    assert (ids["kind"], ids["space"], len(ids["ids"])) == ("drive#generatedIds", "drive", 3)
    file_id = ids["ids"][0]
    made = drive.files().create(body={"id": file_id, "name": "Contract", "mimeType": DOC}).execute()
    assert made["id"] == file_id
    repeat = refused(drive.files().create(body={"id": file_id, "name": "Contract", "mimeType": DOC}))
    assert (repeat.status_code, reason(repeat)) == (409, "duplicate")
    assert repeat.error_details[0]["message"] == "A file already exists with the provided ID."
    made_up = refused(drive.files().create(body={"id": "1" + "a" * 32, "name": "x"}))
    assert (made_up.status_code, reason(made_up)) == (400, "fileIdNotUsable")
    assert refused(drive.files().generateIds(count=1001)).status_code == 400


def test_list_filters_with_q_orders_and_pages(standin: GoogleStandIn, drive: Any) -> None:
    folder = drive.files().create(body={"name": "Acme", "mimeType": FOLDER}).execute()
    for name in ("Quote Acme", "Invoice Acme", "HelloWorld"):
        drive.files().create(body={"name": name, "mimeType": DOC, "parents": [folder["id"]]}).execute()
        standin.advance_clock(1)
    trashed = drive.files().create(body={"name": "Old quote", "mimeType": DOC}).execute()
    drive.files().update(fileId=trashed["id"], body={"trashed": True}).execute()

    def listed(**params: Any) -> list[str]:
        return names(drive.files().list(**params).execute()["files"])

    assert listed(q=f"'{folder['id']}' in parents and trashed = false", orderBy="name") == [
        "HelloWorld",
        "Invoice Acme",
        "Quote Acme",
    ]
    assert listed(q="name contains 'quote'", orderBy="name") == ["Old quote", "Quote Acme"]  # trashed too
    assert listed(q="name contains 'World'") == []  # prefix matching, as Drive's guide says
    assert listed(q="name contains 'Hello'") == ["HelloWorld"]
    assert listed(q=f"mimeType = '{FOLDER}'") == ["Acme"]
    assert listed(q=f"mimeType != '{FOLDER}' and trashed = true") == ["Old quote"]
    assert listed(q="name = 'Acme' or name = 'HelloWorld'", orderBy="name") == ["Acme", "HelloWorld"]
    assert listed(q=f"'root' in parents and not mimeType = '{FOLDER}'") == ["Old quote"]
    newest = listed(
        q="trashed = false and mimeType != 'application/vnd.google-apps.folder'", orderBy="modifiedTime desc"
    )
    assert newest == ["HelloWorld", "Invoice Acme", "Quote Acme"]
    middle = drive.files().get(fileId=_id_of(drive, "Invoice Acme"), fields="modifiedTime").execute()
    assert listed(q=f"modifiedTime > '{middle['modifiedTime']}' and trashed = false") == ["HelloWorld"]

    first = drive.files().list(pageSize=2, orderBy="name", fields="nextPageToken,files(name)").execute()
    second = drive.files().list(pageSize=3, orderBy="name", pageToken=first["nextPageToken"]).execute()
    assert names(first["files"]) + names(second["files"]) == [
        "Acme",
        "HelloWorld",
        "Invoice Acme",
        "Old quote",
        "Quote Acme",
    ]
    assert "nextPageToken" not in second
    for bad in ("name has 'x'", "name contains", "owner = 'x'", "name contains 'a' and"):
        error = refused(drive.files().list(q=bad))
        assert (error.status_code, reason(error), error.error_details[0]["location"]) == (400, "invalid", "q")
    assert refused(drive.files().list(pageSize=1001)).status_code == 400
    accepted = (
        drive.files()
        .list(
            spaces="drive",
            corpora="user",
            supportsAllDrives=True,
            includeItemsFromAllDrives=True,
            fields="files(id)",
        )
        .execute()
    )
    assert len(accepted["files"]) == 5


def _id_of(drive: Any, name: str) -> str:
    return str(drive.files().list(q=f"name = '{name}'").execute()["files"][0]["id"])


def test_update_renames_moves_and_trashes_with_versions(standin: GoogleStandIn, drive: Any) -> None:
    folder = drive.files().create(body={"name": "Deals", "mimeType": FOLDER}).execute()
    made = (
        drive.files()
        .create(body={"name": "Draft", "mimeType": DOC}, fields="id,parents,modifiedTime")
        .execute()
    )
    standin.advance_clock(5)
    moved = (
        drive.files()
        .update(
            fileId=made["id"],
            body={"name": "Final", "description": "signed", "appProperties": {"crmDealId": "42"}},
            addParents=folder["id"],
            removeParents=made["parents"][0],
            fields="name,description,parents,version,modifiedTime,appProperties",
        )
        .execute()
    )
    assert (moved["name"], moved["description"], moved["parents"]) == ("Final", "signed", [folder["id"]])
    assert moved["version"] == "2"
    assert moved["modifiedTime"] > made["modifiedTime"]
    assert names(
        drive.files().list(q="appProperties has { key='crmDealId' and value='42' }").execute()["files"]
    ) == ["Final"]
    two_parents = refused(drive.files().update(fileId=made["id"], body={}, addParents=made["parents"][0]))
    assert (two_parents.status_code, reason(two_parents)) == (403, "cannotAddParent")
    direct = refused(drive.files().update(fileId=made["id"], body={"parents": [folder["id"]]}))
    assert (direct.status_code, reason(direct)) == (403, "fieldNotWritable")
    trashed = drive.files().update(fileId=made["id"], body={"trashed": True}, fields="trashed").execute()
    assert trashed == {"trashed": True}
    assert standin.drive(ALICE).get(made["id"])["trashed"] is True


def test_delete_removes_a_folder_with_what_it_holds(standin: GoogleStandIn, drive: Any) -> None:
    folder = drive.files().create(body={"name": "Deals", "mimeType": FOLDER}).execute()
    inside = drive.files().create(body={"name": "Inside", "parents": [folder["id"]]}).execute()
    assert drive.files().delete(fileId=folder["id"]).execute() == ""
    assert refused(drive.files().get(fileId=inside["id"])).status_code == 404
    assert standin.drive(ALICE).files() == []


def test_the_python_api_acts_as_the_user(standin: GoogleStandIn, drive: Any) -> None:
    account = standin.drive(ALICE)
    doc = account.create("Letter", DOC, text="One\nTwo", app_created=True)
    assert drive.files().get(fileId=doc["id"]).execute()["name"] == "Letter"
    account.rename(doc["id"], "Letter v2")
    account.trash(doc["id"])
    assert account.get(doc["id"])["name"] == "Letter v2"
    account.untrash(doc["id"])
    account.set_text(doc["id"], "Three")
    assert account.text(doc["id"]) == "Three"
    assert account.get(doc["id"])["version"] == "5"
    binary = account.create("photo.jpg", "image/jpeg", content=b"\xff\xd8jpeg")
    assert account.content(binary["id"]) == b"\xff\xd8jpeg"
    account.delete(binary["id"])
    assert [f["name"] for f in account.files()] == ["Letter v2"]
    # Only the client's own call is in the call log: the Python API is not Google's surface.
    assert [call.method_id for call in standin.calls.calls(prefix="drive.")] == ["drive.files.get"]
    with pytest.raises(GoogleApiError) as unknown:
        standin.drive("nobody@example.com")
    assert unknown.value.status == 404
