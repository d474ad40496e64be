"""Image-text-to-text models (EXAONE 4.5, LLaVA-style and other VLMs) through transformers.

The model folder is loaded with ``AutoProcessor`` and ``AutoModelForImageTextToText`` from local files only,
safetensors only unless the admin allowed pickle. Generation runs in a worker thread so that tokens can be
streamed; ``cancel`` is polled before every token by a stopping criterion, so a stop takes one token.

Options read from ``spec.options``: ``device`` and ``dtype`` (override CUDA bf16 / CPU fp32),
``max_image_side`` (larger images are scaled down first; default 1536) and ``chat_template_kwargs``
(extra values for the chat template, e.g. ``{"enable_thinking": false}``).
"""

from __future__ import annotations

import gc
import importlib.util
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ..devices import pick_device
from ..errors import EngineUnavailable, ModelLoadError, PromptTooLong
from ..safety import check_revision, check_weights
from ..text.special_tokens import defuser_for
from ..types import FinishReason, ModelSpec, Timings, Usage
from .types import VisionDelta, VisionRequest, VisionResult, parse_keywords

DEFAULT_MAX_IMAGE_SIDE = 1536

_END = object()


def instruction(request: VisionRequest) -> str:
    """The text sent beside the image: the task, its size, and the answer language."""
    n = request.sentences
    k = request.max_keywords
    if request.language == "ko":
        if request.task == "caption":
            return f"이 이미지를 {n}문장으로 설명해 주세요. 한국어로 답하세요."
        if request.task == "keywords":
            return (
                f"이 이미지를 나타내는 키워드를 최대 {k}개, 쉼표로 구분해 나열해 주세요. "
                "다른 설명 없이 한국어 키워드만 답하세요."
            )
        return f"{request.question.strip()}\n\n한국어로 답하세요."
    if request.task == "caption":
        return f"Describe this image in {n} sentence{'s' if n > 1 else ''}. Answer in English."
    if request.task == "keywords":
        return (
            f"List up to {k} keywords that describe this image, separated by commas. "
            "Reply with the keywords only, in English."
        )
    return f"{request.question.strip()}\n\nAnswer in English."


def build_messages(request: VisionRequest) -> list[dict[str, Any]]:
    """The chat for ``request``: one user turn with the image first, then the instruction."""
    return [
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "text", "text": instruction(request)}],
        }
    ]


class _TokenQueue:
    """A ``generate`` streamer that hands new token ids to the consuming thread."""

    def __init__(self) -> None:
        self.queue: queue.Queue[Any] = queue.Queue()
        self._prompt_skipped = False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_skipped:  # generate first pushes the whole prompt
            self._prompt_skipped = True
            return
        for token in value.reshape(-1).tolist():
            self.queue.put(token)

    def end(self) -> None:
        """Nothing to do: the worker thread posts the end marker itself, also after an error."""


class _StopWhen:
    """A stopping criterion that ends generation as soon as ``should_stop()`` is true."""

    def __init__(self, should_stop: Any) -> None:
        self.should_stop = should_stop

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), bool(self.should_stop()), dtype=torch.bool, device=input_ids.device)


