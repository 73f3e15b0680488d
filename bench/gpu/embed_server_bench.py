#!/usr/bin/env python3
"""GPU benchmark of our embedding server (embed-server/), printing one JSON document.

    python3 bench/gpu/embed_server_bench.py --minilm bench/gpu/.data/minilm-fp16     # on the GPU host, < 5 minutes
    python3 bench/gpu/embed_server_bench.py --smoke                                  # on a CPU, a few seconds

Full mode, per shape (bge-small, bge-base, bge-large: BertConfig; Qwen3-Embedding-0.6B: Qwen3Config; bge-reranker-base:
XLMRobertaForSequenceClassification), random weights, fp16, SDPA, on one CUDA device:
  (a) `bare`: the model's forward pass alone at a fixed 512 tokens, full batches of --max-batch-tokens (the ceiling);
  (b) `server`: our server (torch backend, its batcher) under concurrent HTTP clients, inputs of uniform 100-512 tokens
      (embedders: token ids to /v1/embeddings, base64 answers; the cross-encoder: text pairs to /rerank through a
      word-level tokenizer written for the random model, so the server's tokenizing is in the path);
  and b/a. Random-weight models ship no tokenizer: ids are drawn directly, and the cross-encoder gets a tokenizer.json
  that maps `t<id>` words to ids, so a text of n words is exactly n tokens.
Then a correctness run with a real small model (--minilm: all-MiniLM-L6-v2 with float weights, made by
bench/gpu/prepare_minilm.py beside its CPU reference vectors): the server on the GPU (fp16) against CPU vectors of the
same inputs, cosine >= 0.999 for every input. The gate is the float32 CPU reference; the comparison with our onnx
backend's vectors (the int8 export the pipeline runs on CPUs) is reported too, next to the int8 export's own distance
from the float model, which is already 0.9985 on the shortest input.

--smoke runs the same harness on a CPU without PyTorch: the onnx backend and the int8 all-MiniLM-L6-v2 of our model
cache stand in for the shapes, at short lengths, for a few seconds each. It checks the harness, not GPU performance.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER_DIR = os.path.join(REPO, "embed-server")
sys.path.insert(0, SERVER_DIR)

import numpy as np  # noqa: E402

from ragline_embed_server.model_files import read_model_info  # noqa: E402

BERT = {"model_type": "bert", "architectures": ["BertModel"], "vocab_size": 30522, "max_position_embeddings": 512}
BERT.update({"type_vocab_size": 2, "pad_token_id": 0, "hidden_act": "gelu", "layer_norm_eps": 1e-12})

SHAPES: dict[str, dict[str, Any]] = {
    "bge-small": {
        "config": {
            **BERT,
            "hidden_size": 384,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "intermediate_size": 1536,
        },
        "pooling": "cls",
    },
    "bge-base": {
        "config": {
            **BERT,
            "hidden_size": 768,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "intermediate_size": 3072,
        },
        "pooling": "cls",
    },
    "bge-large": {
        "config": {
            **BERT,
            "hidden_size": 1024,
            "num_hidden_layers": 24,
            "num_attention_heads": 16,
            "intermediate_size": 4096,
        },
        "pooling": "cls",
    },
    "qwen3-embedding-0.6b": {
        "config": {
            "model_type": "qwen3",
            "architectures": ["Qwen3Model"],
            "vocab_size": 151669,
            "hidden_size": 1024,
            "intermediate_size": 3072,
            "num_hidden_layers": 28,
            "num_attention_heads": 16,
            "num_key_value_heads": 8,
            "head_dim": 128,
            "max_position_embeddings": 32768,
            "rope_theta": 1000000,
            "rms_norm_eps": 1e-6,
            "hidden_act": "silu",
            "tie_word_embeddings": True,
            "pad_token_id": 151643,
        },
        "pooling": "lasttoken",
    },
    "bge-reranker-base": {
        "config": {
            "model_type": "xlm-roberta",
            "architectures": ["XLMRobertaForSequenceClassification"],
            "vocab_size": 250002,
            "hidden_size": 768,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "intermediate_size": 3072,
            "max_position_embeddings": 514,
            "type_vocab_size": 1,
            "pad_token_id": 1,
            "bos_token_id": 0,
            "eos_token_id": 2,
            "num_labels": 1,
            "layer_norm_eps": 1e-5,
        },
        "pooling": "cls",
    },
}

# Correctness inputs: prose, multi-byte text, a long passage the window cuts. prepare_minilm.py embeds the same list.
INPUTS = [
    "The cat sat on the warm mat by the kitchen door.",
    "Stock markets fell sharply after the interest rate decision.",
    "Tromsø 🌌 lies north of the Arctic Circle; its café owners sell cloudberry jam — “multe” in Norwegian.",
    "中文 visitors often ask about the polar night; guides answer in English, Norsk and a little Japanese (日本語).",
    "x",
    "A much longer passage about permafrost and the research station on Svalbard. " * 30,
    "Temporal runs every step as a retryable activity, and the pipeline writes vectors to several sinks.",
    "Heavy rain and strong wind are expected along the coast tomorrow.",
    "def embed(texts): return [model(t) for t in texts]  # code is text too",
    "Berlin has a population of 3,520,031 registered inhabitants in an area of 891.82 square kilometers.",
]


def flop_per_token(cfg: dict[str, Any], seq_len: int) -> float:
    """Forward FLOPs per token: 2 per weight of the layers' linear maps, plus attention's QK^T and AV at seq_len."""
    d, layers, ff = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    if cfg["model_type"] == "qwen3":
        hq = cfg["num_attention_heads"] * cfg["head_dim"]
        hkv = cfg["num_key_value_heads"] * cfg["head_dim"]
        linear = d * hq + 2 * d * hkv + hq * d + 3 * d * ff
        causal = 0.5
    else:
        hq = d
        linear = 4 * d * d + 2 * d * ff
        causal = 1.0
    return float(layers * (2 * linear + causal * 4 * seq_len * hq))


def write_word_tokenizer(path: str, vocab: int, xlmr: bool) -> None:
    """A tokenizer.json for a random-weight model: word `t<id>` is token <id>, with the model family's pair template."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    cls_tok, sep_tok, pad_tok, unk_tok = (
        ("<s>", "</s>", "<pad>", "<unk>") if xlmr else ("[CLS]", "[SEP]", "[PAD]", "[UNK]")
    )
    specials = (
        {cls_tok: 0, pad_tok: 1, sep_tok: 2, unk_tok: 3}
        if xlmr
        else {pad_tok: 0, unk_tok: 100, cls_tok: 101, sep_tok: 102}
    )
    words = {f"t{i}": i for i in range(min(vocab, 30000)) if i not in specials.values()}
    tok = Tokenizer(models.WordLevel({**words, **specials}, unk_token=unk_tok))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    # XLM-R has one token type (its pair template marks no segments); BERT marks the second segment 1.
    pair = f"{cls_tok} $A {sep_tok} {sep_tok} $B {sep_tok}" if xlmr else f"{cls_tok} $A {sep_tok} $B:1 {sep_tok}:1"
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls_tok} $A {sep_tok}",
        pair=pair,
        special_tokens=[(cls_tok, specials[cls_tok]), (sep_tok, specials[sep_tok])],
    )
    tok.save(path)


