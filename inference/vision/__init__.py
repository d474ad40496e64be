"""Image understanding: typed requests and results, and the transformers engine (imported lazily)."""

from .types import VisionDelta, VisionRequest, VisionResult, parse_keywords

__all__ = ["VisionDelta", "VisionRequest", "VisionResult", "parse_keywords"]
