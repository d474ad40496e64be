"""Refuse model files that can run code when loaded."""

from __future__ import annotations

from pathlib import Path

from .errors import UnsafeModelFormat

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
SAFE_SUFFIXES = (".safetensors", ".gguf")


def check_weights(path: str | Path, *, allow_pickle: bool = False) -> None:
    """Raise :class:`UnsafeModelFormat` if ``path`` holds pickle weights and no safe ones.

    A folder that has both (many hub repos ship ``pytorch_model.bin`` beside ``model.safetensors``) is
    fine: loaders are always called with ``use_safetensors=True`` unless pickle is allowed.
    """
    path = Path(path)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    pickles = [p for p in files if p.suffix.lower() in PICKLE_SUFFIXES]
    safe = [p for p in files if p.suffix.lower() in SAFE_SUFFIXES]
    if pickles and not safe and not allow_pickle:
        names = ", ".join(sorted(p.name for p in pickles)[:3])
        raise UnsafeModelFormat(
            f"{path} holds only pickle checkpoints ({names}), which can run code when loaded. Convert them "
            "to safetensors, or have an admin allow pickle for this model with a pinned revision."
        )
