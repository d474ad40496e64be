"""Local Hugging Face text models through transformers, batching concurrent requests.

The engine renders prompts with the model's own chat template and streams tokens from a batcher:

* :class:`~inference.text.batcher.ContinuousBatcher` (ours, on every device): per-request seed, repetition
  penalty, greedy next to sampled requests, token-budget admission, chunked prefill, failures that stay with one
  request;
* on CUDA, transformers' own continuous batching (:mod:`inference.text.library_batcher`: paged cache, CUDA graphs
  with flash attention) for the requests it serves as asked (sampled, no seed, no repetition penalty).

Both share one key/value cache budget taken from the GPU memory left after loading (see :data:`OPTIONS`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from ..devices import pick_device
from ..errors import EngineUnavailable, InvalidRequest, ModelLoadError, PromptTooLong
from ..safety import check_revision, check_weights
from ..types import (
    ChatMessage,
    ModelSpec,
    SamplingParams,
    TextDelta,
    TextDone,
    TextRequest,
    Timings,
    Usage,
)
from . import kv_cache
from .batcher import DEFAULT_PREFILL_CHUNK, ContinuousBatcher, EndEvent, ErrorEvent, Generation
from .detokenize import IncrementalDetokenizer
from .library_batcher import LibraryBatcher, refusal, unavailable_reason
from .reasoning import OPEN_TAG, ReasoningSplitter

logger = logging.getLogger(__name__)

#: Settings an admin may put in ``ModelSpec.options`` for this engine.
OPTIONS = {
    "device": "torch device, e.g. 'cuda', 'cuda:1' or 'cpu' (default: cuda when available)",
    "dtype": "bfloat16, float16 or float32 (default: bfloat16 on CUDA, float32 on CPU)",
    "max_batch_size": "most requests generated together (default 8, at most 256); also the engine's capacity",
    "attn_implementation": "e.g. 'sdpa', 'eager' or 'flash_attention_2' (default: the model's choice)",
    "kv_cache_gib": "most GiB the key/value cache may use (default on CPU: 2; on CUDA: no cap beyond the fraction)",
    "kv_cache_memory_fraction": "share of the GPU memory free after loading that the cache may use (default 0.8)",
    "prefill_chunk": f"prompt tokens prefilled between two decode steps (default {DEFAULT_PREFILL_CHUNK})",
    "continuous_batching": "'auto' (transformers' paged batching on CUDA), 'on' (also on CPU) or 'off'",
    "library_cache_share": "share of the cache budget given to transformers' batching when it is on (default 0.5)",
}
#: How often a waiting stream wakes up to poll ``request.cancel`` when no token arrives (seconds).
_POLL_S = 0.05


def _number(options: dict[str, Any], key: str, default: float, low: float, high: float, *, whole: bool = False) -> Any:
    """An option as a number in [low, high], or an error that says which values work."""
    value = options.get(key, default)
    try:
        number = int(value) if whole else float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"The {key} option must be a number between {low:g} and {high:g}.") from exc
    if whole and number != float(value) or not low <= number <= high:
        kind = "a whole number" if whole else "a number"
        raise InvalidRequest(f"The {key} option must be {kind} between {low:g} and {high:g}, not {value!r}.")
    return number


# --------------------------------------------------------------------------------------------- engine


class _LockedDecoder:
    """Decode with a shared tokenizer under a lock (a fast tokenizer is not safe to share across threads)."""

    def __init__(self, tokenizer: Any, lock: threading.Lock) -> None:
        self._tokenizer = tokenizer
        self._lock = lock

    def decode(self, token_ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        with self._lock:
            return self._tokenizer.decode(list(token_ids), skip_special_tokens=skip_special_tokens)


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), model.config):
        value = getattr(source, "eos_token_id", None)
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids


class TransformersEngine:
    """A local Hugging Face causal LM (any architecture transformers knows), batching concurrent requests.

    Options (``ModelSpec.options``) are listed in :data:`OPTIONS`. The prompt is rendered by the model's own chat
    template with ``enable_thinking``; usage counts the rendered prompt and every generated token, the final
    end-of-turn token included (as vLLM and llama.cpp count it).
    """

    def __init__(
        self,
        *,
        name: str,
        model: Any,
        tokenizer: Any,
        context_length: int,
        max_batch_size: int = 8,
        kv_budget_bytes: int | None = None,
        prefill_chunk: int = DEFAULT_PREFILL_CHUNK,
        continuous_batching: str = "auto",
        library_cache_share: float = 0.5,
    ) -> None:
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.context_length = int(context_length)
        self._tokenizer_lock = threading.Lock()
        self._decoder = _LockedDecoder(tokenizer, self._tokenizer_lock)
        budget = kv_cache.CPU_DEFAULT_BUDGET if kv_budget_bytes is None else int(kv_budget_bytes)
        eos = _eos_ids(model, tokenizer)
        #: transformers' own continuous batching, for the requests it serves as asked (None when not in use).
        self.library: LibraryBatcher | None = None
        #: Why the library path is not in use (shown in stats), or ``None``.
        self.library_off = unavailable_reason(continuous_batching, model)
        if self.library_off is None:
            share = int(budget * library_cache_share)
            try:
                self.library = LibraryBatcher(
                    model,
                    eos_token_ids=eos,
                    max_batch_size=max_batch_size,
                    kv_budget_bytes=share,
                    prefill_chunk=prefill_chunk,
                    context_length=self.context_length,
                )
                budget -= share
            except Exception as exc:  # e.g. its cache does not fit: every request then goes to the own batcher
                logger.warning("transformers' continuous batching could not start for %s: %s", name, exc)
                self.library_off = f"could not start ({type(exc).__name__}: {exc})"
        self.batcher = ContinuousBatcher(
            model,
            eos_token_ids=eos,
            max_batch_size=max_batch_size,
            kv_budget_bytes=budget,
            prefill_chunk=prefill_chunk,
        )

    @property
    def capacity(self) -> int:
        """How many requests this engine decodes together (``max_batch_size``); size the calling pool from it."""
        return self.batcher.capacity

    def stats(self) -> dict[str, Any]:
        """Load and cache use, for health pages (see :class:`~inference.text.base.TextEngine`).

        The top-level counts add both batchers; ``own`` and ``library`` hold each one's own numbers.
        """
        own = self.batcher.stats()
        library = self.library.stats() if self.library else None
        both = [own, library] if library else [own]
        return {
            "engine": "transformers",
            "capacity": self.capacity,
            "active": sum(s["active"] for s in both),
            "queued": sum(s["queued"] for s in both),
            "peak_batch": max(s["peak_batch"] for s in both),
            "batching": own["batching"],
            "kv_budget_tokens": own["kv_budget_tokens"],
            "kv_reserved_tokens": own["kv_reserved_tokens"],
            "kv_allocated_bytes": own["kv_allocated_bytes"],
            "failed": own["failed"],
            "own": own,
            "library": library,
            "library_off": self.library_off,
        }

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> TransformersEngine:
        """Load the model folder at ``spec.path`` (never from the network)."""
        options = dict(spec.options)
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            known = "; ".join(f"{key}: {help_}" for key, help_ in OPTIONS.items())
            raise InvalidRequest(
                f"Unknown option(s) for the transformers engine: {', '.join(unknown)}. Known: {known}."
            )
        SamplingParams.from_dict(spec.default_sampling)  # reject typos before loading gigabytes
        max_batch_size = _number(options, "max_batch_size", 8, 1, 256, whole=True)
        prefill_chunk = _number(options, "prefill_chunk", DEFAULT_PREFILL_CHUNK, 16, 65536, whole=True)
        fraction = _number(options, "kv_cache_memory_fraction", 0.8, 0.05, 0.95)
        mode = str(options.get("continuous_batching", "auto"))
        if mode not in ("auto", "on", "off"):
            raise InvalidRequest(f"continuous_batching must be 'auto', 'on' or 'off', not {mode!r}.")
        cap_gib = options.get("kv_cache_gib")
        cap_bytes = int(_number(options, "kv_cache_gib", 0, 1e-6, 4096) * (1 << 30)) if cap_gib is not None else None

        path = _model_folder(spec)
        check_weights(path, allow_pickle=spec.allow_pickle)
        check_revision(path, spec.revision, hub_id=spec.hub_id)
        if not spec.allow_pickle and not any(path.rglob("*.safetensors")):
            raise ModelLoadError(f"{path} has no *.safetensors weights. Download the model's safetensors files there.")
        name, dtype = pick_device(options)
        device = torch.device(name)

        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(
                path, local_files_only=True, trust_remote_code=spec.trust_remote_code
            )
        except Exception as exc:
            raise ModelLoadError(
                f"Could not load the tokenizer of {spec.name!r} from {path} ({type(exc).__name__}: {exc}). "
                "Check that tokenizer.json and tokenizer_config.json were downloaded completely."
            ) from exc
        if not getattr(tokenizer, "chat_template", None):
            raise ModelLoadError(
                f"The tokenizer in {path} has no chat template: it is a base model or the template file is "
                "missing. Use the instruct / chat version of the model, or add chat_template.jinja to the "
                "folder."
            )
        load_kwargs: dict[str, Any] = {
            "dtype": dtype,
            "local_files_only": True,
            "trust_remote_code": spec.trust_remote_code,
            # Pickle checkpoints can run code when loaded: only read them when an admin allowed it.
            "use_safetensors": None if spec.allow_pickle else True,
        }
        if options.get("attn_implementation"):
            load_kwargs["attn_implementation"] = options["attn_implementation"]
        if device.type == "cuda":
            load_kwargs["device_map"] = str(device)  # load straight onto the GPU, not through CPU memory
        try:
            model = AutoModelForCausalLM.from_pretrained(path, **load_kwargs)
            if device.type != "cuda":
                model = model.to(device)
        except Exception as exc:
            raise ModelLoadError(
                f"Could not load the weights of {spec.name!r} from {path} ({type(exc).__name__}: {exc}). "
                "Check that the download is complete (file sizes match the hub), that the installed "
                "transformers supports the architecture, and that there is enough memory."
            ) from exc
        model.eval()

        context_length = spec.context_length
        text_config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
        model_max = getattr(text_config, "max_position_embeddings", None)
        if isinstance(model_max, int) and model_max > 0:
            context_length = min(context_length, model_max)
        return cls(
            name=spec.name,
            model=model,
            tokenizer=tokenizer,
            context_length=context_length,
            max_batch_size=max_batch_size,
            kv_budget_bytes=kv_cache.budget_bytes(device, memory_fraction=fraction, cap_bytes=cap_bytes),
            prefill_chunk=prefill_chunk,
            continuous_batching=mode,
            library_cache_share=_number(options, "library_cache_share", 0.5, 0.05, 0.95),
        )

    # ----------------------------------------------------------------- prompts

    def render(self, messages: Sequence[ChatMessage], *, enable_thinking: bool = False) -> tuple[str, list[int]]:
        """The chat prompt for ``messages`` as the model's own template renders it, and its token ids.

        A conversation that ends with an assistant message asks to continue that message (Continue after
        Stop), so the template leaves its turn open instead of starting a new one.
        """
        from jinja2.exceptions import TemplateError

        from .special_tokens import defuser_for

        # The model's own markers in users' text would forge turns (SECURITY.md line 14).
        messages = defuser_for(self.tokenizer).defuse_messages(messages)
        conversation = [{"role": m.role, "content": m.content} for m in messages]
        continuing = bool(messages) and messages[-1].role == "assistant"
        with self._tokenizer_lock:
            try:
                text = self.tokenizer.apply_chat_template(
                    conversation,
                    tokenize=False,
                    add_generation_prompt=not continuing,
                    continue_final_message=continuing,
                    enable_thinking=enable_thinking,
                )
            except TemplateError as exc:
                raise InvalidRequest(f"The model's chat template rejected this conversation: {exc}") from exc
            # The template already wrote any BOS token; adding special tokens again would double it.
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return text, list(ids)

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Tokens of the rendered prompt (generation prompt included, thinking off)."""
        return len(self.render(messages)[1])

    # ----------------------------------------------------------------- generation

    def route(self, sampling: SamplingParams) -> str:
        """Which batcher serves ``sampling``: ``"library"`` (transformers') or ``"own"``."""
        return "library" if self.library is not None and refusal(sampling) is None else "own"

    def submit(self, prompt_ids: Sequence[int], sampling: SamplingParams, *, max_new_tokens: int) -> Generation:
        """Queue token ids on the batcher that serves these settings (see :meth:`route`)."""
        if self.route(sampling) == "library":
            return self.library.submit(list(prompt_ids), sampling, max_new_tokens=max_new_tokens)  # type: ignore[union-attr]
        return self.batcher.submit(prompt_ids, sampling, max_new_tokens=max_new_tokens)

    def _alive(self) -> bool:
        return self.batcher.alive and (self.library is None or self.library.alive)

    def stream(self, request: TextRequest) -> Iterator[TextDelta | TextDone]:
        """Yield deltas as tokens are generated, then one :class:`TextDone`."""
        sampling = request.sampling
        if not isinstance(sampling, SamplingParams):
            sampling = SamplingParams.from_dict(sampling)
        prompt_text, prompt_ids = self.render(request.messages, enable_thinking=request.enable_thinking)
        room = self.context_length - len(prompt_ids)
        if room < 1:
            raise PromptTooLong(
                f"The conversation takes {len(prompt_ids)} tokens but {self.name} holds "
                f"{self.context_length}. Shorten the message or start a new conversation."
            )
        started = time.perf_counter()
        generation = self.submit(prompt_ids, sampling, max_new_tokens=min(sampling.max_new_tokens, room))
        detokenizer = IncrementalDetokenizer(self._decoder)
        # Templates that open the reasoning themselves (EXAONE 4.0 with thinking on) end with "<think>".
        splitter = ReasoningSplitter(start_in_reasoning=prompt_text.rstrip().endswith(OPEN_TAG))
        completion_tokens = 0
        ttft_ms: float | None = None
        finish: str | None = None
        try:
            while finish is None:
                if request.cancel():
                    finish = "cancelled"
                    break
                event = generation.next_event(timeout=_POLL_S)
                if event is None and not self._alive():
                    event = generation.next_event(timeout=0)  # its last words, if any
                    if event is None:
                        raise EngineUnavailable(
                            f"The generation thread of {self.name} stopped. Unload and reload the model."
                        )
                if event is None:
                    continue
                if isinstance(event, ErrorEvent):
                    raise event.error
                if ttft_ms is None:
                    ttft_ms = (time.perf_counter() - started) * 1000.0
                if isinstance(event, EndEvent):
                    finish, completion_tokens = event.reason, completion_tokens + event.eos_tokens
                    break
                completion_tokens += 1
                piece = detokenizer.push(event.token)
                if piece:
                    delta = splitter.feed(piece)
                    if delta.text or delta.reasoning:
                        yield delta
        finally:
            generation.abandon()  # cancelled, finished, or the caller stopped reading: free the batch slot
        tail = splitter.feed(detokenizer.flush())
        rest = splitter.flush()
        if tail.text or tail.reasoning or rest.text or rest.reasoning:
            yield TextDelta(text=tail.text + rest.text, reasoning=tail.reasoning + rest.reasoning)
        yield TextDone(
            text=splitter.text,
            reasoning=splitter.reasoning,
            finish_reason=finish,  # type: ignore[arg-type]
            usage=Usage(prompt_tokens=len(prompt_ids), completion_tokens=completion_tokens),
            timings=Timings(ttft_ms=ttft_ms, total_ms=(time.perf_counter() - started) * 1000.0),
            model=self.name,
        )

    def close(self) -> None:
        """Stop the batchers and free the model's memory."""
        if self.library is not None:
            self.library.close()
            self.library = None
        self.batcher.close()
        self.batcher.model = None
        self.model = None
        import gc

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _model_folder(spec: ModelSpec) -> Path:
    if not spec.path:
        raise ModelLoadError(f"Model {spec.name!r} has no path: set it to the model's folder in the admin.")
    path = Path(spec.path).expanduser()
    if not path.exists():
        hint = f" (for example: hf download {spec.hub_id} --local-dir {path})" if spec.hub_id else ""
        raise ModelLoadError(f"Model folder {path} does not exist. Download the model there{hint} or fix its path.")
    if not path.is_dir():
        raise ModelLoadError(
            f"{path} is a file, but the transformers engine needs a Hugging Face model folder (config.json, "
            "tokenizer files, *.safetensors). For a single .gguf file use the llamacpp engine."
        )
    if not (path / "config.json").is_file():
        raise ModelLoadError(
            f"{path} has no config.json, so it is not a complete Hugging Face model folder. Download the "
            "whole repository (config, tokenizer and weights) into it."
        )
    return path
