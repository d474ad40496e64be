"""OpenAI's wire format: error bodies and the validation of a chat completion request.

Pure functions over plain data (no database), so every bad-input case is a fast unit test. Parameters the
official clients send that change nothing here (``user``, ``frequency_penalty`` at 0, ...) are accepted;
parameters whose meaning we cannot honour (tools, ``n`` above 1, JSON schemas) are refused with a 400 that
names them, never silently ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.http import JsonResponse
from django.utils.translation import gettext as _

#: OpenAI's ``type`` for each status we answer with.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "server_error",
}
MAX_STOP_SEQUENCES = 4
MAX_STOP_CHARS = 100
#: Roles a request may carry; ``developer`` is OpenAI's newer name for ``system``.
ROLES = ("system", "developer", "user", "assistant")


class ApiError(Exception):
    def __init__(
        self, status: int, message: str, *, param: str | None = None, code: str | None = None, retry_after: int = 0
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": ERROR_TYPES.get(self.status, "invalid_request_error"),
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> JsonResponse:
        response = JsonResponse(self.body(), status=self.status)
        if self.retry_after:
            response.headers["Retry-After"] = str(self.retry_after)
        if self.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
        return response


@dataclass
class ChatRequest:
    model: str
    #: The turns before the question, oldest first: ("user" | "assistant", text).
    history: list[tuple[str, str]]
    question: str
    system: str = ""
    sampling: dict[str, Any] = field(default_factory=dict)
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    include_usage: bool = False
    store: bool = True
    thinking: bool = False


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, _("The request body is not valid JSON: %(error)s") % {"error": exc}) from exc
    if not isinstance(data, dict):
        raise ApiError(400, _("The request body must be a JSON object."))
    return data


def _number(data: dict, name: str, low: float, high: float, *, low_open: bool = False) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(400, _("'%(name)s' must be a number.") % {"name": name}, param=name, code="invalid_type")
    if not (low < value if low_open else low <= value) or value > high:
        raise ApiError(
            400,
            _("'%(name)s' must be between %(low)s and %(high)s.") % {"name": name, "low": low, "high": high},
            param=name,
            code="invalid_value",
        )
    return float(value)


def _integer(data: dict, name: str, low: int, high: int) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, _("'%(name)s' must be an integer.") % {"name": name}, param=name, code="invalid_type")
    if not low <= value <= high:
        raise ApiError(
            400,
            _("'%(name)s' must be between %(low)d and %(high)d.") % {"name": name, "low": low, "high": high},
            param=name,
            code="invalid_value",
        )
    return value


def _text(content: Any, index: int) -> str:
    """A message's content: a string, or a list of text parts (images are not accepted here yet)."""
    param = f"messages[{index}].content"
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise ApiError(
                    400,
                    _("Only text content parts are supported in chat messages; send images to the studio."),
                    param=param,
                    code="invalid_value",
                )
            parts.append(part["text"])
        return "\n".join(parts)
    raise ApiError(400, _("Each message needs text content."), param=param, code="invalid_type")


def _messages(data: dict, max_messages: int) -> tuple[str, list[tuple[str, str]], str]:
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, _("'messages' must be a non-empty list."), param="messages", code="invalid_value")
    if len(messages) > max_messages:
        raise ApiError(
            400,
            _("Send at most %(limit)d messages in one request.") % {"limit": max_messages},
            param="messages",
            code="invalid_value",
        )
    system: list[str] = []
    turns: list[tuple[str, str]] = []
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ROLES:
            raise ApiError(
                400,
                _("messages[%(index)d].role must be one of: %(roles)s.") % {"index": index, "roles": ", ".join(ROLES)},
                param=f"messages[{index}].role",
                code="invalid_value",
            )
        text = _text(message.get("content"), index)
        if role in ("system", "developer"):
            system.append(text)
        else:
            turns.append((role, text))
    if not turns or turns[-1][0] != "user":
        raise ApiError(400, _("The last message must come from the user."), param="messages", code="invalid_value")
    return "\n\n".join(system), turns[:-1], turns[-1][1]


def _stop(data: dict) -> list[str]:
    stop = data.get("stop")
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else stop
    if (
        not isinstance(stops, list)
        or len(stops) > MAX_STOP_SEQUENCES
        or not all(isinstance(s, str) and 0 < len(s) <= MAX_STOP_CHARS for s in stops)
    ):
        raise ApiError(
            400,
            _("'stop' must be a string or a list of up to %(count)d non-empty strings of at most %(chars)d characters.")
            % {"count": MAX_STOP_SEQUENCES, "chars": MAX_STOP_CHARS},
            param="stop",
            code="invalid_value",
        )
    return stops


def _refuse_unsupported(data: dict) -> None:
    for name in ("tools", "functions", "tool_choice", "function_call", "logit_bias", "audio", "prediction"):
        if data.get(name):
            raise ApiError(
                400, _("'%(name)s' is not supported by this server.") % {"name": name}, param=name, code="unsupported"
            )
    if data.get("logprobs"):
        raise ApiError(400, _("'logprobs' is not supported by this server."), param="logprobs", code="unsupported")
    fmt = data.get("response_format")
    if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type") != "text"):
        raise ApiError(
            400, _("Only the 'text' response format is supported."), param="response_format", code="unsupported"
        )
    n = _integer(data, "n", 1, 128)
    if n is not None and n != 1:
        raise ApiError(
            400, _("Only one choice per request is supported: set 'n' to 1."), param="n", code="invalid_value"
        )
    for name in ("frequency_penalty", "presence_penalty"):
        value = _number(data, name, -2.0, 2.0)
        if value:
            raise ApiError(400, _("'%(name)s' is not supported; leave it at 0.") % {"name": name}, param=name)


