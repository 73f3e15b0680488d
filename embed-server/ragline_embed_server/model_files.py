"""What the server needs to know about a model folder, read the way sentence-transformers (and our TypeScript
loader, connectors/embedders/model-files.ts and connectors/rerankers/model-files.ts) reads it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Literal

Pooling = Literal["mean", "cls", "lasttoken"]
Kind = Literal["embedding", "reranker"]
Scoring = Literal["sigmoid", "softmax", "none"]

# Position tables of the RoBERTa family carry two padding offsets: 514 positions hold 512 tokens.
_ROBERTA_TYPES = ("roberta", "xlm-roberta", "camembert")


@dataclass(frozen=True)
class ModelInfo:
    model_id: str
    model_type: str
    kind: Kind
    hidden_size: int
    max_input_length: int
    pooling: Pooling
    normalize: bool
    scoring: Scoring
    positive_label: int
    num_labels: int
    has_sparse_head: bool
    vocab_size: int
    pad_token_id: int


def read_json(folder: str, name: str) -> dict[str, Any] | list[Any] | None:
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        data: dict[str, Any] | list[Any] = json.load(f)
        return data


def _num(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _pooling(folder: str) -> Pooling:
    pool = read_json(folder, "1_Pooling/config.json")
    if not isinstance(pool, dict):
        return "mean"
    if pool.get("pooling_mode_cls_token") is True:
        return "cls"
    if pool.get("pooling_mode_lasttoken") is True:
        return "lasttoken"
    return "mean"


def _module_types(folder: str) -> list[str]:
    modules = read_json(folder, "modules.json")
    return [str(m.get("type", "")) for m in modules if isinstance(m, dict)] if isinstance(modules, list) else []


def _model_id(folder: str) -> str:
    # Our manifests (model.json, reranker.json) name the Hugging Face id; config.json's _name_or_path often names
    # the base model the weights were trained from instead.
    for name in ("model.json", "reranker.json"):
        manifest = read_json(folder, name)
        if isinstance(manifest, dict) and isinstance(manifest.get("hfId"), str):
            return str(manifest["hfId"])
    return os.path.basename(os.path.abspath(folder))


def _is_reranker(folder: str, config: dict[str, Any]) -> bool:
    if os.path.exists(os.path.join(folder, "reranker.json")):
        return True
    return any(str(a).endswith("ForSequenceClassification") for a in config.get("architectures") or [])


def read_model_info(folder: str, pooling_override: Pooling | None = None) -> ModelInfo:
    """Reads config.json, 1_Pooling, modules.json, sentence_bert_config.json and tokenizer_config.json; a
    reranker.json (our cross-encoder manifest) decides window and scoring for a cross-encoder when present."""
    config = read_json(folder, "config.json")
    if not isinstance(config, dict):
        raise ValueError(f"{folder}: config.json is missing or not an object")
    model_type = str(config.get("model_type", ""))
    hidden = _num(config.get("hidden_size")) or _num(config.get("dim")) or _num(config.get("d_model")) or 0
    positions = (_num(config.get("max_position_embeddings")) or 512) - (2 if model_type in _ROBERTA_TYPES else 0)
    st_config = read_json(folder, "sentence_bert_config.json")
    tok_config = read_json(folder, "tokenizer_config.json")
    tok_max = _num(tok_config.get("model_max_length")) if isinstance(tok_config, dict) else None
    st_max = _num(st_config.get("max_seq_length")) if isinstance(st_config, dict) else None
    window = st_max or (tok_max if tok_max is not None and tok_max < 1_000_000 else positions)
    kind: Kind = "reranker" if _is_reranker(folder, config) else "embedding"
    if not hidden and kind == "embedding":
        raise ValueError(f"{folder}: config.json has no hidden_size")

    id2label = config.get("id2label")
    labels = _num(config.get("num_labels")) or (len(id2label) if isinstance(id2label, dict) else 1)
    scoring: Scoring = "sigmoid" if labels == 1 else "softmax"
    act = str((config.get("sentence_transformers") or {}).get("activation_fn", ""))
    if act.endswith("Identity"):
        scoring = "none"
    elif act.endswith("Sigmoid"):
        scoring = "sigmoid"
    positive = 1
    manifest = read_json(folder, "reranker.json")
    if kind == "reranker" and isinstance(manifest, dict):
        window = _num(manifest.get("maxTokens")) or window
        scoring = manifest.get("scoring", scoring)
        positive = _num(manifest.get("positiveLabel")) or positive

    types = _module_types(folder)
    return ModelInfo(
        model_id=_model_id(folder),
        model_type=model_type,
        kind=kind,
        hidden_size=hidden,
        max_input_length=min(window, positions),
        pooling=pooling_override or _pooling(folder),
        normalize=any(t.endswith(".Normalize") for t in types),
        scoring=scoring,
        positive_label=positive,
        num_labels=labels,
        # SPLADE-style heads (sentence-transformers' SpladePooling); none of our backends computes them yet.
        has_sparse_head=any(t.endswith("SpladePooling") for t in types),
        vocab_size=_num(config.get("vocab_size")) or 0,
        pad_token_id=_num(config.get("pad_token_id")) or 0,
    )
