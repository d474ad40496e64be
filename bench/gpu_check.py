"""One-command device check for a GPU host: versions, the engine tests, throughput against the bandwidth bound,
out-of-memory isolation, and the image pipelines on CUDA. Writes JSON and prints a summary.

Usage: ``python bench/gpu_check.py [--out var/gpu-check.json] [--hbm-tb-s 4.8] [--budget-s 400] [--skip-tests]``

On a CUDA machine (sized for an H200, under 7 minutes):

1. device, driver and library versions;
2. ``pytest tests/inference`` (the engine tests then run in bfloat16 on the GPU);
3. a random-weight model with EXAONE 4.0 1.2B's shapes (hidden 2048, 30 layers, 32 heads, 8 key/value heads,
   intermediate 4096, vocabulary 102400, tied embeddings, the sliding-window pattern of transformers'
   ``Exaone4Config``) built directly on the GPU in bfloat16, no download;
4. decode tokens/s at batch 1, 4, 16 and 64 through the app's engine (its own batcher with greedy requests, and
   transformers' batching through the engine with sampled ones) and through ``model.generate_batch``, each as a
   fraction of the memory-bandwidth bound: (weight bytes + key/value bytes read per step) / HBM bandwidth;
5. an out-of-memory under ``torch.cuda.set_per_process_memory_fraction``: the request that does not fit fails,
   the one running beside it finishes with its normal answer, and allocated memory returns to where it was;
6. the tiny diffusion pipelines on CUDA in bfloat16 (text to image, image to image, inpaint, with CPU offload) and
   a cancel.

Without a GPU it says so (``"gpu": false``) and runs what is quick and still meaningful on a CPU: the shape and
bandwidth arithmetic, the out-of-memory isolation with an injected allocation failure on the tiny demo model,
and the tiny diffusion pipelines with a cancel (``--tests`` also runs the engine tests).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
#: EXAONE 4.0 1.2B's public shapes (the rest comes from transformers' Exaone4Config defaults).
EXAONE_1_2B = {
    "vocab_size": 102400,
    "hidden_size": 2048,
    "intermediate_size": 4096,
    "num_hidden_layers": 30,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "tie_word_embeddings": True,
    "max_position_embeddings": 65536,
}
PROMPT_TOKENS = 128
#: Batch sizes, answer length and vocabulary of the throughput steps (smaller in a rehearsal on the CPU).
SIZES: dict[str, Any] = {"batches": (1, 4, 16, 64), "new_tokens": 128, "vocab": EXAONE_1_2B["vocab_size"]}
#: ``--rehearse-on-cpu``: the GPU steps with these small shapes on the CPU, to check the script itself.
REHEARSAL = {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 4, "vocab_size": 4096}


def _log(message: str) -> None:
    print(f"[gpu-check {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


class Check:
    """Runs the steps in order within a time budget and records each one's result, error or skip."""

    def __init__(self, budget_s: float) -> None:
        self.started = time.monotonic()
        self.budget_s = budget_s
        self.steps: dict[str, Any] = {}

    def left(self) -> float:
        return self.budget_s - (time.monotonic() - self.started)

    def run(self, name: str, step: Callable[[], Any], *, needs_s: float = 0.0) -> Any:
        if self.left() < needs_s:
            self.steps[name] = {"skipped": f"time budget: {self.left():.0f} s left, needs about {needs_s:.0f} s"}
            _log(f"{name}: skipped (time budget)")
            return None
        _log(f"{name}: running")
        began = time.monotonic()
        try:
            result = step()
            self.steps[name] = {"ok": True, "seconds": round(time.monotonic() - began, 1), **(result or {})}
        except Exception as exc:
            self.steps[name] = {
                "ok": False,
                "seconds": round(time.monotonic() - began, 1),
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc()[-4000:],
            }
            _log(f"{name}: FAILED {type(exc).__name__}: {exc}")
            return None
        _log(f"{name}: done in {self.steps[name]['seconds']} s")
        return result


# --------------------------------------------------------------------------------------------- 1. device


