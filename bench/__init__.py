"""Benchmarks of the inference engines against the libraries they wrap; run ``python bench/run.py``.

Importing any module here has no side effects: models are built and loaded only when a ``run_*`` function
is called.
"""
