"""Render benchmark results as the markdown of ``docs/benchmarks.md``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .common import Machine, median, ratio
from .image import ImageBenchResult
from .text_hf import Comparison, HFResult
from .text_llamacpp import PATHS, LlamaResult

#: Targets the interpretation checks against.
BATCHED_VS_SERIAL_TARGET = 2.0
ENGINE_VS_RAW_TARGET = 0.95
#: Above this share of the CPU used by other processes during a section, the report warns about noise.
BUSY_SHARE = 0.05


@dataclass
class Report:
    """Everything one run produced."""

    date: str
    command: str
    quick: bool
    machine: Machine
    load_at_end: tuple[float, float, float]
    seconds: float
    llamacpp: LlamaResult | None = None
    hf: HFResult | None = None
    image: ImageBenchResult | None = None
    #: Load averages (1 / 5 / 15 min) when each section started.
    section_loads: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    #: Share of the machine's CPU that other processes used during each section (0 to 1).
    section_others: dict[str, float] = field(default_factory=dict)
    #: Extra paragraphs (measured findings) appended to the interpretation.
    notes: Sequence[str] = ()
    #: The JSON ``bench/gpu_check.py`` wrote on a GPU machine, if one is given to ``bench/run.py --gpu-check``.
    gpu_check: dict | None = None


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _f(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _x(value: float) -> str:
    return f"{value:.2f}x"


def _spread(values: Sequence[float]) -> str:
    """Median with the min-max range of the repeats."""
    if len(values) < 2:
        return _f(median(values))
    return f"{_f(median(values))} ({_f(min(values))}-{_f(max(values))})"


def _load(load: tuple[float, float, float]) -> str:
    return " / ".join(f"{v:.2f}" for v in load)


def _machine(report: Report) -> list[str]:
    m = report.machine
    lines = [
        "## Machine",
        "",
        f"- CPU: {m.cpu}, {m.cores} cores; RAM {m.ram_gib} GiB; no GPU used",
        f"- Load average (1 / 5 / 15 min): {_load(m.load_at_start)} at start, {_load(report.load_at_end)} at end"
        + "".join(f"; {_load(load)} when {name} started" for name, load in report.section_loads.items()),
        "- CPU used by other processes meanwhile (share of all cores; the load average also counts this "
        "benchmark's own threads): "
        + (", ".join(f"{name} {share:.0%}" for name, share in report.section_others.items()) or "not measured"),
        f"- Python {m.python} on {m.platform}",
        "- Libraries: " + ", ".join(f"{name} {version}" for name, version in m.libraries.items()),
        "",
    ]
    return lines


def _llamacpp(r: LlamaResult) -> list[str]:
    s = r.settings
    top = max(s.concurrency)
    serial = {p: r.level(p, 1) for p in ("raw", "engine")}
    lines = [
        f"## 1. llama.cpp: {r.model}",
        "",
        f"One `LlamaCppEngine` (n_parallel={s.n_parallel} slots, {s.n_threads} threads, n_ctx {s.context_length} "
        f"per slot, poll {s.poll}) loaded in {r.load_s:.1f} s. *raw* calls "
        "`engine._server.handle_chat_completions(payload, callback)` on that same `xllamacpp.Server` with the payload "
        "the engine builds; *engine* iterates `LlamaCppEngine.stream(TextRequest)`. Greedy, no stop strings, "
        f"max_tokens {s.max_tokens}; each request has a unique numbered prefix so the prompt cache is not reused. "
        f"{r.repeats_done} repeats, alternating which path goes first; medians, with the min-max of the repeats.",
        "",
        f"### Single request (medians over the {s.n_requests} x {r.repeats_done} requests of the serial runs)",
        "",
    ]
    rows = []
    for path in ("raw", "engine"):
        level = serial[path]
        server = [o.server_decode_tokens_per_s for o in level.outcomes if o.server_decode_tokens_per_s]
        rows.append(
            [
                path,
                _f(level.median_ttft_ms),
                _f(level.median_decode_tokens_per_s),
                _f(median(server)) if server else "-",
            ]
        )
    rows.append(
        [
            "engine / raw",
            _x(ratio(serial["engine"].median_ttft_ms, serial["raw"].median_ttft_ms)),
            _x(ratio(serial["engine"].median_decode_tokens_per_s, serial["raw"].median_decode_tokens_per_s)),
            "",
        ]
    )
    lines += _table(["path", "TTFT ms", "decode tokens/s", "llama.cpp's own decode tokens/s"], rows)
    lines += ["", "TTFT: call to first non-empty text; decode: tokens after the first, per second after it."]
    lines += [
        "",
        f"### Aggregate throughput: {s.n_requests} requests, k at a time (k = 1 is the serial baseline)",
        "",
    ]
    rows = []
    for c in s.concurrency:
        raw, eng = r.level("raw", c), r.level("engine", c)
        rows.append(
            [
                str(c),
                _spread(raw.tokens_per_s),
                _spread(eng.tokens_per_s),
                _x(r.engine_vs_raw(c)),
                _f(raw.median_ttft_ms, 0),
                _f(eng.median_ttft_ms, 0),
                "yes" if raw.full_length and eng.full_length else "no",
            ]
        )
    lines += _table(
        [
            "k",
            "raw tokens/s",
            "engine tokens/s",
            "engine / raw",
            "raw TTFT p50 ms",
            "engine TTFT p50 ms",
            "all ran to max_tokens",
        ],
        rows,
    )
    lines += [
        "",
        f"Batched ({top} at once) over serial: raw **{_x(r.batched_vs_serial('raw'))}**, "
        f"engine **{_x(r.batched_vs_serial('engine'))}** (target >= {_x(BATCHED_VS_SERIAL_TARGET)}). "
        "Engine over raw: " + ", ".join(f"k={c} **{_x(r.engine_vs_raw(c))}**" for c in s.concurrency) + " "
        f"(target >= {_x(ENGINE_VS_RAW_TARGET)}). Section time {r.seconds:.0f} s.",
        "",
    ]
    cost = r.wrapper_cost
    if cost is not None:
        token_us = ratio(1e6, serial["raw"].median_decode_tokens_per_s)
        lines += [
            f"Wrapper cost alone (the {cost.chunks} chunks of one request replayed instantly to each path, no model): "
            f"raw callback {cost.raw_ms:.2f} ms, engine {cost.engine_ms:.2f} ms per request, so the engine adds "
            f"about {cost.engine_extra_us_per_chunk:.0f} us per chunk (a worker thread per request, a queue hand-off "
            f"and a typed event per chunk), against about {token_us:,.0f} us per token of decoding here "
            f"({ratio(cost.engine_extra_us_per_chunk, token_us):.2%}).",
            "",
        ]
    return lines


def _hf(r: HFResult) -> list[str]:
    s = r.settings
    top = max(s.concurrency)
    raw_ttft = median(x.ttft_ms for x in r.raw_single)
    eng_ttft = median(x.ttft_ms for x in r.engine_single)
    raw_tps = median(x.decode_tokens_per_s for x in r.raw_single)
    eng_tps = median(x.decode_tokens_per_s for x in r.engine_single)
    lines = [
        "## 2. transformers: tiny demo EXAONE 4.0 (random weights, 2 layers, hidden 64)",
        "",
        f"`TransformersEngine` (max_batch_size {top}, float32 on CPU, {r.torch_threads} torch threads), loaded in "
        f"{r.load_s:.2f} s. *raw* is `model.generate` on the same model folder with the same prompt token ids "
        "(greedy), run in a child process so that its torch threads cannot slow the engine's (see below). "
        f"max_new_tokens {s.max_tokens}; the random model sometimes ends early, so throughput counts the tokens "
        "actually generated (the same for every path: greedy).",
        "",
        f"### Single request ({s.single_repeats} repeats)",
        "",
    ]
    lines += _table(
        ["path", "TTFT ms", "decode tokens/s"],
        [
            ["raw `generate`", _f(raw_ttft, 2), _f(raw_tps)],
            ["engine", _f(eng_ttft, 2), _f(eng_tps)],
            ["engine / raw", _x(ratio(eng_ttft, raw_ttft)), _x(ratio(eng_tps, raw_tps))],
        ],
    )
    lines += ["", f"### Aggregate throughput: {s.n_requests} requests, k at a time ({s.repeats} repeats)", ""]
    serial = r.level(1).median_tokens_per_s
    rows = [
        [
            f"engine, k={level.concurrency}",
            _spread(level.tokens_per_s),
            _x(ratio(level.median_tokens_per_s, serial)),
            _f(level.median_ttft_ms, 1),
        ]
        for level in r.levels
    ]
    rows.append(
        [
            f"engine's batcher alone, {top} at once (no streaming side)",
            _spread(r.batcher_tokens_per_s),
            _x(ratio(median(r.batcher_tokens_per_s), serial)),
            "-",
        ]
    )
    rows.append(
        [
            "the same, after another thread ran one torch matrix product (see below)",
            _spread(r.batcher_after_other_thread_tokens_per_s),
            _x(ratio(median(r.batcher_after_other_thread_tokens_per_s), serial)),
            "-",
        ]
    )
    rows.append(
        [
            f"raw `generate`, one padded batch of {s.n_requests}",
            _spread(r.raw_batch_tokens_per_s),
            _x(ratio(median(r.raw_batch_tokens_per_s), serial)),
            "-",
        ]
    )
    for k, tps in sorted(r.raw_batches_tokens_per_s.items()):
        rows.append([f"raw `generate`, padded batches of {k}", _f(tps), _x(ratio(tps, serial)), "-"])
    lines += _table(["path", "tokens/s", "vs engine serial", "TTFT p50 ms"], rows)
    lines += [
        "",
        "Batcher against `generate` at the same batch size (engine tokens/s over padded `generate` batches of k): "
        + ", ".join(
            f"k={k} **{_x(ratio(r.level(k).median_tokens_per_s, tps))}**"
            for k, tps in sorted(r.raw_batches_tokens_per_s.items())
        )
        + ".",
        "",
        f"Tokens per run: {r.level(1).tokens} (of {s.n_requests * s.max_tokens} possible). Peak batch the engine "
        f"reached: {r.peak_batch_size}. Engine batched/serial at k={top}: **{_x(r.batched_vs_serial())}**; "
        f"engine at k={top} over raw padded batch: "
        f"**{_x(ratio(r.level(top).median_tokens_per_s, median(r.raw_batch_tokens_per_s)))}**. "
        f"Section time {r.seconds:.0f} s.",
        "",
    ]
    if r.comparison is not None:
        lines += _comparison(r.comparison)
    return lines


def _comparison(c: Comparison) -> list[str]:
    rows = []
    for level in c.before:
        before, after = level, c.level("after", level.concurrency)
        rows.append(
            [
                str(level.concurrency),
                _spread(before.tokens_per_s),
                _spread(after.tokens_per_s),
                _x(ratio(after.median_tokens_per_s, before.median_tokens_per_s)),
                _f(before.median_ttft_ms, 1),
                _f(after.median_ttft_ms, 1),
            ]
        )
    return [
        f"### Before and after: engine at `{c.baseline}` against `{c.current}`",
        "",
        "The same requests through `TransformersEngine.stream`, each revision loaded in a fresh process, "
        f"alternating, {len(c.before[0].tokens_per_s)} repeats; medians with the min-max of the repeats. Where the "
        "ranges overlap, the difference is within this run's noise (see the load above).",
        "",
        *_table(
            ["k", "before tokens/s", "after tokens/s", "after / before", "before TTFT p50 ms", "after TTFT p50 ms"],
            rows,
        ),
        "",
    ]


def _image(r: ImageBenchResult) -> list[str]:
    s = r.settings
    lines = [
        "## 3. diffusers: tiny demo Stable Diffusion (random weights)",
        "",
        f"`DiffusersEngine.generate(ImageRequest)` against calling the engine's own txt2img pipeline object "
        f"directly, txt2img, {s.steps} steps, guidance {s.guidance_scale} (so the UNet runs on a batch of 2), "
        f"fixed seed, float32 on CPU, loaded in {r.load_s:.2f} s. Steps/s: steps over the time from the call to the "
        f"last step (text encoding included, VAE decode excluded); ms per image: the whole call. {s.repeats} "
        "repeats, alternating order, medians.",
        "",
    ]
    rows = []
    for size in s.sizes:
        raw, eng = r.run("raw", size), r.run("engine", size)
        rows.append(
            [
                f"{size}x{size}",
                _f(raw.steps_per_s),
                _f(eng.steps_per_s),
                _x(r.engine_vs_raw_steps(size)),
                _f(raw.ms_per_image, 0),
                _f(eng.ms_per_image, 0),
                _x(r.engine_vs_raw_images(size)),
                "yes" if r.same_pixels.get(size) else "no",
            ]
        )
    lines += _table(
        [
            "size",
            "raw steps/s",
            "engine steps/s",
            "engine / raw",
            "raw ms/image",
            "engine ms/image",
            "engine / raw (images/s)",
            "same pixels",
        ],
        rows,
    )
    lines += ["", f"Section time {r.seconds:.0f} s.", ""]
    return lines


def _verdicts(report: Report) -> list[str]:
    """One line per target: met or not, from the numbers above."""
    out: list[str] = []
    r = report.llamacpp
    if r is not None:
        top = max(r.settings.concurrency)
        for path in ("raw", "engine"):
            value = r.batched_vs_serial(path)
            verdict = "met" if value >= BATCHED_VS_SERIAL_TARGET else "NOT met"
            out.append(
                f"- llama.cpp {path}, {top} concurrent over serial: {_x(value)}, target >= "
                f"{_x(BATCHED_VS_SERIAL_TARGET)}: **{verdict}**."
            )
        for c in r.settings.concurrency:
            value = r.engine_vs_raw(c)
            verdict = "met" if value >= ENGINE_VS_RAW_TARGET else "NOT met"
            out.append(
                f"- llama.cpp engine over raw at k={c}: {_x(value)}, target >= {_x(ENGINE_VS_RAW_TARGET)} (engine "
                f"loses at most 5%): **{verdict}**."
            )
    if report.image is not None:
        worst = min(report.image.engine_vs_raw_steps(s) for s in report.image.settings.sizes)
        verdict = "met" if worst >= ENGINE_VS_RAW_TARGET else "NOT met"
        out.append(f"- diffusers engine over raw pipeline, worst size: {_x(worst)} steps/s: **{verdict}**.")
    return out


def _findings(report: Report) -> list[str]:
    """What the numbers say beyond the targets, worded from the numbers of this run."""
    out: list[str] = []
    r = report.llamacpp
    if r is not None and len(r.settings.concurrency) > 2:
        top = max(r.settings.concurrency)
        middle = sorted(r.settings.concurrency)[-2]
        at_middle, at_top = r.level("raw", middle).median_tokens_per_s, r.level("raw", top).median_tokens_per_s
        if at_top < at_middle * 1.1:
            out.append(
                f"- llama.cpp: {middle} requests at once give {_f(at_middle)} tokens/s and {top} give {_f(at_top)}: "
                f"with {r.settings.n_threads} threads the CPU is already saturated at {middle}, so more concurrent "
                "requests add waiting (a longer time to first token), not throughput."
            )
        else:
            out.append(
                f"- llama.cpp: {top} requests at once give {_x(ratio(at_top, at_middle))} the throughput of {middle}."
            )
        typical = median(o.total_s for o in r.level("raw", 1).outcomes)
        slow = [o for path in PATHS for o in r.level(path, 1).outcomes if o.total_s > 3 * typical]
        if slow:
            out.append(
                f"- llama.cpp: {len(slow)} of the serial requests took more than 3x the median request time "
                f"(worst {max(o.total_s for o in slow):.1f} s against a median of {typical:.2f} s). Such stalls "
                "come from other processes taking the cores (see the load averages); medians are reported so that "
                "one stalled repeat does not decide a ratio, and the min-max ranges show the stalls."
            )
    h = report.hf
    if h is not None:
        top = max(h.settings.concurrency)
        engine_top = h.level(top).median_tokens_per_s
        batcher = median(h.batcher_tokens_per_s)
        single = ratio(
            median(x.decode_tokens_per_s for x in h.engine_single), median(x.decode_tokens_per_s for x in h.raw_single)
        )
        out.append(
            f"- transformers: one request through the engine decodes at {_x(single)} the speed of `generate`. "
            f"At {top} at once the engine's batcher alone reaches {_f(batcher)} tokens/s "
            f"({_x(ratio(batcher, median(h.raw_batch_tokens_per_s)))} a padded `generate` batch), and the full engine "
            f"{_f(engine_top)} ({_x(ratio(engine_top, batcher))} of its batcher). The rest is the streaming side: "
            f"the {top} caller threads spend their time waiting on their queues, but each is woken for every token, "
            f"so each decode step pays {top} thread wake-ups and GIL hand-offs on {report.machine.cores} cores "
            f"(about {ratio(1e6, engine_top) - ratio(1e6, batcher):.0f} us per token here). With a real model a "
            "decode step takes tens of milliseconds and this cost becomes a few percent."
        )
        contended = median(h.batcher_after_other_thread_tokens_per_s)
        if ratio(contended, batcher) < 0.8:
            out.append(
                f"- transformers, engine problem found: after another thread of the process ran one parallel torch "
                f"operator, the same batcher reaches only {_f(contended)} tokens/s ({_x(ratio(contended, batcher))}). "
                "torch's OpenMP gives each thread that runs parallel operators its own team of worker threads; with "
                "two teams there are more OpenMP threads than cores, OpenMP then stops spin-waiting, and every one of "
                "the many small operators of a decode step pays for a thread wake-up. In one CPU worker process this "
                "happens as soon as a second transformers model, the diffusers engine or the vision engine has run "
                "in another thread. Large models (big operators) and GPUs suffer much less. Ways out: one torch "
                "engine per worker process, or one intra-op thread for small models on a CPU."
            )
        else:
            out.append(
                f"- transformers: with {h.torch_threads} torch intra-op thread(s) the batcher kept its speed after "
                f"another thread ran a parallel torch operator ({_x(ratio(contended, batcher))}); with several "
                "threads per process on a busy machine, OpenMP's thread teams make small operators pay for wake-ups "
                "(see earlier runs of this file), which is why this run pins the thread count."
            )
    if report.image is not None and all(report.image.same_pixels.values()):
        worst = min(report.image.engine_vs_raw_steps(size) for size in report.image.settings.sizes)
        cost = f"cost {1 - worst:.0%} of the steps/s at worst here" if worst < 0.99 else "cost nothing measurable here"
        out.append(
            "- diffusers: the engine and the plain pipeline produce identical pixels for the same seed, so they do "
            f"the same work; the engine's extra per-call work (a fresh scheduler, a prompt-length check, a step "
            f"callback) {cost}."
        )
    return out


GPU_NOTE = (
    "What changes on a GPU: decoding one token needs a pass over all the weights, so on a GPU (and on a CPU "
    "with a real multi-billion-parameter model) one request is bound by memory bandwidth and a batch of 16 "
    "costs little more than a batch of 1; batching then multiplies throughput several times. The tiny demo "
    "EXAONE has about 0.23 M parameters: a forward pass is a few hundred microseconds of Python and kernel "
    "launches, so on this CPU the numbers above measure per-step Python overhead (the batcher's bookkeeping, "
    "sampling, detokenising, queue hand-offs), not the model. They show the batcher works and what it costs; "
    "they do not predict GPU throughput. The same holds for the tiny Stable Diffusion model: a real SD 1.5 "
    "UNet step at 512x512 takes seconds on a CPU and tens of milliseconds on a GPU, where the engine's fixed "
    "per-call cost (a scheduler copy, prompt-length check, step callback) is even smaller in relative terms."
)


GPU_CHECK_HOW = (
    "How to run it: on a CUDA machine (sized for one H200; under 7 minutes), from the repository root after "
    "`make setup` with a CUDA build of torch: `python bench/gpu_check.py --out var/gpu-check.json` "
    "(`--hbm-tb-s` sets the memory bandwidth of another GPU, default 4.8 for an H200; `--skip-tests` leaves out "
    "`pytest tests/inference`). It prints a summary and writes JSON: device and versions, the engine tests, a "
    "random-weight model with EXAONE 4.0 1.2B's shapes built on the GPU in bfloat16, decode tokens/s at batch 1, "
    "4, 16 and 64 through the engine (own batcher for greedy requests, transformers' batching for sampled ones) "
    "and through `generate_batch`, each as a fraction of the bandwidth bound ((weights + key/value cache read per "
    "step) / bandwidth), a real out-of-memory under `torch.cuda.set_per_process_memory_fraction` (the request "
    "that does not fit fails, the one beside it keeps its answer, allocated memory returns to its baseline), and "
    "the tiny diffusion pipelines on CUDA in bfloat16 with CPU offload and a cancel. Then refresh this file with "
    '`python bench/run.py --gpu-check var/gpu-check.json`. Without a GPU it writes `{"gpu": false, ...}` and '
    "runs only the CPU parts (shapes and bandwidth arithmetic, isolation with an injected allocation failure on "
    "the tiny model, the tiny diffusion pipelines with a cancel); `--rehearse-on-cpu` also walks the GPU steps "
    "with small shapes on the CPU to check the script itself."
)


def _gpu_check(result: dict | None) -> list[str]:
    lines = ["## GPU check", ""]
    if not result or not result.get("gpu"):
        lines += [
            "**Not run on a GPU yet**: no GPU was lent to the sessions that wrote this code, so none of the GPU "
            "numbers (throughput as a share of the bandwidth bound, the real out-of-memory isolation, the image "
            "pipelines in bfloat16) have been measured. The script was run on this CPU only, where it reports "
            '`"gpu": false` and passes its CPU parts.',
            "",
            GPU_CHECK_HOW,
            "",
        ]
        if result and result.get("bandwidth_bound_tokens_per_s"):
            bound = result["bandwidth_bound_tokens_per_s"]
            lines += [
                f"The bound it will compare against (EXAONE 4.0 1.2B shapes, {result['shapes']['parameters']:,} "
                f"parameters, {result['hbm_tb_s']} TB/s, 128 prompt + 64 answer tokens of cache per row on "
                "average): " + ", ".join(f"batch {b}: {v:,.0f} tokens/s" for b, v in bound.items()) + ".",
                "",
            ]
        return lines
    device = result.get("device", {})
    libraries = device.get("libraries", {})
    lines += [
        f"Run on {device.get('device')} ({device.get('total_gib')} GiB, torch {libraries.get('torch')}, "
        f"transformers {libraries.get('transformers')}, attention {result.get('attention')}) "
        f"in {result.get('seconds')} s; all steps passed: **{'yes' if result.get('ok') else 'no'}**.",
        "",
    ]
    steps = result.get("steps", {})
    rows = []
    engine = steps.get("engine_throughput", {})
    for label in ("own (greedy)", "library (sampled)"):
        if isinstance(engine.get(label), dict) and "skipped" not in engine[label]:
            rows.append((f"engine, {label}", engine[label]))
    if steps.get("generate_batch_throughput", {}).get("ok"):
        rows.append(("`generate_batch` (greedy)", steps["generate_batch_throughput"]))
    if rows:
        batches = [k for k in rows[0][1] if isinstance(rows[0][1][k], dict)]
        lines += _table(
            ["path", *(f"batch {b}: tokens/s (share of bound)" for b in batches)],
            [
                [label, *(f"{_f(r[b]['tokens_per_s'])} ({r[b]['fraction_of_bound']:.0%})" for b in batches)]
                for label, r in rows
            ],
        )
        lines += [""]
    for name, step in steps.items():
        if name in ("engine_throughput", "generate_batch_throughput"):
            continue
        state = "skipped: " + step["skipped"] if "skipped" in step else ("ok" if step.get("ok") else step.get("error"))
        lines.append(f"- {name}: {state}")
    lines += ["", GPU_CHECK_HOW, ""]
    return lines


def render(report: Report) -> str:
    """The whole markdown document."""
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{report.command}` on {report.date} ({'quick smoke run' if report.quick else 'full run'}, "
        f"{report.seconds:.0f} s in all). Rerun it to refresh this file; numbers from another machine or a busy "
        "one are not comparable. Each engine is compared with the library it wraps, measured in the same run on "
        "the same loaded model.",
        "",
    ]
    lines += _machine(report)
    if report.llamacpp is not None:
        lines += _llamacpp(report.llamacpp)
    if report.hf is not None:
        lines += _hf(report.hf)
        lines += [GPU_NOTE, ""]
    if report.image is not None:
        lines += _image(report.image)
    lines += _gpu_check(report.gpu_check)
    lines += ["## Interpretation", ""]
    if report.quick:
        lines += ["Quick smoke run: the sizes are too small for the targets to apply, so no verdicts are given."]
    else:
        lines += _verdicts(report)
    findings = _findings(report)
    if findings:
        lines += [""] + findings
    busy = {name: share for name, share in report.section_others.items() if share > BUSY_SHARE}
    if busy:
        lines += [
            "",
            "**Caution:** other processes used "
            + ", ".join(f"{share:.0%} of the CPU during {name}" for name, share in busy.items())
            + ", so the numbers there are noisier than on an idle machine. llama.cpp with as many threads as "
            "cores suffers most: its threads wait for each other at every step, so one descheduled thread stalls "
            "the rest.",
        ]
    if report.notes:
        lines += [""]
        for note in report.notes:
            lines += [note, ""]
    return "\n".join(lines).rstrip() + "\n"


def _sections(text: str) -> list[tuple[str, list[str]]]:
    """Split markdown into (heading, lines) blocks at each ``## `` heading (the part before the first is keyed "")."""
    blocks: list[tuple[str, list[str]]] = [("", [])]
    for line in text.rstrip("\n").split("\n"):
        if line.startswith("## "):
            blocks.append((line, [line]))
        else:
            blocks[-1][1].append(line)
    return blocks


