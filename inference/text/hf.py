"""Local Hugging Face text models through transformers, with continuous batching.

One background thread owns the model. Requests that arrive while others are generating join the running batch
at the next step: each new request is prefilled on its own, then its KV cache is left-padded and stacked onto
the batch cache, and from then on every active sequence advances one token per forward pass. Finished or
cancelled sequences leave the batch at once. This is what ``generate`` does for a left-padded batch, so greedy
results match single-request runs (up to float rounding).

Why not transformers' own ``ContinuousBatchingManager``: it applies one generation config to the whole batch
(no per-request seed or repetition penalty) and its paged cache is tuned for GPUs. Ours keeps per-request
sampling with a private random generator, so a seed reproduces the same answer even when batched (barring
float rounding differences between batch shapes).

Models whose cache is not a plain per-layer key/value stack (state-space or custom remote-code caches) cannot
be stacked; they still run in the same loop, one sequence per forward pass, taking turns token by token.
"""

from __future__ import annotations

import inspect
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..devices import pick_device
from ..errors import EngineUnavailable, InferenceError, InvalidRequest, ModelLoadError, PromptTooLong
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
from .detokenize import IncrementalDetokenizer
from .reasoning import OPEN_TAG, ReasoningSplitter

logger = logging.getLogger(__name__)

#: Settings an admin may put in ``ModelSpec.options`` for this engine.
OPTIONS = {
    "device": "torch device, e.g. 'cuda', 'cuda:1' or 'cpu' (default: cuda when available)",
    "dtype": "bfloat16, float16 or float32 (default: bfloat16 on CUDA, float32 on CPU)",
    "max_batch_size": "most sequences generated together (default 8)",
    "attn_implementation": "e.g. 'sdpa', 'eager' or 'flash_attention_2' (default: the model's choice)",
}
#: How often a waiting stream wakes up to poll ``request.cancel`` when no token arrives (seconds).
_POLL_S = 0.05


# --------------------------------------------------------------------------------------------- sampling


def sample_token(
    logits: torch.Tensor,
    sampling: SamplingParams,
    *,
    history: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> int:
    """Pick the next token from 1-D ``logits``: repetition penalty, then greedy or temperature/top-k/top-p."""
    logits = logits.float()
    if sampling.repetition_penalty != 1.0 and history is not None and history.numel():
        # Same rule as transformers: shrink the logits of tokens already in the prompt or answer.
        scores = logits.gather(0, history)
        penalty = sampling.repetition_penalty
        scores = torch.where(scores < 0, scores * penalty, scores / penalty)
        logits = logits.scatter(0, history, scores)
    if sampling.temperature == 0.0:
        return int(torch.argmax(logits))
    logits = logits / sampling.temperature
    if 0 < sampling.top_k < logits.numel():
        kth_best = torch.topk(logits, sampling.top_k).values[-1]
        logits = logits.masked_fill(logits < kth_best, float("-inf"))
    if sampling.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        sorted_probs = torch.softmax(sorted_logits, dim=-1)
        # Drop a token when the more likely ones already cover top_p; the most likely one always stays.
        mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
        drop = mass_before >= sampling.top_p
        drop[0] = False
        logits = logits.scatter(0, order, sorted_logits.masked_fill(drop, float("-inf")))
    probs = torch.softmax(logits, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))


# --------------------------------------------------------------------------------------------- batcher


@dataclass
class _Sequence:
    prompt_ids: list[int]
    sampling: SamplingParams
    max_new_tokens: int
    generator: torch.Generator
    history: torch.Tensor | None
    events: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    abandoned: threading.Event = field(default_factory=threading.Event)
    generated: int = 0
    #: Tokens already in the KV cache (the real ones, not padding).
    position: int = 0
    next_token: int = -1


class Generation:
    """A submitted request. Iterate for ``("token", id)`` then one ``("end", reason, eos_tokens)`` event."""

    def __init__(self, sequence: _Sequence) -> None:
        self._sequence = sequence

    def next_event(self, timeout: float | None = None) -> tuple | None:
        """The next event, or ``None`` if none came within ``timeout`` seconds."""
        try:
            return self._sequence.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def __iter__(self) -> Iterator[tuple]:
        while True:
            event = self._sequence.events.get()
            yield event
            if event[0] != "token":
                return

    def abandon(self) -> None:
        """Stop generating: the sequence leaves the batch before the next step."""
        self._sequence.abandoned.set()