def device_info() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": {n: _version(n) for n in ("torch", "transformers", "diffusers", "accelerate", "flash-attn")},
        "cuda_available": torch.cuda.is_available(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "torch_cuda": torch.version.cuda,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(
            device=props.name,
            capability=f"{props.major}.{props.minor}",
            total_gib=round(props.total_memory / 2**30, 1),
            device_count=torch.cuda.device_count(),
            bf16=torch.cuda.is_bf16_supported(),
        )
        try:
            smi = ["nvidia-smi", "--query-gpu=driver_version,memory.total", "--format=csv,noheader"]
            info["nvidia_smi"] = subprocess.run(smi, capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            info["nvidia_smi"] = "not available"
    return info


# --------------------------------------------------------------------------------------------- 2. tests


def engine_tests(timeout_s: float) -> dict[str, Any]:
    command = [sys.executable, "-m", "pytest", "tests/inference", "-q", "-p", "no:cacheprovider", "-x"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout_s, check=False)
    lines = (result.stdout + result.stderr).strip().splitlines()
    if result.returncode != 0:
        raise RuntimeError(f"pytest exited {result.returncode}: " + " | ".join(lines[-15:]))
    return {"returncode": result.returncode, "summary": lines[-1] if lines else ""}


# --------------------------------------------------------------------------------------------- 3-4. throughput


def exaone_config() -> Any:
    from transformers import Exaone4Config

    return Exaone4Config(**EXAONE_1_2B)


def shapes() -> dict[str, Any]:
    """The shapes used, and how they compare with transformers' Exaone4Config defaults."""
    import torch
    from transformers import Exaone4Config, Exaone4ForCausalLM

    from inference.text.kv_cache import KVLayout

    config, defaults = exaone_config(), Exaone4Config()
    parameters = _parameter_count(config)
    with torch.device("meta"):  # count what transformers builds, without allocating it
        built = sum(p.numel() for p in Exaone4ForCausalLM(config).parameters())
    if built != parameters:
        raise AssertionError(f"parameter count {parameters} differs from transformers' model ({built})")
    return {
        "config": {k: getattr(config, k) for k in (*EXAONE_1_2B, "sliding_window", "sliding_window_pattern")},
        "layer_types": _runs(config.layer_types),
        "differs_from_exaone4config_defaults": {
            k: {"used": getattr(config, k), "default": getattr(defaults, k)}
            for k in EXAONE_1_2B
            if getattr(config, k) != getattr(defaults, k, None)
        },
        "parameters": parameters,
        "weight_bytes_bf16": parameters * 2,
        "kv_bytes_per_token_bf16": KVLayout.from_config(config, torch.bfloat16).bytes_per_token,
    }


def _runs(items: list[str]) -> str:
    """``["a", "a", "b"]`` as ``"2 x a, 1 x b"`` (in order)."""
    out: list[list[Any]] = []
    for item in items:
        if out and out[-1][1] == item:
            out[-1][0] += 1
        else:
            out.append([1, item])
    return ", ".join(f"{n} x {item}" for n, item in out)


def _parameter_count(config: Any) -> int:
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    head_dim = getattr(config, "head_dim", None) or h // config.num_attention_heads
    q = config.num_attention_heads * head_dim
    kv = config.num_key_value_heads * head_dim
    per_layer = h * q + 2 * h * kv + q * h + 3 * h * i + 2 * h + 2 * head_dim  # projections, MLP, norms
    embeddings = config.vocab_size * h * (1 if config.tie_word_embeddings else 2)
    return layers * per_layer + embeddings + h


def bandwidth_bound(shape: dict[str, Any], batch: int, context: int, hbm_bytes_per_s: float) -> float:
    """Decode tokens/s if every step only had to read the weights once and each row's cache once."""
    step_bytes = shape["weight_bytes_bf16"] + batch * context * shape["kv_bytes_per_token_bf16"]
    return batch * hbm_bytes_per_s / step_bytes


def build_model(attention: str, device: str = "cuda", **overrides: Any) -> Any:
    """Random weights with EXAONE 4.0 1.2B's shapes, made directly on ``device`` in bfloat16 (no download)."""
    import torch
    from transformers import AutoModelForCausalLM, Exaone4Config

    config = Exaone4Config(**{**EXAONE_1_2B, **overrides})
    config._attn_implementation = attention
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16, attn_implementation=attention)
    return model.eval()


def _prompts(batch: int, seed: int = 0) -> list[list[int]]:
    import random

    rng = random.Random(seed)  # noqa: S311 (token ids, not secrets)
    top = SIZES["vocab"] - 1
    return [[rng.randrange(10, top) for _ in range(PROMPT_TOKENS)] for _ in range(batch)]


def _engine(model: Any, *, continuous_batching: str, max_batch: int) -> Any:
    from transformers import PreTrainedTokenizerFast

    from inference.text import kv_cache
    from inference.text.hf import TransformersEngine

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=_byte_tokenizer(), eos_token="</s>")  # noqa: S106
    return TransformersEngine(
        name="exaone-1.2b-shapes",
        model=model,
        tokenizer=tokenizer,
        context_length=4096,
        max_batch_size=max_batch,
        kv_budget_bytes=kv_cache.budget_bytes(model.device, memory_fraction=0.5, cap_bytes=None),
        continuous_batching=continuous_batching,
    )


