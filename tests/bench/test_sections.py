"""docs/benchmarks.md has one owner per marked section: a full rewrite of the engine tables keeps the others."""

from __future__ import annotations

from bench.sections import keep_marked_sections, replace_section


def test_a_full_rewrite_keeps_the_other_benchmarks_sections(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text("# Benchmarks\n\n## 1. llama.cpp\nold table\n", encoding="utf-8")
    replace_section(path, "studio", "## Design studio\nstudio table")
    replace_section(path, "app", "## End to end\napp table")

    rewritten = keep_marked_sections(path.read_text(encoding="utf-8"), "# Benchmarks\n\n## 1. llama.cpp\nnew table\n")

    assert "old table" not in rewritten and "new table" in rewritten
    assert rewritten.count("<!-- studio:start -->") == 1 and "studio table" in rewritten
    assert rewritten.count("<!-- app:start -->") == 1 and "app table" in rewritten
    assert keep_marked_sections(rewritten, rewritten) == rewritten  # nothing doubles on the next run
