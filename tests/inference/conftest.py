"""Fixtures for the engine tests: the tiny EXAONE 4.0 model, built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_exaone_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random EXAONE 4.0 model folder (safetensors, bilingual BPE tokenizer, chat template)."""
    pytest.importorskip("transformers", reason="needs the ML extra: pip install -e '.[ml]'")
    from inference.demo.text import build_text_model

    return build_text_model(tmp_path_factory.mktemp("tiny-exaone") / "model", seed=0)


@pytest.fixture(scope="session")
def tiny_exaone_tokenizer(tiny_exaone_dir: Path):
    """The tiny model's tokenizer, loaded straight through transformers (independent of the engine)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_exaone_dir, local_files_only=True)