class _Lane:
    """Sequences that share one stacked KV cache and advance together."""

    def __init__(self, cache: Any, sequence: _Sequence, device: torch.device) -> None:
        self.cache = cache
        self.rows = [sequence]
        self.mask = torch.ones((1, sequence.position), dtype=torch.long, device=device)

    @property
    def length(self) -> int:
        return self.mask.shape[1]

    def add(self, cache: Any, sequence: _Sequence) -> None:
        """Stack a freshly prefilled single-sequence cache onto this lane, left-padding the shorter side."""
        new_len, old_len = sequence.position, self.length
        if new_len > old_len:
            _pad_cache_left(self.cache, new_len - old_len)
            self.mask = torch.nn.functional.pad(self.mask, (new_len - old_len, 0))
        elif old_len > new_len:
            _pad_cache_left(cache, old_len - new_len)
        new_mask = torch.zeros((1, self.length), dtype=torch.long, device=self.mask.device)
        new_mask[:, self.length - new_len :] = 1
        for mine, theirs in zip(self.cache.layers, cache.layers, strict=True):
            mine.keys = torch.cat([mine.keys, theirs.keys], dim=0)
            mine.values = torch.cat([mine.values, theirs.values], dim=0)
        self.mask = torch.cat([self.mask, new_mask], dim=0)
        self.rows.append(sequence)

    def keep(self, indices: list[int]) -> None:
        """Keep only the given rows, then drop padding columns no remaining row needs."""
        if len(indices) == len(self.rows):
            return
        self.rows = [self.rows[i] for i in indices]
        if not indices:
            return
        index = torch.tensor(indices, dtype=torch.long, device=self.mask.device)
        self.mask = self.mask.index_select(0, index)
        used = self.mask.any(dim=0)
        unused_columns = int(torch.argmax(used.int())) if bool(used.any()) else 0
        for layer in self.cache.layers:
            layer.keys = layer.keys.index_select(0, index)[:, :, unused_columns:]
            layer.values = layer.values.index_select(0, index)[:, :, unused_columns:]
        self.mask = self.mask[:, unused_columns:]


def _pad_cache_left(cache: Any, amount: int) -> None:
    for layer in cache.layers:
        layer.keys = torch.nn.functional.pad(layer.keys, (0, 0, amount, 0))
        layer.values = torch.nn.functional.pad(layer.values, (0, 0, amount, 0))


def _stackable(cache: Any, length: int) -> bool:
    """True if ``cache`` is a plain stack of full key/value layers we know how to pad and join."""
    from transformers.cache_utils import DynamicCache, DynamicLayer

    if type(cache) is not DynamicCache or not getattr(cache, "layers", None):
        return False
    for layer in cache.layers:
        if type(layer) is not DynamicLayer:
            return False
        keys, values = getattr(layer, "keys", None), getattr(layer, "values", None)
        if not isinstance(keys, torch.Tensor) or not isinstance(values, torch.Tensor):
            return False
        if keys.dim() != 4 or keys.shape[0] != 1 or keys.shape[-2] != length or values.shape[-2] != length:
            return False
    return True


