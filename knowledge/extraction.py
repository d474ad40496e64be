"""Text with page numbers out of an uploaded document, treating every upload as hostile.

The content decides the format, never the name: a PDF renamed to .docx is read as a PDF, a binary renamed
to .txt is refused. Each format has its own bounds (pages, unpacked bytes, characters) checked before or while
reading, and every failure is an :class:`ExtractionError` whose message says what to do. Tables stay tables:
CSV and Excel sheets (read by :mod:`assistant.tables` with its zip-bomb guards) and DOCX tables become
Markdown tables, kept whole in one block so a chunk never cuts a row.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from html.parser import HTMLParser

from django.utils.translation import gettext as _

from assistant import tables

_PDF_MAGIC = b"%PDF-"
_ZIP_MAGIC = b"PK\x03\x04"
_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_CONTROL_CHARS_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_MARKDOWN_HEADING_RE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


class ExtractionError(ValueError):
    """Why a document could not be read, in the user's words, with what to do."""


@dataclass
class Block:
    """A paragraph, a heading's body or a whole table, on one page, under the heading in force."""

    page: int
    text: str
    heading: str = ""
    table: bool = False


@dataclass
class Extracted:
    mime: str
    page_count: int
    blocks: list[Block] = field(default_factory=list)


@dataclass(frozen=True)
class Limits:
    max_pages: int
    max_chars: int


def extract(data: bytes, filename: str, limits: Limits) -> Extracted:
    """Sniff ``data`` and extract it; raise :class:`ExtractionError` for anything unreadable or over a bound."""
    if not data.strip():
        raise ExtractionError(_("The file is empty. Upload a document with text in it."))
    extension = filename.rpartition(".")[2].lower() if "." in filename else ""
    if data.startswith(_PDF_MAGIC):
        result = _pdf(data, limits)
    elif data.startswith(_ZIP_MAGIC):
        result = _office(data, filename, limits)
    elif data.startswith(_CFB_MAGIC):
        raise ExtractionError(
            _(
                "This is an old binary Office file or a password-protected one. "
                "Save it as DOCX or XLSX without a password."
            )
        )
    else:
        result = _text(data, filename, extension, limits)
    if not any(block.text.strip() for block in result.blocks):
        raise ExtractionError(
            _("No text was found in this document (a scanned PDF has only images). Upload a version with text.")
        )
    total = sum(len(block.text) for block in result.blocks)
    if total > limits.max_chars:
        raise ExtractionError(
            _("The document holds more than %(limit)d characters of text. Split it into smaller documents.")
            % {"limit": limits.max_chars}
        )
    return result


# ------------------------------------------------------------------------------------------------ PDF