class VisionEngine:
    """A loaded image-text-to-text model."""

    def __init__(
        self,
        name: str,
        processor: Any,
        model: Any,
        *,
        context_length: int,
        max_image_side: int = DEFAULT_MAX_IMAGE_SIDE,
        chat_template_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.processor = processor
        self.model = model
        self.context_length = context_length
        self.max_image_side = max_image_side
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self._lock = threading.Lock()
        eos = model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self._eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> VisionEngine:
        """Load the model folder ``spec.path``; raise :class:`ModelLoadError` with a fix when it cannot."""
        from transformers import AutoModelForImageTextToText, AutoProcessor

        if not spec.path:
            raise ModelLoadError(f"Vision model {spec.name!r} has no path: set it to a model folder.")
        path = Path(spec.path).expanduser()
        if not path.is_dir():
            raise ModelLoadError(
                f"Vision model {spec.name!r}: {path} is not a folder. Download the model (config.json, "
                "weights, processor and tokenizer files) there, or fix the path in the admin."
            )
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"{path} has no config.json; it is not a transformers model folder.")
        check_weights(path, allow_pickle=spec.allow_pickle)
        check_revision(path, spec.revision, hub_id=spec.hub_id)
        options = dict(spec.options)
        device, dtype = pick_device(options)
        common: dict[str, Any] = {"local_files_only": True, "trust_remote_code": spec.trust_remote_code}
        if spec.revision:
            common["revision"] = spec.revision
        try:
            processor = AutoProcessor.from_pretrained(str(path), **common)
        except Exception as exc:  # processors fail with anything from ValueError to AttributeError
            hint = ""
            if importlib.util.find_spec("torchvision") is None:
                hint = (
                    " This model's processor may need torchvision (for example EXAONE 4.5 and Qwen-VL "
                    "models): install the torchvision build that matches your torch."
                )
            raise ModelLoadError(f"Could not load the processor of {path}: {exc}.{hint}") from exc
        placement: dict[str, Any] = {}
        if device.startswith("cuda"):
            placement["device_map"] = device  # load straight onto the GPU, not through CPU memory
        try:
            model = AutoModelForImageTextToText.from_pretrained(
                str(path),
                dtype=dtype,
                # None lets transformers fall back to pickle files, reached only when an admin allowed it.
                use_safetensors=None if spec.allow_pickle else True,
                **placement,
                **common,
            )
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(f"Could not load the model in {path}: {exc}") from exc
        if not placement:
            model.to(device)
        model.eval()
        template = getattr(processor, "chat_template", None) or getattr(
            getattr(processor, "tokenizer", None), "chat_template", None
        )
        if not template:
            raise ModelLoadError(f"{path} has no chat template (chat_template.jinja); the model cannot be prompted.")
        # The model's own position limit wins over a larger admin setting.
        model_limit = getattr(model.config.get_text_config(), "max_position_embeddings", None)
        context_length = min(spec.context_length, model_limit) if model_limit else spec.context_length
        return cls(
            spec.name,
            processor,
            model,
            context_length=context_length,
            max_image_side=int(options.get("max_image_side", DEFAULT_MAX_IMAGE_SIDE)),
            chat_template_kwargs=options.get("chat_template_kwargs"),
        )

    # Prompting -----------------------------------------------------------------------------------------

    def prepare(self, request: VisionRequest) -> dict[str, Any]:
        """The model inputs for ``request`` (token ids, pixel values...), on the model's device."""
        image = request.image
        if image.mode != "RGB":
            image = image.convert("RGB")
        if max(image.size) > self.max_image_side:
            # Processors resize anyway; doing it first bounds their memory and time on huge uploads.
            image = image.copy()
            image.thumbnail((self.max_image_side, self.max_image_side), Image.Resampling.LANCZOS)
        messages = build_messages(request)
        # A question holding the model's markers (<image>, turn markers) would add images or forge turns.
        defuser = defuser_for(self.tokenizer)
        for part in messages[0]["content"]:
            if part["type"] == "text":
                part["text"] = defuser.defuse(part["text"])
        prompt = self.processor.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False, **self.chat_template_kwargs
        )
        inputs = self.processor(images=[image], text=[prompt], return_tensors="pt").to(self.model.device)
        for key, value in inputs.items():
            if torch.is_tensor(value) and value.is_floating_point():
                inputs[key] = value.to(self.model.dtype)
        return dict(inputs)

    # Generation ----------------------------------------------------------------------------------------

    def run(self, request: VisionRequest) -> VisionResult:
        """Answer ``request`` and return the whole result (blocking)."""
        for event in self.stream(request):
            if isinstance(event, VisionResult):
                return event
        raise RuntimeError("The vision stream ended without a result.")  # pragma: no cover - a bug if reached

    def stream(self, request: VisionRequest) -> Iterator[VisionDelta | VisionResult]:
        """Yield :class:`VisionDelta` pieces as they are generated, then exactly one :class:`VisionResult`."""
        started = time.perf_counter()
        with self._lock:
            if self.model is None:
                raise EngineUnavailable(f"Vision model {self.name!r} was unloaded; load it again to use it.")
            yield from self._stream(request, started)

    def _stream(self, request: VisionRequest, started: float) -> Iterator[VisionDelta | VisionResult]:
        if request.cancel():
            yield self._result(request, "", "cancelled", 0, 0, started, None)
            return
        inputs = self.prepare(request)
        prompt_tokens = int(inputs["input_ids"].shape[-1])
        room = self.context_length - prompt_tokens
        if room < 1:
            raise PromptTooLong(
                f"The image and instruction take {prompt_tokens} tokens; this model reads {self.context_length}. "
                "Use a smaller image or a shorter question."
            )
        max_new_tokens = min(request.max_new_tokens, room)

        streamer = _TokenQueue()
        abandoned = threading.Event()
        cancelled = threading.Event()

        def should_stop() -> bool:
            if abandoned.is_set():
                return True
            if request.cancel():
                cancelled.set()
                return True
            return False

        from transformers import StoppingCriteriaList

        generate_kwargs: dict[str, Any] = {
            **inputs,
            "max_new_tokens": max_new_tokens,
            "do_sample": request.temperature > 0,
            "streamer": streamer,
            "stopping_criteria": StoppingCriteriaList([_StopWhen(should_stop)]),
            "pad_token_id": self.tokenizer.pad_token_id
            if self.tokenizer.pad_token_id is not None
            else next(iter(self._eos_ids), None),
        }
        if request.temperature > 0:
            generate_kwargs.update(temperature=request.temperature, top_p=0.95)
        else:
            # Greedy decoding: clear sampling settings the model's generation_config may carry.
            generate_kwargs.update(temperature=None, top_p=None, top_k=None)
        failure: list[BaseException] = []

        def work() -> None:
            try:
                if request.seed is not None:
                    torch.manual_seed(request.seed)
                with torch.inference_mode():
                    self.model.generate(**generate_kwargs)
            except BaseException as exc:  # handed to the consuming thread, which re-raises it
                failure.append(exc)
            finally:
                streamer.queue.put(_END)

        worker = threading.Thread(target=work, name=f"vision-{self.name}", daemon=True)
        worker.start()
        tokens: list[int] = []
        text = ""
        first_token_at: float | None = None
        try:
            while (token := streamer.queue.get()) is not _END:
                if first_token_at is None:
                    first_token_at = time.perf_counter()
                tokens.append(token)
                decoded = self.tokenizer.decode(tokens, skip_special_tokens=True)
                # Wait while the last token ends in the middle of a multi-byte character (Hangul).
                if decoded.endswith("\ufffd") or not decoded.startswith(text):
                    continue
                delta, text = decoded[len(text) :], decoded
                if delta:
                    yield VisionDelta(delta)
        finally:
            abandoned.set()  # the consumer left early: make generate stop at the next token
            worker.join()
        if failure:
            raise failure[0]

        text = self.tokenizer.decode(tokens, skip_special_tokens=True).strip()
        if cancelled.is_set():
            reason: FinishReason = "cancelled"
        elif tokens and tokens[-1] in self._eos_ids:
            reason = "stop"
        elif len(tokens) >= max_new_tokens:
            reason = "length"
        else:
            reason = "stop"
        yield self._result(request, text, reason, prompt_tokens, len(tokens), started, first_token_at)

    def _result(
        self,
        request: VisionRequest,
        text: str,
        reason: FinishReason,
        prompt_tokens: int,
        completion_tokens: int,
        started: float,
        first_token_at: float | None,
    ) -> VisionResult:
        now = time.perf_counter()
        ttft = (first_token_at - started) * 1000 if first_token_at is not None else None
        return VisionResult(
            text=text,
            finish_reason=reason,
            usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
            timings=Timings(ttft_ms=ttft, total_ms=(now - started) * 1000),
            keywords=parse_keywords(text, request.max_keywords) if request.task == "keywords" else [],
            task=request.task,
            language=request.language,
            model=self.name,
        )

    def close(self) -> None:
        """Free the model's memory."""
        with self._lock:
            self.model = None
            self.processor = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def __repr__(self) -> str:
        return f"VisionEngine({self.name!r})"
