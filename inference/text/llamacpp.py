"""GGUF models through llama.cpp (xllamacpp): the CPU default.

xllamacpp embeds llama.cpp's server: ``n_parallel`` slots decode together (continuous batching), so
requests from several threads are batched on one model. Its chat endpoint streams OpenAI-style chunks
to a callback whose truthy return value cancels the request, which is how Stop works within one token.
The embedded server also listens on a random loopback port; it is locked with a random API key and is
used only for the template and tokenizer endpoints that token counting needs.
"""

from __future__ import annotations

import os
import queue
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import xllamacpp

from ..errors import InvalidRequest, ModelLoadError, PromptTooLong
from ..safety import check_revision
from ..types import ChatMessage, ModelSpec, TextDelta, TextDone, TextRequest, Timings, Usage
from .gguf_vocab import special_token_texts
from .slots import Slots
from .special_tokens import SpecialTokenDefuser

_END = object()


class LlamaCppEngine:
    def __init__(
        self,
        *,
        name: str,
        path: str | Path,
        context_length: int = 4096,
        n_parallel: int = 4,
        n_threads: int | None = None,
        poll: int = 50,
        stop: Sequence[str] = (),
        chat_template: str = "",
    ) -> None:
        path = Path(path)
        if path.suffix.lower() != ".gguf":
            raise ModelLoadError(f"{path} is not a .gguf file: the llamacpp engine loads GGUF models only.")
        if not path.is_file():
            raise ModelLoadError(
                f"Model file {path} does not exist. Run `make setup` (demo models) or `manage.py pull_model`."
            )
        with path.open("rb") as handle:
            if handle.read(4) != b"GGUF":
                raise ModelLoadError(f"{path} is not a valid GGUF file (bad header); download it again.")
        self.name = name
        self.context_length = context_length
        # llama.cpp parses special tokens in chat prompts: users' text must not hold the model's markers.
        self._defuser = SpecialTokenDefuser(special_token_texts(path))
        self.n_parallel = max(1, n_parallel)
        self._slots = Slots(self.n_parallel, wait=False)
        self._stop = list(stop)
        threads = n_threads or max(1, os.cpu_count() or 1)
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        # Every slot gets the full context window.
        params.n_ctx = context_length * self.n_parallel
        params.n_parallel = self.n_parallel
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        # How hard llama.cpp's threads spin while waiting for work (0-100; llama.cpp's default is 50).
        params.cpuparams.poll = poll
        params.cpuparams_batch.poll = poll
        params.warmup = False
        if chat_template:  # a Jinja template that replaces the one inside the GGUF
            params.chat_template = chat_template
            params.use_jinja = True
        params.verbosity = -1
        params.cors_origins = ""
        params.endpoint_slots = True
        self._key = secrets.token_urlsafe(24)
        params.api_keys = [self._key]
        try:
            self._server = xllamacpp.Server(params)
        except Exception as exc:
            raise ModelLoadError(f"llama.cpp could not load {path}: {exc}") from exc
        self._http = httpx.Client(
            base_url=self._server.listening_address,
            headers={"Authorization": f"Bearer {self._key}"},
            timeout=30.0,
            trust_env=False,
        )

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> LlamaCppEngine:
        options = spec.options
        if Path(spec.path).is_file():
            check_revision(spec.path, spec.revision, hub_id=spec.hub_id)
        return cls(
            name=spec.name,
            path=spec.path,
            context_length=spec.context_length,
            n_parallel=int(options.get("n_parallel", 4)),
            n_threads=options.get("n_threads"),
            poll=int(options.get("poll", 50)),
            stop=options.get("stop", ()),
            chat_template=options.get("chat_template", ""),
        )

    # -- tokens ---------------------------------------------------------------------------------------

    def chat_messages(self, messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
        """The messages as the server receives them, the model's markers defused in untrusted text."""
        return [{"role": m.role, "content": m.content} for m in self._defuser.defuse_messages(messages)]

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        payload = {"messages": self.chat_messages(messages)}
        prompt = self._post("/apply-template", payload)["prompt"]
        tokens = self._post("/tokenize", {"content": prompt, "add_special": True, "parse_special": True})
        return len(tokens["tokens"])

    def busy_slots(self) -> int:
        """How many requests the model is decoding together right now."""
        response = self._http.get("/slots")
        response.raise_for_status()
        return sum(1 for slot in response.json() if slot.get("is_processing"))

    def _post(self, route: str, payload: dict[str, Any]) -> dict[str, Any]:
        response = self._http.post(route, json=payload)
        response.raise_for_status()
        return response.json()

    # -- generation -----------------------------------------------------------------------------------

    def _payload(self, request: TextRequest) -> dict[str, Any]:
        s = request.sampling
        payload: dict[str, Any] = {
            "messages": self.chat_messages(request.messages),
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": s.max_new_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "top_k": s.top_k,
            "repeat_penalty": s.repetition_penalty,
            "chat_template_kwargs": {"enable_thinking": request.enable_thinking},
        }
        if s.seed is not None:
            payload["seed"] = s.seed
        if self._stop:
            payload["stop"] = self._stop
        return payload

    @property
    def capacity(self) -> int:
        """How many requests llama.cpp decodes together (``n_parallel`` slots)."""
        return self.n_parallel

    def stats(self) -> dict[str, Any]:
        """Streams in flight against the slots (requests beyond them wait in llama.cpp's own queue)."""
        return {"engine": "llamacpp", **self._slots.stats()}

    def stream(self, request: TextRequest) -> Iterator[TextDelta | TextDone]:
        with self._slots.hold():
            yield from self._stream(request)

    def _stream(self, request: TextRequest) -> Iterator[TextDelta | TextDone]:
        chunks: queue.Queue[Any] = queue.Queue()
        abandoned = threading.Event()
        cancelled = threading.Event()

        def on_chunk(chunk: dict[str, Any]) -> bool:
            chunks.put(chunk)
            # Checked once per generated token: a truthy return cancels the slot.
            if request.cancel():
                cancelled.set()
            return abandoned.is_set() or cancelled.is_set()

        def run() -> None:
            try:
                self._server.handle_chat_completions(self._payload(request), on_chunk)
            except Exception as exc:  # surfaced to the consumer, never lost in this thread
                chunks.put(exc)
            finally:
                chunks.put(_END)

        started = time.perf_counter()
        worker = threading.Thread(target=run, name=f"llamacpp-{self.name}", daemon=True)
        worker.start()
        text: list[str] = []
        reasoning: list[str] = []
        ttft_ms: float | None = None
        usage: dict[str, Any] | None = None
        finish = "stop"
        pieces = 0
        try:
            while (chunk := chunks.get()) is not _END:
                if isinstance(chunk, Exception):
                    raise chunk
                if "error" in chunk:
                    raise self._error(chunk["error"])
                if chunk.get("usage"):
                    usage = chunk["usage"]
                for choice in chunk.get("choices", ()):
                    delta = choice.get("delta") or {}
                    content = delta.get("content") or ""
                    thought = delta.get("reasoning_content") or ""
                    if content or thought:
                        if ttft_ms is None:
                            ttft_ms = (time.perf_counter() - started) * 1000
                        pieces += 1
                        text.append(content)
                        reasoning.append(thought)
                        yield TextDelta(text=content, reasoning=thought)
                    if choice.get("finish_reason"):
                        finish = "length" if choice["finish_reason"] == "length" else "stop"
        finally:
            abandoned.set()  # the consumer stopped early: free the slot
        worker.join()
        if cancelled.is_set():
            finish = "cancelled"
        if usage is None:
            usage = {"prompt_tokens": self.count_tokens(request.messages), "completion_tokens": pieces}
        yield TextDone(
            text="".join(text),
            reasoning="".join(reasoning),
            finish_reason=finish,  # type: ignore[arg-type]
            usage=Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", pieces)),
            timings=Timings(ttft_ms=ttft_ms, total_ms=(time.perf_counter() - started) * 1000),
            model=self.name,
        )

    @staticmethod
    def _error(error: dict[str, Any]) -> Exception:
        message = error.get("message", "unknown error")
        if error.get("type") == "exceed_context_size_error":
            return PromptTooLong(
                f"The conversation needs {error.get('n_prompt_tokens')} tokens but the model's context holds "
                f"{error.get('n_ctx')}. Shorten the message or start a new conversation."
            )
        return InvalidRequest(f"llama.cpp refused the request: {message}")

    def close(self) -> None:
        self._http.close()
        server, self._server = self._server, None
        del server
