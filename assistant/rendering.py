"""Safe server-side rendering of chat Markdown (user or model text) to HTML.

The text is untrusted and may be unfinished (it is re-rendered while a reply streams in), so:

* markdown-it parses it with raw HTML switched off: every tag in the text comes out as escaped text;
* links survive only with an absolute http, https or mailto URL, and always open in a new tab without a referrer;
  a link to a host that is not on the ``internal_hosts`` allow-list is marked external: it carries the
  ``external-link`` class and the full URL as its title, and is followed by its destination host (in ASCII, so a
  look-alike Unicode host shows as ``xn--``), so a reader sees where a click leads before making it;
* images are never loaded: a Markdown image becomes a ``<span class="blocked-image">`` with its alt text, since a
  model tricked by a prompt injection could otherwise leak data through an image URL;
* fenced code is highlighted by Pygments with CSS classes only, inside a block that carries a copy button;
* ``$...$``, ``$$...$$``, ``\\(...\\)`` and ``\\[...\\]`` become MathML (rendered natively by the browser);
* the resulting HTML is cleaned once more by nh3 (Ammonia) with an explicit allow-list, as defence in depth.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml, unescapeAll
from markdown_it.rules_block import StateBlock
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.dollarmath import dollarmath_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

#: Longer texts are shown as escaped plain text: parsing, highlighting and sanitising them costs too much.
MAX_MARKDOWN_CHARS = 200_000
#: Longer TeX is shown as source; the converter is recursive and its cost grows with the input.
MAX_TEX_CHARS = 2_000
#: Formulas converted per text; the rest is shown as source, so a flood of tiny formulas stays cheap.
MAX_FORMULAS = 500
#: Longer code blocks are shown unhighlighted, keeping Pygments' regular expressions away from huge inputs.
MAX_HIGHLIGHT_CHARS = 100_000
#: Block nesting (quotes, lists) deeper than this is not parsed further; markdown-it's own guard.
MAX_NESTING = 20

#: MathML lengths are clamped to these bounds (in em), so ``\rule{9999em}{9999em}`` cannot cover the page nor
#: ``\kern-999em`` pull a formula over the text before it. Sizes (of type and stretched operators) have their own.
MATH_LENGTH_EM = (-2.0, 10.0)
MATH_SIZE_EM = (0.0, 3.0)
MATH_LENGTH_ATTRIBUTES = frozenset({"width", "height", "depth", "lspace", "rspace", "voffset"})
MATH_SIZE_ATTRIBUTES = frozenset({"mathsize", "minsize", "maxsize", "linethickness"})
MATH_SPACING_ATTRIBUTES = frozenset({"columnspacing", "rowspacing"})
_EM_PER_UNIT = {
    "em": 1.0,
    "ex": 0.5,
    "px": 1 / 16,
    "pt": 0.1,
    "bp": 0.1004,
    "pc": 1.2,
    "mm": 0.2845,
    "cm": 2.845,
    "in": 7.227,
    "mu": 1 / 18,
    "%": 0.01,
    "": 1.0,
}
_MATH_LENGTH_RE = re.compile(r"([+-]?)(\d{0,6}(?:\.\d{0,6})?)\s*(em|ex|px|pt|bp|pc|mm|cm|in|mu|%)?")
_NAMED_MATH_LENGTH_RE = re.compile(r"(negative)?(very){0,2}(thin|thick|medium)mathspace|small|normal|big|infinity|auto")

_LANG_RE = re.compile(r"[A-Za-z0-9_+#.\-]{1,32}")
#: Values latex2mathml puts in MathML attributes: names, numbers, lengths and colours. No parentheses, colons or
#: quotes, so nothing like ``url(...)`` or ``javascript:`` can get through.
_MATH_VALUE_RE = re.compile(r"[A-Za-z0-9#.+\- %]{0,64}")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_NUMERIC_REF_RE = re.compile(r"&#(x[0-9A-Fa-f]{1,6}|[0-9]{1,7});")
#: TeX macro definitions can expand exponentially; such formulas are shown as source instead.
_TEX_DEFINITION_RE = re.compile(
    r"\\(?:newcommand|renewcommand|providecommand|newenvironment|renewenvironment|def|gdef|edef|xdef|let"
    r"|DeclareMathOperator)(?![A-Za-z])"
)

MATH_TAGS = frozenset(
    {
        "math",
        "menclose",
        "mfrac",
        "mi",
        "mn",
        "mo",
        "mover",
        "mpadded",
        "mphantom",
        "mroot",
        "mrow",
        "mspace",
        "msqrt",
        "mstyle",
        "msub",
        "msubsup",
        "msup",
        "mtable",
        "mtd",
        "mtext",
        "mtr",
        "munder",
        "munderover",
    }
)
#: Presentation attributes latex2mathml emits. ``href`` (from ``\\href``) is deliberately absent.
MATH_ATTRIBUTES = frozenset(
    {
        "accent",
        "columnalign",
        "columnlines",
        "columnspacing",
        "depth",
        "display",
        "displaystyle",
        "fence",
        "form",
        "height",
        "largeop",
        "linethickness",
        "lspace",
        "mathbackground",
        "mathcolor",
        "mathsize",
        "mathvariant",
        "maxsize",
        "minsize",
        "movablelimits",
        "notation",
        "rowlines",
        "rowspacing",
        "rspace",
        "scriptlevel",
        "separator",
        "stretchy",
        "symmetric",
        "voffset",
        "width",
    }
)
HTML_TAGS = frozenset(
    {
        "a",
        "blockquote",
        "br",
        "button",
        "code",
        "del",
        "div",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "li",
        "ol",
        "p",
        "pre",
        "s",
        "span",
        "strong",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
#: Class names each tag may carry; anything else is dropped from the class attribute.
_PYGMENTS_CLASSES = frozenset(name for name in STANDARD_TYPES.values() if name)
_ALLOWED_CLASSES: dict[str, frozenset[str]] = {
    "a": frozenset({"external-link"}),
    "div": frozenset({"code-block", "code-head", "math", "block", "table-wrap"}),
    "span": frozenset({"code-lang", "math", "inline", "display", "blocked-image", "link-host"}) | _PYGMENTS_CLASSES,
    "button": frozenset({"copy-code"}),
    "code": frozenset({"math-error"}),
    "pre": frozenset({"plain-text"}),
    "th": frozenset({"align-left", "align-center", "align-right"}),
    "td": frozenset({"align-left", "align-center", "align-right"}),
}
_CODE_LANGUAGE_CLASS_RE = re.compile(r"language-[a-z0-9_+#.\-]{1,32}")


# --------------------------------------------------------------------------------------------------------------------
# Public API


def render_markdown(
    text: str,
    *,
    copy_label: str = "Copy",
    image_label: str = "image",
    external_label: str = "This link leads outside this app, to the site shown.",
    internal_hosts: Sequence[str] = (),
) -> str:
    """Render untrusted, possibly unfinished Markdown to sanitised HTML.

    ``copy_label`` is the (translated) text of each code block's copy button; ``image_label`` prefixes the alt text
    shown in place of a blocked image; ``external_label`` is the tooltip of an external link's destination.
    ``internal_hosts`` are hosts whose links are not marked external: ``example.com`` is that host only,
    ``.example.com`` also its subdomains. Its styles in app.css apply inside an element with the ``rendered`` class.
    """
    if not text:
        return ""
    # Lone surrogates (e.g. from a JSON "\\ud800") cannot be encoded, and the sanitiser needs UTF-8.
    text = _SURROGATE_RE.sub("\ufffd", text)
    if len(text) > MAX_MARKDOWN_CHARS:
        return f'<pre class="plain-text">{html.escape(text, quote=False)}</pre>'
    env: dict[str, Any] = {
        "copy_label": copy_label,
        "image_label": image_label,
        "external_label": external_label,
        "internal_hosts": tuple(host.lower() for host in internal_hosts),
        "formulas": 0,
        "link_hosts": [],
    }
    return _cleaner().clean(_markdown().render(text, env))


def pygments_css(scope: str = ".code-block", style: str = "default") -> str:
    """Class-based Pygments rules for highlighted code, every selector under ``scope``.

    app.css holds two: ``default`` (light) and ``github-dark`` under the dark colour scheme.
    """
    rules = HtmlFormatter(style=style).get_token_style_defs(scope)
    # The default theme boxes every lexer "Error" token in red, which is noise for snippets a lexer half understands.
    return "\n".join(rule for rule in rules if not rule.startswith(f"{scope} .err ")) + "\n"


# --------------------------------------------------------------------------------------------------------------------
# Parser set-up


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    """The shared parser; markdown-it keeps per-call state in ``env`` and its state objects, so sharing is safe."""
    md = MarkdownIt(
        "commonmark",
        {"html": False, "linkify": False, "typographer": False, "breaks": True, "maxNesting": MAX_NESTING},
    )
    md.enable(["table", "strikethrough"])
    md.validateLink = _validate_link  # type: ignore[method-assign]
    # allow_digits/allow_space off: "$5 and $10" is money, not a formula.
    md.use(dollarmath_plugin, allow_labels=False, allow_space=False, allow_digits=False, double_inline=True)
    md.inline.ruler.before("escape", "math_bracket_inline", _math_bracket_inline)
    md.block.ruler.before("fence", "math_bracket_block", _math_bracket_block, {"alt": ["paragraph", "blockquote"]})
    md.add_render_rule("math_inline", _render_math_inline)
    md.add_render_rule("math_inline_double", _render_math_display_inline)
    md.add_render_rule("math_block", _render_math_block)
    md.add_render_rule("fence", _render_fence)
    md.add_render_rule("code_block", _render_fence)
    md.add_render_rule("image", _render_image)
    md.add_render_rule("link_open", _render_link_open)
    md.add_render_rule("link_close", _render_link_close)
    md.add_render_rule("th_open", _render_cell_open)
    md.add_render_rule("td_open", _render_cell_open)
    md.add_render_rule("table_open", lambda self, tokens, idx, options, env: '<div class="table-wrap"><table>\n')
    md.add_render_rule("table_close", lambda self, tokens, idx, options, env: "</table></div>\n")
    return md


def _validate_link(url: str) -> bool:
    """Only absolute http(s) and mailto URLs become links; anything else stays visible as text."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        return bool(parts.netloc)
    return scheme == "mailto" and bool(parts.path)


