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


# ------------------------------------------------------------------------------------------ the loaded-model cache


class FakeEngine:
    """Records when it is loaded and closed, to check the order the registry does both in."""

    events: list[str] = []

    def __init__(self, name: str) -> None:
        self.name = name

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> FakeEngine:
        cls.events.append(f"load {spec.name}")
        return cls(spec.name)

    def close(self) -> None:
        self.events.append(f"close {self.name}")


@pytest.fixture
def fake_engines(monkeypatch):
    from inference import registry

    monkeypatch.setitem(ENGINES, ("text", "fake"), f"{__name__}:FakeEngine")
    monkeypatch.setattr(registry, "_cache", registry._Cache())
    FakeEngine.events = []
    return registry


def test_the_least_recently_used_model_is_closed_before_a_new_one_loads(fake_engines, monkeypatch):
    monkeypatch.setenv("INFERENCE_MAX_LOADED_MODELS", "2")
    a, b, c = (ModelSpec(name=n, kind="text", engine="fake") for n in "abc")

    fake_engines.get_engine(a)
    fake_engines.get_engine(b)
    fake_engines.get_engine(a)  # b is now the least recently used
    fake_engines.get_engine(c)

    assert FakeEngine.events == ["load a", "load b", "close b", "load c"]
    assert [m["name"] for m in fake_engines.loaded_models()] == ["a", "c"]


def test_a_loaded_model_is_reused_not_loaded_again(fake_engines):
    spec = ModelSpec(name="a", kind="text", engine="fake")

    first = fake_engines.get_engine(spec)
    second = fake_engines.get_engine(ModelSpec.from_dict(spec.to_dict()))

    assert first is second
    assert FakeEngine.events == ["load a"]


# ------------------------------------------------------------------------------------------ device report


class _FakeCuda:
    """torch.cuda as a process sees it that has put a model on device 1 of 3 (records every call that opens a
    context on a device)."""

    def __init__(self, *, initialized: bool = True) -> None:
        self.initialized = initialized
        self.opened: list[int] = []

    def is_available(self) -> bool:
        return True

    def is_initialized(self) -> bool:
        return self.initialized

    def device_count(self) -> int:
        return 3

    def memory_reserved(self, index: int) -> int:
        return 512 << 20 if index == 1 else 0

    def memory_allocated(self, index: int) -> int:
        return 300 << 20 if index == 1 else 0

    def mem_get_info(self, index: int) -> tuple[int, int]:
        self.opened.append(index)
        return 1 << 30, 2 << 30

    def get_device_name(self, index: int) -> str:
        return "Fake GPU"


def test_device_report_asks_only_the_gpus_this_process_already_uses(monkeypatch):
    from types import SimpleNamespace

    from inference.registry import device_report

    cuda = _FakeCuda()
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=cuda))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6")

    report = device_report()

    assert cuda.opened == [1]
    assert report["visible_devices"] == "4,5,6"
    assert report["devices"] == [
        {"index": 1, "name": "Fake GPU", "free_mib": 1024, "total_mib": 2048, "allocated_mib": 300}
    ]


def test_device_report_opens_no_gpu_before_a_model_is_on_one(monkeypatch):
    from types import SimpleNamespace

    from inference.registry import device_report

    cuda = _FakeCuda(initialized=False)
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=cuda))

    report = device_report()

    assert cuda.opened == []
    assert report == {"cuda": True, "visible_devices": report["visible_devices"], "devices": []}


def test_device_report_never_imports_torch(monkeypatch):
    code = "import sys; from inference.registry import device_report; print(device_report(), 'torch' in sys.modules)"

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)

    assert result.stdout.strip() == "{'cuda': False} False", result.stderr[-2000:]
