"""Choose the next token for every row of a batch at once, on the device, with one result to copy back.

Each row has its own settings (:class:`~inference.types.SamplingParams`): greedy rows (temperature 0) sit next
to sampled ones, and each sampled row draws its randomness from its own generator, so a seed reproduces the same
answer whoever else is in the batch. The order is transformers' own: repetition penalty, then greedy argmax or
temperature, top-k and top-p, then a draw. Rows whose logits hold NaN or infinity come back as ``INVALID`` so
the batcher can fail that request alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..types import SamplingParams

#: Token id returned for a row whose logits are not usable numbers.
INVALID = -1
#: Uniform numbers drawn per generator call: one small kernel every ``NOISE_BLOCK`` tokens instead of every token.
NOISE_BLOCK = 64


class Noise:
    """A request's own stream of uniform random numbers in [0, 1), on the batch's device.

    The stream depends only on the seed, not on when or next to whom the request runs.
    """

    def __init__(self, seed: int | None, device: torch.device) -> None:
        self.generator = torch.Generator(device=device)
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(seed)
        self._device = device
        self._block: torch.Tensor | None = None
        self._used = NOISE_BLOCK

    def next(self) -> torch.Tensor:
        """The next number, as a 0-d tensor on the device (no host transfer)."""
        if self._used == NOISE_BLOCK:
            self._block = torch.rand(NOISE_BLOCK, generator=self.generator, device=self._device, dtype=torch.float64)
            self._used = 0
        value = self._block[self._used]  # type: ignore[index]
        self._used += 1
        return value


@dataclass(frozen=True)
class BatchSampling:
    """The per-row settings of one batch as device tensors; rebuilt only when the rows change."""

    greedy: torch.Tensor  # [B] bool
    temperature: torch.Tensor  # [B, 1] float32 (1.0 on greedy rows, never used there)
    top_k: torch.Tensor  # [B] int64, the vocabulary size where top-k is off
    top_p: torch.Tensor  # [B, 1] float32
    penalty: torch.Tensor  # [B, 1] float32
    any_greedy: bool
    any_sampled: bool
    any_penalty: bool
    #: Candidates to keep per row before top-p: the largest top-k, or the whole vocabulary if a row has none.
    width: int

    @classmethod
    def build(cls, params: Sequence[SamplingParams], vocab_size: int, device: torch.device) -> BatchSampling:
        greedy = [p.temperature == 0.0 for p in params]
        top_k = [p.top_k if 0 < p.top_k < vocab_size else vocab_size for p in params]
        sampled_k = [k for k, g in zip(top_k, greedy, strict=True) if not g]
        floats = torch.tensor(
            [[1.0 if g else p.temperature, p.top_p, p.repetition_penalty] for p, g in zip(params, greedy, strict=True)],
            dtype=torch.float32,
        ).to(device)
        return cls(
            greedy=torch.tensor(greedy, dtype=torch.bool).to(device),
            temperature=floats[:, 0:1],
            top_k=torch.tensor(top_k, dtype=torch.int64).to(device),
            top_p=floats[:, 1:2],
            penalty=floats[:, 2:3],
            any_greedy=any(greedy),
            any_sampled=not all(greedy),
            any_penalty=any(p.repetition_penalty != 1.0 for p in params),
            width=max(sampled_k, default=1),
        )


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: torch.Tensor) -> torch.Tensor:
    """transformers' rule for every row: shrink the logits of tokens already in the prompt or the answer."""
    penalised = torch.where(logits < 0, logits * penalty, logits / penalty)
    return torch.where(seen, penalised, logits)


def invalid_rows(logits: torch.Tensor) -> torch.Tensor:
    """[B] bool: rows with NaN or +infinity anywhere, or nothing but -infinity."""
    return torch.isnan(logits).any(-1) | torch.isposinf(logits).any(-1) | torch.isneginf(logits).all(-1)


def choose_tokens(
    logits: torch.Tensor,
    batch: BatchSampling,
    *,
    seen: torch.Tensor | None = None,
    noise: Sequence[Noise | None] = (),
) -> torch.Tensor:
    """The next token of every row of ``logits`` ([B, V], any float dtype) as a [B] int64 tensor on the device.

    ``seen`` ([B, V] bool) marks tokens already in each row's prompt or answer (needed when a row has a repetition
    penalty); ``noise`` holds each sampled row's random stream (``None`` on greedy rows). Rows whose logits are not
    usable numbers get :data:`INVALID`.
    """
    logits = logits.float()
    bad = invalid_rows(logits)
    if batch.any_penalty and seen is not None:
        logits = apply_repetition_penalty(logits, seen, batch.penalty)
    greedy_tokens = torch.argmax(logits, dim=-1) if batch.any_greedy else None
    if not batch.any_sampled:
        return torch.where(bad, INVALID, greedy_tokens)  # type: ignore[arg-type]

    scaled = logits / batch.temperature
    # The candidates in descending order: a top-k of the largest k when every row limits k, else a full sort.
    if batch.width < scaled.shape[-1]:
        values, order = torch.topk(scaled, batch.width, dim=-1)
    else:
        values, order = torch.sort(scaled, dim=-1, descending=True)
    # Top-k per row: drop candidates below the row's k-th best.
    kth = values.gather(1, (batch.top_k.clamp(max=values.shape[-1]) - 1).unsqueeze(1))
    values = values.masked_fill(values < kth, float("-inf"))
    # Top-p per row: drop a candidate when the more likely ones already cover top_p; the best one always stays.
    probs = torch.softmax(values, dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs
    drop = mass_before >= batch.top_p
    drop[:, 0] = False
    values = values.masked_fill(drop, float("-inf"))
    # Draw by inverting each row's cumulative distribution with that row's own uniform number.
    cdf = torch.cumsum(torch.softmax(values, dim=-1, dtype=torch.float64), dim=-1)
    draws = torch.stack([n.next() if n is not None else cdf.new_zeros(()) for n in noise])
    picked = torch.searchsorted(cdf, (draws * cdf[:, -1]).unsqueeze(1), right=True).clamp(max=cdf.shape[-1] - 1)
    sampled_tokens = order.gather(1, picked).squeeze(1)
    tokens = sampled_tokens if greedy_tokens is None else torch.where(batch.greedy, greedy_tokens, sampled_tokens)
    return torch.where(bad, INVALID, tokens)