# --------------------------------------------------------------------------------------------------------------------
# \( ... \) and \[ ... \]: the delimiters models trained on LaTeX-heavy text emit most often.


def _math_bracket_inline(state: StateInline, silent: bool) -> bool:
    """``\\(tex\\)`` inline; the search for the closing mark is bounded.

    ``\\[...\\]`` is only math on lines of its own (the block rule): inside a sentence ``\\[1\\]`` is far more often
    Markdown's escape for literal brackets.
    """
    pos = state.pos
    src = state.src
    if not src.startswith("\\(", pos) or pos + 1 >= state.posMax:
        return False
    end = src.find("\\)", pos + 2, min(state.posMax, pos + 2 + MAX_TEX_CHARS + 2))
    if end < 0 or not src[pos + 2 : end].strip():
        return False
    if not silent:
        token = state.push("math_inline", "math", 0)
        token.content = src[pos + 2 : end]
        token.markup = "\\("
    state.pos = end + 2
    return True


def _math_bracket_block(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    """``\\[`` opening a line, closed by ``\\]`` ending the same or a later line, with no blank line between.

    The closing mark is searched with one bounded ``str.find``: a per-line scan here would be retried on every
    line of a text full of unclosed ``\\[`` and turn quadratic.
    """
    if state.is_code_block(start_line):
        return False
    begin = state.bMarks[start_line] + state.tShift[start_line]
    src = state.src
    if not src.startswith("\\[", begin):
        return False
    close = src.find("\\]", begin + 2, min(len(src), begin + 2 + MAX_TEX_CHARS + 2))
    if close < 0:
        return False
    line = start_line
    while line < end_line and state.eMarks[line] < close:
        line += 1
    # The mark must end its line, inside this block (a quote or list item ends where end_line says).
    if line >= end_line or src[close + 2 : state.eMarks[line]].strip():
        return False
    body: list[str] = []
    for current in range(start_line, line + 1):
        if current > start_line and state.isEmpty(current):
            return False
        first = begin + 2 if current == start_line else state.bMarks[current] + state.tShift[current]
        last = close if current == line else state.eMarks[current]
        body.append(src[first:last])
    content = "\n".join(body)
    if not content.strip():
        return False
    if not silent:
        token = state.push("math_block", "math", 0)
        token.block = True
        token.content = content
        token.markup = "\\["
        token.map = [start_line, line + 1]
    state.line = line + 1
    return True


# --------------------------------------------------------------------------------------------------------------------
# Render rules. Signature fixed by markdown-it: (renderer, tokens, index, options, env).


def _render_math_inline(self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    return f'<span class="math inline">{_tex_to_html(tokens[idx].content, False, env)}</span>'


def _render_math_display_inline(
    self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    # A span, not a div: this sits inside a paragraph, and a div there would make the HTML parser split the paragraph.
    return f'<span class="math display">{_tex_to_html(tokens[idx].content, True, env)}</span>'


def _render_math_block(self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    return f'<div class="math block">{_tex_to_html(tokens[idx].content, True, env)}</div>\n'


def _render_fence(self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    token = tokens[idx]
    info = unescapeAll(token.info).strip() if token.info else ""
    lang = info.split(maxsplit=1)[0] if info else ""
    if not _LANG_RE.fullmatch(lang):
        lang = ""
    code_html, highlighted = _highlight(token.content, lang)
    code_class = f' class="language-{escapeHtml(lang.lower())}"' if highlighted else ""
    return (
        '<div class="code-block"><div class="code-head">'
        f'<span class="code-lang">{escapeHtml(lang or "text")}</span>'
        f'<button type="button" class="copy-code" data-copy>{escapeHtml(env.get("copy_label", "Copy"))}</button>'
        f"</div><pre><code{code_class}>{code_html}</code></pre></div>\n"
    )


def _render_image(self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env).strip()
    label = env.get("image_label", "image")
    text = f"[{label}: {alt}]" if alt else f"[{label}]"
    return f'<span class="blocked-image">{escapeHtml(text)}</span>'


def _render_link_open(self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    token = tokens[idx]
    token.attrSet("target", "_blank")
    token.attrSet("rel", "noopener noreferrer nofollow")
    host, shown = _link_target(str(token.attrGet("href") or ""))
    external = not _is_internal(host, env.get("internal_hosts", ()))
    if external:
        token.attrSet("class", "external-link")
        if not token.attrGet("title"):
            token.attrSet("title", str(token.attrGet("href")))
    # An autolink already shows its URL as its text.
    env.setdefault("link_hosts", []).append(shown if external and token.markup != "autolink" else "")
    return self.renderToken(tokens, idx, options, env)


def _render_link_close(self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    hosts = env.get("link_hosts") or [""]
    shown = hosts.pop()
    closing = self.renderToken(tokens, idx, options, env)
    if not shown:
        return closing
    label = escapeHtml(env.get("external_label", ""))
    return f'{closing}<span class="link-host" title="{label}">{escapeHtml(shown)}</span>'


def _link_target(href: str) -> tuple[str, str]:
    """(host, what to show) for a link: the host and port of a web link, the address of a mailto (no host).

    Hosts are shown in ASCII (IDNA), so a look-alike Unicode name cannot pass for a familiar one, and without
    the user name before an ``@``, which only pretends to be the host.
    """
    try:
        parts = urlsplit(href)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "", ""
    if parts.scheme.lower() == "mailto":
        user, _, domain = parts.path.rpartition("@")
        return "", f"{user}@{_ascii_host(domain)}" if user else parts.path
    host = _ascii_host(host).lower()
    shown = f"[{host}]" if ":" in host else host
    return host, f"{shown}:{port}" if port is not None else shown


def _ascii_host(host: str) -> str:
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host.encode("ascii", "backslashreplace").decode("ascii")


def _is_internal(host: str, internal_hosts: Sequence[str]) -> bool:
    """``example.com`` matches that host; ``.example.com`` matches it and its subdomains (as ALLOWED_HOSTS)."""
    return bool(host) and any(
        host == entry or (entry.startswith(".") and (host == entry[1:] or host.endswith(entry)))
        for entry in internal_hosts
    )


def _render_cell_open(self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    # markdown-it aligns columns with inline styles; classes keep the markup free of style attributes.
    token = tokens[idx]
    style = token.attrs.pop("style", None)
    if isinstance(style, str):
        align = style.partition(":")[2].strip()
        if align in ("left", "center", "right"):
            token.attrSet("class", f"align-{align}")
    return self.renderToken(tokens, idx, options, env)


# --------------------------------------------------------------------------------------------------------------------
# Code highlighting


def _highlight(code: str, lang: str) -> tuple[str, bool]:
    """Return (HTML, whether Pygments highlighted it). Unknown languages and huge blocks stay plain, escaped."""
    if lang and len(code) <= MAX_HIGHLIGHT_CHARS:
        try:
            lexer = get_lexer_by_name(lang.lower(), stripnl=False)
        except ClassNotFound:
            lexer = None
        if lexer is not None:
            return highlight(code, lexer, _formatter()), True
    return escapeHtml(code), False


@lru_cache(maxsize=1)
def _formatter() -> HtmlFormatter:
    # nowrap: only the token spans; the surrounding <pre><code> is ours.
    return HtmlFormatter(nowrap=True, classprefix="")


# --------------------------------------------------------------------------------------------------------------------
# Math


def _tex_to_html(tex: str, display: bool, env: EnvType) -> str:
    """TeX to MathML; on any failure (or over a limit) the escaped TeX source in ``<code class="math-error">``."""
    tex = tex.strip()
    env["formulas"] = env.get("formulas", 0) + 1
    if len(tex) <= MAX_TEX_CHARS and env["formulas"] <= MAX_FORMULAS and not _TEX_DEFINITION_RE.search(tex):
        try:
            return _tex_to_mathml(tex, display)
        except Exception:  # latex2mathml fails in many ways: IndexError, its own errors, RecursionError
            return _math_source(tex)
    return _math_source(tex)


def _math_source(tex: str) -> str:
    return f'<code class="math-error">{escapeHtml(tex)}</code>'


def _tex_to_mathml(tex: str, display: bool) -> str:
    # Imported here: the converter module is only needed once a formula shows up.
    from latex2mathml.converter import convert_to_element

    root = convert_to_element(tex, display="block" if display else "inline")
    return _serialize_mathml(root)


def _serialize_mathml(root: Element) -> str:
    """Write latex2mathml's tree ourselves with an allow-list and real escaping.

    latex2mathml's own string output un-escapes everything, so ``\\text{<img onerror=...>}`` would come out as raw
    HTML; here text is escaped and unknown elements or attributes abort the conversion (the caller shows the TeX).
    Iterative, since deeply nested formulas would otherwise hit Python's recursion limit.
    """
    out: list[str] = []
    stack: list[tuple[Element, bool]] = [(root, False)]
    while stack:
        element, closing = stack.pop()
        if closing:
            out.append(f"</{element.tag}>")
            if element is not root:
                out.append(_math_text(element.tail))
            continue
        if element.tag not in MATH_TAGS:
            raise ValueError(f"unexpected MathML element {element.tag!r}")
        attrs = []
        for name, value in element.attrib.items():
            if name == "xmlns":
                continue  # implied by the HTML parser for <math>
            if name not in MATH_ATTRIBUTES or not _MATH_VALUE_RE.fullmatch(value):
                continue
            capped = _capped_math_value(name, value)
            if capped is not None:
                attrs.append(f' {name}="{html.escape(capped)}"')
        out.append(f"<{element.tag}{''.join(attrs)}>")
        out.append(_math_text(element.text))
        stack.append((element, True))
        stack.extend((child, False) for child in reversed(list(element)))
    return "".join(out)


def _capped_math_value(name: str, value: str) -> str | None:
    """``value`` with any length clamped to its bounds; ``None`` for a length that cannot be read (dropped)."""
    if name in MATH_SPACING_ATTRIBUTES:
        parts = [_capped_length(part, (0.0, MATH_LENGTH_EM[1])) for part in value.split()]
        return " ".join(parts) if parts and None not in parts else None  # type: ignore[arg-type]
    if name in MATH_LENGTH_ATTRIBUTES:
        return _capped_length(value, MATH_LENGTH_EM)
    if name in MATH_SIZE_ATTRIBUTES:
        return _capped_length(value, MATH_SIZE_EM)
    return value


def _capped_length(value: str, bounds: tuple[float, float]) -> str | None:
    value = value.strip()
    if _NAMED_MATH_LENGTH_RE.fullmatch(value):
        return value  # MathML's named spaces and sizes are all small
    match = _MATH_LENGTH_RE.fullmatch(value)
    if not match or match.group(2) in ("", "."):
        return None
    sign, number, unit = match.group(1), float(match.group(2)), match.group(3) or ""
    em = (-number if sign == "-" else number) * _EM_PER_UNIT[unit]
    low, high = bounds
    if low <= em <= high:
        return value
    return f"{min(max(em, low), high):g}em"


def _math_text(text: str | None) -> str:
    """latex2mathml writes symbols as numeric character references inside text; decode those, escape the rest."""
    if not text:
        return ""
    decoded = _NUMERIC_REF_RE.sub(_decode_numeric_ref, text)
    return html.escape(decoded, quote=False)


def _decode_numeric_ref(match: re.Match[str]) -> str:
    ref = match.group(1)
    code_point = int(ref[1:], 16) if ref[0] == "x" else int(ref)
    if code_point == 0 or code_point > 0x10FFFF or 0xD800 <= code_point <= 0xDFFF:
        return "\ufffd"
    return chr(code_point)


# --------------------------------------------------------------------------------------------------------------------
# Sanitiser


@lru_cache(maxsize=1)
def _cleaner() -> nh3.Cleaner:
    attributes: dict[str, set[str]] = {tag: {"class"} for tag in _ALLOWED_CLASSES}
    attributes["a"] |= {"href", "title"}
    attributes["span"] |= {"title"}
    attributes["ol"] = {"start"}
    attributes["button"] |= {"type", "data-copy"}
    attributes.update({tag: set(MATH_ATTRIBUTES) for tag in MATH_TAGS})
    return nh3.Cleaner(
        tags=set(HTML_TAGS | MATH_TAGS),
        attributes=attributes,
        attribute_filter=_filter_attribute,
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        url_schemes={"http", "https", "mailto"},
        url_relative="deny",
        strip_comments=True,
    )


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    """Second check on attribute values: class names from a fixed list, MathML values from a narrow alphabet."""
    if attribute == "class":
        allowed = _ALLOWED_CLASSES.get(tag, frozenset())
        names = [
            name
            for name in value.split()
            if name in allowed or (tag == "code" and _CODE_LANGUAGE_CLASS_RE.fullmatch(name))
        ]
        return " ".join(names) or None
    if tag in MATH_TAGS:
        return _capped_math_value(attribute, value) if _MATH_VALUE_RE.fullmatch(value) else None
    if tag == "button" and attribute == "type":
        return "button"
    return value
