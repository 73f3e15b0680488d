"""The interface every backend implements, and the host-side helpers they share."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from ..batcher import Item

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


class Backend(Protocol):
    name: str
    """`onnx` or `torch`."""
    dtype: str

    def forward(self, items: list[Item], padded_len: int) -> list[F32]:
        """Runs one padded batch. Per item, by its Want: POOLED a [dims] vector (pooled as the model folder says,
        not normalised), TOKENS a [len, dims] matrix (the last hidden state of its tokens), LOGITS the head's
        [labels]. Runs on a worker thread."""
        ...

    def warmup(self, lengths: list[int], max_batch_tokens: int) -> None:
        """Runs each padded length once at full batch, so the first requests meet no cold shape."""
        ...


def pad(items: list[Item], padded_len: int, pad_id: int = 0) -> tuple[I64, I64, I64]:
    """input_ids (right-padded with the model's pad token: XLM-R derives positions from it), attention_mask and
    token_type_ids, to padded_len."""
    batch = len(items)
    ids = np.full((batch, padded_len), pad_id, dtype=np.int64)
    mask = np.zeros((batch, padded_len), dtype=np.int64)
    types = np.zeros((batch, padded_len), dtype=np.int64)
    for b, it in enumerate(items):
        n = len(it.ids)
        ids[b, :n] = it.ids
        mask[b, :n] = 1
        if it.type_ids is not None:
            types[b, :n] = it.type_ids
    return ids, mask, types


def dummy_items(lengths: list[int], max_batch_tokens: int) -> list[tuple[list[Item], int]]:
    """Full batches of token id 1 at each length, for warming shapes."""
    from ..batcher import Want

    out: list[tuple[list[Item], int]] = []
    for n in lengths:
        size = max(1, max_batch_tokens // n)
        out.append(([Item(ids=[1] * n, want=Want.POOLED) for _ in range(size)], n))
    return out
