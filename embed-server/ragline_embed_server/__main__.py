"""`python -m ragline_embed_server --model-dir DIR [--host H] [--port P] [--device cpu|cuda] ...`"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

from aiohttp import web

from .backends.base import Backend
from .batcher import Batcher, bucket_length
from .metrics import Metrics
from .model_files import read_json, read_model_info
from .server import Api, ServerConfig, build_app
from .tokenization import TextTokenizer

log = logging.getLogger("ragline_embed_server")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ragline_embed_server", description=__doc__)
    p.add_argument(
        "--model-dir", required=True, help="model folder: config.json, tokenizer.json, weights or model.onnx"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--backend", choices=["onnx", "torch"], help="default: onnx on cpu, torch on cuda")
    p.add_argument("--dtype", choices=["float16", "bfloat16", "float32"], help="torch only; default float16 on cuda")
    p.add_argument("--max-batch-tokens", type=int, help="padded tokens per forward pass; default 4096 cpu, 32768 cuda")
    p.add_argument(
        "--max-queue", type=int, help="inputs accepted and not yet running, then 429; default 4096 cpu, 16384 cuda"
    )
    p.add_argument("--max-client-batch-size", type=int, default=32, help="inputs per request (413 above)")
    p.add_argument("--length-step", type=int, help="pad lengths to multiples of this; default 1 cpu, 16 cuda")
    p.add_argument("--inflight", type=int, help="batches on the backend at once; default 1 cpu, 2 cuda")
    p.add_argument("--threads", type=int, default=0, help="onnx intra-op threads (0: one per core)")
    p.add_argument("--pooling", choices=["mean", "cls", "lasttoken"], help="override 1_Pooling/config.json")
    p.add_argument("--model-id", help="the name /info and /v1/embeddings report")
    p.add_argument("--auto-truncate", action="store_true", help="truncate inputs whose request does not say")
    p.add_argument("--api-key", help="require `Authorization: Bearer KEY` (not on /health and /metrics)")
    p.add_argument("--random-weights", action="store_true", help="benchmarks only: torch weights drawn at random")
    return p.parse_args(argv)


def make_backend(args: argparse.Namespace, info: Any) -> Backend:
    if args.backend == "torch":
        from .backends.torch_backend import TorchBackend  # torch is imported only on this path

        return TorchBackend(args.model_dir, info, args.device, args.dtype, args.random_weights)
    if args.device != "cpu":
        raise SystemExit("the onnx backend runs on the CPU only: use --backend torch with --device cuda")
    from .backends.onnx_backend import OnnxBackend

    return OnnxBackend(args.model_dir, info, args.threads)


async def serve(args: argparse.Namespace) -> None:
    cuda = args.device == "cuda"
    args.backend = args.backend or ("torch" if cuda else "onnx")
    args.dtype = args.dtype or ("float16" if cuda else "float32")
    max_batch_tokens = args.max_batch_tokens or (32768 if cuda else 4096)
    step = args.length_step or (16 if cuda else 1)

    info = read_model_info(args.model_dir, args.pooling)
    if args.model_id:
        info = type(info)(**{**info.__dict__, "model_id": args.model_id})
    tokenizer = TextTokenizer.load(args.model_dir, info.max_input_length)
    backend = make_backend(args, info)
    # Warm every padded length up to 512 tokens (longer ones are rare and warm on first use).
    top = min(info.max_input_length, 512)
    lengths = sorted({bucket_length(n, step) for n in range(step, top + 1, max(1, step))}, reverse=True)
    backend.warmup(lengths or [top], max_batch_tokens)

    metrics = Metrics()
    batcher = Batcher(
        backend.forward,
        max_batch_tokens=max_batch_tokens,
        max_queue=args.max_queue or (16384 if cuda else 4096),
        length_step=step,
        inflight=args.inflight or (2 if cuda else 1),
        metrics=metrics,
    )
    st = read_json(args.model_dir, "config_sentence_transformers.json")
    prompts = st.get("prompts") if isinstance(st, dict) and isinstance(st.get("prompts"), dict) else None
    api = Api(
        info,
        backend,
        batcher,
        tokenizer,
        metrics,
        ServerConfig(args.max_client_batch_size, args.api_key, prompts, args.auto_truncate),
    )
    batcher.start()
    runner = web.AppRunner(build_app(api), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    log.info(
        "serving %s (%s, %s on %s, %s) on http://%s:%d",
        info.model_id,
        info.kind,
        backend.name,
        args.device,
        args.dtype,
        args.host,
        args.port,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await batcher.stop()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        import uvloop  # the GPU image has it; the CPU test venv does not need it

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
