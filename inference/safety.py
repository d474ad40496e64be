"""Refuse model files that can run code when loaded, and files from another revision than the pinned one."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .errors import ModelLoadError, UnsafeModelFormat
from .types import is_pinned

logger = logging.getLogger(__name__)

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
SAFE_SUFFIXES = (".safetensors", ".gguf")
#: Where ``huggingface_hub`` records each file it downloaded into a local folder (first line: the commit hash).
DOWNLOAD_METADATA = Path(".cache") / "huggingface" / "download"


class RevisionMismatch(ModelLoadError):
    """The files on disk record another revision than the one the model is pinned to."""


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


def recorded_revisions(path: str | Path) -> dict[str, str]:
    """Commit hashes the files at ``path`` record, as {where it was found: commit}.

    Two records exist: ``huggingface_hub`` writes one metadata file per downloaded file into
    ``<folder>/.cache/huggingface/download/`` (``hf download --local-dir``), and the hub cache keeps each
    revision in ``snapshots/<commit>/`` (which its ``refs/<branch>`` files point at).
    """
    path = Path(path)
    found: dict[str, str] = {}
    parts = Path(os.path.abspath(path)).parts  # not resolve(): hub cache files are links into blobs/
    for index, part in enumerate(parts[:-1]):
        if part == "snapshots" and is_pinned(parts[index + 1]):
            found[str(Path(*parts[: index + 2]))] = parts[index + 1].lower()
    root, names = (path.parent, [path.name]) if path.is_file() else (path, None)
    metadata_dir = root / DOWNLOAD_METADATA
    if metadata_dir.is_dir():
        files = [metadata_dir / f"{name}.metadata" for name in names] if names else metadata_dir.rglob("*.metadata")
        for metadata in files:
            try:
                with metadata.open(encoding="utf-8") as handle:
                    commit = handle.readline().strip()
            except OSError:
                continue
            if is_pinned(commit):
                found[str(metadata)] = commit.lower()
    return found


def check_revision(path: str | Path, revision: str, *, hub_id: str = "") -> None:
    """Raise :class:`RevisionMismatch` if ``path`` records another commit than the pinned ``revision``.

    Nothing is checked when ``revision`` is not a commit hash (a branch name cannot be resolved offline) or when
    the files record no revision (copied by hand).
    """
    if not is_pinned(revision):
        return
    found = recorded_revisions(path)
    others = sorted({commit for commit in found.values() if commit != revision.lower()})
    if not others:
        if not found:
            logger.info("%s records no download revision; trusting it to be %s.", path, revision)
        return
    example = next(where for where, commit in found.items() if commit == others[0])
    again = f"hf download {hub_id} --revision {revision} --local-dir {path}" if hub_id else "download it again"
    raise RevisionMismatch(
        f"The model is pinned to revision {revision}, but the files in {path} come from "
        f"{', '.join(others)} (recorded in {example}). Replace them with the pinned revision ({again}), or pin "
        "the revision they come from after checking it."
    )
