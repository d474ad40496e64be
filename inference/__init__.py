"""Model engines for text, images and vision.

Plain Python: nothing in this package imports Django, so it can be tested and benchmarked on its own.
Heavy libraries (torch, transformers, diffusers, xllamacpp) are imported inside the engine modules only,
and those modules are imported lazily by :mod:`inference.registry` when a model is first loaded.
"""
