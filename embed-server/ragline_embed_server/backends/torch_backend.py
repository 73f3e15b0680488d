"""PyTorch on CUDA: transformers' AutoModel from the model folder in fp16/bf16 with SDPA attention. Pooling runs on
the device, so only pooled vectors (or the token rows /embed_all asks for) cross to the host.

Only imported with `--backend torch`: the CPU test machines have no PyTorch (see onnx_backend.py)."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

from ..batcher import Item, Want
from ..model_files import ModelInfo, Pooling
from .base import F32, dummy_items, pad

DTYPES: dict[str, torch.dtype] = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def pool_torch(hidden: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor, mode: Pooling) -> torch.Tensor:
    """hidden [batch, len, dims] -> float32 [batch, dims], the same pooling as pooling.pool on the host."""
    if mode == "cls":
        return hidden[:, 0].float()
    if mode == "lasttoken":
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), lengths - 1].float()
    # Mean as one batched matrix product with weights 1/n on real tokens (fp32 accumulation inside the GEMM).
    weights = (mask.to(torch.float32) / lengths.unsqueeze(1).to(torch.float32)).to(hidden.dtype).unsqueeze(1)
    return torch.bmm(weights, hidden).squeeze(1).float()


class TorchBackend:
    name = "torch"

    def __init__(self, model_dir: str, info: ModelInfo, device: str, dtype: str, random_weights: bool = False) -> None:
        self.device = torch.device(device)
        self.dtype = dtype
        self._info = info
        cls: Any = AutoModelForSequenceClassification if info.kind == "reranker" else AutoModel
        if random_weights:
            # Benchmarks only: the architecture from config.json, weights drawn at random on the device.
            config = AutoConfig.from_pretrained(model_dir)
            with self.device:
                model = cls.from_config(config, attn_implementation="sdpa")
            model = model.to(dtype=DTYPES[dtype])
        else:
            model = cls.from_pretrained(model_dir, dtype=DTYPES[dtype], attn_implementation="sdpa").to(self.device)
        self.model: torch.nn.Module = model.eval()
        params = inspect.signature(self.model.forward).parameters
        # Token types only where the model has more than one (XLM-R has one: a 1 would index past its table).
        type_vocab = int(getattr(self.model.config, "type_vocab_size", 0) or 0)
        self._takes_types = "token_type_ids" in params and type_vocab > 1
        self._takes_cache = "use_cache" in params

    def model_forward(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> tuple[Any, torch.Tensor]:
        """The model alone on host arrays (under the caller's inference_mode): its output and the device mask."""
        t_mask = torch.from_numpy(mask).to(self.device, non_blocking=True)
        kwargs: dict[str, Any] = {"input_ids": torch.from_numpy(ids).to(self.device, non_blocking=True)}
        kwargs["attention_mask"] = t_mask
        if self._takes_types:
            kwargs["token_type_ids"] = torch.from_numpy(types).to(self.device, non_blocking=True)
        if self._takes_cache:
            kwargs["use_cache"] = False
        return self.model(**kwargs), t_mask

    def forward(self, items: list[Item], padded_len: int) -> list[F32]:
        ids, mask, types = pad(items, padded_len, self._info.pad_token_id)
        with torch.inference_mode():
            out, t_mask = self.model_forward(ids, mask, types)
            if self._info.kind == "reranker":
                logits = out.logits.float().cpu().numpy()
                return [logits[b].copy() for b in range(len(items))]
            hidden: torch.Tensor = out.last_hidden_state
            lengths = [len(it.ids) for it in items]
            t_len = torch.tensor(lengths, device=self.device)
            pooled = pool_torch(hidden, t_mask, t_len, self._info.pooling).cpu().numpy()
            results: list[F32] = []
            for b, it in enumerate(items):
                if it.want is Want.TOKENS:
                    results.append(hidden[b, : lengths[b]].float().cpu().numpy())
                else:
                    results.append(pooled[b])
            return results

    def warmup(self, lengths: list[int], max_batch_tokens: int) -> None:
        for items, n in dummy_items(lengths, max_batch_tokens):
            self.forward(items, n)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
