"""files.export's renderings of a Docs Editors file: a real PDF (fpdf2), a real DOCX (python-docx),
plain text, HTML and Markdown of a Doc's paragraphs; a placeholder for Sheets and Slides, which hold no
content in the stand-in. Also the reverse for files.create: importing uploaded text or DOCX into a Doc.

fpdf2 and python-docx are dev dependencies, imported only when an export asks for them.
"""

from __future__ import annotations

import html
import io
from pathlib import Path

from local_stack.google_standin.drive_files import (
    CSV,
    DOCX,
    GOOGLE_DOC,
    GOOGLE_SHEET,
    HTML,
    MARKDOWN,
    PDF,
    TEXT,
)
from local_stack.google_standin.errors import conversion_not_supported, import_not_supported

# A Unicode font when the machine has one (Debian's fonts-dejavu-core), else PDF's core Helvetica,
# which holds Latin-1 only: other characters then print as "?".
_UNICODE_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
_BOM = "\ufeff"  # Google's text/plain export of a Doc starts with one, and ends lines with CRLF


def render(mime_type: str, export_type: str, *, title: str, paragraphs: list[str]) -> bytes:
    """``paragraphs`` of a ``mime_type`` file as ``export_type``; 400 for a pair the stand-in lacks."""
    if mime_type != GOOGLE_DOC:
        kind = "spreadsheet" if mime_type == GOOGLE_SHEET else "presentation"
        paragraphs = [] if export_type in (CSV, TEXT) else [f"({title}: a {kind} the stand-in keeps empty)"]
    if export_type == PDF:
        return _pdf(title, paragraphs)
    if export_type == DOCX:
        return _docx(title, paragraphs)
    if export_type == TEXT:
        return (_BOM + "\r\n".join(paragraphs)).encode() if paragraphs else b""
    if export_type == CSV:
        return b""
    if export_type == HTML:
        body = "".join(f"<p>{html.escape(paragraph)}</p>" for paragraph in paragraphs)
        return (
            f'<html><head><meta content="text/html; charset=UTF-8" http-equiv="content-type">'
            f"<title>{html.escape(title)}</title></head><body>{body}</body></html>"
        ).encode()
    if export_type == MARKDOWN:
        return "\n\n".join(paragraphs).encode() + (b"\n" if paragraphs else b"")
    raise conversion_not_supported()


def import_paragraphs(media_type: str, data: bytes) -> list[str]:
    """Uploaded media imported into a Doc (files.create with a Docs mimeType and media): plain text,
    Markdown and HTML line by line, DOCX paragraph by paragraph; anything else: Google's 400."""
    base = media_type.split(";", 1)[0].strip().lower()
    if base in (TEXT, MARKDOWN, HTML):
        text = data.decode("utf-8", errors="replace").removeprefix(_BOM)
        return text.replace("\r\n", "\n").split("\n") if text else []
    if base == DOCX:
        from docx import Document

        try:
            return [paragraph.text for paragraph in Document(io.BytesIO(data)).paragraphs]
        except Exception:  # noqa: BLE001 - python-docx raises many kinds for a broken package
            raise import_not_supported() from None
    raise import_not_supported()


def _pdf(title: str, paragraphs: list[str]) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_creator("Google Docs (stand-in)")
    pdf.add_page()
    unicode_font = _UNICODE_FONT.exists()
    if unicode_font:
        pdf.add_font("DejaVu", fname=str(_UNICODE_FONT))
        pdf.set_font("DejaVu", size=11)
    else:
        pdf.set_font("Helvetica", size=11)
    for paragraph in paragraphs:
        text = paragraph if unicode_font else paragraph.encode("latin-1", errors="replace").decode("latin-1")
        # An empty paragraph is an empty line, as Docs prints it.
        pdf.multi_cell(0, 6, text or " ", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _docx(title: str, paragraphs: list[str]) -> bytes:
    from docx import Document

    document = Document()
    document.core_properties.title = title
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
