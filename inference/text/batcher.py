"""Continuous batching for a local transformers model, from one background thread.

Requests are admitted while the batch has room in rows (``max_batch_size``) and in key/value cache (a token
budget from the model's size per token and the free memory). Each admitted prompt is prefilled on its own in
chunks of ``prefill_chunk`` tokens, one chunk per turn of the loop, and every turn also advances the running
sequences by one token, so a long prompt never stalls the streams already running. A prefilled sequence joins the
running batch (a :class:`~inference.text.kv_cache.LaneCache`): it is right-aligned with the others, its shorter
history hidden by the attention mask, and from then on every sequence advances one token per forward pass with
its own position ids. Tokens are chosen for all rows at once on the device (:mod:`.sampling`) and copied to the
host once per step. Finished or cancelled sequences leave at once.

Failures stay small. A prefill that fails fails its request; a join that cannot get memory fails the joining
request and leaves the batch as it was; a decode step that fails (out of memory, or anything else) forgets what
the pass wrote, fails the newest request of the batch and tries again without it; a row whose logits are NaN or
infinite fails alone. The thread and the other requests carry on, and a failed request's cache is dropped with it.

Models whose cache is not a plain per-layer key/value stack (state-space layers, custom remote-code caches)
cannot share a lane: they run in the same loop with their own cache each, one sequence per forward pass.

Consumers read typed events from a :class:`Generation`: :class:`TokenEvent` for each token, then exactly one
:class:`EndEvent` or :class:`ErrorEvent`.
"""

from __future__ import annotations

import inspect
import logging
import queue
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from ..errors import EngineUnavailable, InferenceError, InvalidRequest
from ..types import SamplingParams
from . import kv_cache
from .kv_cache import KVLayout, LaneCache
from .sampling import INVALID, BatchSampling, Noise, choose_tokens

logger = logging.getLogger(__name__)

#: Prompt tokens prefilled per turn of the loop (between two decode steps of the running batch).
DEFAULT_PREFILL_CHUNK = 512


# --------------------------------------------------------------------------------------------- events


@dataclass(frozen=True)
class TokenEvent:
    """One generated token. ``step`` counts the batcher's forward passes (prefill chunks and decode steps)."""

    token: int
    step: int


@dataclass(frozen=True)
class EndEvent:
    """The sequence ended. ``eos_tokens`` is 1 when it ended on an end-of-turn token (not delivered as text)."""

    reason: Literal["stop", "length", "cancelled"]
    eos_tokens: int = 0


@dataclass(frozen=True)
class ErrorEvent:
    """The sequence failed; nothing more comes."""

    error: InferenceError


Event = TokenEvent | EndEvent | ErrorEvent


class Generation:
    """A submitted request: iterate for its events, or poll them with a timeout."""

    def __init__(self, events: queue.SimpleQueue[Event], abandoned: threading.Event) -> None:
        self._events = events
        self._abandoned = abandoned

    def next_event(self, timeout: float | None = None) -> Event | None:
        """The next event, or ``None`` if none came within ``timeout`` seconds."""
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None

    def __iter__(self) -> Iterator[Event]:
        while True:
            event = self._events.get()
            yield event
            if not isinstance(event, TokenEvent):
                return

    def abandon(self) -> None:
        """Stop generating: the sequence leaves the batch before the next step."""
        self._abandoned.set()


# --------------------------------------------------------------------------------------------- errors


def is_out_of_memory(exc: BaseException) -> bool:
    """True for an allocation failure on any device (CUDA raises ``OutOfMemoryError``, the CPU a RuntimeError)."""
    text = str(exc).lower()
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in text or "can't allocate memory" in text