def _pdf(data: bytes, limits: Limits) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractionError(_("The PDF is protected by a password. Upload a copy without the password."))
        count = len(reader.pages)
    except ExtractionError:
        raise
    except Exception as exc:  # pypdf raises many kinds of errors on damaged files
        if isinstance(exc, PdfReadError) and "decrypt" in str(exc).lower():
            raise ExtractionError(_("The PDF is protected by a password. Upload a copy without the password.")) from exc
        raise ExtractionError(
            _("The PDF is damaged and could not be read. Export it again and upload the new copy.")
        ) from exc
    if count > limits.max_pages:
        raise ExtractionError(
            _("The PDF has %(count)d pages; at most %(limit)d are accepted. Split it into smaller documents.")
            % {"count": count, "limit": limits.max_pages}
        )
    blocks: list[Block] = []
    used = 0
    for number, page in enumerate(reader.pages, start=1):
        try:
            text = page.extract_text() or ""
        except Exception as exc:
            raise ExtractionError(
                _("Page %(page)d of the PDF is damaged. Export the PDF again and upload the new copy.")
                % {"page": number}
            ) from exc
        used += len(text)
        if used > limits.max_chars:
            break  # extract() reports the bound
        for paragraph in _paragraphs(text):
            blocks.append(Block(page=number, text=paragraph))
    return Extracted(mime="application/pdf", page_count=count, blocks=blocks)


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, with hard line breaks inside them joined."""
    parts = re.split(r"\n\s*\n", text.replace("\r\n", "\n"))
    return [re.sub(r"\s*\n\s*", " ", part).strip() for part in parts if part.strip()]


# ------------------------------------------------------------------------------------------------ DOCX / XLSX


def _office(data: bytes, filename: str, limits: Limits) -> Extracted:
    try:
        tables.check_archive(data)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except tables.TableError as exc:
        if exc.code == "xlsx_corrupt":
            raise ExtractionError(
                _("The file is damaged and could not be opened. Save it again and upload it.")
            ) from exc
        raise ExtractionError(
            _(
                "The file is packed in an unusual way (it would unpack to far more than it holds) and was not opened "
                "for safety. Save it again from your editor, or upload it as PDF."
            )
        ) from exc
    except zipfile.BadZipFile as exc:
        raise ExtractionError(_("The file is damaged and could not be opened. Save it again and upload it.")) from exc
    if "word/document.xml" in names:
        return _docx(data, limits)
    if "xl/workbook.xml" in names:
        return _table(data, filename if filename.lower().endswith((".xlsx", ".xlsm")) else "sheet.xlsx", limits)
    raise ExtractionError(
        _("This archive is not a DOCX or XLSX document. Upload PDF, DOCX, TXT, Markdown, HTML, CSV or XLSX.")
    )


def _docx(data: bytes, limits: Limits) -> Extracted:
    from docx import Document as open_docx
    from docx.table import Table as DocxTable
    from docx.text.paragraph import Paragraph

    try:
        document = open_docx(io.BytesIO(data))
    except Exception as exc:
        raise ExtractionError(
            _("The DOCX file is damaged and could not be opened. Save it again and upload it.")
        ) from exc
    blocks: list[Block] = []
    heading = ""
    page = 1
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            # Explicit page breaks are the only page numbers a DOCX has; Word's layout is not known here.
            page += sum(
                1 for run in item.runs for br in run._r.findall(".//w:br", run._r.nsmap) if br.get(_W_TYPE) == "page"
            )
            text = item.text.strip()
            if not text:
                continue
            style = (item.style.name if item.style is not None else "") or ""
            if style.lower().startswith(("heading", "title")):
                heading = text[:300]
            blocks.append(Block(page=page, text=text, heading=heading))
        elif isinstance(item, DocxTable):
            rows = [[cell.text.strip() for cell in row.cells] for row in item.rows]
            if rows:
                blocks.append(Block(page=page, text=_markdown_table(rows[0], rows[1:]), heading=heading, table=True))
    return Extracted(
        mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document", page_count=page, blocks=blocks
    )


_W_TYPE = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}type"


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |"

    return "\n".join([line(header), "| " + " | ".join("---" for _ in header) + " |", *(line(row) for row in rows)])


def _table(data: bytes, filename: str, limits: Limits) -> Extracted:
    try:
        table = tables.parse_table(filename, data, max_bytes=len(data) + 1, max_total_chars=limits.max_chars)
    except tables.TableError as exc:
        raise ExtractionError(exc.message) from exc
    # A long sheet becomes several blocks of rows, each with the header, so every chunk is a readable table.
    blocks = []
    step = 20
    for start in range(0, max(len(table.rows), 1), step):
        blocks.append(
            Block(
                page=1,
                text=_markdown_table(table.columns, table.rows[start : start + step]),
                heading=table.name,
                table=True,
            )
        )
    mime = "text/csv" if table.kind == "csv" else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Extracted(mime=mime, page_count=1, blocks=blocks)


# ------------------------------------------------------------------------------------------------ text


def _text(data: bytes, filename: str, extension: str, limits: Limits) -> Extracted:
    try:
        text = tables.decode_text(data)
    except tables.TableError as exc:
        raise ExtractionError(
            _("The file is not text in UTF-8, UTF-16 or CP949 (EUC-KR). Save it as UTF-8 text and upload it again.")
        ) from exc
    if "\x00" in text or len(_CONTROL_CHARS_RE.findall(text[:8192])) > 8:
        raise ExtractionError(
            _("The file is not a document this app can read. Upload PDF, DOCX, TXT, Markdown, HTML, CSV or XLSX.")
        )
    head = text.lstrip()[:512].lower()
    if head.startswith(("<!doctype html", "<html")) or (extension in ("html", "htm") and "<" in head):
        return Extracted(mime="text/html", page_count=1, blocks=_html_blocks(text))
    if extension in ("csv", "tsv"):
        return _table(data, filename, limits)
    mime = "text/markdown" if extension in ("md", "markdown") else "text/plain"
    return Extracted(mime=mime, page_count=_form_feeds(text), blocks=_markdown_blocks(text))


def _form_feeds(text: str) -> int:
    return text.count("\f") + 1


def _markdown_blocks(text: str) -> list[Block]:
    """Paragraphs under Markdown headings; a form feed starts a new page; pipe tables stay whole."""
    blocks: list[Block] = []
    for page_index, page_text in enumerate(text.split("\f"), start=1):
        heading = blocks[-1].heading if blocks else ""
        for part in re.split(r"\n\s*\n", page_text.replace("\r\n", "\n")):
            lines = [line for line in part.split("\n") if line.strip()]
            if not lines:
                continue
            body: list[str] = []
            for line in lines:
                match = _MARKDOWN_HEADING_RE.match(line.strip())
                if match:
                    if body:
                        blocks.append(Block(page=page_index, text=" ".join(body), heading=heading))
                        body = []
                    heading = match.group(2)[:300]
                else:
                    body.append(line.strip())
            if body:
                is_table = all(line.startswith("|") for line in body)
                blocks.append(
                    Block(page=page_index, text=("\n" if is_table else " ").join(body), heading=heading, table=is_table)
                )
    return blocks


class _HtmlText(HTMLParser):
    """Visible text by block, headings remembered, scripts and styles dropped, tables as Markdown."""

    _BLOCKS = {"p", "div", "li", "br", "section", "article", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre"}
    _SKIP = {"script", "style", "noscript", "template", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.heading = ""
        self._text: list[str] = []
        self._skip = 0
        self._in_heading = False
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag == "table":
            self._flush()
            self._table = []
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
        elif tag in self._BLOCKS:
            self._flush()
            self._in_heading = tag in {"h1", "h2", "h3", "h4", "h5", "h6"}

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in ("td", "th") and self._table is not None and self._cell is not None:
            if not self._table:
                self._table.append([])
            self._table[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table" and self._table is not None:
            rows = [row for row in self._table if row]
            if rows:
                self.blocks.append(Block(1, _markdown_table(rows[0], rows[1:]), self.heading, table=True))
            self._table = None
        elif tag in self._BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._cell is not None:
            self._cell.append(data)
        elif self._table is None:
            self._text.append(data)

    def _flush(self) -> None:
        text = " ".join("".join(self._text).split())
        self._text = []
        if not text:
            return
        if self._in_heading:
            self.heading = text[:300]
            self._in_heading = False
        self.blocks.append(Block(1, text, self.heading))


def _html_blocks(text: str) -> list[Block]:
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    parser._flush()
    return parser.blocks
