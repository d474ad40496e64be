"""docs/benchmarks.md is written by several benchmarks; each owns one marked section of it."""

from __future__ import annotations

import re
from pathlib import Path


def replace_section(path: Path, name: str, markdown: str) -> None:
    """Put ``markdown`` between ``<!-- name:start -->`` and ``<!-- name:end -->``, appending them if missing."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{markdown.rstrip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def marked_sections(text: str) -> list[str]:
    """Every ``<!-- name:start -->`` ... ``<!-- name:end -->`` block of ``text``, in order."""
    return [match.group(0) for match in re.finditer(r"<!-- ([\w-]+):start -->.*?<!-- \1:end -->", text, flags=re.S)]


def keep_marked_sections(old: str, new: str) -> str:
    """``new`` with the other benchmarks' marked sections of ``old`` appended, so a full rewrite drops none."""
    kept = [block for block in marked_sections(old) if block not in new]
    return new.rstrip() + "".join(f"\n\n{block}" for block in kept) + "\n"
