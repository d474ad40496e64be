"""Smoke test of bench/api.py against a live embedded server: the shape of the result, never its timings."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_the_api_benchmark_streams_through_a_live_embedded_server(gemma_path):
    from bench.api import ApiSettings, render, run_mode

    settings = ApiSettings(slots=2, max_tokens=12, requests=2)

    result = run_mode("embedded", settings, gemma_path)

    assert result.failed == 0 and result.text_mismatches == 0
    assert len(result.app_added_ttft_ms) == 2 and len(result.engine_ttft_ms) == 2
    markdown = render([result], settings, "python bench/api.py --quick", 1.0)
    assert "| embedded |" in markdown and "app-added TTFT" in markdown
