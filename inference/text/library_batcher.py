"""transformers' own continuous batching behind the batcher's interface, for the requests it serves as asked.

``model.init_continuous_batching`` runs a paged key/value cache with chunked prefill and, with a flash attention
implementation on CUDA, CUDA graphs. One manager samples every request alike apart from per-request temperature,
top-k and top-p, so it serves sampled requests without a seed or a repetition penalty; everything else
(greedy requests, seeds, repetition penalty) goes to :class:`~inference.text.batcher.ContinuousBatcher`
(:func:`refusal` says why). The engine uses it on CUDA by default (``continuous_batching: auto``).

Its cache gets its share of the engine's key/value budget as a fixed number of pages, so both batchers fit. A
failure inside the manager's loop (out of memory in a step) fails the requests that manager was running, as
transformers does; the worker and the engine's own batcher carry on, and the next request starts a new manager.
"""

from __future__ import annotations

import copy
import logging
import math
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import EngineUnavailable
from ..types import SamplingParams
from .batcher import EndEvent, ErrorEvent, Event, Generation, TokenEvent, generation_error
from .kv_cache import KVLayout

logger = logging.getLogger(__name__)

#: Tokens per page of transformers' paged cache.
PAGE_SIZE = 256
#: Attention implementations transformers' batching runs without switching the shared model to another one.
COMPATIBLE_ATTENTION = ("sdpa", "flash_attention_2", "flash_attention_3", "kernels-community/flash-attn")
_POLL_S = 0.05


def refusal(sampling: SamplingParams) -> str | None:
    """Why transformers' batching cannot serve ``sampling`` as asked, or ``None`` if it can."""
    if sampling.temperature == 0.0:
        return "greedy decoding (its manager samples every request)"
    if sampling.seed is not None:
        return "a per-request seed"
    if sampling.repetition_penalty != 1.0:
        return "a repetition penalty"
    return None


def unavailable_reason(mode: str, model: Any) -> str | None:
    """Why the engine should not start transformers' batching for ``model`` in ``mode``, or ``None``."""
    device = next(model.parameters()).device
    if mode == "off":
        return "switched off (continuous_batching: off)"
    if mode == "auto" and device.type != "cuda":
        return f"the model runs on {device.type}, and 'auto' uses it on CUDA only"
    attention = getattr(model.config, "_attn_implementation", None)
    if not any(attention == name or str(attention).startswith("flash") for name in COMPATIBLE_ATTENTION):
        return f"attention implementation {attention!r} (it needs sdpa or flash attention)"
    if not hasattr(model, "init_continuous_batching"):
        return "this model class has no init_continuous_batching"
    return None


def with_private_configs(model: Any) -> Any:
    """The same model (same weights, same layers) whose modules hold their own copies of the config objects.

    transformers' forward briefly writes ``config.is_causal`` into the shared config while it runs
    (``merge_with_config_defaults``); transformers' batching passes ``is_causal=False`` with sdpa, and a forward of
    the own batcher running at that moment in another thread would then build a non-causal mask. Each batcher
    forwarding through its own module objects and configs keeps the two apart.
    """
    memo: dict[int, Any] = {}

    def twin(module: Any) -> Any:
        clone = copy.copy(module)  # shares parameters and buffers, not the attribute dicts
        clone.__dict__["_modules"] = {
            name: None if child is None else twin(child) for name, child in module._modules.items()
        }
        if "config" in module.__dict__:
            clone.__dict__["config"] = copy.deepcopy(module.__dict__["config"], memo)
        return clone

    return twin(model)


@dataclass(eq=False)
class _Request:
    events: queue.SimpleQueue[Event] = field(default_factory=queue.SimpleQueue)
    abandoned: threading.Event = field(default_factory=threading.Event)
    delivered: int = 0


