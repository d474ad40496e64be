"""Generation metadata in PNG text chunks: written with every image, read back for Recall.

Each field is its own iTXt chunk (UTF-8, so a Korean brief survives) under an ``exaone:`` key, and the whole
set once more as JSON under ``exaone:parameters``; reading prefers the JSON and falls back to the fields.
"""

from __future__ import annotations

import io
import json
from typing import Any

from PIL import Image, PngImagePlugin

FIELDS = ("brief", "prompt", "negative", "model", "seed", "steps", "guidance", "width", "height", "preset")
JSON_KEY = "exaone:parameters"
MAX_CHUNK_CHARS = 8000


def png_with_metadata(image: Image.Image, metadata: dict[str, Any]) -> bytes:
    info = PngImagePlugin.PngInfo()
    for name in FIELDS:
        if name in metadata:
            info.add_itxt(f"exaone:{name}", str(metadata[name]))
    info.add_itxt(JSON_KEY, json.dumps({k: metadata[k] for k in FIELDS if k in metadata}, ensure_ascii=False))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def read_metadata(image: Image.Image) -> dict[str, Any]:
    """The generation fields found in an opened PNG's text chunks ({} when it has none of ours)."""
    text: dict[str, str] = dict(getattr(image, "text", {}) or {})
    raw = text.get(JSON_KEY, "")
    if raw and len(raw) <= MAX_CHUNK_CHARS:
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return {k: parsed[k] for k in FIELDS if k in parsed}
    found: dict[str, Any] = {}
    for name in FIELDS:
        value = text.get(f"exaone:{name}")
        if isinstance(value, str) and len(value) <= MAX_CHUNK_CHARS:
            found[name] = value
    return found
