"""The registry: which engine serves which kind, and no import cycle between it and the engines."""

from __future__ import annotations

import subprocess
import sys

import pytest

from inference.errors import InvalidRequest
from inference.types import ENGINES, ModelSpec


def test_a_spec_for_an_unknown_engine_is_refused_with_the_known_ones():
    with pytest.raises(InvalidRequest, match="Known: .*text/transformers"):
        ModelSpec(name="x", kind="text", engine="vllm")


@pytest.mark.parametrize("target", sorted(set(ENGINES.values())))
def test_engine_modules_do_not_import_the_registry(target):
    pytest.importorskip("torch", reason="needs the ML extra: pip install -e '.[ml]'")
    module = target.split(":")[0]
    code = f"import sys, {module}; print('inference.registry' in sys.modules)"

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"
