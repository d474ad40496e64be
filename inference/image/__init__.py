"""Image generation: typed requests and results, and the diffusers engine (imported lazily)."""

from .types import (
    SCHEDULERS,
    ImageRequest,
    ImageResult,
    ImageTimings,
    ProgressEvent,
)

__all__ = ["SCHEDULERS", "ImageRequest", "ImageResult", "ImageTimings", "ProgressEvent"]
