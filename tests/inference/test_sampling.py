"""Batched token choice: every row with its own settings and random stream, on the device, in one call."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="needs the ML extra: pip install -e '.[ml]'")

from inference.text.sampling import INVALID, BatchSampling, Noise, choose_tokens  # noqa: E402
from inference.types import SamplingParams  # noqa: E402

VOCAB = 300
ROWS = [
    SamplingParams(temperature=0.0),
    SamplingParams(temperature=0.9, top_k=20, top_p=0.9, seed=1),
    SamplingParams(temperature=0.0, repetition_penalty=1.5),
    SamplingParams(temperature=1.3, top_k=0, top_p=0.5, seed=2),
    SamplingParams(temperature=0.7, top_k=3, top_p=1.0, repetition_penalty=1.2, seed=3),
]


def _logits(rows: int, seed: int = 0) -> torch.Tensor:
    return torch.randn((rows, VOCAB), generator=torch.Generator().manual_seed(seed)) * 3


def _seen(rows: int) -> torch.Tensor:
    seen = torch.zeros((rows, VOCAB), dtype=torch.bool)
    seen[:, ::7] = True
    return seen


def _noise(params: list[SamplingParams]) -> list[Noise | None]:
    return [None if p.temperature == 0 else Noise(p.seed, torch.device("cpu")) for p in params]


def test_a_batch_chooses_what_each_row_would_choose_alone():
    logits, seen = _logits(len(ROWS)), _seen(len(ROWS))
    batch_noise, alone_noise = _noise(ROWS), _noise(ROWS)

    together = [
        choose_tokens(logits, BatchSampling.build(ROWS, VOCAB, logits.device), seen=seen, noise=batch_noise).tolist()
        for _ in range(20)
    ]
    alone = [
        [
            int(
                choose_tokens(
                    logits[i : i + 1],
                    BatchSampling.build([p], VOCAB, logits.device),
                    seen=seen[i : i + 1],
                    noise=[alone_noise[i]],
                )
            )
            for i, p in enumerate(ROWS)
        ]
        for _ in range(20)
    ]

    assert together == alone


def test_greedy_rows_take_the_best_token_after_transformers_repetition_penalty():
    from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor

    logits, seen = _logits(2, seed=5), _seen(2)
    params = [SamplingParams(temperature=0.0), SamplingParams(temperature=0.0, repetition_penalty=1.7)]
    history = torch.nonzero(seen[1]).flatten().unsqueeze(0)
    penalised = RepetitionPenaltyLogitsProcessor(1.7)(history, logits[1:2].clone())

    tokens = choose_tokens(logits, BatchSampling.build(params, VOCAB, logits.device), seen=seen, noise=[None, None])

    assert tokens.tolist() == [int(logits[0].argmax()), int(penalised.argmax())]


def test_sampled_tokens_stay_inside_transformers_top_k_and_top_p():
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    logits = _logits(1, seed=9)
    params = SamplingParams(temperature=0.8, top_k=12, top_p=0.7, seed=4)
    warped = TopPLogitsWarper(0.7)(None, TopKLogitsWarper(12)(None, TemperatureLogitsWarper(0.8)(None, logits.clone())))
    allowed = set(torch.nonzero(warped[0] > float("-inf")).flatten().tolist())
    batch, noise = BatchSampling.build([params], VOCAB, logits.device), [Noise(4, torch.device("cpu"))]

    drawn = {int(choose_tokens(logits, batch, noise=noise)) for _ in range(400)}

    assert drawn <= allowed
    assert len(drawn) >= 2  # it does sample


def test_the_same_seed_repeats_and_another_seed_differs():
    logits = _logits(1, seed=3)
    batch = BatchSampling.build([SamplingParams(temperature=1.0, top_k=0, top_p=1.0)], VOCAB, logits.device)

    def draws(seed: int) -> list[int]:
        noise = [Noise(seed, torch.device("cpu"))]
        return [int(choose_tokens(logits, batch, noise=noise)) for _ in range(100)]

    assert draws(11) == draws(11)
    assert draws(11) != draws(12)


def test_rows_with_nan_or_infinity_are_marked_invalid_and_the_rest_are_not():
    logits = _logits(4, seed=1)
    logits[1, 5] = float("nan")
    logits[2, 7] = float("inf")
    logits[3] = float("-inf")
    params = [SamplingParams(temperature=0.0)] * 2 + [SamplingParams(temperature=1.0, seed=1)] * 2

    tokens = choose_tokens(logits, BatchSampling.build(params, VOCAB, logits.device), noise=_noise(params))

    assert tokens.tolist() == [int(logits[0].argmax()), INVALID, INVALID, INVALID]
