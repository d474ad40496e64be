"""Text, pages, headings and tables out of each format, and a clear error for each kind of bad input."""

from __future__ import annotations

import io
import zipfile

import pytest
from knowledge_files import make_docx, make_pdf, make_xlsx

from knowledge.extraction import ExtractionError, Limits, extract
from knowledge.segmenting import chunk_blocks, keyword_tokens, sentences

LIMITS = Limits(max_pages=50, max_chars=1_000_000)


def test_a_korean_pdf_keeps_its_page_numbers():
    data = make_pdf(["펌프 점검 절차입니다.\n\n펌프는 매주 세척한다.", "M8 볼트의 체결 토크는 25 Nm이다."])

    result = extract(data, "manual.pdf", LIMITS)

    assert result.mime == "application/pdf"
    assert result.page_count == 2
    by_page = {block.page: block.text for block in result.blocks}
    assert "세척" in by_page[1]
    assert "25 Nm" in by_page[2]


def test_a_docx_keeps_headings_page_breaks_and_tables():
    data = make_docx(
        [
            ("heading", "Maintenance"),
            ("p", "Flush the pump every week."),
            ("pagebreak", None),
            ("heading", "Torque table"),
            ("table", [["Bolt", "Torque"], ["M8", "25 Nm"], ["M10", "49 Nm"]]),
        ]
    )

    result = extract(data, "guide.docx", LIMITS)

    paragraph = next(b for b in result.blocks if "Flush" in b.text)
    table = next(b for b in result.blocks if b.table)
    assert paragraph.heading == "Maintenance" and paragraph.page == 1
    assert table.heading == "Torque table" and table.page == 2
    assert "| M8 | 25 Nm |" in table.text


def test_cp949_text_and_markdown_headings_are_read():
    text = "# 안전 수칙\n\n작업 전에 전원을 차단한다.\n\n## 점검\n\n매일 압력을 확인한다.\n"

    result = extract(text.encode("cp949"), "rules.md", LIMITS)

    assert [b.heading for b in result.blocks] == ["안전 수칙", "점검"]
    assert "전원을 차단" in result.blocks[0].text


def test_html_drops_scripts_and_keeps_tables():
    html = (
        "<html><head><script>alert(1)</script></head><body><h1>Specs</h1><p>Rated voltage is 220 V.</p>"
        "<table><tr><th>Part</th><th>Code</th></tr><tr><td>Valve</td><td>VX-200</td></tr></table></body></html>"
    )

    result = extract(html.encode(), "specs.html", LIMITS)

    assert all("alert" not in b.text for b in result.blocks)
    assert any(b.table and "| Valve | VX-200 |" in b.text for b in result.blocks)
    assert result.blocks[0].heading == "Specs"


def test_csv_and_xlsx_become_markdown_tables():
    csv_result = extract("부품,코드\n밸브,VX-200\n".encode("cp949"), "parts.csv", LIMITS)
    xlsx_result = extract(make_xlsx([["Part", "Code"], ["Valve", "VX-200"]]), "parts.xlsx", LIMITS)

    assert "| 밸브 | VX-200 |" in csv_result.blocks[0].text
    assert "| Valve | VX-200 |" in xlsx_result.blocks[0].text


def test_the_content_decides_not_the_extension():
    pdf = make_pdf(["Real PDF content about compressors."])

    result = extract(pdf, "renamed.docx", LIMITS)

    assert result.mime == "application/pdf"
    with pytest.raises(ExtractionError, match="not a document|not text"):
        extract(b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 4, "notes.txt", LIMITS)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \n  ", "empty"),
        (b"%PDF-1.7\n1 0 obj garbage", "damaged|No text"),
    ],
)
def test_empty_and_corrupt_files_get_a_clear_error(data, message):
    with pytest.raises(ExtractionError, match=message):
        extract(data, "file.pdf", LIMITS)


def test_an_encrypted_pdf_asks_for_a_copy_without_password():
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["secret plans"]))))
    writer.encrypt(user_password="hunter2", owner_password="hunter2")
    out = io.BytesIO()
    writer.write(out)

    with pytest.raises(ExtractionError, match="password"):
        extract(out.getvalue(), "locked.pdf", LIMITS)


def test_a_pdf_over_the_page_bound_is_refused_before_reading_pages():
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(60):
        writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)

    with pytest.raises(ExtractionError, match="60 pages; at most 50"):
        extract(out.getvalue(), "huge.pdf", LIMITS)


def test_a_docx_zip_bomb_is_not_unpacked():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"<" + b"a" * (60 * 1024 * 1024))
        archive.writestr("[Content_Types].xml", b"<Types/>")

    with pytest.raises(ExtractionError, match="unusual way"):
        extract(out.getvalue(), "bomb.docx", LIMITS)


def test_korean_sentences_split_without_final_punctuation():
    found = sentences("펌프는 매주 세척한다 그리고 필터를 교체한다. The valve opens at 3 bar. 다음 단계로 간다")

    assert found == ["펌프는 매주 세척한다", "그리고 필터를 교체한다.", "The valve opens at 3 bar.", "다음 단계로 간다"]


def test_keyword_tokens_hold_korean_morphemes_english_words_and_codes():
    tokens = keyword_tokens("M8 볼트의 체결 토크는 pump-42A에서 25 Nm이다. The valve leaks.")

    assert {"볼트", "체결", "토크", "m8", "pump-42a", "25", "valve", "leaks"} <= set(tokens)
    assert "the" not in tokens and "의" not in tokens


def test_chunks_keep_whole_sentences_within_a_page_and_heading():
    from knowledge.extraction import Block

    blocks = [Block(1, "첫 문장이다. " * 40, "A"), Block(2, "Second page sentence.", "A"), Block(2, "Other.", "B")]

    pieces = chunk_blocks(blocks, max_chars=200)

    assert all(len(p.text) <= 200 for p in pieces)
    assert all(p.text.endswith("다.") for p in pieces if p.page == 1)
    assert [(p.page, p.heading) for p in pieces][-2:] == [(2, "A"), (2, "B")]
