"""files.export through the real client: a real PDF and a real DOCX of a Doc's paragraphs, plain text,
the formats a type does not export to, binary files, and the 10 MB limit."""

from __future__ import annotations

import io
from typing import Any

from docx import Document
from pypdf import PdfReader

from local_stack.google_standin.standin import GoogleStandIn
from tests.integration.google_standin.calendar_helpers import reason, refused
from tests.integration.google_standin.drive_helpers import DOC, DOCX, PDF, SHEET, media
from tests.integration.helpers import ALICE

PARAGRAPHS = ["Quote for Acme Corp", "", "Total: 1,200 EUR — valid 30 days", "Signed: Zoë"]


def doc_with_text(standin: GoogleStandIn, drive: Any) -> str:
    made = drive.files().create(body={"name": "Quote", "mimeType": DOC}).execute()
    standin.drive(ALICE).set_text(made["id"], "\n".join(PARAGRAPHS))
    return str(made["id"])


def test_pdf_export_is_a_valid_pdf_holding_the_paragraphs(standin: GoogleStandIn, drive: Any) -> None:
    file_id = doc_with_text(standin, drive)
    pdf = drive.files().export(fileId=file_id, mimeType=PDF).execute()
    assert pdf.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    for paragraph in PARAGRAPHS:
        assert paragraph in text
    assert reader.metadata is not None
    assert reader.metadata.title == "Quote"
    assert drive.files().export_media(fileId=file_id, mimeType=PDF).execute().startswith(b"%PDF-")


def test_docx_export_is_a_real_docx_with_one_paragraph_each(standin: GoogleStandIn, drive: Any) -> None:
    file_id = doc_with_text(standin, drive)
    data = drive.files().export(fileId=file_id, mimeType=DOCX).execute()
    assert data.startswith(b"PK")
    assert [p.text for p in Document(io.BytesIO(data)).paragraphs] == PARAGRAPHS


def test_plain_text_export_as_google_writes_it(standin: GoogleStandIn, drive: Any) -> None:
    file_id = doc_with_text(standin, drive)
    text = drive.files().export(fileId=file_id, mimeType="text/plain").execute()
    assert text == ("\ufeff" + "\r\n".join(PARAGRAPHS)).encode()
    blank = drive.files().create(body={"name": "Blank", "mimeType": DOC}).execute()
    assert drive.files().export(fileId=blank["id"], mimeType="text/plain").execute() == b""
    pdf = drive.files().export(fileId=blank["id"], mimeType=PDF).execute()
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1


def test_unsupported_formats_binary_files_and_sheets(standin: GoogleStandIn, drive: Any) -> None:
    file_id = doc_with_text(standin, drive)
    unsupported = refused(drive.files().export(fileId=file_id, mimeType="image/png"))
    assert (unsupported.status_code, reason(unsupported)) == (400, "badRequest")
    assert unsupported.error_details[0]["message"] == "The requested conversion is not supported."
    binary = drive.files().create(body={"name": "a.pdf"}, media_body=media(b"%PDF-1.4 x", PDF)).execute()
    not_exportable = refused(drive.files().export(fileId=binary["id"], mimeType=PDF))
    assert (not_exportable.status_code, reason(not_exportable)) == (403, "fileNotExportable")
    sheet = drive.files().create(body={"name": "Numbers", "mimeType": SHEET}).execute()
    assert drive.files().export(fileId=sheet["id"], mimeType="text/csv").execute() == b""
    assert drive.files().export(fileId=sheet["id"], mimeType=PDF).execute().startswith(b"%PDF-")
    assert refused(drive.files().export(fileId=sheet["id"], mimeType=DOCX)).status_code == 400


def test_an_export_over_10_mb_is_refused(standin: GoogleStandIn, drive: Any) -> None:
    file_id = doc_with_text(standin, drive)
    standin.drive(ALICE).set_text(file_id, ("x" * 1023 + "\n") * (10 * 1024 + 1))  # just over 10 MiB
    for export_type in (PDF, DOCX, "text/plain"):
        error = refused(drive.files().export(fileId=file_id, mimeType=export_type))
        assert (error.status_code, reason(error)) == (403, "exportSizeLimitExceeded")
        assert error.error_details[0]["message"] == "This file is too large to be exported."


def test_export_follows_the_drive_file_rule(standin: GoogleStandIn, drive: Any) -> None:
    user_doc = standin.drive(ALICE).create("Private", DOC, text="nope")
    assert refused(drive.files().export(fileId=user_doc["id"], mimeType=PDF)).status_code == 404
