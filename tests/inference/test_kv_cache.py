"""The batcher's key/value cache on the tiny EXAONE model: appends in place, joins all or nothing."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="needs the ML extra: pip install -e '.[ml]'")

from inference.text.kv_cache import COLUMN_BLOCK, KVLayout, LaneCache, allocate  # noqa: E402


@pytest.fixture(scope="module")
def model(tiny_exaone_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_exaone_dir, local_files_only=True).eval()


def _prefilled(model, ids: list[int], **kwargs) -> LaneCache:
    cache = LaneCache(KVLayout.from_config(model.config, model.dtype), model.device, rows=1, columns=len(ids), **kwargs)
    with torch.inference_mode():
        model(input_ids=torch.tensor([ids]), cache=cache, use_cache=True)
    return cache


def test_decode_steps_write_in_place_until_the_buffer_is_full(model):
    lane = LaneCache(KVLayout.from_config(model.config, model.dtype), model.device)
    lane.append(_prefilled(model, list(range(10, 30))))
    storage = [buffer.data_ptr() for buffer in lane.buffers]

    with torch.inference_mode():
        for step in range(COLUMN_BLOCK - 21):
            lane.reserve(lane.length + 1)
            model(input_ids=torch.tensor([[40 + step % 50]]), cache=lane, use_cache=True)

    assert lane.length == COLUMN_BLOCK - 1 and lane.lengths_agree()
    assert [buffer.data_ptr() for buffer in lane.buffers] == storage  # no copy on any step
    lane.reserve(lane.length + 2)
    assert lane.columns > COLUMN_BLOCK  # full: now it grows, once, by a block


def test_a_longer_row_joins_right_aligned_and_moves_the_others(model):
    lane = LaneCache(KVLayout.from_config(model.config, model.dtype), model.device)
    short, long = _prefilled(model, list(range(5, 15))), _prefilled(model, list(range(100, 125)))

    assert lane.append(short) == 10
    shift = lane.append(long)

    assert (shift, lane.rows, lane.length) == (15, 2, 25)
    torch.testing.assert_close(lane.key_buffers[0][0, :, 15:25], short.key_buffers[0][0, :, :10])
    torch.testing.assert_close(lane.key_buffers[1][1, :, :25], long.key_buffers[1][0, :, :25])


def test_a_join_that_fails_halfway_leaves_every_layer_as_it_was(model):
    calls = []

    def flaky(shape, dtype, device):
        calls.append(shape)
        if len(calls) == 3:  # the third of four new buffers: two layers would already have been replaced
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return allocate(shape, dtype, device)

    lane = LaneCache(KVLayout.from_config(model.config, model.dtype), model.device)
    lane.append(_prefilled(model, list(range(5, 15))))
    before = [(buffer.data_ptr(), tuple(buffer.shape)) for buffer in lane.buffers]
    lane._allocate = flaky

    with pytest.raises(torch.OutOfMemoryError):
        lane.append(_prefilled(model, list(range(100, 140))))  # longer: needs new, wider buffers

    assert [(buffer.data_ptr(), tuple(buffer.shape)) for buffer in lane.buffers] == before
    assert (lane.rows, lane.length) == (1, 10) and lane.lengths_agree()


def test_a_failed_forward_pass_is_rolled_back_in_every_layer(model):
    lane = LaneCache(KVLayout.from_config(model.config, model.dtype), model.device)
    lane.append(_prefilled(model, list(range(5, 15))))
    lane.reserve(11)
    lane.layers[0].update(torch.zeros(1, 2, 1, 16), torch.zeros(1, 2, 1, 16))  # layer 0 wrote, layer 1 did not

    assert not lane.lengths_agree()
    lane.rollback(10)

    assert lane.lengths_agree() and lane.length == 10


def test_leaving_rows_move_to_the_front_and_unused_padding_can_be_dropped(model):
    lane = LaneCache(KVLayout.from_config(model.config, model.dtype), model.device)
    rows = [_prefilled(model, list(range(start, start + n))) for start, n in ((5, 30), (50, 8), (70, 12))]
    for row in rows:
        lane.append(row)

    lane.keep([1, 2])
    assert lane.trim_left(30 - 12)

    assert (lane.rows, lane.length) == (2, 12)
    torch.testing.assert_close(lane.value_buffers[0][0, :, 4:12], rows[1].value_buffers[0][0, :, :8])
    torch.testing.assert_close(lane.value_buffers[0][1, :, :12], rows[2].value_buffers[0][0, :, :12])


def test_padding_never_carries_what_was_in_memory_before(model):
    # Given buffers that come back full of NaN (as reused device memory can: torch.empty does not clear it)
    def poisoned(shape, dtype, device):
        return torch.full(shape, float("nan"), dtype=dtype, device=device)

    lane = LaneCache(KVLayout.from_config(model.config, model.dtype), model.device, allocate=poisoned)
    short_ids, long_ids = list(range(5, 15)), list(range(100, 125))
    # When a short row joins first and a longer one moves it right (padding on both rows' left)
    lane.append(_prefilled(model, short_ids, allocate=poisoned))
    lane.append(_prefilled(model, long_ids, allocate=poisoned))
    lane.reserve(lane.length + 1)
    starts = torch.tensor([[15], [0]])
    mask = (torch.arange(lane.length + 1).unsqueeze(0) >= starts).long()
    with torch.inference_mode():
        logits = model(
            input_ids=torch.tensor([[7], [8]]),
            cache=lane,
            use_cache=True,
            attention_mask=mask,
            position_ids=25 - starts,
        ).logits[:, -1, :]
        alone = model(input_ids=torch.tensor([[*short_ids, 7]])).logits[0, -1, :]

    # Then the masked padding adds nothing: every logit is finite and the short row's equal its own pass
    assert torch.isfinite(logits).all()
    torch.testing.assert_close(logits[0], alone, rtol=1e-4, atol=1e-4)
