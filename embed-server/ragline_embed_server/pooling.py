"""Pooling, normalisation and cross-encoder scores on the host (numpy): the onnx backend's path, and the reference
the unit tests hold the torch backend's on-device pooling to."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from .model_files import Pooling, Scoring

F32 = npt.NDArray[np.float32]


def pool(hidden: F32, lengths: Sequence[int], mode: Pooling) -> F32:
    """hidden [batch, padded_len, dims] -> [batch, dims]; only the first `lengths[b]` rows of each sequence count."""
    batch, _, dims = hidden.shape
    out = np.empty((batch, dims), dtype=np.float32)
    for b, n in enumerate(lengths):
        if n < 1:
            raise ValueError("cannot pool an empty sequence")
        if mode == "cls":
            out[b] = hidden[b, 0]
        elif mode == "lasttoken":
            out[b] = hidden[b, n - 1]
        else:
            # Accumulated in float64, like the TypeScript embedder, so long sequences lose nothing to rounding.
            out[b] = hidden[b, :n].astype(np.float64).mean(axis=0)
    return out


def normalize(v: F32) -> F32:
    """L2-normalises each row; a zero row stays zero."""
    norms = np.linalg.norm(v.astype(np.float64), axis=-1, keepdims=True)
    return (v / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def head_score(logits: F32, scoring: Scoring, positive_label: int, raw: bool) -> float:
    """A cross-encoder's score from its logits: the raw (positive) logit, or its sigmoid/softmax probability."""
    if scoring == "softmax" and logits.shape[0] > 1:
        label = min(positive_label, logits.shape[0] - 1)
        if raw:
            return float(logits[label])
        z = logits.astype(np.float64) - float(np.max(logits))
        return float(np.exp(z[label]) / np.exp(z).sum())
    x = float(logits[0])
    if raw or scoring == "none":
        return x
    return float(1.0 / (1.0 + np.exp(-x)))
