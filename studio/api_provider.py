"""``/v1/images/generations`` served by the studio's own generation job.

A request becomes a studio generation through :func:`studio.services.generation_submit`, exactly as the
studio page's form: the same checks (model, size, bounds), the per-user bound on active generations, the
``image`` queue with its fair scheduling, the safety check of the user's role, and the images land in the
user's gallery with their settings. The web thread then waits for the job (polling its row, at most
API_IMAGE_TIMEOUT_S) and stops it (the page's own Cancel) when the client goes away or the wait runs out.

Korean prompts are used as given (the brief and the prompt are the request's text): the rewrite into English
is a separate text-model job on the page, where the user sees and edits its result; an API caller that wants
it writes the English prompt itself. ``revised_prompt`` is the prompt the engine read (with no preset, the
request's own).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.utils.translation import gettext as _

from accounts.models import User
from apikeys import providers
from apikeys.compat import ApiError

from . import selectors, services, signed
from .generation import full_prompts
from .models import Generation, StudioImage
from .views import image_response

log = logging.getLogger(__name__)

#: Seconds between two looks at the generation's row while it waits or runs.
POLL_S = 0.2

#: StudioError codes and the request parameter each one is about (for OpenAI's ``param``).
_PARAMS = {"too_long": "prompt", "empty": "prompt", "unknown_model": "model", "out_of_range": "size"}


def _api_error(exc: services.StudioError) -> ApiError:
    if exc.code == "busy":
        return ApiError(429, exc.message, code="rate_limit_exceeded", retry_after=2)
    if exc.code == "unknown_model":
        return ApiError(404, exc.message, param="model", code="model_not_found")
    return ApiError(400, exc.message, param=_PARAMS.get(exc.code), code=exc.code)


def wait(generation: Generation, *, wanted: Callable[[], bool], timeout_s: float) -> Generation:
    """Wait for the job to end; cancel it when the client goes away (returns it cancelled) or on timeout (504)."""
    deadline = time.monotonic() + timeout_s
    while generation.active:
        if not wanted():
            log.info("The client of generation %s went away: cancelling it", generation.pk)
            return services.generation_cancel(generation=generation)
        if time.monotonic() > deadline:
            services.generation_cancel(generation=generation)
            raise ApiError(
                504,
                _("The image took longer than %(seconds)d seconds and was stopped. Try a smaller size or later.")
                % {"seconds": timeout_s},
                code="timeout",
            )
        time.sleep(POLL_S)
        generation.refresh_from_db(fields=["status", "error", "finished_at"])
    return generation


def _png(image: StudioImage) -> bytes:
    """The bytes the owner's gallery serves (a flagged image blurred)."""
    response = image_response(image, download=False)
    return b"".join(response.streaming_content)  # type: ignore[arg-type]


class StudioImages:
    def models(self, user: User) -> list[str]:
        return list(selectors.image_model_list().values_list("name", flat=True))

    def generate(self, request: providers.ImageRequest) -> list[providers.GeneratedImage]:
        data = {
            "brief": request.prompt,
            "prompt": request.prompt,
            "model": request.model or None,
            "width": request.width,
            "height": request.height,
            "count": request.n,
            "steps": settings.API_IMAGE_STEPS,
            "seed": request.seed,
        }
        try:
            generation = services.generation_submit(user=request.user, data=data)
        except services.StudioError as exc:
            raise _api_error(exc) from exc
        generation = wait(generation, wanted=request.wanted, timeout_s=settings.API_IMAGE_TIMEOUT_S)
        if generation.status == Generation.Status.FAILED:
            raise ApiError(500, generation.error or _("The image could not be made. Try again."), code="server_error")
        if generation.status != Generation.Status.DONE:
            raise ApiError(409, _("The image was cancelled before it was finished. Ask again."), code="cancelled")
        revised, _negative = full_prompts(generation)
        return [
            providers.GeneratedImage(png=_png(image), url=signed.image_url(image), revised_prompt=revised)
            for image in generation.images.order_by("id")
        ]


def register() -> None:
    providers.register_images(StudioImages())
