"""Any OpenAI-compatible chat server: vLLM, SGLang, TGI, llama-server, Ollama, or a hosted API.

``spec.path`` is the base URL, e.g. ``http://127.0.0.1:8080/v1``. Options:

* ``model``: the model name the server expects (default: the spec's hub id, then its name);
* ``api_key_env``: name of an environment variable holding the API key (never the key itself);
* ``timeout``: seconds to wait for the server to connect and between streamed chunks (default 120);
* ``allowed_hosts``: hosts, IPs or CIDR ranges this model may reach although they are not public (see below);
* ``send_template_kwargs``: send ``chat_template_kwargs.enable_thinking`` (default true; turn off for APIs
  that reject unknown fields);
* ``send_extra_sampling``: send ``top_k`` and the repetition penalty, which plain OpenAI lacks (default true).

Every connection goes through the SSRF guard of :mod:`inference.address_guard`: only public addresses unless
the host is allow-listed, so a local vLLM or llama-server needs e.g. ``INFERENCE_ALLOWED_HOSTS=127.0.0.1`` or
the ``allowed_hosts`` option. Redirects are never followed and proxy settings are ignored.

Token counts: servers that expose a tokenizer are asked (llama-server: ``/apply-template`` + ``/tokenize``;
vLLM: ``/tokenize`` with messages). Otherwise the count is an estimate of one token per three characters plus
four per message: a deliberate overestimate for English (about four characters per token) and close for
Korean, so context fitting errs on the safe side.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..address_guard import AddressGuard, guarded_client
from ..errors import EngineUnavailable, InvalidRequest, ModelLoadError
from ..types import ChatMessage, ModelSpec, SamplingParams, TextDelta, TextDone, TextRequest, Timings, Usage
from .reasoning import ReasoningSplitter
from .slots import Slots
from .special_tokens import SpecialTokenDefuser

OPTIONS = {
    "model": "model name the server expects",
    "api_key_env": "name of the environment variable that holds the API key",
    "timeout": "seconds to wait for a connection and between streamed chunks (default 120)",
    "allowed_hosts": "non-public hosts, IPs or CIDR ranges this model may reach, e.g. ['127.0.0.1']",
    "send_template_kwargs": "send chat_template_kwargs.enable_thinking (default true)",
    "send_extra_sampling": "send top_k and repetition penalty (default true)",
    "max_concurrency": "requests sent to the server at once, the engine's capacity (default 16); more wait here",
}
#: Rough tokens per character and per message when the server cannot count (see the module docstring).
CHARS_PER_TOKEN = 3
TOKENS_PER_MESSAGE = 4
_FINISH_REASONS = {"stop": "stop", "length": "length"}
#: The markers of common chat templates (SECURITY.md line 14): all that is known of a remote model's tokens.
_DEFUSER = SpecialTokenDefuser()


# --------------------------------------------------------------------------------------------- SSE


def iter_sse_data(lines: Iterable[str]) -> Iterator[str]:
    """Yield the ``data`` payload of each server-sent event (multi-line data joined by newlines)."""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):  # comment / keep-alive
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.read().decode("utf-8", "replace")
    except httpx.HTTPError:
        return ""
    try:
        payload = json.loads(body)
    except ValueError:
        return body.strip()[:500]
    if isinstance(payload, dict):
        error = payload.get("error", payload.get("detail", payload.get("message")))
        if isinstance(error, dict):
            error = error.get("message") or json.dumps(error, ensure_ascii=False)
        if error:
            return str(error)[:500]
    return body.strip()[:500]


def estimate_tokens(messages: Sequence[ChatMessage]) -> int:
    """Rough prompt size when the server cannot count: see the module docstring."""
    return sum(math.ceil(len(m.content) / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE for m in messages) + 3


# --------------------------------------------------------------------------------------------- engine


class OpenAIEngine:
    """Stream chat completions from an OpenAI-compatible server."""

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        model: str,
        context_length: int,
        api_key: str | None = None,
        timeout: float = 120.0,
        allowed_hosts: Iterable[str] = (),
        send_template_kwargs: bool = True,
        send_extra_sampling: bool = True,
        max_concurrency: int = 16,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.context_length = int(context_length)
        self.timeout = timeout
        self.send_template_kwargs = send_template_kwargs
        self.send_extra_sampling = send_extra_sampling
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        self.guard = AddressGuard(allowed_hosts)
        self._client = guarded_client(self.guard, timeout=timeout, headers=headers)
        self._slots = Slots(max_concurrency, wait=True)
        self._count_mode: str | None = None  # "llama", "vllm" or "estimate", found on first use
        self._count_lock = threading.Lock()

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> OpenAIEngine:
        """Check the URL and options; nothing is contacted until the first request."""
        options = dict(spec.options)
        if "api_key" in options:
            raise InvalidRequest(
                "Do not store API keys in the model options: put the key in an environment variable and set "
                "api_key_env to that variable's name."
            )
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            known = ", ".join(sorted(OPTIONS))
            raise InvalidRequest(f"Unknown option(s) for the openai engine: {', '.join(unknown)}. Known: {known}.")
        SamplingParams.from_dict(spec.default_sampling)
        base_url = _check_base_url(spec.path)
        api_key = None
        if options.get("api_key_env"):
            api_key = os.environ.get(str(options["api_key_env"]))
            if not api_key:
                raise ModelLoadError(
                    f"Model {spec.name!r} reads its API key from the environment variable "
                    f"{options['api_key_env']}, which is not set. Set it for the web and worker processes."
                )
        try:
            timeout = float(options.get("timeout", 120))
        except (TypeError, ValueError) as exc:
            raise InvalidRequest("timeout must be a number of seconds, such as 120.") from exc
        if not 1 <= timeout <= 3600:
            raise InvalidRequest("timeout must be between 1 and 3600 seconds.")
        try:
            max_concurrency = int(options.get("max_concurrency", 16))
        except (TypeError, ValueError) as exc:
            raise InvalidRequest("max_concurrency must be a whole number such as 16.") from exc
        if not 1 <= max_concurrency <= 1024:
            raise InvalidRequest("max_concurrency must be between 1 and 1024.")
        allowed = options.get("allowed_hosts") or []
        if isinstance(allowed, str):
            allowed = allowed.split(",")
        return cls(
            name=spec.name,
            base_url=base_url,
            model=str(options.get("model") or spec.hub_id or spec.name),
            context_length=spec.context_length,
            api_key=api_key,
            timeout=timeout,
            allowed_hosts=[str(host) for host in allowed],
            send_template_kwargs=bool(options.get("send_template_kwargs", True)),
            send_extra_sampling=bool(options.get("send_extra_sampling", True)),
            max_concurrency=max_concurrency,
        )

    # ----------------------------------------------------------------- token counting

    @property
    def _root(self) -> str:
        """The server root: llama-server and vLLM serve their tokenizer endpoints beside ``/v1``."""
        return self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Ask the server's tokenizer when it has one, otherwise estimate (see the module docstring)."""
        with self._count_lock:
            mode = self._count_mode
        if mode == "estimate":
            return estimate_tokens(messages)
        conversation = _conversation(messages)
        counters = {"llama": self._count_llama, "vllm": self._count_vllm}
        for candidate in [mode] if mode else list(counters):
            try:
                count = counters[candidate](conversation)
            except httpx.TransportError:
                return estimate_tokens(messages)  # server unreachable now: decide the mode another time
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                count = None
            if count is not None:
                with self._count_lock:
                    self._count_mode = candidate
                return count
        if mode is None:  # the server answered but has no tokenizer endpoint
            with self._count_lock:
                self._count_mode = "estimate"
        return estimate_tokens(messages)

    def _template_kwargs(self) -> dict[str, Any]:
        # Counted with thinking off, like the transformers engine; servers may default to thinking on.
        return {"chat_template_kwargs": {"enable_thinking": False}} if self.send_template_kwargs else {}

    def _count_llama(self, conversation: list[dict[str, str]]) -> int | None:
        body = {"messages": conversation, **self._template_kwargs()}
        response = self._client.post(f"{self._root}/apply-template", json=body)
        if response.status_code != 200 or "prompt" not in response.json():
            return None
        response = self._client.post(
            f"{self._root}/tokenize", json={"content": response.json()["prompt"], "add_special": True}
        )
        if response.status_code != 200:
            return None
        return len(response.json()["tokens"])

    def _count_vllm(self, conversation: list[dict[str, str]]) -> int | None:
        body = {"model": self.model, "messages": conversation, "add_generation_prompt": True}
        body.update(self._template_kwargs())
        response = self._client.post(f"{self._root}/tokenize", json=body)
        payload = response.json() if response.status_code == 200 else {}
        return int(payload["count"]) if "count" in payload else None

    # ----------------------------------------------------------------- generation

    def _body(self, request: TextRequest, sampling: SamplingParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": _conversation(request.messages),
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": sampling.max_new_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
        }
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        if self.send_extra_sampling:
            if sampling.top_k:
                body["top_k"] = sampling.top_k
            if sampling.repetition_penalty != 1.0:
                # vLLM and TGI read repetition_penalty, llama-server reads repeat_penalty.
                body["repetition_penalty"] = body["repeat_penalty"] = sampling.repetition_penalty
        if self.send_template_kwargs:
            body["chat_template_kwargs"] = {"enable_thinking": request.enable_thinking}
        return body

    @property
    def capacity(self) -> int:
        """How many requests go to the server at once (``max_concurrency``)."""
        return self._slots.capacity

    def stats(self) -> dict[str, Any]:
        """Streams sent to the server and waiting here for a slot."""
        return {"engine": "openai", **self._slots.stats()}

    def stream(self, request: TextRequest) -> Iterator[TextDelta | TextDone]:
        """Yield deltas as the server streams them, then one :class:`TextDone`.

        At most ``max_concurrency`` streams talk to the server at once; the others wait here (and end as
        cancelled if cancelled while waiting).
        """
        started = time.perf_counter()
        with self._slots.hold(request.cancel) as admitted:
            if admitted:
                yield from self._stream(request)
                return
        yield TextDone(
            text="",
            reasoning="",
            finish_reason="cancelled",
            usage=Usage(prompt_tokens=0, completion_tokens=0),
            timings=Timings(ttft_ms=None, total_ms=(time.perf_counter() - started) * 1000.0),
            model=self.name,
        )

    def _stream(self, request: TextRequest) -> Iterator[TextDelta | TextDone]:
        sampling = request.sampling
        if not isinstance(sampling, SamplingParams):
            sampling = SamplingParams.from_dict(sampling)
        body = self._body(request, sampling)
        url = f"{self.base_url}/chat/completions"
        splitter = ReasoningSplitter()
        reasoning_parts: list[str] = []
        started = time.perf_counter()
        ttft_ms: float | None = None
        finish: str | None = None
        usage: dict[str, Any] | None = None
        chunks = 0
        try:
            with self._client.stream("POST", url, json=body, headers={"Accept": "text/event-stream"}) as response:
                self._raise_for_status(response)
                if response.headers.get("content-type", "").startswith("application/json"):
                    raise EngineUnavailable(
                        f"The model server at {self.base_url} answered without streaming. Use a server that "
                        "supports stream=true on /chat/completions (vLLM, SGLang, TGI, llama-server, Ollama)."
                    )
                for data in iter_sse_data(response.iter_lines()):
                    if request.cancel():
                        finish = "cancelled"
                        break  # leaving the block closes the connection, which stops the server
                    if data.strip() == "[DONE]":
                        break
                    payload = _json(data)
                    if isinstance(payload.get("error"), (dict, str)):
                        message = payload["error"]
                        message = message.get("message", message) if isinstance(message, dict) else message
                        raise EngineUnavailable(f"The model server reported an error while generating: {message}")
                    if isinstance(payload.get("usage"), dict):
                        usage = payload["usage"]
                    for choice in payload.get("choices") or []:
                        delta = choice.get("delta") or {}
                        reasoning = delta.get("reasoning_content") or delta.get("reasoning") or ""
                        content = delta.get("content") or ""
                        if reasoning or content:
                            chunks += 1
                            if ttft_ms is None:
                                ttft_ms = (time.perf_counter() - started) * 1000.0
                        out = splitter.feed(content) if content else TextDelta()
                        piece = TextDelta(text=out.text, reasoning=reasoning + out.reasoning)
                        if piece.text or piece.reasoning:
                            reasoning_parts.append(piece.reasoning)
                            yield piece
                        if choice.get("finish_reason"):
                            finish = _FINISH_REASONS.get(choice["finish_reason"], "stop")
        except httpx.TimeoutException as exc:
            raise EngineUnavailable(
                f"The model server at {self.base_url} did not answer within {self.timeout:g} s. It may be "
                "overloaded or still loading the model; try again, or raise the model's timeout option."
            ) from exc
        except httpx.ConnectError as exc:
            raise EngineUnavailable(
                f"Cannot connect to the model server at {self.base_url} ({exc}). Start the server (for "
                "example `llama-server -m model.gguf --port 8080` or `vllm serve MODEL`) or fix the URL "
                "in the admin."
            ) from exc
        except httpx.HTTPError as exc:
            raise EngineUnavailable(
                f"The connection to the model server at {self.base_url} failed ({type(exc).__name__}: "
                f"{exc}). Try again; if it persists, check the server's log."
            ) from exc
        rest = splitter.flush()
        if rest.text or rest.reasoning:
            reasoning_parts.append(rest.reasoning)
            yield rest
        prompt_tokens = completion_tokens = None
        if usage:
            prompt_tokens = usage.get("prompt_tokens")
            completion_tokens = usage.get("completion_tokens")
        if not isinstance(prompt_tokens, int):
            prompt_tokens = estimate_tokens(request.messages)
        if not isinstance(completion_tokens, int):
            completion_tokens = chunks  # servers stream about one token per chunk
        yield TextDone(
            text=splitter.text,
            reasoning="".join(reasoning_parts),
            finish_reason=finish or "stop",  # type: ignore[arg-type]
            usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
            timings=Timings(ttft_ms=ttft_ms, total_ms=(time.perf_counter() - started) * 1000.0),
            model=self.name,
        )

    def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 300:
            return
        if status < 400:
            location = response.headers.get("location", "elsewhere")
            raise EngineUnavailable(
                f"The model server at {self.base_url} redirects to {location}. Redirects are not followed: "
                "set the model's URL to the final address."
            )
        message = _server_message(response) or response.reason_phrase
        hint = {
            401: "Check the API key in the environment variable named by api_key_env.",
            403: "Check the API key and that it may use this model.",
            404: "Check that the URL ends in /v1 and that the model option names a model the server has.",
            429: "The server is rate limiting: try again later.",
        }.get(status, "Check the server's log." if status >= 500 else "Check the model's settings in the admin.")
        raise EngineUnavailable(f"The model server answered {status}: {message}. {hint}")

    def close(self) -> None:
        self._client.close()