class LibraryBatcher:
    """Requests streamed through one ``ContinuousBatchingManager``, translated to the batcher's typed events."""

    def __init__(
        self,
        model: Any,
        *,
        eos_token_ids: set[int],
        max_batch_size: int,
        kv_budget_bytes: int,
        prefill_chunk: int,
        context_length: int,
    ) -> None:
        self.model = model
        #: What transformers' batching runs: the model with configs of its own (see :func:`with_private_configs`).
        self.view = with_private_configs(model)
        self.eos_token_ids = set(eos_token_ids)
        self.max_batch_size = max(1, int(max_batch_size))
        layout = KVLayout.from_config(model.config, next(model.parameters()).dtype)
        # Pages for the budget, but never more than a full batch of full-length requests can use: with sdpa the
        # attention masks grow with the whole cache, so an oversized cache costs memory for nothing.
        useful = math.ceil(self.max_batch_size * int(context_length) / PAGE_SIZE) + 1
        self.num_blocks = max(2, min(useful, int(kv_budget_bytes) // (layout.bytes_per_token * PAGE_SIZE)))
        self.kv_budget_tokens = self.num_blocks * PAGE_SIZE
        self.prefill_chunk = max(self.max_batch_size, int(prefill_chunk))
        self._lock = threading.Lock()
        self._requests: dict[str, _Request] = {}
        self._counter = 0
        self.served = 0
        self.peak_batch_size = 0
        self.restarts = 0
        self._closing = False
        self.manager = self._start_manager()
        self._dispatcher = threading.Thread(target=self._dispatch, name="transformers-library-batcher", daemon=True)
        self._dispatcher.start()

    def _start_manager(self) -> Any:
        from transformers import GenerationConfig
        from transformers.generation.configuration_utils import ContinuousBatchingConfig

        # The defaults only make transformers create its per-request temperature / top-k / top-p processors;
        # every request sends its own values.
        generation = GenerationConfig(
            do_sample=True,
            temperature=0.7,
            top_k=50,
            top_p=0.95,
            eos_token_id=sorted(self.eos_token_ids),
            max_new_tokens=512,
        )
        config = ContinuousBatchingConfig(
            page_size=PAGE_SIZE,
            num_blocks=self.num_blocks,
            max_batch_tokens=self.prefill_chunk,
            max_requests_per_batch=self.max_batch_size,
            per_request_processors=True,
            # Never swap the shared model to another attention implementation (the own batcher uses it too), and
            # never reach for the network to fetch flash attention kernels.
            auto_switch_to_flash=False,
        )
        manager = self.view.init_continuous_batching(generation_config=generation, continuous_batching_config=config)
        # Build the paged cache here (and capture CUDA graphs when they are on), so that a cache that does not fit
        # fails the engine's start, not the first requests.
        manager.warmup()
        manager.start()
        return manager

    # ----------------------------------------------------------------- any thread

    def submit(self, prompt_ids: list[int], sampling: SamplingParams, *, max_new_tokens: int) -> Generation:
        """Queue a prompt; its events arrive on the returned :class:`Generation`."""
        reason = refusal(sampling)
        if reason is not None:
            raise ValueError(f"transformers' batching cannot serve {reason}; send it to the own batcher.")
        request = _Request()
        with self._lock:
            if self._closing:
                raise EngineUnavailable("This model was unloaded. Send the request again to load it.")
            if not self.manager.is_running():
                self._restart()
            self._counter += 1
            request_id = f"r{self._counter}"
            self._requests[request_id] = request
            self.served += 1
        added = self.manager.add_request(
            input_ids=list(prompt_ids),
            request_id=request_id,
            max_new_tokens=int(max_new_tokens),
            streaming=True,
            eos_token_id=sorted(self.eos_token_ids),
            temperature=float(sampling.temperature),
            top_k=int(sampling.top_k) if sampling.top_k > 0 else int(self.model.config.get_text_config().vocab_size),
            top_p=float(sampling.top_p),
        )
        if added is None:
            with self._lock:
                self._requests.pop(request_id, None)
            raise EngineUnavailable("transformers' batching refused the request (it is stopping). Send it again.")
        return Generation(request.events, request.abandoned)

    def _restart(self) -> None:
        """Replace a manager whose loop died (its requests were failed by transformers)."""
        logger.warning("transformers' continuous batching stopped; starting it again.")
        self.restarts += 1
        try:
            self.manager.stop(block=True, timeout=5)
            self.manager.destroy()
        except Exception:  # a dead manager may fail to stop cleanly; its memory goes with it either way
            logger.exception("Could not stop the failed manager cleanly")
        self.manager = self._start_manager()

    @property
    def capacity(self) -> int:
        return self.max_batch_size

    @property
    def alive(self) -> bool:
        return self._dispatcher.is_alive()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            in_flight = len(self._requests)
        return {
            "capacity": self.capacity,
            "active": min(in_flight, self.capacity),
            "queued": max(0, in_flight - self.capacity),
            "peak_batch": self.peak_batch_size,
            "served": self.served,
            "restarts": self.restarts,
            "kv_budget_tokens": self.kv_budget_tokens,
        }

    def close(self) -> None:
        with self._lock:
            self._closing = True
            leftovers = list(self._requests.values())
            self._requests.clear()
        try:
            # A hard stop: the requests still running were failed above; nothing is left to flush.
            self.manager.stop(block=True, timeout=10, hard_stop=True)
            self.manager.destroy()
        finally:
            self._dispatcher.join(5)
            error = EngineUnavailable("This model was unloaded while generating. Send the request again.")
            for request in leftovers:
                request.events.put(ErrorEvent(error))

    # ----------------------------------------------------------------- dispatcher thread

    def _dispatch(self) -> None:
        """Route the manager's outputs to their requests as typed events; cancel abandoned requests."""
        while not self._closing:
            try:
                output = self.manager.output_router.output_queue.get(timeout=_POLL_S)
            except queue.Empty:
                output = None
            self._cancel_abandoned()
            if output is None:
                continue
            with self._lock:
                request = self._requests.get(output.request_id)
                batch = self.manager.batch_processor
                if batch is not None:
                    self.peak_batch_size = max(self.peak_batch_size, len(batch.scheduler.active_requests))
            if request is None:
                continue
            try:
                finished = self._deliver(request, output)
            except Exception as exc:  # never let one odd output stop the routing of the others
                request.events.put(ErrorEvent(generation_error(exc)))
                finished = True
            if finished:
                with self._lock:
                    self._requests.pop(output.request_id, None)

    def _cancel_abandoned(self) -> None:
        with self._lock:
            gone = [rid for rid, request in self._requests.items() if request.abandoned.is_set()]
            for rid in gone:
                self._requests.pop(rid).events.put(EndEvent("cancelled"))
        for rid in gone:
            self.manager.cancel_request(rid)

    def _deliver(self, request: _Request, output: Any) -> bool:
        """Turn one output (all tokens so far) into events for the new tokens; return True when it is the last."""
        from transformers.generation.continuous_batching import RequestStatus

        if output.status == RequestStatus.FAILED:
            request.events.put(ErrorEvent(generation_error(RuntimeError(output.error or "generation failed"))))
            if output.error and "out of memory" in output.error.lower() and torch.cuda.is_available():
                torch.cuda.empty_cache()
            return True
        step = int(getattr(self.manager, "current_batch", 0))
        for token in output.generated_tokens[request.delivered :]:
            request.delivered += 1
            if token in self.eos_token_ids:
                request.events.put(EndEvent("stop", 1))
                return True
            request.events.put(TokenEvent(int(token), step))
        if output.is_finished():
            request.events.put(EndEvent("length"))
            return True
        return False
