"""Uploaded CSV / XLSX tables: encodings, delimiters, bad files, zip bombs, limits and the Markdown the model sees."""

from __future__ import annotations

import datetime as dt
import io
import tracemalloc
import zipfile

import pytest
from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from assistant.tables import (
    MAX_XLSX_UNCOMPRESSED,
    MESSAGES,
    Table,
    TableError,
    parse_table,
    table_to_dict,
    table_to_markdown,
)

KOREAN_CSV = "이름,부서,점수\n홍길동,연구소,95\n김영희,품질팀,88\n"


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def raises(code: str, name: str, data: bytes, **limits: int) -> TableError:
    with pytest.raises(TableError) as caught:
        parse_table(name, data, **limits)
    assert caught.value.code == code, caught.value
    return caught.value


# ---------------------------------------------------------------------------------------------------------------------
# CSV


@pytest.mark.parametrize(
    "data",
    [
        KOREAN_CSV.encode("utf-8"),
        KOREAN_CSV.encode("utf-8-sig"),  # Excel's "CSV UTF-8"
        KOREAN_CSV.encode("cp949"),  # Excel's plain "CSV" on Korean Windows
        KOREAN_CSV.encode("euc-kr"),
        KOREAN_CSV.replace(",", "\t").encode("utf-16"),  # Excel's "Unicode text"
    ],
    ids=["utf-8", "utf-8-bom", "cp949", "euc-kr", "utf-16-tab"],
)
def test_csv_encodings_keep_korean_headers(data):
    table = parse_table("성적.csv", data)
    assert table.kind == "csv"
    assert table.name == "성적.csv"
    assert table.columns == ["이름", "부서", "점수"]
    assert table.rows == [["홍길동", "연구소", "95"], ["김영희", "품질팀", "88"]]
    assert table.total_rows == 2
    assert table.truncated is False


def test_cp949_only_characters_survive():
    # "똠" and "햏" exist in CP949 but not in EUC-KR's KS X 1001 set.
    table = parse_table("a.csv", "이름,메모\n똠양꿍,햏\n".encode("cp949"))
    assert table.rows == [["똠양꿍", "햏"]]


@pytest.mark.parametrize("delimiter", [";", "\t", ","])
def test_delimiter_is_sniffed(delimiter):
    text = delimiter.join(["제품", "가격", "설명"]) + "\n"
    text += delimiter.join(["A", "1,5", '"쉼표, 포함"']) + "\n"
    text += delimiter.join(["B", "2,0", "없음"]) + "\n"
    if delimiter == ",":
        text = 'a,b,c\n1,"1,5",x\n2,"2,0",y\n'
    table = parse_table("prices.csv", text.encode())
    assert len(table.columns) == 3
    assert table.total_rows == 2
    if delimiter != ",":
        assert table.rows[0] == ["A", "1,5", "쉼표, 포함"]


def test_tsv_extension_means_tabs():
    table = parse_table("data.tsv", b"a,b\tc\n1,2\t3\n")
    assert table.columns == ["a,b", "c"]


def test_ragged_rows_are_padded_and_widened():
    table = parse_table("r.csv", b"a,b,c\n1,2\n3,4,5,6\n\n,,,\n7,8,9,,\n")
    assert table.columns == ["a", "b", "c", "Column 4"]
    assert table.rows == [["1", "2", "", ""], ["3", "4", "5", "6"], ["7", "8", "9", ""]]
    assert table.total_rows == 3


def test_header_names_are_filled_and_unique():
    table = parse_table("h.csv", b"name,,name, \n1,2,3,4\n")
    assert table.columns == ["name", "Column 2", "name (2)", "Column 4"]


@pytest.mark.parametrize(
    "data",
    [
        b'a,b\n"unclosed,1\n2,3\n',
        b'a,b\n"x"y,1\n',
    ],
    ids=["unbalanced-quote", "text-after-quote"],
)
def test_malformed_csv(data):
    error = raises("malformed_csv", "bad.csv", data)
    assert "line 2" in str(error)


def test_nul_bytes_are_rejected():
    raises("binary", "nul.csv", b"a,b\n1,\x002\n")


@pytest.mark.parametrize("data", [b"", b"   \n\r\n", b",,,\n,,\n", "\ufeff".encode()])
def test_empty_file(data):
    raises("empty", "empty.csv", data)


def test_png_named_csv_is_rejected():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    raises("binary", "photo.csv", png + bytes(range(256)) * 4)


def test_undecodable_text_is_rejected():
    raises("encoding", "latin.csv", b"caf\xe9,na\xefve\n\xff\xfe\xfd,\xfc\n")