def _conversation(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    """The messages as sent; the remote model's tokenizer is unknown, so common chat markers are defused."""
    return [{"role": m.role, "content": m.content} for m in _DEFUSER.defuse_messages(messages)]


def _json(data: str) -> dict[str, Any]:
    try:
        payload = json.loads(data)
    except ValueError as exc:
        raise EngineUnavailable(
            f"The model server sent something that is not JSON in its stream: {data[:200]!r}. Is the URL an "
            "OpenAI-compatible /v1 endpoint?"
        ) from exc
    if not isinstance(payload, dict):
        raise EngineUnavailable(f"The model server sent an unexpected stream event: {data[:200]!r}.")
    return payload


def _check_base_url(url: str) -> str:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(f"{url!r} is not a server URL. Use the server's base URL, e.g. http://127.0.0.1:8080/v1.")
    if parts.username or parts.password:
        raise InvalidRequest("Do not put credentials in the URL: use the api_key_env option instead.")
    if parts.query or parts.fragment:
        raise InvalidRequest("The server URL must not have a query or fragment: use e.g. http://host:8080/v1.")
    base = url.rstrip("/")
    if base.endswith("/chat/completions"):
        raise InvalidRequest(f"Use the base URL without /chat/completions: {base[: -len('/chat/completions')]}.")
    return base
