"""The key/value cache the transformers batcher keeps: its size per token, its budget, and a lane of rows.

A :class:`LaneCache` holds the keys and values of several sequences in one preallocated buffer per layer,
``[rows, kv_heads, columns, head_dim]``. Sequences are right-aligned: every row writes its next token into the
same column, and a row's shorter history is padding on its left that the attention mask hides. Appending a token
writes in place; the buffers are reallocated only when they are full (in blocks of :data:`COLUMN_BLOCK` columns or
:data:`ROW_BLOCK` rows), or when a row joins with a prompt longer than the lane. Every reallocation first allocates
the new buffers of all layers and only then swaps them in, so a failed allocation (out of memory) leaves the lane as
it was, every layer with the same rows.

The layers present themselves to the model as transformers ``DynamicLayer`` objects whose keys and values are
views of the buffers, so any model that works with a plain ``DynamicCache`` works with a lane.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers.cache_utils import Cache, DynamicLayer

#: Columns (tokens) added at a time when a lane grows, and rows added at a time when sequences join.
COLUMN_BLOCK = 256
ROW_BLOCK = 4
#: Default budget for the cache on a CPU, in bytes (the ``kv_cache_gib`` option overrides it).
CPU_DEFAULT_BUDGET = 2 << 30


@dataclass(frozen=True)
class KVLayout:
    """The shape of one token's keys and values across the model."""

    layers: int
    kv_heads: int
    head_dim: int
    dtype: torch.dtype

    @classmethod
    def from_config(cls, config: Any, dtype: torch.dtype) -> KVLayout:
        """Read the layout from a transformers config (the text part of a multimodal one)."""
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        heads = int(text.num_attention_heads)
        kv_heads = int(getattr(text, "num_key_value_heads", None) or heads)
        head_dim = int(getattr(text, "head_dim", None) or text.hidden_size // heads)
        return cls(layers=int(text.num_hidden_layers), kv_heads=kv_heads, head_dim=head_dim, dtype=dtype)

    @property
    def bytes_per_token(self) -> int:
        """Keys plus values of one token in every layer."""
        return 2 * self.layers * self.kv_heads * self.head_dim * self.dtype.itemsize


def budget_bytes(device: torch.device, *, memory_fraction: float, cap_bytes: int | None) -> int:
    """Bytes the cache may use: a share of the GPU memory free now (after the model loaded), at most the cap; on
    a CPU the cap, or :data:`CPU_DEFAULT_BUDGET`."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        share = int(free * memory_fraction)
        return min(share, cap_bytes) if cap_bytes else share
    return cap_bytes or CPU_DEFAULT_BUDGET


def round_up(value: int, block: int) -> int:
    return max(block, math.ceil(value / block) * block)


Allocate = Callable[[tuple[int, ...], torch.dtype, torch.device], torch.Tensor]


def allocate(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Every cache buffer is made here (tests replace it to inject an allocation failure)."""
    return torch.empty(shape, dtype=dtype, device=device)


class _LaneLayer(DynamicLayer):
    """One layer of a lane, as the model sees it: keys and values are views of the lane's buffers."""

    def __init__(self, lane: LaneCache, index: int) -> None:
        super().__init__()
        self.lane = lane
        self.index = index
        self.device = lane.device
        self.is_initialized = True
        #: Columns written in this layer (equal in every layer between forward passes).
        self.length = 0
        self.refresh()

    def refresh(self) -> None:
        rows = self.lane.rows
        self.keys = self.lane.key_buffers[self.index][:rows, :, : self.length]
        self.values = self.lane.value_buffers[self.index][:rows, :, : self.length]

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        """Nothing to do: the lane made the buffers."""

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        end = self.length + key_states.shape[-2]
        if key_states.shape[0] != self.lane.rows or end > self.lane.columns:
            raise RuntimeError(
                f"The lane holds {self.lane.rows} rows and {self.lane.columns} columns but the model wrote "
                f"{key_states.shape[0]} rows up to column {end}: reserve room before the forward pass."
            )
        self.lane.key_buffers[self.index][: self.lane.rows, :, self.length : end] = key_states
        self.lane.value_buffers[self.index][: self.lane.rows, :, self.length : end] = value_states
        self.length = end
        self.refresh()
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length


class LaneCache(Cache):
    """Keys and values of up to ``capacity_rows`` right-aligned sequences (see the module docstring).

    Made with ``rows`` rows in use and room for ``columns`` tokens each (nothing written yet).
    """

    def __init__(
        self,
        layout: KVLayout,
        device: torch.device,
        *,
        rows: int = 0,
        columns: int = 0,
        allocate: Allocate = allocate,
    ) -> None:
        self.layout = layout
        self.device = device
        self._allocate = allocate
        #: Rows in use (a new cache uses every row it was made with).
        self.rows = rows
        self.key_buffers: list[torch.Tensor] = []
        self.value_buffers: list[torch.Tensor] = []
        self.key_buffers, self.value_buffers = self._buffers(rows, columns)
        super().__init__(layers=[_LaneLayer(self, i) for i in range(layout.layers)])

    # ----------------------------------------------------------------- sizes

    @property
    def capacity_rows(self) -> int:
        return self.key_buffers[0].shape[0] if self.key_buffers else 0

    @property
    def columns(self) -> int:
        """Columns allocated (tokens each row can hold)."""
        return self.key_buffers[0].shape[2] if self.key_buffers else 0

    @property
    def length(self) -> int:
        """Columns in use: the column the next token of every row goes to."""
        return self.layers[0].length if self.layers else 0

    @property
    def buffers(self) -> tuple[torch.Tensor, ...]:
        """Every layer's keys, then every layer's values."""
        return (*self.key_buffers, *self.value_buffers)

    @property
    def allocated_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.buffers)

    def lengths_agree(self) -> bool:
        return len({layer.length for layer in self.layers}) <= 1

    # ----------------------------------------------------------------- forward passes

    def reserve(self, columns: int) -> None:
        """Make room for ``columns`` columns; raise (and change nothing) if the memory cannot be had."""
        if columns > self.columns:
            # Rows that left give their room back here: the new buffers are sized for the rows still present.
            rows = min(self.capacity_rows, round_up(self.rows, ROW_BLOCK))
            self._reallocate(rows, round_up(columns + columns // 4, COLUMN_BLOCK), shift=0)

    def rollback(self, length: int) -> None:
        """Forget what a failed forward pass wrote past ``length`` (some layers may have written, others not)."""
        for layer in self.layers:
            layer.length = length
            layer.refresh()

    # ----------------------------------------------------------------- rows

    def append(self, source: LaneCache, row: int = 0) -> int:
        """Copy ``source``'s row into a new last row; return how far the existing rows moved right.

        A source longer than the lane moves every existing row right (more padding on their left) so that all rows
        still end at the same column.
        """
        prompt = source.length
        length = max(self.length, prompt)
        shift = length - self.length
        if self.rows == self.capacity_rows or length + 1 > self.columns or shift:
            rows = round_up(self.rows + 1, ROW_BLOCK)
            self._reallocate(rows, max(self.columns, round_up(length + 1, COLUMN_BLOCK)), shift=shift)
        for mine, theirs in zip(self.buffers, source.buffers, strict=True):
            # The padding is masked out, but attention still multiplies it by a weight of 0, and 0 * NaN is NaN:
            # what an earlier user of this memory left there must not reach the output.
            mine[self.rows, :, : length - prompt] = 0
            mine[self.rows, :, length - prompt : length] = theirs[row, :, :prompt]
        self.rows += 1
        for layer in self.layers:
            layer.length = length
            layer.refresh()
        return shift

    def keep(self, rows: Sequence[int]) -> None:
        """Keep only ``rows`` (ascending), moved to the front in that order; nothing is allocated."""
        length = self.length
        for target, source in enumerate(rows):
            if target != source:
                for buffer in self.buffers:
                    buffer[target, :, :length] = buffer[source, :, :length]
        self.rows = len(rows)
        for layer in self.layers:
            layer.refresh()

    def trim_left(self, columns: int) -> bool:
        """Drop ``columns`` leading columns no row uses any more, into smaller buffers; False if no memory."""
        if columns <= 0:
            return True
        length = self.length - columns
        try:
            keys, values = self._buffers(self.rows, round_up(length + 1, COLUMN_BLOCK))
        except torch.OutOfMemoryError:
            return False
        for new, old in zip((*keys, *values), self.buffers, strict=True):
            new[: self.rows, :, :length] = old[: self.rows, :, columns : self.length]
        self.key_buffers, self.value_buffers = keys, values
        for layer in self.layers:
            layer.length = length
            layer.refresh()
        return True

    # ----------------------------------------------------------------- buffers

    def _buffers(self, rows: int, columns: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """New buffers for every layer, or none at all if one allocation fails."""
        layout = self.layout
        shape = (rows, layout.kv_heads, columns, layout.head_dim)
        keys, values = [], []
        for _ in range(layout.layers):
            keys.append(self._allocate(shape, layout.dtype, self.device))
            values.append(self._allocate(shape, layout.dtype, self.device))
        return keys, values

    def _reallocate(self, rows: int, columns: int, *, shift: int) -> None:
        keys, values = self._buffers(rows, columns)  # may raise: the lane is untouched then
        length = self.length
        for new, old in zip((*keys, *values), self.buffers, strict=True):
            new[: self.rows, :, :shift] = 0  # new padding: never left uninitialised (see append)
            new[: self.rows, :, shift : shift + length] = old[: self.rows, :, :length]
        self.key_buffers, self.value_buffers = keys, values
        for layer in self.layers:
            layer.length = length + shift
            layer.refresh()
