"""Helpers for the refine tests."""

from __future__ import annotations


def make_picture(user, size=(64, 64)):
    """A gallery image with generation metadata, as the studio stores one (two colours, so changes show)."""
    from PIL import Image

    from studio import pngmeta, storage
    from studio.models import StudioImage

    picture = Image.new("RGB", size, (200, 40, 40))
    picture.paste((30, 30, 220), (size[0] // 2, 0, size[0], size[1]))
    values = {
        "brief": "a red and blue box",
        "prompt": "a red and blue box",
        "negative": "",
        "model": "sd-tiny-refine",
        "seed": 5,
        "steps": 4,
        "guidance": 5.0,
        "width": size[0],
        "height": size[1],
        "preset": "",
    }
    name = storage.image_save(owner_id=user.pk, data=pngmeta.png_with_metadata(picture, values))
    return StudioImage.objects.create(owner=user, file=name, seed=5, metadata=values)