def merge(existing: str, report: Report) -> str:
    """``existing`` with the sections this (partial) run measured replaced, and the others kept as they were.

    Replaced: the sections of the engines in ``report``, the GPU check, and the interpretation lines about those
    engines; each refreshed section says which command and date produced it, with the machine's load then.
    """
    fresh = {heading: lines for heading, lines in _sections(render(report)) if heading}
    stamp = (
        f"*Refreshed on its own by `{report.command}` on {report.date}; load average "
        f"{_load(report.machine.load_at_start)} at start; CPU used by other processes meanwhile: "
        + (", ".join(f"{name} {share:.0%}" for name, share in report.section_others.items()) or "not measured")
        + ". The other sections are from the run named at the top.*"
    )
    # Section heading prefix -> (what this run measured there, how its interpretation lines start).
    engines = {
        "## 1. llama.cpp": (report.llamacpp, "- llama.cpp"),
        "## 2. transformers": (report.hf, "- transformers"),
        "## 3. diffusers": (report.image, "- diffusers"),
    }
    measured = {prefix for prefix, (part, _) in engines.items() if part is not None}
    replaced = set(engines)
    out: list[str] = []
    seen_gpu = False
    for heading, lines in _sections(existing):
        prefix = next((p for p in replaced if heading.startswith(p)), None)
        if prefix in measured:
            new_heading = next(h for h in fresh if h.startswith(prefix))
            body = fresh[new_heading]
            out += [body[0], "", stamp, *body[1:]]
            continue
        if heading == "## GPU check":
            out += fresh["## GPU check"]
            seen_gpu = True
            continue
        if heading == "## Interpretation":
            if not seen_gpu:
                out += fresh["## GPU check"]
                seen_gpu = True
            stale = tuple(engines[p][1] for p in measured)
            kept = [line for line in lines if not line.startswith(stale)]
            new = [line for line in fresh["## Interpretation"] if line.startswith(stale)]
            out += kept + ([""] + new if new else [])
            continue
        out += lines
    return "\n".join(out).rstrip() + "\n"