class ContinuousBatcher:
    """Generate for many requests at once on one model, from a single background thread.

    :meth:`submit` is thread-safe; everything touching the model runs in the worker thread.
    """

    def __init__(
        self,
        model: Any,
        *,
        eos_token_ids: set[int],
        max_batch_size: int = 8,
    ) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        self.eos_token_ids = set(eos_token_ids)
        self.max_batch_size = max(1, int(max_batch_size))
        #: Most sequences advanced by one forward pass so far (for tests and the admin page).
        self.peak_batch_size = 0
        parameters = inspect.signature(model.forward).parameters
        # transformers 5.x renames ``past_key_values`` to ``cache``; remote-code models may use either.
        self._cache_arg = "cache" if "cache" in parameters else "past_key_values"
        self._logits_to_keep = "logits_to_keep" in parameters
        self._can_stack = True
        self._stack_verified = False
        self._lanes: list[_Lane] = []
        self._pending: deque[_Sequence] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="transformers-batcher", daemon=True)
        self._thread.start()

    # ----------------------------------------------------------------- any thread

    def submit(self, prompt_ids: Sequence[int], sampling: SamplingParams, *, max_new_tokens: int) -> Generation:
        """Queue a prompt; tokens arrive on the returned :class:`Generation`."""
        generator = torch.Generator(device=self.device)
        if sampling.seed is None:
            generator.seed()
        else:
            generator.manual_seed(sampling.seed)
        history = None
        if sampling.repetition_penalty != 1.0:
            history = torch.tensor(list(prompt_ids), dtype=torch.long, device=self.device)
        sequence = _Sequence(
            prompt_ids=list(prompt_ids),
            sampling=sampling,
            max_new_tokens=max_new_tokens,
            generator=generator,
            history=history,
        )
        with self._cond:
            if self._closing:
                raise EngineUnavailable("This model was unloaded. Send the request again to load it.")
            self._pending.append(sequence)
            self._cond.notify()
        return Generation(sequence)

    def close(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def active(self) -> int:
        """Sequences being generated right now (not counting queued ones)."""
        return sum(len(lane.rows) for lane in self._lanes)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # ----------------------------------------------------------------- worker thread

    def _run(self) -> None:
        with torch.inference_mode():
            while True:
                with self._cond:
                    while not self._closing and not self._pending and not self._lanes:
                        self._cond.wait()
                    if self._closing:
                        break
                    room = self.max_batch_size - self.active
                    admitted = [self._pending.popleft() for _ in range(min(room, len(self._pending)))]
                for sequence in admitted:
                    self._guarded(self._start, sequence)
                for lane in list(self._lanes):
                    self._guarded(self._step, lane)
                self._lanes = [lane for lane in self._lanes if lane.rows]
        error = EngineUnavailable("This model was unloaded while generating. Send the request again.")
        with self._cond:
            leftovers = list(self._pending)
            self._pending.clear()
        for sequence in leftovers + [s for lane in self._lanes for s in lane.rows]:
            sequence.events.put(("error", error))
        self._lanes = []

    def _guarded(self, work: Callable[[Any], None], item: Any) -> None:
        """Run one unit of work; on failure, fail the sequences involved instead of killing the thread."""
        try:
            work(item)
        except Exception as exc:
            logger.exception("Generation step failed")
            rows = item.rows if isinstance(item, _Lane) else [item]
            for sequence in rows:
                sequence.events.put(("error", exc))
            if isinstance(item, _Lane):
                item.rows = []

    def _forward(self, input_ids: torch.Tensor, cache: Any, **kwargs: Any) -> tuple[torch.Tensor, Any]:
        """Run the model; return the last position's logits and the (possibly new) cache."""
        if self._logits_to_keep:
            kwargs["logits_to_keep"] = 1
        output = self.model(input_ids=input_ids, use_cache=True, **{self._cache_arg: cache}, **kwargs)
        if cache is None:  # the model made its own cache
            cache = output.get("cache", None) or output.get("past_key_values", None)
        return output.logits[:, -1, :], cache

    def _prefill(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
        from transformers.cache_utils import DynamicCache

        if not self._can_stack:
            return self._forward(input_ids, None)
        # A cache made without the model config keeps full key/value layers everywhere (sliding-window layers
        # are then limited by the attention mask instead of by trimming), which is what lets us stack them.
        try:
            logits, cache = self._forward(input_ids, DynamicCache())
        except Exception:
            if self._stack_verified:
                raise
            # Some architectures need their own cache class: let the model make it and take turns instead.
            logits, cache = self._forward(input_ids, None)
            self._disable_stacking()
            return logits, cache
        if not _stackable(cache, input_ids.shape[1]):
            self._disable_stacking()
        else:
            self._stack_verified = True
        return logits, cache

    def _disable_stacking(self) -> None:
        if self._can_stack:
            logger.info("This model's cache cannot be stacked: sequences take turns instead of batching.")
        self._can_stack = False

    def _start(self, sequence: _Sequence) -> None:
        """Prefill one new sequence, emit its first token and put it in a lane."""
        if sequence.abandoned.is_set():
            sequence.events.put(("end", "cancelled", 0))
            return
        input_ids = torch.tensor([sequence.prompt_ids], dtype=torch.long, device=self.device)
        logits, cache = self._prefill(input_ids)
        sequence.position = len(sequence.prompt_ids)
        if not self._accept(sequence, logits[0]):
            return
        lane = next((lane for lane in self._lanes if self._can_stack and lane.rows), None)
        if lane is None:
            self._lanes.append(_Lane(cache, sequence, self.device))
        else:
            lane.add(cache, sequence)

    def _step(self, lane: _Lane) -> None:
        """Advance every sequence in ``lane`` by one token."""
        live = [i for i, sequence in enumerate(lane.rows) if not sequence.abandoned.is_set()]
        for sequence in lane.rows:
            if sequence.abandoned.is_set():
                sequence.events.put(("end", "cancelled", 0))
        lane.keep(live)
        if not lane.rows:
            return
        self.peak_batch_size = max(self.peak_batch_size, len(lane.rows))
        input_ids = torch.tensor([[s.next_token] for s in lane.rows], dtype=torch.long, device=self.device)
        position_ids = torch.tensor([[s.position] for s in lane.rows], dtype=torch.long, device=self.device)
        mask = torch.nn.functional.pad(lane.mask, (0, 1), value=1)
        logits, lane.cache = self._forward(input_ids, lane.cache, attention_mask=mask, position_ids=position_ids)
        lane.mask = mask
        keep = []
        for i, sequence in enumerate(lane.rows):
            sequence.position += 1
            if self._accept(sequence, logits[i]):
                keep.append(i)
        lane.keep(keep)

    def _accept(self, sequence: _Sequence, logits: torch.Tensor) -> bool:
        """Sample and deliver the next token; return False when the sequence is finished."""
        token = sample_token(logits, sequence.sampling, history=sequence.history, generator=sequence.generator)
        sequence.generated += 1
        if token in self.eos_token_ids:
            sequence.events.put(("end", "stop", 1))
            return False
        sequence.events.put(("token", token))
        if sequence.generated >= sequence.max_new_tokens:
            sequence.events.put(("end", "length", 0))
            return False
        sequence.next_token = token
        if sequence.history is not None:
            sequence.history = torch.cat([sequence.history, sequence.history.new_tensor([token])])
        return True


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
    ) -> None:
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.context_length = int(context_length)
        self._tokenizer_lock = threading.Lock()
        self._decoder = _LockedDecoder(tokenizer, self._tokenizer_lock)
        self.batcher = ContinuousBatcher(model, eos_token_ids=_eos_ids(model, tokenizer), max_batch_size=max_batch_size)

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> TransformersEngine:
        """Load the model folder at ``spec.path`` (never from the network)."""
        unknown = sorted(set(spec.options) - set(OPTIONS))
        if unknown:
            known = "; ".join(f"{key}: {help_}" for key, help_ in OPTIONS.items())
            raise InvalidRequest(
                f"Unknown option(s) for the transformers engine: {', '.join(unknown)}. Known: {known}."
            )
        SamplingParams.from_dict(spec.default_sampling)  # reject typos before loading gigabytes
        try:
            max_batch_size = int(spec.options.get("max_batch_size", 8))
        except (TypeError, ValueError) as exc:
            raise InvalidRequest("max_batch_size must be a whole number such as 8.") from exc
        if not 1 <= max_batch_size <= 256:
            raise InvalidRequest("max_batch_size must be between 1 and 256.")

        path = _model_folder(spec)
        check_weights(path, allow_pickle=spec.allow_pickle)
        check_revision(path, spec.revision, hub_id=spec.hub_id)
        if not spec.allow_pickle and not any(path.rglob("*.safetensors")):
            raise ModelLoadError(f"{path} has no *.safetensors weights. Download the model's safetensors files there.")
        name, dtype = pick_device(spec.options)
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
        if spec.options.get("attn_implementation"):
            load_kwargs["attn_implementation"] = spec.options["attn_implementation"]
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
        )

    # ----------------------------------------------------------------- prompts

    def render(self, messages: Sequence[ChatMessage], *, enable_thinking: bool = False) -> tuple[str, list[int]]:
        """The chat prompt for ``messages`` as the model's own template renders it, and its token ids.

        A conversation that ends with an assistant message asks to continue that message (Continue after
        Stop), so the template leaves its turn open instead of starting a new one.
        """
        from jinja2.exceptions import TemplateError

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
        generation = self.batcher.submit(prompt_ids, sampling, max_new_tokens=min(sampling.max_new_tokens, room))
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
                if event is None and not self.batcher.alive:
                    event = generation.next_event(timeout=0)  # its last words, if any
                    if event is None:
                        raise EngineUnavailable(
                            f"The generation thread of {self.name} stopped. Unload and reload the model."
                        )
                if event is None:
                    continue
                if event[0] == "error":
                    raise _generation_error(event[1])
                if ttft_ms is None:
                    ttft_ms = (time.perf_counter() - started) * 1000.0
                if event[0] == "end":
                    finish, completion_tokens = event[1], completion_tokens + event[2]
                    break
                completion_tokens += 1
                piece = detokenizer.push(event[1])
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
        """Stop the batcher and free the model's memory."""
        self.batcher.close()
        self.batcher.model = None
        self.model = None
        import gc

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _generation_error(exc: BaseException) -> InferenceError:
    if isinstance(exc, InferenceError):
        return exc
    error = InferenceError(
        f"The model failed while generating ({type(exc).__name__}: {exc}). Try again; if it keeps failing "
        "(for example out of memory), lower the model's max_batch_size option or the context length."
    )
    error.__cause__ = exc
    return error


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
