"""Batching across concurrent requests: one bounded queue kept sorted by input length, batches cut from it by a
padded-token budget, a fixed number of batches in flight on the backend's worker threads.

Whenever a slot is free, the next batch is built around the oldest queued input: it and the inputs just shorter than it
in the sorted queue (longer ones too when there are not enough shorter ones), as many as the budget allows at the
batch's padded length. Neighbours in a sorted queue have nearly equal lengths, so padding stays small, and it gets
smaller the more work is queued. Anchoring every batch on the oldest input bounds each input's wait, and requests
complete roughly in arrival order, so clients that send their next request at once keep the queue fed while earlier
inputs run (a whole-queue sort would finish every request near the same moment and leave the device waiting for the
next wave). A batch is cut only when a slot frees, so inputs keep gathering while the device is busy. The queue bound
(`max_queue`, in inputs) refuses a request whole with `Overloaded` (HTTP 429 with Retry-After).
"""

from __future__ import annotations

import asyncio
import bisect
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import numpy.typing as npt

from .metrics import Metrics


class Want(Enum):
    """What an input asks of the forward pass."""

    POOLED = "pooled"  # one vector (pooled last hidden state), unnormalised
    TOKENS = "tokens"  # the last hidden state of every token
    LOGITS = "logits"  # a cross-encoder's head


TokenIds = Sequence[int] | npt.NDArray[np.int64]


@dataclass
class Item:
    ids: TokenIds
    want: Want
    type_ids: TokenIds | None = None
    future: asyncio.Future[npt.NDArray[np.float32]] | None = None
    enqueued: float = field(default_factory=time.monotonic)


class Overloaded(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"Model is overloaded: the queue is full; retry after {retry_after_s}s")
        self.retry_after_s = retry_after_s


def bucket_length(n: int, step: int) -> int:
    """The padded length for a sequence of n tokens: a multiple of `step` up to 512, coarser beyond, so the torch
    backend sees (and warms) a few shapes only. step 1 pads to the longest input exactly."""
    if step <= 1:
        return n
    if n > 2048:
        step *= 16
    elif n > 512:
        step *= 4
    return int(math.ceil(n / step) * step)


class LengthQueue:
    """Queued inputs sorted by (length, arrival), with their arrival order kept beside (pure; no asyncio)."""

    def __init__(self) -> None:
        self._sorted: list[tuple[int, int, Item]] = []
        self._arrivals: deque[tuple[int, int]] = deque()
        self._seq = 0
        self.tokens = 0

    def __len__(self) -> int:
        return len(self._sorted)

    def push(self, item: Item) -> None:
        key = (len(item.ids), self._seq)
        self._seq += 1
        bisect.insort(self._sorted, (key[0], key[1], item))
        self._arrivals.append(key)
        self.tokens += key[0]

    def pop_batch(self, max_batch_tokens: int, step: int = 1) -> tuple[list[Item], int]:
        """The batch around the oldest input, longest first, and its padded length (see the module docstring).
        A single input longer than the budget runs alone."""
        while True:
            key = self._arrivals.popleft()  # inputs already taken by earlier batches are skipped here
            k = bisect.bisect_left(self._sorted, key)
            if k < len(self._sorted) and self._sorted[k][1] == key[1]:
                break
        padded = bucket_length(max(1, key[0]), step)
        lo = max(0, k + 1 - max(1, max_batch_tokens // padded))
        hi = k + 1
        while hi < len(self._sorted):
            longer = bucket_length(self._sorted[hi][0], step)
            if longer * (hi - lo + 1) > max_batch_tokens:
                break
            hi += 1
            padded = longer
        taken = self._sorted[lo:hi]
        del self._sorted[lo:hi]
        self.tokens -= sum(n for n, _, _ in taken)
        return [it for _, _, it in reversed(taken)], padded


RunBatch = Callable[[list[Item], int], list[npt.NDArray[np.float32]]]


class Batcher:
    """Owns the queue and the loop that feeds `run(items, padded_len)`, which runs on a worker thread and returns
    one array per item (see Want)."""

    def __init__(
        self,
        run: RunBatch,
        *,
        max_batch_tokens: int,
        max_queue: int,
        length_step: int = 1,
        inflight: int = 1,
        metrics: Metrics | None = None,
    ) -> None:
        self._run = run
        self.max_batch_tokens = max_batch_tokens
        self.max_queue = max_queue
        self._step = length_step
        self._queue = LengthQueue()
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(inflight)
        self._executor = ThreadPoolExecutor(max_workers=inflight, thread_name_prefix="forward")
        self._metrics = metrics
        self._tokens_per_s = 0.0
        self._task: asyncio.Task[None] | None = None
        # When the last batch succeeded and failed (monotonic seconds; 0 = never), for /health.
        self.last_ok = 0.0
        self.last_failed = 0.0
        self._running: set[asyncio.Task[None]] = set()

    @property
    def depth(self) -> int:
        """Inputs accepted and not yet running."""
        return len(self._queue)

    def retry_after_s(self) -> int:
        """Seconds until the queue has likely drained, from the recent throughput (1 to 60)."""
        queued = self._queue.tokens
        if self._tokens_per_s <= 0:
            return 1
        return max(1, min(60, math.ceil(queued / self._tokens_per_s)))

    def submit(self, items: list[Item]) -> list[asyncio.Future[npt.NDArray[np.float32]]]:
        """Queues all of `items` or none: raises Overloaded when they would take the queue past max_queue."""
        if self.depth + len(items) > self.max_queue:
            if self._metrics:
                self._metrics.rejected.inc()
            raise Overloaded(self.retry_after_s())
        loop = asyncio.get_running_loop()
        for it in items:
            it.future = loop.create_future()
        for it in items:
            self._queue.push(it)
        self._report_depth()
        self._wake.set()
        return [it.future for it in items if it.future is not None]

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        for t in list(self._running):
            await asyncio.gather(t, return_exceptions=True)
        self._executor.shutdown(wait=True)

    def _report_depth(self) -> None:
        if self._metrics:
            self._metrics.queue_depth.set(self.depth)

    async def _loop(self) -> None:
        while True:
            if not len(self._queue):
                self._wake.clear()
                await self._wake.wait()
                continue
            # The batch is cut only once a slot is free: until then, arrivals join the queue it is cut from.
            await self._slots.acquire()
            batch, padded = self._queue.pop_batch(self.max_batch_tokens, self._step)
            self._report_depth()
            task = asyncio.get_running_loop().create_task(self._execute(batch, padded))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _execute(self, batch: list[Item], padded: int) -> None:
        started = time.monotonic()
        try:
            outputs = await asyncio.get_running_loop().run_in_executor(self._executor, self._run, batch, padded)
        except Exception as err:  # every request waiting on the batch learns of the failure
            self.last_failed = time.monotonic()
            for it in batch:
                if it.future and not it.future.done():
                    it.future.set_exception(err)
            return
        finally:
            self._slots.release()
        self.last_ok = time.monotonic()
        elapsed = max(self.last_ok - started, 1e-6)
        real = sum(len(it.ids) for it in batch)
        rate = real / elapsed
        self._tokens_per_s = rate if self._tokens_per_s == 0 else 0.8 * self._tokens_per_s + 0.2 * rate
        if self._metrics:
            self._metrics.observe_batch(len(batch), real, padded * len(batch), elapsed)
        for it, out in zip(batch, outputs, strict=True):
            if it.future and not it.future.done():
                it.future.set_result(out)


def describe(batcher: Batcher) -> dict[str, Any]:
    return {"max_batch_tokens": batcher.max_batch_tokens, "max_queue": batcher.max_queue, "queued": batcher.depth}
