"""onnxruntime on the CPU: the server's CPU path, and the backend its tests run.

The CPU machines that run our tests cannot take PyTorch from the package registry (its wheel pulls gigabytes of CUDA
libraries), so the CPU path is onnxruntime, deliberately: the same runtime the TypeScript local embedder uses, over the
same ONNX files (scripts/fetch-model.ts), so the two can be held to the same vectors. Pooling happens on the host
(pooling.py), exactly as connectors/embedders/local-onnx.ts does it."""

from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort

from ..batcher import Item, Want
from ..model_files import ModelInfo
from ..pooling import pool
from .base import F32, dummy_items, pad

_KNOWN_INPUTS = {"input_ids", "attention_mask", "token_type_ids"}


def find_onnx(model_dir: str) -> str:
    for name in ("model.onnx", os.path.join("onnx", "model.onnx")):
        path = os.path.join(model_dir, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"{model_dir}: no model.onnx (the onnx backend needs an ONNX export)")


class OnnxBackend:
    name = "onnx"
    dtype = "float32"

    def __init__(self, model_dir: str, info: ModelInfo, threads: int = 0) -> None:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Every batch has its own shape; memory-pattern plans would only pile up (see onnxSessionOptions in TS).
        opts.enable_mem_pattern = False
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads > 0:
            opts.intra_op_num_threads = threads
        self._session = ort.InferenceSession(find_onnx(model_dir), opts, providers=["CPUExecutionProvider"])
        inputs = [i.name for i in self._session.get_inputs()]
        unknown = set(inputs) - _KNOWN_INPUTS
        if unknown or "input_ids" not in inputs:
            raise ValueError(f"unsupported model inputs: {', '.join(inputs)}")
        self._inputs = inputs
        outputs = [o.name for o in self._session.get_outputs()]
        preferred = "logits" if info.kind == "reranker" else "last_hidden_state"
        self._output = preferred if preferred in outputs else outputs[0]
        self._info = info

    def forward(self, items: list[Item], padded_len: int) -> list[F32]:
        ids, mask, types = pad(items, padded_len, self._info.pad_token_id)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        out = np.asarray(
            self._session.run([self._output], {k: v for k, v in feeds.items() if k in self._inputs})[0],
            dtype=np.float32,
        )
        lengths = [len(it.ids) for it in items]
        if out.ndim == 2:
            # A cross-encoder's logits [batch, labels], or an export that pools inside the graph [batch, dims].
            return [out[b].copy() for b in range(len(items))]
        if out.ndim != 3:
            raise ValueError(f"model output {self._output} has shape {out.shape}")
        pooled = pool(out, lengths, self._info.pooling)
        results: list[F32] = []
        for b, it in enumerate(items):
            if it.want is Want.TOKENS:
                results.append(out[b, : lengths[b]].copy())
            elif it.want is Want.LOGITS:
                raise ValueError("this model has no classification head")
            else:
                results.append(pooled[b])
        return results

    def warmup(self, lengths: list[int], max_batch_tokens: int) -> None:
        # onnxruntime has no per-shape compilation worth paying for up front: one small run proves the graph works.
        for items, n in dummy_items(lengths[:1], min(max_batch_tokens, 64)):
            self.forward(items, n)