def write_shape_dir(name: str, shape: dict[str, Any]) -> str:
    d = tempfile.mkdtemp(prefix=f"ragline-bench-{name}-")
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(shape["config"], f)
    os.makedirs(os.path.join(d, "1_Pooling"))
    with open(os.path.join(d, "1_Pooling", "config.json"), "w") as f:
        json.dump({f"pooling_mode_{'cls_token' if shape['pooling'] == 'cls' else shape['pooling']}": True}, f)
    with open(os.path.join(d, "modules.json"), "w") as f:
        json.dump([{"type": "sentence_transformers.models.Normalize"}], f)
    if shape["config"]["architectures"][0].endswith("ForSequenceClassification"):
        write_word_tokenizer(os.path.join(d, "tokenizer.json"), shape["config"]["vocab_size"], xlmr=True)
    return d


def bare_torch(model_dir: str, dtype: str, batch_tokens: int, seconds: float, length: int) -> dict[str, Any]:
    import torch

    from ragline_embed_server.backends.torch_backend import TorchBackend

    info = read_model_info(model_dir)
    t0 = time.monotonic()
    backend = TorchBackend(model_dir, info, "cuda", dtype, random_weights=True)
    load_s = time.monotonic() - t0
    batch = max(1, batch_tokens // length)
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, min(info.vocab_size, 30000), size=(batch, length), dtype=np.int64)
    mask = np.ones_like(ids)
    types = np.zeros_like(ids)
    with torch.inference_mode():
        for _ in range(3):
            backend.model_forward(ids, mask, types)
        torch.cuda.synchronize()
        iters, start = 0, time.monotonic()
        while time.monotonic() - start < seconds:
            backend.model_forward(ids, mask, types)
            iters += 1
            if iters % 4 == 0:
                torch.cuda.synchronize()
        torch.cuda.synchronize()
        elapsed = time.monotonic() - start
    del backend
    gc.collect()
    torch.cuda.empty_cache()
    return {
        "tokens_per_s": batch * length * iters / elapsed,
        "batch": batch,
        "length": length,
        "load_s": round(load_s, 2),
    }