def generation_error(exc: BaseException) -> InferenceError:
    """The error a failed request reports, saying what to do."""
    if isinstance(exc, InferenceError):
        return exc
    if is_out_of_memory(exc):
        error = InferenceError(
            "The model ran out of memory while generating this answer, so it was stopped (other answers carry on). "
            "Try again; if it keeps happening, lower the model's max_batch_size or kv_cache_gib option, or its "
            "context length."
        )
    else:
        error = InferenceError(
            f"The model failed while generating this answer ({type(exc).__name__}: {exc}). Try again; if it keeps "
            "failing, check the worker's log."
        )
    # Keep the message, not the traceback: its frames would keep the batch's cache (and device memory) alive for
    # as long as the error is kept.
    error.__cause__ = exc.with_traceback(None)
    exc.__context__ = exc.__cause__ = None
    return error


INVALID_NUMBERS = (
    "The model produced invalid numbers (NaN or infinity) for this answer, so it was stopped. Try again; if it "
    "repeats, the weights or the precision may be broken (set the model's dtype option to bfloat16 or float32)."
)


# --------------------------------------------------------------------------------------------- sequences


@dataclass(eq=False)
class _Sequence:
    prompt_ids: list[int]
    sampling: SamplingParams
    max_new_tokens: int
    #: Admission order: the newest admitted sequence is the one failed when a batch step fails.
    order: int
    noise: Noise | None
    events: queue.SimpleQueue[Event] = field(default_factory=queue.SimpleQueue)
    abandoned: threading.Event = field(default_factory=threading.Event)
    generated: int = 0
    #: Prompt tokens already in the cache (chunked prefill).
    prefilled: int = 0
    #: Own cache while prefilling (and for the whole run in turn-taking mode).
    cache: Any = None
    #: Tokens generated so far (the repetition penalty looks at them).
    answer: list[int] = field(default_factory=list)
    #: Last token chosen (the input of the next decode step).
    next_token: int = -1

    @property
    def remaining(self) -> int:
        return self.max_new_tokens - self.generated

    def end(self, reason: Literal["stop", "length", "cancelled"], eos_tokens: int = 0) -> None:
        self.cache = None
        self.events.put(EndEvent(reason, eos_tokens))

    def fail(self, error: InferenceError) -> None:
        self.cache = None
        self.events.put(ErrorEvent(error))


