"""Helpers for the studio tests."""

from __future__ import annotations


def small(**overrides):
    """A quick request on the tiny pipeline (64 x 64, a few steps)."""
    return {
        "brief": "a glass perfume bottle",
        "width": 64,
        "height": 64,
        "steps": 3,
        "guidance": 5.0,
        "seed": 42,
        **overrides,
    }
