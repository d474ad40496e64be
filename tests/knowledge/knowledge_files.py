"""Documents the tests write themselves: PDF with a Korean font, DOCX, XLSX."""

from __future__ import annotations

import io
from pathlib import Path

from support import require_system_file

NANUM = Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf")


def make_pdf(pages: list[str]) -> bytes:
    """A PDF with one page per string, in NanumGothic so Korean text is real text (Debian fonts-nanum)."""
    from fpdf import FPDF

    require_system_file(NANUM, "fonts-nanum")
    pdf = FPDF()
    pdf.add_font("Nanum", fname=str(NANUM))
    pdf.set_font("Nanum", size=11)
    for text in pages:
        pdf.add_page()
        for paragraph in text.split("\n\n"):
            pdf.multi_cell(0, 6, paragraph)
            pdf.ln(4)
    return bytes(pdf.output())


def make_docx(items: list[tuple[str, object]]) -> bytes:
    """``("heading", text)``, ``("p", text)``, ``("table", rows)``, ``("pagebreak", None)``."""
    from docx import Document

    document = Document()
    for kind, value in items:
        if kind == "heading":
            document.add_heading(str(value), level=1)
        elif kind == "p":
            document.add_paragraph(str(value))
        elif kind == "pagebreak":
            document.add_page_break()
        elif kind == "table":
            rows = list(value)  # type: ignore[call-overload]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for r, row in enumerate(rows):
                for c, cell in enumerate(row):
                    table.cell(r, c).text = str(cell)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_xlsx(rows: list[list[object]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