def test_unsupported_types():
    raises("unsupported", "report.pdf", b"%PDF-1.7\n")
    raises("xls", "old.xls", b"a,b\n1,2\n")
    raises("xls", "old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)
    raises("xlsx_corrupt", "fake.xlsx", b"a,b\n1,2\n")


def test_password_protected_xlsx():
    # Office wraps an encrypted workbook in a compound file holding an "EncryptionInfo" stream.
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512 + "EncryptionInfo".encode("utf-16-le") + b"\x00" * 64
    raises("xlsx_encrypted", "secret.xlsx", data)


def test_too_many_columns():
    header = ",".join(f"c{i}" for i in range(51))
    error = raises("too_many_columns", "wide.csv", f"{header}\n".encode())
    assert "51" in str(error) and "50" in str(error)


def test_too_many_columns_in_a_late_row():
    rows = "a,b\n" + "1,2\n" * 100 + ",".join("x" * 60) + "\n"
    raises("too_many_columns", "late.csv", rows.encode(), max_rows=10)


def test_file_over_max_bytes():
    error = raises("too_big", "big.csv", b"a,b\n" + b"1,2\n" * 1000, max_bytes=1024)
    assert "0 MB" not in str(error)
    raises("too_big", "big.csv", b"x" * (5 * 1024 * 1024 + 1))


def test_row_cap_and_truncation():
    data = ("id,값\n" + "".join(f"{i},{i * 2}\n" for i in range(1234))).encode()
    table = parse_table("many.csv", data, max_rows=100)
    assert len(table.rows) == 100
    assert table.total_rows == 1234
    assert table.truncated is True
    assert table.rows[-1] == ["99", "198"]


def test_long_cells_are_cut():
    table = parse_table("long.csv", ("a\n" + "가" * 50 + "\n").encode(), max_cell_chars=10)
    assert table.rows[0][0] == "가" * 9 + "…"


def test_file_names_lose_their_path():
    assert parse_table("C:\\Users\\me\\자료.csv", b"a\n1\n").name == "자료.csv"
    assert parse_table("../../etc/x.csv", b"a\n1\n").name == "x.csv"


def test_messages_are_distinct_sentences():
    assert len(set(MESSAGES.values())) == len(MESSAGES)
    for message in MESSAGES.values():
        assert message[0].isupper() and message.rstrip().endswith(".")


# ---------------------------------------------------------------------------------------------------------------------
# XLSX


def test_xlsx_with_korean_headers_numbers_and_dates():
    data = xlsx_bytes(
        [
            ["이름", "점수", "비율", "입사일", "최근 접속", "재직"],
            ["홍길동", 95, 0.25, dt.date(2024, 3, 1), dt.datetime(2024, 5, 1, 13, 30), True],
            ["김영희", 88.0, None, dt.datetime(2023, 1, 2), None, False],
        ]
    )
    table = parse_table("인사.xlsx", data)
    assert table.kind == "xlsx"
    assert table.columns == ["이름", "점수", "비율", "입사일", "최근 접속", "재직"]
    assert table.rows == [
        ["홍길동", "95", "0.25", "2024-03-01", "2024-05-01 13:30:00", "TRUE"],
        ["김영희", "88", "", "2023-01-02", "", "FALSE"],
    ]
    assert table.total_rows == 2 and not table.truncated


def test_xlsx_reads_only_the_first_sheet_and_caps_rows():
    workbook = Workbook()
    first = workbook.active
    first.append(["n"])
    for i in range(30):
        first.append([i])
    workbook.create_sheet("other").append(["ignored"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    table = parse_table("two.xlsx", buffer.getvalue(), max_rows=10)
    assert table.columns == ["n"]
    assert len(table.rows) == 10 and table.total_rows == 30 and table.truncated


def test_xlsx_formulas_give_cached_values_not_formulas():
    table = parse_table("f.xlsx", xlsx_bytes([["a", "b"], [1, "=A2*2"]]))
    # openpyxl-written files have no cached results; the formula text must not leak through as the value.
    assert table.rows == [["1", ""]]


def test_xlsx_over_max_bytes_is_refused_before_parsing():
    raises("too_big", "big.xlsx", b"PK\x03\x04" + b"\x00" * 2048, max_bytes=1024)


def test_xlsx_zip_bomb_is_refused_before_openpyxl():
    # About 60 MB of zeros packs into well under 100 KB: the archive declares more than the limit in total.
    buffer = io.BytesIO()
    chunk = b"0" * (1024 * 1024)
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("xl/worksheets/sheet1.xml", "w") as member,
    ):
        for _ in range(MAX_XLSX_UNCOMPRESSED // len(chunk) + 10):
            member.write(chunk)
    data = buffer.getvalue()
    assert len(data) < 1024 * 1024
    raises("xlsx_too_large", "bomb.xlsx", data)


def test_xlsx_highly_compressed_member_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b" " * (8 * 1024 * 1024))
    raises("xlsx_suspicious", "ratio.xlsx", buffer.getvalue())


def test_xlsx_that_is_a_random_zip_is_corrupt():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "not a workbook")
    raises("xlsx_corrupt", "notes.xlsx", buffer.getvalue())


def test_truncated_xlsx_is_corrupt():
    data = xlsx_bytes([["a"], [1]])
    raises("xlsx_corrupt", "cut.xlsx", data[: len(data) // 2])


_XLSX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
        'Target="sharedStrings.xml"/></Relationships>'
    ),
}


def shared_string_workbook(rows: int, cols: int, strings: list[str]) -> bytes:
    """A workbook written by hand: every cell of a rows x cols sheet points at shared string 0."""
    letters = [get_column_letter(c) for c in range(1, cols + 1)]
    sheet = io.StringIO()
    sheet.write(
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    )
    for r in range(1, rows + 1):
        sheet.write(f'<row r="{r}">' + "".join(f'<c r="{x}{r}" t="s"><v>0</v></c>' for x in letters) + "</row>")
    sheet.write("</sheetData></worksheet>")
    shared = "".join(f"<si><t>{text}</t></si>" for text in strings)
    parts = {
        **_XLSX_PARTS,
        "xl/sharedStrings.xml": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{shared}</sst>'
        ),
        "xl/worksheets/sheet1.xml": sheet.getvalue(),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_shared_string_amplification_is_refused_quickly_in_bounded_memory():
    # The review's file: 515 KB, 250,000 cells that all point at one 2,100-character string. The archive
    # unpacks only 15x, so the zip checks pass; unbounded, the table held 525 million characters (1 GB).
    data = shared_string_workbook(5000, 50, ["가" * 2100])
    assert 500_000 < len(data) < 530_000

    tracemalloc.start()
    try:
        error = raises("table_too_large", "bomb.xlsx", data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 64 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB"
    assert "characters" in str(error)


def test_shared_strings_are_bounded_before_openpyxl_loads_them(monkeypatch):
    from assistant import tables

    monkeypatch.setattr(tables, "MAX_SHARED_STRINGS_BYTES", 100_000)
    data = shared_string_workbook(2, 2, [f"값 {i}" for i in range(20_000)])

    error = raises("xlsx_strings_too_large", "strings.xlsx", data)

    assert "97.7 KB" in str(error)


def test_a_table_with_too_many_cells_is_refused():
    data = ("a,b,c,d\n" + "1,2,3,4\n" * 300).encode()

    error = raises("too_many_cells", "cells.csv", data, max_cells=1000)

    assert "1,000" in str(error)


def test_the_characters_of_rows_only_counted_are_bounded_too():
    data = ("a,b\n" + "".join(f"{'x' * 90},{i}\n" for i in range(200))).encode()

    raises("table_too_large", "long.csv", data, max_rows=5, max_total_chars=10_000)


def test_a_big_but_ordinary_table_is_still_read():
    data = shared_string_workbook(2000, 20, ["짧은 값"])

    table = parse_table("ordinary.xlsx", data)

    assert table.total_rows == 1999 and len(table.rows) == 1999 and table.rows[-1][-1] == "짧은 값"


def test_stored_table_is_bounded_in_characters():
    table = parse_table("wide.csv", ("a,b,c\n" + f"{'가' * 1500},{'나' * 1500},x\n" * 150).encode())

    stored = table_to_dict(table, max_chars=20_000)

    kept = sum(len(cell) for row in stored["rows"] for cell in row)
    assert kept <= 20_000 and stored["shown_rows"] == len(stored["rows"]) < 150
    assert stored["truncated"] is True and stored["total_rows"] == 150


def test_workbook_renamed_to_csv_is_read_as_xlsx():
    table = parse_table("actually-excel.csv", xlsx_bytes([["열"], ["값"]]))
    assert table.kind == "xlsx" and table.rows == [["값"]]


# ---------------------------------------------------------------------------------------------------------------------
# Output for the model and for storage


def sample_table(rows: int = 3) -> Table:
    return Table(
        name="t.csv",
        columns=["이름", "메모|비고"],
        rows=[[f"사람{i}", f"줄1\n줄2 | 파이프 \\ 역슬래시 {i}"] for i in range(rows)],
        total_rows=rows,
        truncated=False,
        kind="csv",
    )


def test_markdown_escapes_pipes_and_newlines():
    markdown = table_to_markdown(sample_table(2))
    lines = markdown.splitlines()
    assert lines[0] == "| 이름 | 메모\\|비고 |"
    assert lines[1] == "| --- | --- |"
    assert lines[2] == "| 사람0 | 줄1<br>줄2 \\| 파이프 \\\\ 역슬래시 0 |"
    assert len(lines) == 4
    assert "showing" not in markdown


def test_markdown_caps_rows_with_a_note():
    table = sample_table(60)
    table.total_rows = 1234
    table.truncated = True
    markdown = table_to_markdown(table, max_rows=50)
    rows = [line for line in markdown.splitlines() if line.startswith("| 사람")]
    assert len(rows) == 50
    assert markdown.rstrip().endswith("(showing 50 of 1234 rows)")


def test_markdown_from_parsed_csv_round_trips_through_the_renderer():
    from assistant.rendering import render_markdown

    table = parse_table("a.csv", "항목,값\n파이프,a|b\n".encode())
    html = render_markdown(table_to_markdown(table))
    assert "<th>항목</th>" in html
    assert "<td>a|b</td>" in html


def test_table_to_dict():
    table = sample_table(5)
    table.total_rows = 900
    data = table_to_dict(table, max_rows=2)
    assert data == {
        "name": "t.csv",
        "kind": "csv",
        "columns": ["이름", "메모|비고"],
        "rows": table.rows[:2],
        "shown_rows": 2,
        "total_rows": 900,
        "truncated": True,
    }
    assert data["rows"] is not table.rows
