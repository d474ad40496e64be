"""Tiny, randomly initialised models with real architectures, built in seconds for demos and tests."""