def _byte_tokenizer() -> Any:
    """A stand-in tokenizer: the check feeds token ids straight to the engine's batchers and never decodes."""
    from tokenizers import Tokenizer, models

    return Tokenizer(models.WordLevel({"</s>": 2, "<unk>": 0}, unk_token="<unk>"))  # noqa: S106


def _drain(generations: list[Any]) -> int:
    from inference.text.batcher import EndEvent, ErrorEvent, TokenEvent

    tokens = 0
    for generation in generations:
        for event in generation:
            if isinstance(event, ErrorEvent):
                raise RuntimeError(f"a request failed: {event.error}")
            tokens += 1 if isinstance(event, TokenEvent) else event.eos_tokens if isinstance(event, EndEvent) else 0
    return tokens


def engine_throughput(model: Any, shape: dict[str, Any], hbm: float) -> dict[str, Any]:
    """The app's engine at each batch size: greedy rows on its own batcher, sampled rows on transformers'."""
    from inference.types import SamplingParams

    engine = _engine(model, continuous_batching="auto", max_batch=max(SIZES["batches"]))
    paths = {
        "own (greedy)": SamplingParams(temperature=0.0, max_new_tokens=SIZES["new_tokens"]),
        "library (sampled)": SamplingParams(temperature=0.8, top_p=0.95, max_new_tokens=SIZES["new_tokens"]),
    }
    results: dict[str, Any] = {"library_off": engine.library_off}
    try:
        for label, sampling in paths.items():
            if engine.route(sampling) != label.split()[0]:
                results[label] = {"skipped": f"routed to {engine.route(sampling)} ({engine.library_off})"}
                continue
            _drain([engine.submit(p, sampling, max_new_tokens=8) for p in _prompts(4, seed=99)])  # warm-up
            rows = {}
            for batch in SIZES["batches"]:
                started = time.perf_counter()
                new = SIZES["new_tokens"]
                tokens = _drain([engine.submit(p, sampling, max_new_tokens=new) for p in _prompts(batch)])
                rows[batch] = _row(tokens, time.perf_counter() - started, batch, shape, hbm)
            results[label] = rows
        results["stats"] = engine.stats()
    finally:
        engine.close()
    return results


def generate_batch_throughput(model: Any, shape: dict[str, Any], hbm: float) -> dict[str, Any]:
    """transformers' ``generate_batch`` at each batch size (greedy); time from the first start to the last end."""
    from transformers import GenerationConfig

    config = GenerationConfig(do_sample=False, max_new_tokens=SIZES["new_tokens"], eos_token_id=-1)
    model.generate_batch(_prompts(4, seed=99), generation_config=config, progress_bar=False)  # warm-up
    rows = {}
    for batch in SIZES["batches"]:
        outputs = model.generate_batch(_prompts(batch), generation_config=config, progress_bar=False)
        tokens = sum(len(o.generated_tokens) for o in outputs.values())
        spans = [o.lifespan for o in outputs.values()]
        seconds = max(end for _, end in spans) - min(start for start, _ in spans)
        rows[batch] = _row(tokens, seconds, batch, shape, hbm)
    return rows


