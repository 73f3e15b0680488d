"""The HTTP API: Text Embeddings Inference's routes and shapes (router/src/http/types.rs), on aiohttp."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from aiohttp import web

from . import __version__
from .backends.base import F32, Backend
from .batcher import Batcher, Item, Overloaded, TokenIds, Want
from .errors import ApiError
from .metrics import Metrics
from .model_files import ModelInfo
from .pooling import head_score, normalize
from .tokenization import Direction, TextTokenizer, cut

T = TypeVar("T")
Ids = npt.NDArray[np.int64]
Input = str | Ids


@dataclass
class ServerConfig:
    max_client_batch_size: int = 32
    api_key: str | None = None
    prompts: dict[str, str] | None = None
    # TEI's --auto-truncate: what a request that does not say `truncate` gets (the OpenAI route never says).
    auto_truncate: bool = False


class Api:
    def __init__(
        self,
        info: ModelInfo,
        backend: Backend,
        batcher: Batcher,
        tokenizer: TextTokenizer | None,
        metrics: Metrics,
        config: ServerConfig,
    ) -> None:
        self.info = info
        self.backend = backend
        self.batcher = batcher
        self.tokenizer = tokenizer
        self.metrics = metrics
        self.config = config
        self._tok_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tokenize")

    # ---- request parsing -------------------------------------------------------------------------------------

    def _ids(self, raw: list[Any], field: str) -> Ids:
        if not raw:
            raise ApiError("Empty", f"Input validation error: a token-id input of `{field}` cannot be empty")
        try:
            arr = np.asarray(raw)
        except ValueError:
            arr = np.asarray([])
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise ApiError("Validation", f"`{field}` token ids must be integers", 422)
        vocab = self.info.vocab_size
        if int(arr.min()) < 0 or (vocab and int(arr.max()) >= vocab):
            raise ApiError("Validation", f"token ids must lie in [0, {vocab})", 422)
        return arr.astype(np.int64, copy=False)

    def _inputs(self, raw: object, field: str = "inputs") -> list[Input]:
        """A string, a list of strings, one list of token ids, or a list of strings and token-id lists."""
        if isinstance(raw, str):
            return [raw]
        if isinstance(raw, list) and raw and isinstance(raw[0], int) and not isinstance(raw[0], bool):
            return [self._ids(raw, field)]
        if not isinstance(raw, list):
            raise ApiError("Validation", f"`{field}` must be a string, a list of strings or token ids", 422)
        if not raw:
            raise ApiError("Empty", f"Input validation error: `{field}` cannot be empty")
        if len(raw) > self.config.max_client_batch_size:
            raise ApiError(
                "Validation", f"batch size {len(raw)} > maximum allowed batch size {self.config.max_client_batch_size}"
            )
        out: list[Input] = []
        for x in raw:
            if isinstance(x, str):
                out.append(x)
            elif isinstance(x, list):
                out.append(self._ids(x, field))
            else:
                raise ApiError("Validation", f"`{field}` must be a string, a list of strings or token ids", 422)
        return out

    async def _off_loop(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._tok_pool, fn)

    async def _encode(
        self, inputs: list[Input], truncate: bool, direction: Direction, prompt_name: str | None = None
    ) -> list[TokenIds]:
        prefix = ""
        if prompt_name is not None:
            prompts = self.config.prompts or {}
            if prompt_name not in prompts:
                raise ApiError("Validation", f"prompt `{prompt_name}` is not in the model's prompts", 422)
            prefix = prompts[prompt_name]
        texts = [(i, prefix + x) for i, x in enumerate(inputs) if isinstance(x, str)]
        out: list[TokenIds] = [[] for _ in inputs]
        if texts:
            tok = self.tokenizer
            if tok is None:
                raise ApiError("Tokenizer", "this server has no tokenizer.json: send token ids instead of text", 422)
            encoded = await self._off_loop(lambda: tok.encode([t for _, t in texts], truncate, direction))
            for (i, _), ids in zip(texts, encoded, strict=True):
                out[i] = ids
        for i, x in enumerate(inputs):
            if not isinstance(x, str):
                out[i] = cut(x, self.info.max_input_length, truncate, direction)
        return out

    async def _run(self, seqs: Sequence[TokenIds], want: Want, types: Sequence[TokenIds] | None = None) -> list[F32]:
        items = [Item(ids=s, want=want, type_ids=types[i] if types else None) for i, s in enumerate(seqs)]
        try:
            futures = self.batcher.submit(items)
        except Overloaded as err:
            raise ApiError("Overloaded", "Model is overloaded") from err
        try:
            return list(await asyncio.gather(*futures))
        except ApiError:
            raise
        except Exception as err:  # a failed forward pass is the backend's fault, not the client's
            raise ApiError("Backend", f"backend error: {err}") from err

    def _need(self, kind: str, route: str) -> None:
        if self.info.kind != kind:
            names = {"embedding": "an embedding model", "reranker": "a re-ranker model"}
            raise ApiError("Backend", f"`{route}` needs {names[kind]}; this server runs {names[self.info.kind]}")

    def _truncate(self, body: dict[str, Any]) -> bool:
        t = body.get("truncate")
        return self.config.auto_truncate if t is None else t is True

    @staticmethod
    def _direction(body: dict[str, Any]) -> Direction:
        d = str(body.get("truncation_direction", "right")).lower()
        if d not in ("right", "left"):
            raise ApiError("Validation", "`truncation_direction` must be Right or Left", 422)
        return "left" if d == "left" else "right"

    def _vectors(self, pooled: list[F32], norm: bool, dimensions: object) -> list[F32]:
        if dimensions is not None:
            if (
                not isinstance(dimensions, int)
                or isinstance(dimensions, bool)
                or not 0 < dimensions <= self.info.hidden_size
            ):
                raise ApiError("Validation", f"`dimensions` must be an integer in [1, {self.info.hidden_size}]", 422)
            pooled = [v[:dimensions] for v in pooled]
        if not norm:
            return pooled
        return list(normalize(np.stack(pooled)))

    # ---- routes ------------------------------------------------------------------------------------------------

    async def embed(self, body: dict[str, Any]) -> Any:
        self._need("embedding", "/embed")
        inputs = self._inputs(body.get("inputs"))
        seqs = await self._encode(inputs, self._truncate(body), self._direction(body), body.get("prompt_name"))
        pooled = await self._run(seqs, Want.POOLED)
        return [
            v.tolist() for v in self._vectors(pooled, body.get("normalize", True) is not False, body.get("dimensions"))
        ]

    async def embed_all(self, body: dict[str, Any]) -> Any:
        self._need("embedding", "/embed_all")
        inputs = self._inputs(body.get("inputs"))
        seqs = await self._encode(inputs, self._truncate(body), self._direction(body), body.get("prompt_name"))
        return [m.tolist() for m in await self._run(seqs, Want.TOKENS)]

    async def embed_sparse(self, body: dict[str, Any]) -> Any:
        what = "has no sparse head" if not self.info.has_sparse_head else "has a sparse head this server cannot run yet"
        raise ApiError("Backend", f"`/embed_sparse` is only available for models with a sparse head; this model {what}")

    async def rerank(self, body: dict[str, Any]) -> Any:
        self._need("reranker", "/rerank")
        query, texts = body.get("query"), body.get("texts")
        if not isinstance(query, str) or not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise ApiError("Validation", "`query` must be a string and `texts` a list of strings", 422)
        if not texts:
            raise ApiError("Empty", "Input validation error: `texts` cannot be empty")
        if len(texts) > self.config.max_client_batch_size:
            raise ApiError(
                "Validation",
                f"batch size {len(texts)} > maximum allowed batch size {self.config.max_client_batch_size}",
            )
        tok = self.tokenizer
        if tok is None:
            raise ApiError("Tokenizer", "this server has no tokenizer.json: /rerank needs one", 422)
        truncate = self._truncate(body)
        pairs = await self._off_loop(lambda: tok.encode_pairs(query, texts, truncate))
        logits = await self._run([p[0] for p in pairs], Want.LOGITS, [p[1] for p in pairs])
        raw = body.get("raw_scores") is True
        ranks: list[dict[str, Any]] = []
        for i, row in enumerate(logits):
            rank: dict[str, Any] = {
                "index": i,
                "score": head_score(row, self.info.scoring, self.info.positive_label, raw),
            }
            if body.get("return_text") is True:
                rank["text"] = texts[i]
            ranks.append(rank)
        ranks.sort(key=lambda r: (-r["score"], r["index"]))
        return ranks

    async def tokenize(self, body: dict[str, Any]) -> Any:
        raw = body.get("inputs")
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise ApiError("Validation", "`inputs` must be a string or a list of strings", 422)
        if not texts:
            raise ApiError("Empty", "Input validation error: `inputs` cannot be empty")
        tok = self.tokenizer
        if tok is None:
            raise ApiError("Tokenizer", "this server has no tokenizer.json", 422)
        special = body.get("add_special_tokens", True) is not False
        tokens = await self._off_loop(lambda: tok.tokenize(texts, special))
        return [[t.__dict__ for t in seq] for seq in tokens]

    async def openai_embeddings(self, body: dict[str, Any]) -> Any:
        self._need("embedding", "/v1/embeddings")
        inputs = self._inputs(body.get("input"), "input")
        seqs = await self._encode(inputs, self.config.auto_truncate, "right")
        vectors = self._vectors(await self._run(seqs, Want.POOLED), True, body.get("dimensions"))
        as_b64 = body.get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "embedding": base64.b64encode(v.astype("<f4").tobytes()).decode("ascii") if as_b64 else v.tolist(),
                "index": i,
            }
            for i, v in enumerate(vectors)
        ]
        tokens = sum(len(s) for s in seqs)
        model = body.get("model") if isinstance(body.get("model"), str) else self.info.model_id
        return {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def info_body(self) -> dict[str, Any]:
        model_type: dict[str, Any] = (
            {"reranker": {"id2label": {}, "label2id": {}}}
            if self.info.kind == "reranker"
            else {"embedding": {"pooling": self.info.pooling}}
        )
        return {
            "model_id": self.info.model_id,
            "model_dtype": self.backend.dtype,
            "model_type": model_type,
            "max_concurrent_requests": self.batcher.max_queue,
            "max_input_length": self.info.max_input_length,
            "max_batch_tokens": self.batcher.max_batch_tokens,
            "max_client_batch_size": self.config.max_client_batch_size,
            "auto_truncate": self.config.auto_truncate,
            "tokenization_workers": 2,
            "version": __version__,
            # Ours, beyond TEI's fields.
            "backend": self.backend.name,
            "hidden_size": self.info.hidden_size,
            "normalize": self.info.normalize,
            "has_tokenizer": self.tokenizer is not None,
        }

    async def health(self) -> bool:
        """Healthy when the backend completes forward passes: a batch that succeeded in the last 5 seconds (and none
        failed since) proves it without waiting behind the queue; otherwise a one-token probe runs through it."""
        b = self.batcher
        if b.last_ok > b.last_failed and time.monotonic() - b.last_ok < 5.0:
            return True
        try:
            probe = Item(ids=[1] if self.info.kind == "embedding" else [1, 2], want=Want.POOLED)
            futures = self.batcher.submit([probe])
            await asyncio.wait_for(futures[0], timeout=30)
            return True
        except Overloaded:
            return True  # busy, and the batcher is draining: not a reason to take the server out of rotation
        except Exception:
            return False


def error_response(err: ApiError, retry_after: int | None = None, openai: bool = False) -> web.Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    body: dict[str, Any] = (
        {"message": err.message, "code": err.status, "type": err.error_type}
        if openai
        else {"error": err.message, "error_type": err.error_type}
    )
    return web.json_response(body, status=err.status, headers=headers)


def build_app(api: Api) -> web.Application:
    app = web.Application(client_max_size=64 << 20)

    def post(route: str, handler: Callable[[dict[str, Any]], Awaitable[Any]]) -> None:
        openai = route.startswith("/v1/")

        async def handle(request: web.Request) -> web.StreamResponse:
            started = time.monotonic()
            response: web.Response
            try:
                key = api.config.api_key
                if key and request.headers.get("Authorization") != f"Bearer {key}":
                    raise ApiError("Unauthorized", "Unauthorized")
                try:
                    body = await request.json()
                except ValueError as err:
                    raise ApiError("Validation", f"Failed to parse the request body as JSON: {err}", 422) from err
                if not isinstance(body, dict):
                    raise ApiError("Validation", "the request body must be a JSON object", 422)
                response = web.json_response(await handler(body))
            except ApiError as err:
                retry = api.batcher.retry_after_s() if err.error_type == "Overloaded" else None
                response = error_response(err, retry, openai)
            api.metrics.request_seconds.labels(route, str(response.status)).observe(time.monotonic() - started)
            return response

        app.router.add_post(route, handle)

    post("/embed", api.embed)
    post("/embed_all", api.embed_all)
    post("/embed_sparse", api.embed_sparse)
    post("/rerank", api.rerank)
    post("/tokenize", api.tokenize)
    post("/v1/embeddings", api.openai_embeddings)

    async def health(_: web.Request) -> web.Response:
        if await api.health():
            return web.Response(status=200)
        return error_response(ApiError("Unhealthy", "unhealthy: the backend failed a forward pass"))

    async def info(_: web.Request) -> web.Response:
        return web.json_response(api.info_body())

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=api.metrics.render(), headers={"Content-Type": "text/plain; version=0.0.4"})

    app.router.add_get("/health", health)
    app.router.add_get("/info", info)
    app.router.add_get("/metrics", metrics)
    return app
