"""What pages and sockets get for studio objects (plain JSON; the browser escapes every string)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from .models import Board, Generation, StudioImage


def image_payload(image: StudioImage, *, own: bool = True) -> dict[str, Any]:
    url = reverse("studio:image-file", args=[image.pk])
    return {
        "id": image.pk,
        "url": url,
        "download_url": url + "?download=1",
        "seed": image.seed,
        "starred": image.starred if own else False,
        "flagged": image.flagged,
        "flag_reason": image.flag_reason,
        "metadata": image.metadata,
        "created_at": image.created_at.isoformat(),
        "own": own,
    }


def generation_payload(generation: Generation) -> dict[str, Any]:
    return {
        "id": generation.pk,
        "status": generation.status,
        "brief": generation.brief,
        "prompt": generation.prompt,
        "negative": generation.negative,
        "model": generation.model.name,
        "preset": generation.preset.slug if generation.preset else "",
        "width": generation.width,
        "height": generation.height,
        "steps": generation.steps,
        "guidance": generation.guidance,
        "seed": generation.seed,
        "count": generation.count,
        "error": generation.error,
        "images": [image_payload(i) for i in generation.images.order_by("id")],
        "created_at": generation.created_at.isoformat(),
    }


def board_payload(board: Board, *, own: bool = True) -> dict[str, Any]:
    return {
        "id": board.pk,
        "name": board.name,
        "own": own,
        "groups": [g.pk for g in board.shared_with_groups.all()] if own else [],
        "image_ids": list(board.images.values_list("pk", flat=True)) if own else [],
    }