def _row(tokens: int, seconds: float, batch: int, shape: dict[str, Any], hbm: float) -> dict[str, Any]:
    bound = bandwidth_bound(shape, batch, PROMPT_TOKENS + SIZES["new_tokens"] // 2, hbm)
    rate = tokens / seconds if seconds > 0 else 0.0
    return {
        "tokens": tokens,
        "seconds": round(seconds, 3),
        "tokens_per_s": round(rate, 1),
        "bound_tokens_per_s": round(bound, 1),
        "fraction_of_bound": round(rate / bound, 3),
    }


# --------------------------------------------------------------------------------------------- 5. out of memory


def _wait_idle(engine: Any, seconds: float = 10.0) -> None:
    """Wait until the engine's batcher thread has dropped every cache (it does so right after the last event)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        stats = engine.stats()
        if not (stats["active"] or stats["kv_allocated_bytes"]):
            return
        time.sleep(0.01)


def oom_isolation_gpu(model: Any) -> dict[str, Any]:
    """A prompt whose cache cannot fit under a memory fraction fails alone; memory returns to its baseline."""
    import torch

    from inference.text.batcher import EndEvent, ErrorEvent, TokenEvent
    from inference.types import SamplingParams

    engine = _engine(model, continuous_batching="off", max_batch=8)
    greedy = SamplingParams(temperature=0.0, max_new_tokens=64)
    small = _prompts(1, seed=3)[0]
    try:
        alone = [e.token for e in engine.submit(small, greedy, max_new_tokens=64) if isinstance(e, TokenEvent)]
        torch.cuda.synchronize()
        baseline = torch.cuda.memory_allocated()
        total = torch.cuda.get_device_properties(0).total_memory
        fraction = min(0.95, (baseline + (1 << 30)) / total)  # about 1 GiB of room above what is in use
        torch.cuda.set_per_process_memory_fraction(fraction)
        # The engine's own budget still believes in half the device, so the failure is a real allocation failure.
        huge = [7] * 30000  # ~1.8 GiB of cache for this prompt alone
        running = engine.submit(small, greedy, max_new_tokens=64)
        first = running.next_event(timeout=60)
        failing = engine.submit(huge, SamplingParams(temperature=0.0, max_new_tokens=8), max_new_tokens=8)
        failing_events = list(failing)
        running_events = [first, *running]
        _wait_idle(engine)
        torch.cuda.synchronize()
        after = torch.cuda.memory_allocated()
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        stats = engine.stats()
        engine.close()
    survived = [e.token for e in running_events if isinstance(e, TokenEvent)]
    outcome = {
        "memory_fraction": round(fraction, 4),
        "failing_request": type(failing_events[-1]).__name__,
        "failing_error": str(getattr(failing_events[-1], "error", ""))[:300],
        "running_request_finished": isinstance(running_events[-1], EndEvent),
        "running_answer_unchanged": survived == alone,
        "allocated_before_mib": baseline >> 20,
        "allocated_after_mib": after >> 20,
        "stats": stats,
    }
    if not (isinstance(failing_events[-1], ErrorEvent) and outcome["running_answer_unchanged"] and after <= baseline):
        raise AssertionError(f"isolation or release failed: {outcome}")
    return outcome


def oom_isolation_cpu() -> dict[str, Any]:
    """The same isolation on the tiny demo model, with an injected allocation failure (no GPU to fill)."""
    import torch

    from inference.demo.text import build_text_model
    from inference.text.batcher import ErrorEvent, TokenEvent
    from inference.text.hf import TransformersEngine
    from inference.types import ChatMessage, ModelSpec, SamplingParams

    with tempfile.TemporaryDirectory() as folder:
        spec = ModelSpec(name="tiny", kind="text", engine="transformers", path=str(build_text_model(Path(folder))))
        engine = TransformersEngine.from_spec(spec)
    greedy = SamplingParams(temperature=0.0, max_new_tokens=40)
    first = engine.render([ChatMessage("user", "What is the capital of South Korea?")])[1]
    second = engine.render([ChatMessage("user", "안녕하세요? 오늘 서울 날씨는 어때요?")])[1]
    try:
        alone = [e.token for e in engine.submit(first, greedy, max_new_tokens=40) if isinstance(e, TokenEvent)]
        original, fired = engine.model.forward, []

        def forward(*args: Any, **kwargs: Any) -> Any:
            if kwargs["input_ids"].shape[0] >= 2 and not fired:
                fired.append(True)
                raise torch.OutOfMemoryError("CUDA out of memory (injected by gpu_check)")
            return original(*args, **kwargs)

        engine.model.forward = forward
        older = engine.submit(first, greedy, max_new_tokens=40)
        newer = engine.submit(second, greedy, max_new_tokens=40)
        older_events, newer_events = list(older), list(newer)
        _wait_idle(engine)
        stats = engine.stats()
    finally:
        engine.close()
    outcome = {
        "injected": bool(fired),
        "newest_failed": isinstance(newer_events[-1], ErrorEvent),
        "older_answer_unchanged": [e.token for e in older_events if isinstance(e, TokenEvent)] == alone,
        "cache_bytes_after": stats["kv_allocated_bytes"],
    }
    if not (outcome["newest_failed"] and outcome["older_answer_unchanged"] and not outcome["cache_bytes_after"]):
        raise AssertionError(f"isolation or release failed: {outcome}")
    return outcome


# --------------------------------------------------------------------------------------------- 6. diffusion


class _CancelAfter:
    """A cancel flag that turns true on its ``n``-th poll (the engine polls before starting and once per step)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.polls = 0

    def __call__(self) -> bool:
        self.polls += 1
        return self.polls >= self.n


def diffusion(on_gpu: bool) -> dict[str, Any]:
    import torch
    from PIL import Image

    from inference.demo.image import build_image_model
    from inference.image.diffusion import DiffusersEngine
    from inference.image.types import ImageRequest
    from inference.types import ModelSpec

    options = {"device": "cuda", "dtype": "bfloat16"} if on_gpu else {"device": "cpu"}
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        model_dir = build_image_model(Path(folder) / "tiny-sd", seed=0)
        variants = {"plain": options}
        if on_gpu:
            variants["cpu_offload"] = {**options, "cpu_offload": True}
        for name, variant in variants.items():
            spec = ModelSpec(name="sd", kind="image", engine="diffusers", path=str(model_dir), options=variant)
            engine = DiffusersEngine.from_spec(spec)
            base = {"prompt": "a red cube on a table", "width": 64, "height": 64, "steps": 4, "seed": 1}
            start = Image.new("RGB", (64, 64), (120, 30, 200))
            mask = Image.new("L", (64, 64), 255)
            runs = {
                "txt2img": ImageRequest(**base),
                "img2img": ImageRequest(**base, mode="img2img", init_image=start, strength=0.8),
                "inpaint": ImageRequest(**base, mode="inpaint", init_image=start, mask_image=mask, strength=0.8),
                "cancel": ImageRequest(**{**base, "steps": 8}, cancel=_CancelAfter(3)),
            }
            row: dict[str, Any] = {}
            try:
                if on_gpu:
                    torch.cuda.synchronize()
                    before = torch.cuda.memory_allocated()
                for mode, request in runs.items():
                    result = engine.generate(request)
                    row[mode] = {"finish": result.finish_reason, "steps": f"{result.steps_done}/{result.steps_total}"}
                if on_gpu:
                    torch.cuda.synchronize()
                    row["allocated_growth_mib"] = (torch.cuda.memory_allocated() - before) >> 20
            finally:
                engine.close()
            finished = all(row[mode]["finish"] == "done" for mode in ("txt2img", "img2img", "inpaint"))
            if row["cancel"]["finish"] != "cancelled" or not finished:
                raise AssertionError(f"{name}: {row}")
            results[name] = row
    return results


# --------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "var" / "gpu-check.json", help="JSON to write")
    parser.add_argument("--hbm-tb-s", type=float, default=4.8, help="HBM bandwidth in TB/s (H200: 4.8)")
    parser.add_argument("--budget-s", type=float, default=400.0, help="stop starting new steps after this long")
    parser.add_argument("--skip-tests", action="store_true", help="do not run pytest tests/inference")
    parser.add_argument("--tests", action="store_true", help="run the engine tests even without a GPU")
    parser.add_argument(
        "--rehearse-on-cpu",
        action="store_true",
        help="run the GPU throughput steps on the CPU with small shapes (checks the script, measures nothing useful)",
    )
    args = parser.parse_args(argv)
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    gpu = torch.cuda.is_available()
    hbm = args.hbm_tb_s * 1e12
    check = Check(args.budget_s)
    report: dict[str, Any] = {"gpu": gpu, "hbm_tb_s": args.hbm_tb_s, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    if not gpu:
        _log(
            "no GPU: torch sees no CUDA device. Running the CPU parts only; throughput and the real out-of-memory "
            "check need a CUDA machine."
        )
        report["note"] = "no GPU visible to torch: GPU throughput and the real out-of-memory check were not run"
    report["device"] = check.run("device", device_info)
    shape = check.run("shapes", shapes)
    report["shapes"] = shape
    if shape:
        context = PROMPT_TOKENS + SIZES["new_tokens"] // 2
        report["bandwidth_bound_tokens_per_s"] = {
            b: round(bandwidth_bound(shape, b, context, hbm), 1) for b in SIZES["batches"]
        }
    if (gpu or args.tests) and not args.skip_tests:
        check.run("engine_tests", lambda: engine_tests(max(60.0, min(260.0, check.left() - 120))), needs_s=120)
    if gpu or args.rehearse_on_cpu:
        if not gpu:
            SIZES.update(batches=(1, 4), new_tokens=16, vocab=REHEARSAL["vocab_size"])
            report["rehearsal"] = f"GPU steps rehearsed on the CPU with {REHEARSAL}: the numbers mean nothing"
        attention = "flash_attention_2" if gpu and importlib.util.find_spec("flash_attn") else "sdpa"
        report["attention"] = attention
        build = (
            (lambda: {"model": build_model(attention)})
            if gpu
            else (lambda: {"model": build_model(attention, "cpu", **REHEARSAL)})
        )
        model = check.run("build_model", build, needs_s=30)
        if model:
            model = model.pop("model")
            if gpu:
                check.steps["build_model"]["allocated_gib"] = round(torch.cuda.memory_allocated() / 2**30, 2)
            check.run("engine_throughput", lambda: engine_throughput(model, shape, hbm), needs_s=90)
            check.run("generate_batch_throughput", lambda: generate_batch_throughput(model, shape, hbm), needs_s=60)
            if gpu:
                check.run("oom_isolation", lambda: oom_isolation_gpu(model), needs_s=30)
            del model
            if gpu:
                torch.cuda.empty_cache()
    if not gpu:
        check.run("oom_isolation", oom_isolation_cpu, needs_s=20)
    check.run("diffusion", lambda: diffusion(gpu), needs_s=20)
    if gpu:
        from inference.registry import device_report

        report["device_report"] = device_report()
    report["steps"] = check.steps
    report["seconds"] = round(time.monotonic() - check.started, 1)
    report["ok"] = all(step.get("ok", False) for step in check.steps.values())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    _summary(report, args.out)
    return 0 if report["ok"] else 1


def _rates(rows: dict[Any, Any]) -> str:
    return ", ".join(
        f"b{batch} {row['tokens_per_s']} tok/s ({row['fraction_of_bound']:.0%} of bound)"
        for batch, row in rows.items()
        if isinstance(row, dict)
    )


def _summary(report: dict[str, Any], out: Path) -> None:
    print()
    gpu, ok = str(report["gpu"]).lower(), str(report["ok"]).lower()
    print(f"GPU check: gpu={gpu} ok={ok} in {report['seconds']} s -> {out}")
    device = report.get("device") or {}
    libraries = device.get("libraries", {})
    print(
        f"  device: {device.get('device', 'no CUDA device')}; torch {libraries.get('torch')}, "
        f"transformers {libraries.get('transformers')}"
    )
    for name, step in report["steps"].items():
        state = "skipped" if "skipped" in step else ("ok" if step.get("ok") else "FAILED")
        detail = step.get("skipped") or step.get("error") or step.get("summary") or ""
        print(f"  {name}: {state} {detail}".rstrip())
    for label in ("own (greedy)", "library (sampled)"):
        rows = report["steps"].get("engine_throughput", {}).get(label)
        if isinstance(rows, dict) and "skipped" not in rows:
            print(f"  engine, {label}: {_rates(rows)}")
    rows = report["steps"].get("generate_batch_throughput")
    if rows and rows.get("ok"):
        print(f"  generate_batch: {_rates(rows)}")


if __name__ == "__main__":
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(here)]
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
