"""Smoke test of the llama.cpp benchmark: tiny sizes, checks the shape of the result, never its timings."""

from __future__ import annotations

import math

import pytest

pytestmark = pytest.mark.slow


def test_llamacpp_benchmark_runs_and_reports_every_level(gemma_path):
    from bench.common import describe_machine
    from bench.report import Report, render
    from bench.text_llamacpp import PATHS, LlamaSettings, run_llamacpp

    settings = LlamaSettings(max_tokens=8, n_requests=2, concurrency=(1, 2), repeats=1, n_parallel=2)

    result = run_llamacpp(gemma_path, settings)

    assert {(level.path, level.concurrency) for level in result.levels} == {(p, c) for p in PATHS for c in (1, 2)}
    for level in result.levels:
        assert len(level.tokens_per_s) == 1 and len(level.outcomes) == 2
        assert level.median_tokens_per_s > 0 and math.isfinite(level.median_tokens_per_s)
        for outcome in level.outcomes:
            assert 0 < outcome.completion_tokens <= 8
            assert outcome.ttft_ms > 0 and outcome.total_s > 0
    for path in PATHS:
        assert result.batched_vs_serial(path) > 0
    for concurrency in (1, 2):
        assert result.engine_vs_raw(concurrency) > 0

    markdown = render(Report("today", "python bench/run.py", True, describe_machine(), (0.0, 0.0, 0.0), 1.0, result))
    assert "## 1. llama.cpp" in markdown and "engine / raw" in markdown


def test_the_end_to_end_app_benchmark_runs_against_a_live_embedded_server(gemma_path):
    from bench.app import AppSettings, render, run_mode

    settings = AppSettings(
        slots=2,
        max_tokens=8,
        single_requests=2,
        load_users=2,
        load_sockets=4,
        load_streams=2,
        load_seconds=4,
        list_conversations=12,
        list_messages=40,
        list_requests=3,
    )

    result = run_mode("embedded", settings, gemma_path)

    assert len(result.app_added_ttft_ms) == 2 and len(result.engine_ttft_ms) == 2
    assert result.refused == 0 and result.abnormal_closes == 0 and result.text_mismatches == 0
    assert result.replies >= 2 and result.failed_replies == 0 and result.tokens > 0
    assert result.raw_tokens_per_s > 0
    assert len(result.conversation_list_ms) == 3 and len(result.message_list_ms) == 3
    markdown = render([result], settings, "python bench/app.py --quick", 1.0)
    assert "app-added TTFT" in markdown and "| embedded |" in markdown
