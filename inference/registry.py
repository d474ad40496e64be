"""Which engine serves which model, and the per-process cache of loaded models.

A :class:`~inference.types.ModelSpec` is plain data (the web side builds it from the admin-managed model table
and sends it to workers as a dict). :func:`get_engine` loads a model the first time it is asked for and keeps
it, so each worker process loads a model once; when more than ``max_loaded`` models are loaded, the least
recently used one is closed first.

``ModelSpec`` and ``ENGINES`` live in :mod:`inference.types`; they are re-exported here because the registry is
where callers load models (``get_engine(ModelSpec(...))``).
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from collections import OrderedDict
from typing import Any

from .errors import ModelLoadError
from .types import ENGINES, ModelSpec

__all__ = ["ENGINES", "ModelSpec", "device_report", "engine_class", "get_engine", "load_errors", "loaded_models"]


def engine_class(kind: str, engine: str) -> type:
    target = ENGINES[(kind, engine)]
    module_name, class_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelLoadError(
            f"The {engine} engine needs a library that is not installed ({exc.name}). "
            "Install the ML extra: pip install -e '.[ml]'."
        ) from exc
    return getattr(module, class_name)


class _Cache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loading: dict[tuple, threading.Lock] = {}
        self._engines: OrderedDict[tuple, tuple[ModelSpec, Any, float]] = OrderedDict()
        self.errors: dict[str, str] = {}

    def max_loaded(self) -> int:
        return max(1, int(os.environ.get("INFERENCE_MAX_LOADED_MODELS", "3")))

    def get(self, spec: ModelSpec) -> Any:
        key = spec.key
        with self._lock:
            if key in self._engines:
                self._engines.move_to_end(key)
                return self._engines[key][1]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:  # one load per model, other callers wait for it
            with self._lock:
                if key in self._engines:
                    return self._engines[key][1]
            # Make room first, so the old model's memory is free before the new one is read (a GPU never holds
            # both at once).
            self._evict(keep=self.max_loaded() - 1)
            try:
                engine = engine_class(spec.kind, spec.engine).from_spec(spec)  # type: ignore[attr-defined]
            except ModelLoadError as exc:
                self.errors[spec.name] = str(exc)
                raise
            except Exception as exc:  # a corrupt file surfaces as anything from the library
                self.errors[spec.name] = f"{type(exc).__name__}: {exc}"
                raise ModelLoadError(f"Could not load model {spec.name!r} from {spec.path}: {exc}") from exc
            self.errors.pop(spec.name, None)
            with self._lock:
                self._engines[key] = (spec, engine, time.time())
            self._evict(keep=self.max_loaded())  # another model may have loaded meanwhile
            return engine

    def _evict(self, *, keep: int) -> None:
        """Close the least recently used engines until at most ``keep`` are loaded."""
        evicted = []
        with self._lock:
            while len(self._engines) > max(0, keep):
                _, (_, old, _) = self._engines.popitem(last=False)
                evicted.append(old)
        for old in evicted:
            old.close()

    def loaded(self) -> list[dict[str, Any]]:
        """What is loaded, with each engine's batch statistics (``stats()``: capacity, active, queued...)."""
        with self._lock:
            entries = list(self._engines.values())
        return [
            {
                "name": s.name,
                "kind": s.kind,
                "engine": s.engine,
                "loaded_at": t,
                "demo": s.demo,
                "stats": engine.stats() if callable(getattr(engine, "stats", None)) else None,
            }
            for s, engine, t in entries
        ]


_cache = _Cache()


def get_engine(spec: ModelSpec) -> Any:
    """The loaded engine for ``spec``, loading it on first use."""
    return _cache.get(spec)


def loaded_models() -> list[dict[str, Any]]:
    return _cache.loaded()


def load_errors() -> dict[str, str]:
    return dict(_cache.errors)


def device_report() -> dict[str, Any]:
    """Accelerator memory of the GPUs this process already uses (never imports torch, never opens a GPU).

    Asking a GPU for its free memory opens a CUDA context on it (hundreds of MiB), so only devices where this
    process's allocator already holds memory are asked. Indices are the ones this process sees: with
    ``CUDA_VISIBLE_DEVICES=2`` the only device is ``0``; ``visible_devices`` repeats the variable to map them.
    """
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return {"cuda": False}
    report: dict[str, Any] = {
        "cuda": True,
        "visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "devices": [],
    }
    if not torch.cuda.is_initialized():  # no model on a GPU yet in this process
        return report
    for index in range(torch.cuda.device_count()):
        if not torch.cuda.memory_reserved(index):  # allocator bookkeeping only: never opens a context
            continue
        free, total = torch.cuda.mem_get_info(index)
        report["devices"].append(
            {
                "index": index,
                "name": torch.cuda.get_device_name(index),
                "free_mib": free >> 20,
                "total_mib": total >> 20,
                "allocated_mib": torch.cuda.memory_allocated(index) >> 20,
            }
        )
    return report