def _flag(data: dict, name: str, default: bool) -> bool:
    value = data.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ApiError(400, _("'%(name)s' must be true or false.") % {"name": name}, param=name, code="invalid_type")
    return value


def parse_chat_request(data: dict[str, Any], *, max_messages: int, max_tokens: int) -> ChatRequest:
    """Validate a ``/v1/chat/completions`` body; raises :class:`ApiError` (400) naming the bad parameter."""
    model = data.get("model")
    if not isinstance(model, str) or not model.strip() or len(model) > 200:
        raise ApiError(400, _("'model' must name a model; list them with GET /v1/models."), param="model")
    _refuse_unsupported(data)
    system, history, question = _messages(data, max_messages)
    sampling: dict[str, Any] = {}
    temperature = _number(data, "temperature", 0.0, 2.0)
    if temperature is not None:
        sampling["temperature"] = temperature
    top_p = _number(data, "top_p", 0.0, 1.0, low_open=True)
    if top_p is not None:
        sampling["top_p"] = top_p
    tokens = _integer(data, "max_completion_tokens", 1, max_tokens)
    if tokens is None:
        tokens = _integer(data, "max_tokens", 1, max_tokens)
    if tokens is not None:
        sampling["max_new_tokens"] = tokens
    seed = _integer(data, "seed", 0, 2**32 - 1)
    if seed is not None:
        sampling["seed"] = seed
    options = data.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise ApiError(400, _("'stream_options' must be an object."), param="stream_options")
    stream = _flag(data, "stream", False)
    if options and not stream:
        raise ApiError(400, _("'stream_options' needs 'stream': true."), param="stream_options")
    effort = data.get("reasoning_effort")
    if effort is not None and effort not in ("none", "minimal", "low", "medium", "high"):
        raise ApiError(400, _("'reasoning_effort' must be none, low, medium or high."), param="reasoning_effort")
    return ChatRequest(
        model=model.strip(),
        history=history,
        question=question,
        system=system,
        sampling=sampling,
        stop=_stop(data),
        stream=stream,
        include_usage=bool(options and _flag(options, "include_usage", False)),
        store=_flag(data, "store", True),
        thinking=effort not in (None, "none", "minimal"),
    )


def split_at_stop(text: str, stops: list[str]) -> tuple[int, bool]:
    """How much of ``text`` may be shown: up to the first stop sequence (True), or all but a possible start of one."""
    hits = [text.find(stop) for stop in stops if stop in text]
    if hits:
        return min(hits), True
    hold = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:size]):
                hold = max(hold, size)
                break
    return len(text) - hold, False


@dataclass
class ImagesRequest:
    prompt: str
    width: int
    height: int
    n: int
    model: str
    response_format: str
    seed: int | None


def parse_images_request(data: dict[str, Any], *, sizes: list[str], max_n: int, max_prompt: int) -> ImagesRequest:
    """Validate a ``/v1/images/generations`` body (400 naming the bad parameter)."""
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ApiError(400, _("'prompt' must be a non-empty string."), param="prompt", code="invalid_value")
    if len(prompt) > max_prompt:
        raise ApiError(
            400,
            _("The prompt has %(count)d characters; the limit is %(limit)d.")
            % {"count": len(prompt), "limit": max_prompt},
            param="prompt",
            code="invalid_value",
        )
    n = _integer(data, "n", 1, max_n) or 1
    size = data.get("size") or sizes[0]
    if size not in sizes:
        raise ApiError(
            400,
            _("'size' must be one of: %(sizes)s.") % {"sizes": ", ".join(sizes)},
            param="size",
            code="invalid_value",
        )
    fmt = data.get("response_format") or "url"
    if fmt not in ("url", "b64_json"):
        raise ApiError(400, _("'response_format' must be url or b64_json."), param="response_format")
    model = data.get("model") or ""
    if not isinstance(model, str) or len(model) > 200:
        raise ApiError(400, _("'model' must name a model; list them with GET /v1/models."), param="model")
    width, height = (int(part) for part in size.split("x"))
    return ImagesRequest(
        prompt=prompt.strip(),
        width=width,
        height=height,
        n=n,
        model=model,
        response_format=fmt,
        seed=_integer(data, "seed", 0, 2**32 - 1),
    )


@dataclass
class EmbeddingsRequest:
    model: str
    texts: list[str]
    encoding_format: str


def parse_embeddings_request(data: dict[str, Any], *, max_inputs: int, max_chars: int) -> EmbeddingsRequest:
    """Validate a ``/v1/embeddings`` body: text or a list of texts (token arrays are not accepted)."""
    model = data.get("model")
    if not isinstance(model, str) or not model.strip() or len(model) > 200:
        raise ApiError(400, _("'model' must name a model; list them with GET /v1/models."), param="model")
    raw = data.get("input")
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
        raise ApiError(400, _("'input' must be a non-empty string or a list of non-empty strings."), param="input")
    if len(texts) > max_inputs or any(len(t) > max_chars for t in texts):
        raise ApiError(
            400,
            _("Send at most %(count)d texts of at most %(chars)d characters each.")
            % {"count": max_inputs, "chars": max_chars},
            param="input",
            code="invalid_value",
        )
    fmt = data.get("encoding_format") or "float"
    if fmt not in ("float", "base64"):
        raise ApiError(400, _("'encoding_format' must be float or base64."), param="encoding_format")
    if data.get("dimensions") is not None:
        raise ApiError(400, _("'dimensions' is not supported by this server."), param="dimensions", code="unsupported")
    return EmbeddingsRequest(model=model.strip(), texts=texts, encoding_format=fmt)
