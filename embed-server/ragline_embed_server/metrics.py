"""Prometheus metrics of the server, on their own registry (GET /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_TOKENS = (256, 1024, 4096, 8192, 16384, 32768, 65536, 131072, 262144)
_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_RATIO = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.queue_depth = Gauge("ragline_embed_queue_depth", "Inputs accepted and not yet running", registry=r)
        self.rejected = Counter(
            "ragline_embed_overloaded", "Requests refused with 429 because the queue was full", registry=r
        )
        self.batch_size = Histogram("ragline_embed_batch_size", "Inputs per forward pass", buckets=_SIZES, registry=r)
        self.batch_tokens = Histogram(
            "ragline_embed_batch_tokens", "Padded tokens per forward pass", buckets=_TOKENS, registry=r
        )
        self.padding_ratio = Histogram(
            "ragline_embed_padding_ratio",
            "Share of a batch's padded tokens that are padding",
            buckets=_RATIO,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "ragline_embed_batch_seconds", "Forward pass time per batch", buckets=_SECONDS, registry=r
        )
        self.tokens = Counter("ragline_embed_tokens", "Real (unpadded) tokens run through the model", registry=r)
        self.request_seconds = Histogram(
            "ragline_embed_request_seconds",
            "Request latency by route and status",
            ["route", "status"],
            buckets=_SECONDS,
            registry=r,
        )

    def observe_batch(self, size: int, real_tokens: int, padded_tokens: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_tokens.observe(padded_tokens)
        self.padding_ratio.observe(1.0 - real_tokens / max(1, padded_tokens))
        self.batch_seconds.observe(seconds)
        self.tokens.inc(real_tokens)

    def render(self) -> bytes:
        return generate_latest(self.registry)
