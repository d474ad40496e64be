"""Read an uploaded CSV or Excel (.xlsx) table, within hard limits, for use in a chat.

Everything here treats the upload as hostile: sizes are checked before any parsing, an .xlsx archive's members are
checked with :mod:`zipfile` before openpyxl sees it (zip bombs), and openpyxl parses XML through defusedxml, which it
picks up by itself once installed. The parsed table is bounded too, not only the archive: a small sheet whose cells
all point at one long shared string unpacks little but reads as hundreds of millions of characters, so the cells
and characters read are counted as rows stream in (openpyxl's read-only mode parses the sheet incrementally) and
reading stops with an error at the first one over the limit. Every failure is a :class:`TableError` whose message
tells the user what to do.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from _csv import Reader as _CsvReader

#: An .xlsx archive may unpack to at most this many bytes in total.
MAX_XLSX_UNCOMPRESSED = 50 * 1024 * 1024
#: Members bigger than MIN_RATIO_CHECK that unpack to more than this multiple of their packed size are refused:
#: real sheets compress about 5-30x, bombs by orders of magnitude more.
MAX_COMPRESSION_RATIO = 200
MIN_RATIO_CHECK = 1024 * 1024
MAX_XLSX_MEMBERS = 10_000
#: openpyxl loads the shared strings part whole, before the first row: its unpacked size is bounded on its own.
MAX_SHARED_STRINGS_BYTES = 16 * 1024 * 1024
MAX_NAME_CHARS = 255

_ZIP_MAGIC = b"PK\x03\x04"
#: OLE compound file: an old binary .xls, or an .xlsx that Office encrypted with a password.
_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_CSV_EXTENSIONS = frozenset({"csv", "tsv", "txt"})
_XLSX_EXTENSIONS = frozenset({"xlsx", "xlsm"})
_DELIMITERS = (",", "\t", ";")
_CONTROL_CHARS_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_NEWLINES_RE = re.compile(r"\r\n|\r|\n")


def gettext_noop(message: str) -> str:
    """Identity. Named like Django's marker so makemessages extracts the strings below, without this module needing
    Django settings (Django's own ``gettext_noop`` reads them)."""
    return message


#: English messages by code, marked (not translated) for makemessages: callers translate them with gettext.
MESSAGES: dict[str, str] = {
    "too_big": gettext_noop(
        "The file is larger than {limit}. Upload a smaller file or split the table into several files."
    ),
    "unsupported": gettext_noop(
        "Only CSV (.csv, .tsv) and Excel (.xlsx) files can be read as tables. "
        "Save the table in one of those formats and upload it again."
    ),
    "empty": gettext_noop(
        "The file is empty or has only blank rows. Upload a file that contains a table with a header row."
    ),
    "binary": gettext_noop(
        "The file does not look like a CSV text file. "
        "Check that you picked the right file, or export the table from your spreadsheet as CSV again."
    ),
    "encoding": gettext_noop(
        'The file\'s text encoding was not recognised. Save it as "CSV UTF-8" and upload it again.'
    ),
    "malformed_csv": gettext_noop(
        "The CSV file is malformed near line {line}, for example a quote that is never closed. "
        "Fix that line or export the file from your spreadsheet again."
    ),
    "cell_too_large": gettext_noop(
        "A cell in the CSV file is far too long to read. Shorten it or remove it and upload the file again."
    ),
    "too_many_columns": gettext_noop(
        "The table has {count} columns, but at most {limit} are supported. "
        "Remove the columns you do not need and upload it again."
    ),
    "xls": gettext_noop(
        "Old Excel (.xls) files are not supported. "
        "Open the file in Excel, save it as .xlsx or .csv and upload it again."
    ),
    "xlsx_encrypted": gettext_noop(
        "The Excel file is password-protected. Remove the password in Excel (File > Info > Protect Workbook) "
        "and upload it again."
    ),
    "xlsx_corrupt": gettext_noop(
        "The Excel file could not be opened; it may be damaged or not really an .xlsx file. "
        "Open it in Excel, save it again as .xlsx and upload it again."
    ),
    "xlsx_too_large": gettext_noop(
        "The Excel file unpacks to more than {limit}. "
        "Upload a smaller workbook, or export just the sheet you need as CSV."
    ),
    "xlsx_strings_too_large": gettext_noop(
        "The text in the Excel file takes more than {limit} unpacked. "
        "Upload fewer rows or shorter cells, or export just the sheet you need as CSV."
    ),
    "table_too_large": gettext_noop(
        "The table holds more than {limit} characters of text. "
        "Upload fewer rows or shorter cells, or split the table into several files."
    ),
    "too_many_cells": gettext_noop(
        "The table has more than {limit} cells. Upload fewer rows or columns, or split the table into several files."
    ),
    "xlsx_suspicious": gettext_noop(
        "The Excel file is packed in an unusual way and was not opened for safety. "
        "Export the sheet as CSV and upload that instead."
    ),
}


class TableError(ValueError):
    """A user-facing reason why a table could not be read. ``code`` and ``params`` allow translating ``message``."""

    def __init__(self, code: str, **params: Any) -> None:
        self.code = code
        self.params = params
        self.message = MESSAGES[code].format(**params)
        super().__init__(self.message)


@dataclass
class Table:
    """A parsed table: header names, the first ``max_rows`` data rows (all cells as text) and the full row count."""

    name: str
    columns: list[str]
    rows: list[list[str]]
    total_rows: int
    truncated: bool
    kind: Literal["csv", "xlsx"]


@dataclass(frozen=True)
class _Limits:
    max_rows: int
    max_cols: int
    max_cell_chars: int
    max_total_chars: int
    max_cells: int


# --------------------------------------------------------------------------------------------------------------------
# Public API


def parse_table(
    name: str,
    data: bytes,
    *,
    max_bytes: int = 5 * 1024 * 1024,
    max_rows: int = 5000,
    max_cols: int = 50,
    max_cell_chars: int = 2000,
    max_total_chars: int = 5_000_000,
    max_cells: int = 1_000_000,
) -> Table:
    """Parse an uploaded .csv/.tsv or .xlsx file (first sheet) into a :class:`Table`, or raise :class:`TableError`.

    The first non-empty row is the header. Blank rows are skipped, short rows are padded with empty cells, cells are
    cut to ``max_cell_chars``; rows past ``max_rows`` are counted in ``total_rows`` but not kept (``truncated``).
    Every row read, kept or only counted, adds to two budgets: ``max_cells`` cells and ``max_total_chars``
    characters (before cutting). The defaults let any CSV within ``max_bytes`` through.
    """
    if len(data) > max_bytes:
        raise TableError("too_big", limit=_human_size(max_bytes))
    if not data.strip():
        raise TableError("empty")
    name = _clean_name(name)
    extension = name.rpartition(".")[2].lower() if "." in name else ""
    limits = _Limits(
        max_rows=max_rows,
        max_cols=max_cols,
        max_cell_chars=max_cell_chars,
        max_total_chars=max_total_chars,
        max_cells=max_cells,
    )
    # The content decides, not the name: a workbook renamed to .csv is still a workbook.
    if data.startswith(_CFB_MAGIC):
        raise TableError("xlsx_encrypted" if _is_encrypted_office_file(data) else "xls")
    if data.startswith(_ZIP_MAGIC):
        if extension in _CSV_EXTENSIONS or extension in _XLSX_EXTENSIONS or not extension:
            return _parse_xlsx(name, data, limits)
        raise TableError("unsupported")
    if extension == "xls":
        raise TableError("xls")
    if extension in _XLSX_EXTENSIONS:
        raise TableError("xlsx_corrupt")
    if extension in _CSV_EXTENSIONS or not extension:
        return _parse_csv(name, data, limits, tab_separated=extension == "tsv")
    raise TableError("unsupported")


def table_to_markdown(table: Table, *, max_rows: int = 50, max_cell_chars: int = 200) -> str:
    """A GFM table of the first ``max_rows`` rows, for the model, with a note when rows are left out.

    Pipes are escaped and line breaks inside cells become ``<br>``, so every row stays on one line.
    """
    shown = table.rows[: max(max_rows, 0)]
    lines = [
        _markdown_row(table.columns, max_cell_chars),
        "| " + " | ".join("---" for _ in table.columns) + " |",
    ]
    lines.extend(_markdown_row(row, max_cell_chars) for row in shown)
    if len(shown) < table.total_rows:
        lines.append("")
        lines.append(f"(showing {len(shown)} of {table.total_rows} rows)")
    return "\n".join(lines) + "\n"


def table_to_dict(table: Table, *, max_rows: int = 200, max_chars: int = 100_000) -> dict[str, Any]:
    """A JSON-ready summary for storing with a message and displaying it: the first ``max_rows`` rows, fewer if
    their cells would hold more than ``max_chars`` characters (the summary is sent with every message list)."""
    shown: list[list[str]] = []
    used = 0
    for row in table.rows[: max(max_rows, 0)]:
        used += sum(len(cell) for cell in row)
        if used > max_chars:
            break
        shown.append(row)
    return {
        "name": table.name,
        "kind": table.kind,
        "columns": list(table.columns),
        "rows": [list(row) for row in shown],
        "shown_rows": len(shown),
        "total_rows": table.total_rows,
        "truncated": len(shown) < table.total_rows,
    }


# --------------------------------------------------------------------------------------------------------------------
# CSV


def _parse_csv(name: str, data: bytes, limits: _Limits, *, tab_separated: bool) -> Table:
    text = decode_text(data)
    if "\x00" in text or len(_CONTROL_CHARS_RE.findall(text[:8192])) > 8:
        raise TableError("binary")
    if not text.strip():
        raise TableError("empty")
    delimiter = "\t" if tab_separated else _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    return _build_table(name, "csv", _checked_csv_rows(reader), limits)


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with BOM, else CP949, the superset of EUC-KR that Korean Excel writes."""
    if data.startswith(codecs.BOM_UTF8):
        candidates: tuple[str, ...] = ("utf-8-sig",)
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ("utf-16",)  # Excel's "Unicode text" export
    else:
        candidates = ("utf-8", "cp949")
    for encoding in candidates:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    if b"\x00" in data:
        raise TableError("binary")
    raise TableError("encoding")


def _sniff_delimiter(text: str) -> str:
    """Pick the delimiter that splits the first rows into the most consistent number of columns (more than one).

    csv.Sniffer is avoided: it guesses from character statistics, is easily fooled by commas inside text and can be
    slow on long samples.
    """
    best, best_score = ",", (0.0, 0)
    for delimiter in _DELIMITERS:
        counts: list[int] = []
        try:
            for row in csv.reader(io.StringIO(text[:65536], newline=""), delimiter=delimiter):
                if any(cell.strip() for cell in row):
                    counts.append(len(row))
                if len(counts) >= 50:
                    break
        except csv.Error:
            continue
        if not counts:
            continue
        width = max(set(counts), key=counts.count)
        if width < 2:
            continue
        score = (counts.count(width) / len(counts), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _checked_csv_rows(reader: _CsvReader) -> Iterator[list[str]]:
    """The reader's rows, with its errors turned into messages that name the line where the bad record starts."""
    while True:
        # An unclosed quote is only noticed at the end of the file; the record's first line is the useful one.
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            if "field larger than field limit" in str(error):
                raise TableError("cell_too_large") from error
            raise TableError("malformed_csv", line=line) from error
        yield row


# --------------------------------------------------------------------------------------------------------------------
# XLSX


def _parse_xlsx(name: str, data: bytes, limits: _Limits) -> Table:
    check_archive(data)
    # Imported here so that CSV-only use does not pay for openpyxl.
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    except Exception as error:  # openpyxl raises anything from KeyError to its own types
        raise TableError("xlsx_corrupt") from error
    try:
        if not workbook.worksheets:
            raise TableError("empty")
        sheet = workbook.worksheets[0]
        # Some writers store a wrong (often "A1") dimension; without it, rows are read as they are in the file.
        sheet.reset_dimensions()
        values = _checked_sheet_rows(sheet.iter_rows(values_only=True))
        rows = ([_cell_text(value) for value in row] for row in values)
        return _build_table(name, "xlsx", rows, limits)
    finally:
        workbook.close()


def check_archive(data: bytes) -> None:
    """Refuse zip bombs by the sizes the archive declares, before anything is unpacked.

    Python's zipfile never returns more than a member's declared size (a lying header fails its CRC check), so
    checking the declared sizes bounds what openpyxl can unpack.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise TableError("xlsx_corrupt") from error
    if len(members) > MAX_XLSX_MEMBERS:
        raise TableError("xlsx_suspicious")
    total = 0
    for member in members:
        if member.flag_bits & 0x1:
            raise TableError("xlsx_encrypted")
        total += member.file_size
        if total > MAX_XLSX_UNCOMPRESSED:
            raise TableError("xlsx_too_large", limit=_human_size(MAX_XLSX_UNCOMPRESSED))
        if member.filename.lower().endswith("sharedstrings.xml") and member.file_size > MAX_SHARED_STRINGS_BYTES:
            raise TableError("xlsx_strings_too_large", limit=_human_size(MAX_SHARED_STRINGS_BYTES))
        if member.file_size > MIN_RATIO_CHECK and member.file_size > MAX_COMPRESSION_RATIO * max(
            member.compress_size, 1
        ):
            raise TableError("xlsx_suspicious")


def _checked_sheet_rows(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """openpyxl's rows; a sheet that breaks while being read (bad XML, missing parts) is reported as damaged."""
    iterator = iter(rows)
    while True:
        try:
            row = next(iterator)
        except StopIteration:
            return
        except Exception as error:  # damaged XML surfaces as many exception types
            raise TableError("xlsx_corrupt") from error
        yield row


def _cell_text(value: Any) -> str:
    """A cell value as the text a person would read in the sheet."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds" if not value.microsecond else "auto")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, int | Decimal):
        return str(value)
    return str(value)


# --------------------------------------------------------------------------------------------------------------------
# Shared


def _build_table(name: str, kind: Literal["csv", "xlsx"], rows: Iterable[list[str]], limits: _Limits) -> Table:
    """Header from the first non-blank row; blank rows skipped; widths and budgets checked on every row read, not
    just those kept, so reading stops at the first row over a limit."""
    header: list[str] | None = None
    kept: list[list[str]] = []
    total = 0
    width = 0
    cells = 0
    chars = 0
    for raw in rows:
        row = _trim_trailing_empty(raw)
        if not row:
            continue
        if len(row) > limits.max_cols:
            raise TableError("too_many_columns", count=len(row), limit=limits.max_cols)
        cells += len(row)
        if cells > limits.max_cells:
            raise TableError("too_many_cells", limit=f"{limits.max_cells:,}")
        chars += sum(len(cell) for cell in row)
        if chars > limits.max_total_chars:
            raise TableError("table_too_large", limit=f"{limits.max_total_chars:,}")
        width = max(width, len(row))
        if header is None:
            header = row
            continue
        total += 1
        if len(kept) < limits.max_rows:
            kept.append([_cut(cell, limits.max_cell_chars) for cell in row])
    if header is None:
        raise TableError("empty")
    columns = _column_names(header, width, limits.max_cell_chars)
    for row in kept:
        row.extend([""] * (width - len(row)))
    return Table(name=name, columns=columns, rows=kept, total_rows=total, truncated=total > len(kept), kind=kind)


def _trim_trailing_empty(row: list[str]) -> list[str]:
    # Spreadsheets often leave trailing delimiters or formatted-but-empty cells; they are not columns.
    end = len(row)
    while end and not row[end - 1].strip():
        end -= 1
    return row[:end]


def _column_names(header: list[str], width: int, max_chars: int) -> list[str]:
    """Header cells, named "Column N" where empty (or missing, for rows wider than the header), made unique."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for index in range(width):
        cell = header[index].strip() if index < len(header) else ""
        base = _cut(" ".join(cell.split()), max_chars) or f"Column {index + 1}"
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base} ({seen[base]})")
    return names


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def _markdown_row(cells: list[str], max_chars: int) -> str:
    return "| " + " | ".join(_markdown_cell(cell, max_chars) for cell in cells) + " |"


def _markdown_cell(cell: str, max_chars: int) -> str:
    text = _cut(cell.strip(), max_chars)
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return _NEWLINES_RE.sub("<br>", text)


def _clean_name(name: str) -> str:
    # Browsers may send a full path (old Windows ones with backslashes); only the last part is the file's name.
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return _cut(_CONTROL_CHARS_RE.sub("", base), MAX_NAME_CHARS) or "table"


def _is_encrypted_office_file(data: bytes) -> bool:
    # Office stores a password-protected .xlsx as a compound file with an "EncryptionInfo" stream.
    return "EncryptionInfo".encode("utf-16-le") in data


def _human_size(size: int) -> str:
    """5242880 -> "5 MB", 1536 -> "1.5 KB": for messages, so a small configured limit never reads "0 MB"."""
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= factor:
            value = size / factor
            return f"{value:.0f} {unit}" if value.is_integer() else f"{value:.1f} {unit}"
    return f"{size} bytes"
