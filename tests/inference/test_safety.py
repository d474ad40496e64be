"""Model safety: pickle and remote code need a pinned commit, and the files on disk must come from that commit."""

from __future__ import annotations

import shutil

import pytest

from inference.errors import InvalidRequest, ModelLoadError
from inference.safety import RevisionMismatch, check_revision, recorded_revisions
from inference.types import ModelSpec, is_pinned

PINNED = "0123456789abcdef0123456789abcdef01234567"
OTHER = "fedcba9876543210fedcba9876543210fedcba98"


def _spec(**fields) -> ModelSpec:
    return ModelSpec(name="risky", kind="text", engine="transformers", path="/models/risky", **fields)


def _record_download(folder, filename: str, commit: str) -> None:
    """Write the metadata ``hf download --local-dir`` leaves behind, with huggingface_hub's own writer."""
    local_folder = pytest.importorskip("huggingface_hub._local_folder")
    local_folder.write_download_metadata(folder, filename, commit_hash=commit, etag="0" * 40)


def test_only_a_full_commit_hash_counts_as_pinned():
    assert is_pinned(PINNED)
    assert is_pinned(PINNED.upper())
    assert not is_pinned("main")
    assert not is_pinned("v1.0")
    assert not is_pinned(PINNED[:12])  # a short hash is ambiguous
    assert not is_pinned("")


@pytest.mark.parametrize("flag", ["allow_pickle", "trust_remote_code"])
@pytest.mark.parametrize("revision", ["", "main", "refs/pr/3", PINNED[:7]])
def test_pickle_or_remote_code_without_a_pinned_commit_is_refused(flag, revision):
    with pytest.raises(InvalidRequest, match="40-character commit hash"):
        _spec(revision=revision, **{flag: True})


def test_pickle_and_remote_code_with_a_pinned_commit_are_accepted():
    spec = _spec(revision=PINNED, allow_pickle=True, trust_remote_code=True)

    assert spec.revision == PINNED


def test_a_branch_name_is_fine_for_safetensors_models():
    assert _spec(revision="main").revision == "main"


def test_a_folder_downloaded_at_another_commit_is_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    _record_download(tmp_path, "config.json", OTHER)

    with pytest.raises(RevisionMismatch, match=f"pinned to revision {PINNED}.*come from {OTHER}.*hf download org/m"):
        check_revision(tmp_path, PINNED, hub_id="org/m")


def test_a_folder_downloaded_at_the_pinned_commit_passes(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    _record_download(tmp_path, "config.json", PINNED)

    check_revision(tmp_path, PINNED)

    assert set(recorded_revisions(tmp_path).values()) == {PINNED}


def test_a_folder_mixing_two_downloads_is_refused(tmp_path):
    for name, commit in (("config.json", PINNED), ("model.safetensors", OTHER)):
        (tmp_path / name).write_text("x")
        _record_download(tmp_path, name, commit)

    with pytest.raises(RevisionMismatch, match=OTHER):
        check_revision(tmp_path, PINNED)


def test_a_single_file_is_checked_against_its_own_record_only(tmp_path):
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    (tmp_path / "other.gguf").write_bytes(b"GGUF")
    _record_download(tmp_path, "model.gguf", PINNED)
    _record_download(tmp_path, "other.gguf", OTHER)

    check_revision(tmp_path / "model.gguf", PINNED)
    with pytest.raises(RevisionMismatch):
        check_revision(tmp_path / "other.gguf", PINNED)


def test_a_hub_cache_snapshot_is_checked_by_its_folder_name(tmp_path):
    snapshot = tmp_path / "models--org--m" / "snapshots" / OTHER
    snapshot.mkdir(parents=True)
    (tmp_path / "models--org--m" / "refs").mkdir()
    (tmp_path / "models--org--m" / "refs" / "main").write_text(OTHER)

    with pytest.raises(RevisionMismatch, match=OTHER):
        check_revision(snapshot, PINNED)
    check_revision(snapshot, OTHER)


def test_files_without_a_record_and_unpinned_revisions_are_not_checked(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    _record_download(tmp_path, "config.json", OTHER)

    check_revision(tmp_path, "main")  # a branch cannot be resolved offline
    check_revision(tmp_path / "nothing-recorded", PINNED)

    assert recorded_revisions(tmp_path / "nothing-recorded") == {}


def test_the_transformers_engine_refuses_a_folder_from_another_commit(tiny_exaone_dir, tmp_path):
    from inference.text.hf import TransformersEngine

    folder = tmp_path / "model"
    shutil.copytree(tiny_exaone_dir, folder)
    _record_download(folder, "model.safetensors", OTHER)
    spec = ModelSpec(name="m", kind="text", engine="transformers", path=str(folder), revision=PINNED)

    with pytest.raises(ModelLoadError, match="pinned to revision"):
        TransformersEngine.from_spec(spec)
