"""The batcher: token budget, length-sorted queue, oldest-first batches, the queue bound (429), failures."""

from __future__ import annotations

import asyncio
import threading
import unittest

import numpy as np

from ragline_embed_server.batcher import Batcher, Item, LengthQueue, Overloaded, Want, bucket_length
from ragline_embed_server.metrics import Metrics


def queue_of(lengths: list[int]) -> LengthQueue:
    q = LengthQueue()
    for n in lengths:
        q.push(Item(list(range(n)), Want.POOLED))
    return q


class LengthQueueTest(unittest.TestCase):
    def test_each_batch_is_the_oldest_input_and_its_shorter_neighbours_within_the_budget(self) -> None:
        q = queue_of([5, 100, 7, 98, 6, 99, 50])
        batches = []
        while len(q):
            items, padded = q.pop_batch(200)
            lengths = [len(it.ids) for it in items]
            self.assertEqual(padded, lengths[0])
            self.assertLessEqual(padded * len(items), 200)
            batches.append(lengths)
        # 5 is the oldest and the shortest: longer ones join while the batch fits (4 x 50 = 200); then 100, the
        # oldest left, with its shorter neighbour 99; then 98 alone.
        self.assertEqual(batches, [[50, 7, 6, 5], [100, 99], [98]])
        self.assertEqual(q.tokens, 0)

    def test_an_input_longer_than_the_budget_runs_alone(self) -> None:
        q = queue_of([300, 10, 10])
        self.assertEqual([len(it.ids) for it in q.pop_batch(128)[0]], [300])
        self.assertEqual(q.pop_batch(128)[1], 10)

    def test_padded_lengths_are_bucketed(self) -> None:
        self.assertEqual(bucket_length(17, 16), 32)
        self.assertEqual(bucket_length(512, 16), 512)
        self.assertEqual(bucket_length(513, 16), 576)
        self.assertEqual(bucket_length(3000, 16), 3072)
        self.assertEqual(bucket_length(17, 1), 17)
        items, padded = queue_of([17, 20, 30]).pop_batch(64, step=16)
        self.assertEqual(([len(it.ids) for it in items], padded), ([20, 17], 32))

    def test_a_full_queue_pads_far_less_than_arrival_order(self) -> None:
        rng = np.random.default_rng(7)
        lengths = [int(x) for x in rng.integers(100, 513, size=4000)]
        q = queue_of(lengths)
        padded = 0
        while len(q) > 2000:  # the queue stays half full, as under steady load
            items, n = q.pop_batch(16384, step=16)
            padded += n * len(items)
            for m in rng.integers(100, 513, size=len(items)):
                q.push(Item(list(range(int(m))), Want.POOLED))
                lengths.append(int(m))
            if len(lengths) > 20000:
                break
        served = sum(lengths) - q.tokens
        arrival = sum(max(lengths[i : i + 32]) * len(lengths[i : i + 32]) for i in range(0, len(lengths), 32))
        self.assertLess(padded / served, 1.08)
        self.assertGreater(arrival / sum(lengths), 1.3)


def ids(n: int) -> list[int]:
    return list(range(1, n + 1))


class BatcherTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        self.calls: list[tuple[list[int], int]] = []
        self.gate = threading.Event()
        self.gate.set()

        def run(items: list[Item], padded: int) -> list[np.ndarray]:
            self.gate.wait(timeout=10)
            self.calls.append(([len(it.ids) for it in items], padded))
            return [np.full(2, len(it.ids), dtype=np.float32) for it in items]

        self.metrics = Metrics()
        self.batcher = Batcher(run, max_batch_tokens=64, max_queue=6, metrics=self.metrics)
        self.batcher.start()

    async def asyncTearDown(self) -> None:
        self.gate.set()
        await self.batcher.stop()

    async def test_answers_each_input_with_its_own_result_in_request_order(self) -> None:
        futures = self.batcher.submit([Item(ids(n), Want.POOLED) for n in (3, 30, 10)])
        out = await asyncio.gather(*futures)
        self.assertEqual([float(v[0]) for v in out], [3.0, 30.0, 10.0])

    async def test_batches_concurrent_requests_together_by_length_within_the_budget(self) -> None:
        self.gate.clear()  # hold the first batch so the rest queue up behind it
        first = self.batcher.submit([Item(ids(1), Want.POOLED)])
        await asyncio.sleep(0.05)
        rest = [self.batcher.submit([Item(ids(n), Want.POOLED)]) for n in (8, 30, 9, 31)]
        self.gate.set()
        await asyncio.gather(*first, *(f for r in rest for f in r))
        self.assertEqual(self.calls, [([1], 1), ([9, 8], 9), ([31, 30], 31)])
        self.assertEqual(self.metrics.batch_size._sum.get(), 5)

    async def test_a_full_queue_refuses_a_request_whole(self) -> None:
        self.gate.clear()
        self.batcher.submit([Item(ids(1), Want.POOLED)])
        await asyncio.sleep(0.05)  # that one runs (held); the queue is empty again
        held = self.batcher.submit([Item(ids(40), Want.POOLED) for _ in range(4)])
        await asyncio.sleep(0.05)  # waiting for the busy slot: still queued
        self.assertEqual(self.batcher.depth, 4)
        with self.assertRaises(Overloaded) as caught:
            self.batcher.submit([Item(ids(2), Want.POOLED) for _ in range(3)])
        self.assertGreaterEqual(caught.exception.retry_after_s, 1)
        self.assertEqual(self.batcher.depth, 4, "nothing of the refused request was queued")
        ok = self.batcher.submit([Item(ids(2), Want.POOLED) for _ in range(2)])
        self.gate.set()
        await asyncio.gather(*held, *ok)
        self.assertEqual(self.metrics.rejected._value.get(), 1)

    async def test_a_failed_forward_pass_fails_only_its_batch(self) -> None:
        def flaky(items: list[Item], padded: int) -> list[np.ndarray]:
            if padded == 50:
                raise RuntimeError("device lost")
            return [np.zeros(2, dtype=np.float32) for _ in items]

        b = Batcher(flaky, max_batch_tokens=50, max_queue=10)
        b.start()
        try:
            bad, good = b.submit([Item(ids(50), Want.POOLED), Item(ids(5), Want.POOLED)])
            with self.assertRaisesRegex(RuntimeError, "device lost"):
                await bad
            self.assertEqual((await good).shape, (2,))
        finally:
            await b.stop()


if __name__ == "__main__":
    unittest.main()