def bare_onnx(model_dir: str, batch_tokens: int, seconds: float, length: int) -> dict[str, Any]:
    from ragline_embed_server.backends.onnx_backend import OnnxBackend
    from ragline_embed_server.batcher import Item, Want

    info = read_model_info(model_dir)
    backend = OnnxBackend(model_dir, info)
    batch = max(1, batch_tokens // length)
    rng = np.random.default_rng(0)
    items = [Item(ids=[int(x) for x in rng.integers(1000, 30000, size=length)], want=Want.POOLED) for _ in range(batch)]
    backend.forward(items, length)
    iters, start = 0, time.monotonic()
    while time.monotonic() - start < seconds:
        backend.forward(items, length)
        iters += 1
    return {"tokens_per_s": batch * length * iters / (time.monotonic() - start), "batch": batch, "length": length}


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    log_path: str

    @staticmethod
    def start(model_dir: str, args: list[str], timeout_s: float = 240) -> Server:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        log_path = tempfile.mktemp(prefix="ragline-bench-server-", suffix=".log")
        cmd = [sys.executable, "-m", "ragline_embed_server", "--model-dir", model_dir, "--port", str(port), *args]
        proc = subprocess.Popen(cmd, cwd=SERVER_DIR, stdout=open(log_path, "wb"), stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {open(log_path).read()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        return Server(proc, url, log_path)
            except OSError:
                time.sleep(0.5)
        proc.kill()
        raise RuntimeError(f"server not healthy in {timeout_s}s: {open(log_path).read()[-3000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def request_bodies(
    kind: str, vocab: int, lo: int, hi: int, per_request: int, count: int, seed: int = 1
) -> list[tuple[str, bytes, int]]:
    """(path, body, tokens) triples with input lengths uniform in [lo, hi] tokens, specials included."""
    rng = random.Random(seed)
    out: list[tuple[str, bytes, int]] = []
    top = min(vocab, 30000)
    for _ in range(count):
        lengths = [rng.randint(lo, hi) for _ in range(per_request)]
        if kind == "reranker":
            query = " ".join(f"t{rng.randrange(1000, top)}" for _ in range(12))
            texts = [" ".join(f"t{rng.randrange(1000, top)}" for _ in range(max(1, n - 12 - 4))) for n in lengths]
            body = {"query": query, "texts": texts, "truncate": True}
            out.append(("/rerank", json.dumps(body).encode(), sum(max(n, 12 + 4 + 1) for n in lengths)))
        else:
            ids = [[rng.randrange(1000, top) for _ in range(n)] for n in lengths]
            body = {"input": ids, "encoding_format": "base64"}
            out.append(("/v1/embeddings", json.dumps(body).encode(), sum(lengths)))
    return out


async def drive(
    url: str, bodies: list[tuple[str, bytes, int]], concurrency: int, seconds: float, warm_s: float
) -> dict[str, Any]:
    """`concurrency` clients send the bodies round-robin; counts tokens of requests completed in the timed window."""
    import aiohttp

    stats = {"tokens": 0, "requests": 0, "rejected": 0, "errors": 0}
    latencies: list[float] = []
    t_start = time.monotonic() + warm_s
    t_end = t_start + seconds

    async def client(k: int, session: aiohttp.ClientSession) -> None:
        i = k
        while time.monotonic() < t_end:
            path, body, tokens = bodies[i % len(bodies)]
            i += concurrency
            sent = time.monotonic()
            async with session.post(url + path, data=body, headers={"content-type": "application/json"}) as r:
                await r.read()
                done = time.monotonic()
                if r.status == 429:
                    stats["rejected"] += 1
                    await asyncio.sleep(0.05)
                    continue
                if r.status != 200:
                    stats["errors"] += 1
                    continue
            if sent >= t_start and done <= t_end:
                stats["tokens"] += tokens
                stats["requests"] += 1
                latencies.append(done - sent)

    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as session:
        await asyncio.gather(*(client(k, session) for k in range(concurrency)))
    lat = sorted(latencies) or [float("nan")]
    return {
        "tokens_per_s": stats["tokens"] / seconds,
        "requests": stats["requests"],
        "rejected_429": stats["rejected"],
        "errors": stats["errors"],
        "latency_p50_s": round(lat[len(lat) // 2], 4),
        "latency_p99_s": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 4),
    }


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as r:
        text = r.read().decode()
    want = ("ragline_embed_padding_ratio_sum", "ragline_embed_padding_ratio_count", "ragline_embed_batch_size_sum")
    found = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line.split(" ")[0] in want}
    count = found.get("ragline_embed_padding_ratio_count", 0.0) or 1.0
    return {
        "mean_padding_ratio": round(found.get("ragline_embed_padding_ratio_sum", 0.0) / count, 4),
        "mean_batch_size": round(found.get("ragline_embed_batch_size_sum", 0.0) / count, 1),
    }


def post_json(url: str, body: Any) -> Any:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def cosines(a: list[list[float]], b: list[list[float]]) -> list[float]:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return list((x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)))


def gpu_vectors(model_dir: str, server_args: list[str]) -> list[list[float]]:
    server = Server.start(model_dir, server_args)
    try:
        vectors: list[list[float]] = post_json(f"{server.url}/embed", {"inputs": INPUTS, "truncate": True})
        return vectors
    finally:
        server.stop()


def compare(got: list[list[float]], reference: list[list[float]]) -> dict[str, Any]:
    cos = cosines(got, reference)
    return {"inputs": len(INPUTS), "min_cosine": round(min(cos), 6), "passed": bool(min(cos) >= 0.999)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="CPU, onnx backend, tiny runs (no PyTorch needed)")
    p.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated subset of the shapes")
    p.add_argument("--minilm", help="all-MiniLM-L6-v2 with float weights and reference.json (prepare_minilm.py)")
    p.add_argument("--dtype", default="float16", choices=["float16", "bfloat16"])
    p.add_argument("--max-batch-tokens", type=int, default=32768)
    p.add_argument("--bare-seconds", type=float, default=5)
    p.add_argument("--server-seconds", type=float, default=12)
    p.add_argument("--concurrency", type=int, default=256, help="requests in flight (32 inputs each)")
    args = p.parse_args()
    results: dict[str, Any] = {"bench": "embed-server", "mode": "smoke" if args.smoke else "gpu", "shapes": {}}
    started = time.monotonic()

    if args.smoke:
        model_dir = os.path.join(
            os.environ.get("RAGLINE_CACHE") or os.path.expanduser("~/.cache/ragline"), "models", "all-minilm-l6-v2-int8"
        )
        info = read_model_info(model_dir)
        results["device"] = "cpu (onnxruntime; smoke run of the harness, not a GPU figure)"
        bare = bare_onnx(model_dir, 512, 1.0, 64)
        server = Server.start(model_dir, ["--threads", "2", "--max-batch-tokens", "512", "--max-queue", "1024"])
        try:
            bodies = request_bodies("embedding", info.vocab_size, 16, 64, 8, 32)
            load = asyncio.run(drive(server.url, bodies, 4, 3.0, 0.5))
            load.update(scrape(server.url))
            # Correctness in the same harness: the server's vectors against the onnx backend called directly.
            got = post_json(f"{server.url}/embed", {"inputs": INPUTS, "truncate": True})
        finally:
            server.stop()
        from ragline_embed_server.backends.onnx_backend import OnnxBackend
        from ragline_embed_server.batcher import Item, Want
        from ragline_embed_server.pooling import normalize
        from ragline_embed_server.tokenization import TextTokenizer

        tok = TextTokenizer(os.path.join(model_dir, "tokenizer.json"), info.max_input_length)
        backend = OnnxBackend(model_dir, info, threads=2)
        seqs = tok.encode(INPUTS, truncate=True)
        ref = [normalize(backend.forward([Item(s, Want.POOLED)], len(s))[0][None])[0].tolist() for s in seqs]
        results["shapes"]["all-minilm-l6-v2-int8 (onnx)"] = {
            "bare": bare,
            "server": load,
            "ratio": round(load["tokens_per_s"] / bare["tokens_per_s"], 3),
            "input": "token ids, /v1/embeddings base64, uniform 16-64 tokens",
        }
        results["correctness"] = {"against": "onnx backend called directly", **compare(got, ref)}
    else:
        import torch

        results["device"] = torch.cuda.get_device_name(0)
        results["torch"] = torch.__version__
        results["dtype"] = args.dtype
        results["max_batch_tokens"] = args.max_batch_tokens
        # First: cheap, and what matters most if anything later runs out of time.
        if args.minilm:
            with open(os.path.join(args.minilm, "reference.json")) as f:
                ref = json.load(f)
            if ref["inputs"] != INPUTS:
                raise SystemExit("reference.json was made for other inputs: rerun prepare_minilm.py")
            gpu_args = ["--device", "cuda", "--backend", "torch", "--dtype", args.dtype]
            got = gpu_vectors(args.minilm, gpu_args)
            exact = compare(got, ref["numpy_float32"])
            onnx = compare(got, ref["onnx_int8"])
            # The int8 export itself is 0.9985 from the float model on the shortest input (see reference.json), so
            # the gate is the float CPU vectors; the onnx comparison is reported beside its own ceiling.
            onnx["int8_vs_float32_min_cosine"] = round(min(ref["cosine_int8_vs_float32"]), 6)
            results["correctness"] = {
                "model": "all-MiniLM-L6-v2",
                "gpu": args.dtype,
                "vs_cpu_float32": exact,
                "vs_cpu_onnx_int8": onnx,
                "passed": exact["passed"],
            }
            print(json.dumps({"correctness": results["correctness"]}), file=sys.stderr, flush=True)
        for name in args.shapes.split(","):
            shape = SHAPES[name]
            model_dir = write_shape_dir(name, shape)
            t0 = time.monotonic()
            bare = bare_torch(model_dir, args.dtype, args.max_batch_tokens, args.bare_seconds, 512)
            kind = "reranker" if name == "bge-reranker-base" else "embedding"
            server_args = ["--device", "cuda", "--backend", "torch", "--dtype", args.dtype, "--random-weights"]
            server_args += ["--max-batch-tokens", str(args.max_batch_tokens), "--max-queue", "16384"]
            server = Server.start(model_dir, server_args)
            try:
                bodies = request_bodies(kind, shape["config"]["vocab_size"], 100, 512, 32, 2 * args.concurrency)
                load = asyncio.run(drive(server.url, bodies, args.concurrency, args.server_seconds, 3.0))
                load.update(scrape(server.url))
            finally:
                server.stop()
            gflop = flop_per_token(shape["config"], 306) / 1e9
            results["shapes"][name] = {
                "bare": bare,
                "server": load,
                "ratio": round(load["tokens_per_s"] / bare["tokens_per_s"], 3),
                "input": "text pairs, word-level tokenizer"
                if kind == "reranker"
                else "token ids, /v1/embeddings base64",
                "gflop_per_token_at_306": round(gflop, 3),
                "server_tflops": round(load["tokens_per_s"] * gflop / 1e3, 1),
                "seconds": round(time.monotonic() - t0, 1),
            }
            print(json.dumps({name: results["shapes"][name]}), file=sys.stderr, flush=True)
    results["total_seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
