"""The typed interface between the web side and the engines.

A :class:`ModelSpec` says which model to load and how; a text engine takes a :class:`TextRequest` and yields
:class:`TextDelta` events followed by exactly one :class:`TextDone`. Everything here is plain data so it crosses
process boundaries (Celery) as dicts, and nothing here imports an engine.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from .errors import InvalidRequest

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "cancelled", "error"]
Kind = Literal["text", "image", "vision", "upscale"]

#: engine name -> "module:Class" for each kind. :mod:`inference.registry` imports a module only when one of its
#: models is loaded; engines import :class:`ModelSpec` from here, never the registry.
ENGINES: dict[tuple[str, str], str] = {
    ("text", "llamacpp"): "inference.text.llamacpp:LlamaCppEngine",
    ("text", "transformers"): "inference.text.hf:TransformersEngine",
    ("text", "openai"): "inference.text.openai_compat:OpenAIEngine",
    ("image", "diffusers"): "inference.image.diffusion:DiffusersEngine",
    ("vision", "transformers"): "inference.vision.hf:VisionEngine",
    ("upscale", "diffusers"): "inference.image.upscale:DiffusersUpscaleEngine",
}

_COMMIT = re.compile(r"[0-9a-fA-F]{40}")


def is_pinned(revision: str) -> bool:
    """True if ``revision`` names one commit (all 40 hex digits). Branches and tags such as ``main`` can move."""
    return bool(_COMMIT.fullmatch(revision or ""))


@dataclass(frozen=True)
class ModelSpec:
    """Which model to load, from where, and with which engine settings."""

    name: str
    kind: Kind
    engine: str
    #: Local folder or file for local engines; base URL for ``openai``.
    path: str = ""
    hub_id: str = ""
    #: The hub commit the files came from. Pickle weights and remote code need it pinned (40 hex digits); when it
    #: is pinned, a local folder that records its download revision must match it (:mod:`inference.safety`).
    revision: str = ""
    context_length: int = 4096
    allow_pickle: bool = False
    trust_remote_code: bool = False
    #: Engine-specific settings (threads, parallel slots, dtype, remote model name, API key variable...).
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    default_sampling: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    demo: bool = False

    def __post_init__(self) -> None:
        if (self.kind, self.engine) not in ENGINES:
            known = ", ".join(sorted(f"{k}/{e}" for k, e in ENGINES))
            raise InvalidRequest(f"No engine {self.engine!r} for {self.kind} models. Known: {known}.")
        flags = ((self.trust_remote_code, "remote code"), (self.allow_pickle, "pickle"))
        risky = [label for flag, label in flags if flag]
        if risky and not is_pinned(self.revision):
            shown = f"revision {self.revision!r}" if self.revision else "no revision"
            raise InvalidRequest(
                f"Model {self.name!r} allows {' and '.join(risky)} but has {shown}: pin the revision to the full "
                "40-character commit hash the files were downloaded from (a branch or tag such as 'main' can move)."
            )

    @property
    def key(self) -> tuple:
        return (
            self.kind,
            self.engine,
            self.name,
            self.path,
            self.revision,
            repr(sorted(self.options.items())),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        return cls(**data)


#: Hard bounds that no request may exceed, whatever the model allows.
MAX_NEW_TOKENS_LIMIT = 8192
MAX_PROMPT_CHARS = 200_000


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str

    def __post_init__(self) -> None:
        if self.role not in ("system", "user", "assistant"):
            raise InvalidRequest(f"Unknown role {self.role!r}: use system, user or assistant.")


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 50
    repetition_penalty: float = 1.0
    max_new_tokens: int = 512
    seed: int | None = None

    def __post_init__(self) -> None:
        checks = [
            (0.0 <= self.temperature <= 2.0, "temperature must be between 0 and 2"),
            (0.0 < self.top_p <= 1.0, "top_p must be greater than 0 and at most 1"),
            (0 <= self.top_k <= 1000, "top_k must be between 0 (off) and 1000"),
            (0.5 <= self.repetition_penalty <= 2.0, "repetition_penalty must be between 0.5 and 2"),
            (
                1 <= self.max_new_tokens <= MAX_NEW_TOKENS_LIMIT,
                f"max_new_tokens must be between 1 and {MAX_NEW_TOKENS_LIMIT}",
            ),
            (self.seed is None or 0 <= self.seed < 2**32, "seed must be between 0 and 2^32 - 1"),
        ]
        for value_ok, message in checks:
            if not value_ok:
                raise InvalidRequest(message + ".")
        for name in ("temperature", "top_p", "repetition_penalty"):
            if not math.isfinite(getattr(self, name)):
                raise InvalidRequest(f"{name} must be a finite number.")

    @classmethod
    def from_dict(cls, data: dict | None) -> SamplingParams:
        """Build from user or admin input; unknown keys are an error, not silently dropped."""
        data = dict(data or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidRequest(
                f"Unknown sampling setting(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}."
            )
        try:
            return cls(**data)
        except TypeError as exc:  # wrong value types
            raise InvalidRequest(f"Invalid sampling settings: {exc}") from exc

    def to_dict(self) -> dict:
        return asdict(self)


def never_cancelled() -> bool:
    return False


@dataclass(frozen=True)
class TextRequest:
    messages: tuple[ChatMessage, ...]
    sampling: SamplingParams = field(default_factory=SamplingParams)
    enable_thinking: bool = False
    #: Polled by the engine before every token; return True to stop.
    cancel: Callable[[], bool] = never_cancelled

    def __post_init__(self) -> None:
        if not self.messages:
            raise InvalidRequest("A request needs at least one message.")
        total = sum(len(m.content) for m in self.messages)
        if total > MAX_PROMPT_CHARS:
            raise InvalidRequest(f"The prompt is {total} characters long; the limit is {MAX_PROMPT_CHARS}. Shorten it.")


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer. ``text`` is visible content, ``reasoning`` is the model's thinking."""

    text: str = ""
    reasoning: str = ""


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class Timings:
    ttft_ms: float | None = None
    total_ms: float = 0.0

    def tokens_per_s(self, completion_tokens: int) -> float | None:
        if not completion_tokens or self.ttft_ms is None:
            return None
        decode_ms = self.total_ms - self.ttft_ms
        if decode_ms <= 0 or completion_tokens < 2:
            return None
        return (completion_tokens - 1) * 1000.0 / decode_ms


@dataclass(frozen=True)
class TextDone:
    """The last event of every stream."""

    text: str
    reasoning: str
    finish_reason: FinishReason
    usage: Usage
    timings: Timings
    model: str = ""