class _Lane:
    """Sequences that share one :class:`LaneCache` and advance together, with their per-row device tensors."""

    def __init__(self, cache: LaneCache) -> None:
        self.cache = cache
        self.rows: list[_Sequence] = []
        #: Column of each row's first token (left of it is padding).
        self.starts: list[int] = []
        self._version = -1
        self._built = -2
        self.sampling: BatchSampling | None = None
        self.start_tensor: torch.Tensor | None = None
        self.next_tokens: torch.Tensor | None = None
        self.seen: torch.Tensor | None = None

    def changed(self) -> None:
        self._version += 1

    def tensors(self, vocab_size: int, device: torch.device) -> None:
        """Rebuild the per-row tensors after the rows changed (never on an ordinary step)."""
        if self._built == self._version:
            return
        self.sampling = BatchSampling.build([s.sampling for s in self.rows], vocab_size, device)
        self.start_tensor = torch.tensor(self.starts, dtype=torch.long).to(device)
        self.next_tokens = torch.tensor([[s.next_token] for s in self.rows], dtype=torch.long).to(device)
        self.seen = None
        if self.sampling.any_penalty:
            seen = torch.zeros((len(self.rows), vocab_size), dtype=torch.bool, device=device)
            for row, sequence in enumerate(self.rows):
                if sequence.sampling.repetition_penalty != 1.0:
                    history = [*sequence.prompt_ids, *sequence.answer]
                    seen[row, torch.tensor(history, dtype=torch.long).to(device)] = True
            self.seen = seen
        self._built = self._version

    def keep(self, indices: list[int]) -> None:
        """Keep only the rows at ``indices`` (ascending)."""
        if len(indices) == len(self.rows):
            return
        self.cache.keep(indices)
        self.rows = [self.rows[i] for i in indices]
        self.starts = [self.starts[i] for i in indices]
        self.changed()
        if self.rows and min(self.starts) >= max(kv_cache.COLUMN_BLOCK, self.cache.length // 4):
            unused = min(self.starts)  # padding no remaining row needs (its long-prompt owner left)
            if self.cache.trim_left(unused):
                self.starts = [start - unused for start in self.starts]

    def worst_width(self, joining: Sequence[_Sequence] = ()) -> int:
        """Columns the lane may need before every row (and the joining ones) has finished."""
        length = max([self.cache.length, *(len(s.prompt_ids) for s in joining)])
        return length + max([0, *(s.remaining for s in (*self.rows, *joining))])


# --------------------------------------------------------------------------------------------- batcher


class ContinuousBatcher:
    """Generate for many requests at once on one model (see the module docstring).

    :meth:`submit`, :meth:`stats` and :meth:`close` are thread-safe; everything touching the model runs in the
    batcher's own thread.
    """

    def __init__(
        self,
        model: Any,
        *,
        eos_token_ids: set[int],
        max_batch_size: int = 8,
        kv_budget_bytes: int = kv_cache.CPU_DEFAULT_BUDGET,
        prefill_chunk: int = DEFAULT_PREFILL_CHUNK,
    ) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.eos_token_ids = set(eos_token_ids)
        self.max_batch_size = max(1, int(max_batch_size))
        self.prefill_chunk = max(1, int(prefill_chunk))
        self.vocab_size = int(model.get_output_embeddings().weight.shape[0])
        try:
            self.layout: KVLayout | None = KVLayout.from_config(model.config, self.dtype)
        except (AttributeError, TypeError, ValueError):
            self.layout = None
        per_token = self.layout.bytes_per_token if self.layout else 1
        self.kv_budget_bytes = int(kv_budget_bytes)
        #: Cache tokens the batch may hold at its worst (every row at full length, padding included).
        self.kv_budget_tokens = max(1, self.kv_budget_bytes // per_token)
        #: Makes every cache buffer; tests replace it to inject an allocation failure.
        self.allocate = kv_cache.allocate
        parameters = inspect.signature(model.forward).parameters
        # transformers 5.x renames ``past_key_values`` to ``cache``; remote-code models may use either.
        self._cache_arg = "cache" if "cache" in parameters else "past_key_values"
        self._logits_to_keep = "logits_to_keep" in parameters
        self._can_stack = self.layout is not None
        self._stack_verified = False
        self._lane: _Lane | None = None
        self._solo: list[_Sequence] = []  # turn-taking mode: each with its own cache
        self._prefilling: deque[_Sequence] = deque()
        self._pending: deque[_Sequence] = deque()
        self._admitted = 0
        self._steps = 0
        self._failed = 0
        self.peak_batch_size = 0
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="transformers-batcher", daemon=True)
        self._thread.start()

    # ----------------------------------------------------------------- any thread

    def submit(self, prompt_ids: Sequence[int], sampling: SamplingParams, *, max_new_tokens: int) -> Generation:
        """Queue a prompt; its events arrive on the returned :class:`Generation`."""
        noise = None if sampling.temperature == 0.0 else Noise(sampling.seed, self.device)
        sequence = _Sequence(
            prompt_ids=list(prompt_ids), sampling=sampling, max_new_tokens=max_new_tokens, order=0, noise=noise
        )
        with self._cond:
            if self._closing:
                raise EngineUnavailable("This model was unloaded. Send the request again to load it.")
            self._pending.append(sequence)
            self._cond.notify()
        return Generation(sequence.events, sequence.abandoned)

    def close(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def capacity(self) -> int:
        """How many requests this batcher decodes together at most."""
        return self.max_batch_size

    @property
    def active(self) -> int:
        """Sequences being prefilled or generated right now (not counting queued ones)."""
        lane = self._lane
        return (len(lane.rows) if lane else 0) + len(self._solo) + len(self._prefilling)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stats(self) -> dict[str, Any]:
        """A snapshot for health pages: sizes, load and the cache budget."""
        with self._cond:
            lane = self._lane
            return {
                "capacity": self.capacity,
                "active": self.active,
                "queued": len(self._pending),
                "peak_batch": self.peak_batch_size,
                "prefilling": len(self._prefilling),
                "steps": self._steps,
                "failed": self._failed,
                "kv_budget_tokens": self.kv_budget_tokens,
                "kv_reserved_tokens": self._reserved_tokens(),
                "kv_allocated_bytes": lane.cache.allocated_bytes if lane else 0,
                "batching": "lane" if self._can_stack else "turns",
            }

    # ----------------------------------------------------------------- admission (under the lock)

    def _reserved_tokens(self, joining: Sequence[_Sequence] = ()) -> int:
        """Cache tokens the admitted sequences (and ``joining``) may need at their worst, padding included."""
        waiting = [*self._prefilling, *joining]
        prefill_caches = sum(len(s.prompt_ids) for s in waiting)  # held until each sequence joins
        if not self._can_stack:
            return sum(len(s.prompt_ids) + s.max_new_tokens for s in (*self._solo, *waiting))
        lane = self._lane
        rows = (len(lane.rows) if lane else 0) + len(waiting)
        if not rows:
            return 0
        width = lane.worst_width(waiting) if lane else max(len(s.prompt_ids) + s.remaining for s in waiting)
        return rows * width + prefill_caches

    def _admit(self) -> None:
        """Move queued sequences into prefill while rows and the cache budget allow (first come, first served)."""
        while self._pending and self.active < self.max_batch_size:
            sequence = self._pending[0]
            if sequence.abandoned.is_set():
                self._pending.popleft().end("cancelled")
                continue
            need = self._reserved_tokens([sequence])
            if need > self.kv_budget_tokens:
                if self.active:
                    return  # wait until running sequences finish and free their cache
                self._pending.popleft()
                alone = len(sequence.prompt_ids) * 2 + sequence.max_new_tokens
                sequence.fail(
                    InvalidRequest(
                        f"This answer needs room for about {alone} tokens in the model's key/value cache, but the "
                        f"budget is {self.kv_budget_tokens} tokens. Lower max_new_tokens, shorten the conversation, "
                        "or raise the model's kv_cache_gib (or kv_cache_memory_fraction) option."
                    )
                )
                self._failed += 1
                continue
            self._pending.popleft()
            self._admitted += 1
            sequence.order = self._admitted
            self._prefilling.append(sequence)

    # ----------------------------------------------------------------- worker thread

    def _run(self) -> None:
        with torch.inference_mode():
            while True:
                with self._cond:
                    while not self._closing and not self._pending and not self.active:
                        self._cond.wait()
                    if self._closing:
                        break
                    self._admit()
                self._prefill_turn()
                if self._lane is not None:
                    self._decode_lane(self._lane)
                for sequence in list(self._solo):
                    self._decode_solo(sequence)
        error = EngineUnavailable("This model was unloaded while generating. Send the request again.")
        with self._cond:
            leftovers = [*self._pending, *self._prefilling, *self._solo, *(self._lane.rows if self._lane else [])]
            self._pending.clear()
            self._prefilling.clear()
            self._solo = []
            self._lane = None
        for sequence in leftovers:
            sequence.fail(error)

    def _forward(self, input_ids: torch.Tensor, cache: Any, **kwargs: Any) -> tuple[torch.Tensor, Any]:
        """Run the model; return the last position's logits and the cache (the model's own if it made one)."""
        if self._logits_to_keep:
            kwargs["logits_to_keep"] = 1
        output = self.model(input_ids=input_ids, use_cache=True, **{self._cache_arg: cache}, **kwargs)
        if cache is None:
            cache = output.get("cache", None) or output.get("past_key_values", None)
        self._steps += 1
        return output.logits[:, -1, :], cache

    def _fail(self, sequence: _Sequence, exc: BaseException) -> None:
        logger.warning("A generation failed and was stopped alone: %s: %s", type(exc).__name__, exc)
        sequence.fail(generation_error(exc))
        self._failed += 1
        if is_out_of_memory(exc) and self.device.type == "cuda":
            torch.cuda.empty_cache()  # hand the failed request's memory back to the device

    def _deliver(self, sequence: _Sequence, token: int) -> bool:
        """Hand ``token`` to the consumer; return False when the sequence is finished."""
        if token == INVALID:
            self._fail(sequence, InferenceError(INVALID_NUMBERS))
            return False
        sequence.generated += 1
        if token in self.eos_token_ids:
            sequence.end("stop", 1)
            return False
        sequence.events.put(TokenEvent(token, self._steps))
        if sequence.generated >= sequence.max_new_tokens:
            sequence.end("length")
            return False
        sequence.next_token = token
        sequence.answer.append(token)
        return True

    # ----------------------------------------------------------------- prefill

    def _prefill_turn(self) -> None:
        """Prefill up to ``prefill_chunk`` prompt tokens, from the oldest admitted sequences on."""
        budget = self.prefill_chunk
        while budget > 0 and self._prefilling:
            sequence = self._prefilling[0]
            if sequence.abandoned.is_set():
                self._drop_prefilling(sequence).end("cancelled")
                continue
            take = min(budget, len(sequence.prompt_ids) - sequence.prefilled)
            try:
                logits = self._prefill_chunk(sequence, take)
            except Exception as exc:
                self._fail(self._drop_prefilling(sequence), exc)
                continue
            budget -= take
            if logits is None:
                return  # more of this prompt next turn, after a decode step of the running batch
            self._drop_prefilling(sequence)
            try:
                self._start(sequence, logits)
            except Exception as exc:
                self._fail(sequence, exc)

    def _drop_prefilling(self, sequence: _Sequence) -> _Sequence:
        with self._cond:
            self._prefilling.remove(sequence)
        return sequence

    def _prefill_chunk(self, sequence: _Sequence, take: int) -> torch.Tensor | None:
        """Feed the next ``take`` prompt tokens; return the last logits once the whole prompt is in the cache."""
        begin, end = sequence.prefilled, sequence.prefilled + take
        if begin == 0:
            sequence.cache = self._new_cache(rows=1, columns=len(sequence.prompt_ids)) if self._can_stack else None
        ids = torch.tensor([sequence.prompt_ids[begin:end]], dtype=torch.long).to(self.device)
        positions = torch.arange(begin, end, dtype=torch.long).unsqueeze(0).to(self.device)
        try:
            logits, cache = self._forward(ids, sequence.cache, position_ids=positions)
        except Exception:
            if self._stack_verified or not self._can_stack or begin:
                raise
            # Some architectures need their own cache class: let the model make it and take turns instead.
            self._disable_stacking()
            sequence.cache = None
            logits, cache = self._forward(ids, None, position_ids=positions)
        if self._can_stack and not self._stack_verified:
            if isinstance(cache, LaneCache) and cache.lengths_agree() and cache.length == end:
                self._stack_verified = True
            else:  # the model ignored our cache and made its own
                self._disable_stacking()
        sequence.cache = cache
        sequence.prefilled = end
        return logits if end == len(sequence.prompt_ids) else None

    def _new_cache(self, *, rows: int = 0, columns: int = 0) -> LaneCache:
        # Buffers are made through ``self.allocate`` looked up at each allocation, so a test can replace it.
        return LaneCache(
            self.layout,  # type: ignore[arg-type]
            self.device,
            rows=rows,
            columns=columns,
            allocate=lambda shape, dtype, device: self.allocate(shape, dtype, device),
        )

    def _disable_stacking(self) -> None:
        if self._can_stack:
            logger.info("This model's cache cannot be shared: sequences take turns instead of batching.")
        self._can_stack = False

    def _start(self, sequence: _Sequence, logits: torch.Tensor) -> None:
        """Choose the first token after the prompt, then put the sequence into the running batch."""
        batch = BatchSampling.build([sequence.sampling], self.vocab_size, self.device)
        seen = None
        if batch.any_penalty:
            seen = torch.zeros((1, self.vocab_size), dtype=torch.bool, device=self.device)
            seen[0, torch.tensor(sequence.prompt_ids, dtype=torch.long).to(self.device)] = True
        token = int(choose_tokens(logits, batch, seen=seen, noise=[sequence.noise]).item())
        self.peak_batch_size = max(self.peak_batch_size, 1)
        if not self._deliver(sequence, token):
            return
        if not self._can_stack:
            self._solo.append(sequence)
            return
        own, sequence.cache = sequence.cache, None
        lane = self._lane or _Lane(self._new_cache())
        shift = lane.cache.append(own)  # all or nothing: on failure the lane is as it was
        lane.starts = [start + shift for start in lane.starts] + [lane.cache.length - own.length]
        lane.rows.append(sequence)
        lane.changed()
        self._lane = lane

    # ----------------------------------------------------------------- decode

    def _decode_lane(self, lane: _Lane) -> None:
        """Advance every row of ``lane`` by one token; on failure, fail the newest row instead of all of them."""
        try:
            self._advance_lane(lane)
        finally:
            if not lane.rows:
                self._lane = None  # frees the lane's buffers at once

    def _advance_lane(self, lane: _Lane) -> None:
        live = []
        for index, sequence in enumerate(lane.rows):
            if sequence.abandoned.is_set():
                sequence.end("cancelled")
            else:
                live.append(index)
        lane.keep(live)
        if not lane.rows:
            return
        length = lane.cache.length
        try:
            self._step_lane(lane, length)
        except Exception as exc:
            lane.cache.rollback(length)
            newest = max(range(len(lane.rows)), key=lambda i: lane.rows[i].order)
            self._fail(lane.rows[newest], exc)
            lane.keep([i for i in range(len(lane.rows)) if i != newest])

    def _step_lane(self, lane: _Lane, length: int) -> None:
        lane.cache.reserve(length + 1)
        lane.tensors(self.vocab_size, self.device)
        rows = len(lane.rows)
        self.peak_batch_size = max(self.peak_batch_size, rows)
        starts = lane.start_tensor.unsqueeze(1)  # type: ignore[union-attr]
        mask = (torch.arange(length + 1, device=self.device).unsqueeze(0) >= starts).long()
        logits, _ = self._forward(lane.next_tokens, lane.cache, attention_mask=mask, position_ids=length - starts)
        if not lane.cache.lengths_agree() or lane.cache.length != length + 1:
            raise RuntimeError("The model did not write one token into every layer of the shared cache.")
        tokens = choose_tokens(logits, lane.sampling, seen=lane.seen, noise=[s.noise for s in lane.rows])  # type: ignore[arg-type]
        chosen = tokens.clamp(min=0)
        if lane.seen is not None:
            lane.seen.scatter_(1, chosen.unsqueeze(1), True)
        lane.next_tokens = chosen.unsqueeze(1)
        keep = [i for i, (s, t) in enumerate(zip(lane.rows, tokens.tolist(), strict=True)) if self._deliver(s, t)]
        lane.keep(keep)

    def _decode_solo(self, sequence: _Sequence) -> None:
        """Turn-taking mode: advance one sequence with its own cache."""
        if sequence.abandoned.is_set():
            self._solo.remove(sequence)
            sequence.end("cancelled")
            return
        position = len(sequence.prompt_ids) + sequence.generated - 1
        ids = torch.tensor([[sequence.next_token]], dtype=torch.long).to(self.device)
        positions = torch.tensor([[position]], dtype=torch.long).to(self.device)
        try:
            logits, sequence.cache = self._forward(ids, sequence.cache, position_ids=positions)
            batch = BatchSampling.build([sequence.sampling], self.vocab_size, self.device)
            seen = None
            if batch.any_penalty:
                history = [*sequence.prompt_ids, *sequence.answer]
                seen = torch.zeros((1, self.vocab_size), dtype=torch.bool, device=self.device)
                seen[0, torch.tensor(history, dtype=torch.long).to(self.device)] = True
            token = int(choose_tokens(logits, batch, seen=seen, noise=[sequence.noise]).item())
        except Exception as exc:
            self._solo.remove(sequence)
            self._fail(sequence, exc)
            return
        self.peak_batch_size = max(self.peak_batch_size, 1)
        if not self._deliver(sequence, token):
            self._solo.remove(sequence)
