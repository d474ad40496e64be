"""Where a model runs and in which precision: one rule for every engine that uses torch."""

from __future__ import annotations

from typing import Any

import torch

from .errors import ModelLoadError

DTYPES = {
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
}


def pick_device(options: dict[str, Any]) -> tuple[str, torch.dtype]:
    """The device and dtype for a model: CUDA with bfloat16 (float16 on older GPUs) when a GPU is visible,
    CPU with float32 otherwise; ``options["device"]`` and ``options["dtype"]`` override."""
    cuda = torch.cuda.is_available()
    device = str(options.get("device") or ("cuda" if cuda else "cpu"))
    if device != "cpu" and not device.startswith("cuda"):
        raise ModelLoadError(f"Unknown device {device!r}: use 'cuda', 'cuda:N' or 'cpu'.")
    if device.startswith("cuda") and not cuda:
        raise ModelLoadError(
            f"The model is set to run on {device!r} but no GPU is visible. Install a CUDA build of torch, or set "
            "the model's device option to 'cpu'."
        )
    name = options.get("dtype")
    if name is not None:
        key = str(name).lower()
        if key not in DTYPES:
            raise ModelLoadError(f"Unknown dtype {name!r}: use one of {', '.join(DTYPES)}.")
        return device, DTYPES[key]
    if device.startswith("cuda"):
        return device, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    # Half precision on CPU is slow or unsupported for many ops.
    return device, torch.float32
