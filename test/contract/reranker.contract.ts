import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Reranker, type RerankResult, rerankHits } from '../../connectors/rerankers/reranker.ts';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';
import type { SearchHit } from '../../connectors/sinks/sink.ts';
import type { FakeServer } from './fakes/server.ts';

// One behaviour suite for every Reranker, written against the interface. It runs against the fakes of the hosted
// APIs and against the local cross-encoder. Cases that need the server to misbehave on demand (429, 500) or to show
// its request log are defined only for a factory that hands back a fake server.

export interface RerankerUnderTest {
  reranker: Reranker;
  /** The fake behind a hosted reranker, for request-log and fault-injection cases; absent for in-process models. */
  server?: FakeServer;
  cleanup(): Promise<void>;
}

export interface RerankerFactoryOptions {
  /** Documents per request, set low so the suite's small inputs span several requests. */
  maxDocuments?: number;
  /** How long one call waits out 429/503 before handing back to Temporal. */
  maxWaitMs?: number;
}

export type RerankerFactory = (opts: RerankerFactoryOptions) => Promise<RerankerUnderTest>;

/** Queries whose relevant passage any reranker worth the name puts first; the relevant one is `answer`. */
const OBVIOUS = [
  {
    query: 'How many people live in Berlin?',
    docs: [
      'New York City is famous for the Metropolitan Museum of Art.',
      'The recipe needs two eggs, a cup of flour and some milk.',
      'Berlin has a population of 3,520,031 registered inhabitants in an area of 891.82 square kilometers.',
      'Stock markets fell sharply after the interest rate decision.',
    ],
    answer: 2,
  },
  {
    query: 'What is the capital of France?',
    docs: [
      'Paris is the capital and largest city of France.',
      'Heavy rain and strong wind are expected along the coast tomorrow.',
      'The cat sat on the warm mat by the kitchen door.',
    ],
    answer: 0,
  },
];

function assertWellFormed(r: Reranker, results: RerankResult[], count: number): void {
  const indexes = results.map((x) => x.index);
  assert.equal(new Set(indexes).size, indexes.length, 'each document once');
  for (const x of results) {
    assert.ok(Number.isInteger(x.index) && x.index >= 0 && x.index < count, `index ${x.index} in range`);
    assert.ok(Number.isFinite(x.score), `finite score ${x.score}`);
    if (r.scoreKind === 'probability') assert.ok(x.score >= 0 && x.score <= 1, `probability ${x.score}`);
  }
  for (let i = 1; i < results.length; i++) assert.ok(results[i - 1]!.score >= results[i]!.score, 'sorted best first');
}

async function rejects(p: Promise<unknown>, what: RegExp): Promise<void> {
  const err = await p.then(
    () => assert.fail('expected a ConnectorError'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ConnectorError, `a ConnectorError, got ${String(err)}`);
  assert.equal(err.type, FailureType.InvalidInput);
  assert.equal(err.retryable, false);
  assert.match(err.message, what);
}

/** About `tokens` words of filler, far past any window below it, with the relevant sentence at the start. */
const long = (lead: string, tokens: number): string =>
  `${lead} ${Array.from({ length: tokens }, (_, i) => `filler${i % 50}`).join(' ')}`;

/** `hosted`: the factory hands back a fake server, so the request-log and fault-injection cases run too. */
export function rerankerContract(name: string, factory: RerankerFactory, opts: { hosted: boolean } = { hosted: true }): void {
  const hostedIt = opts.hosted ? it : () => undefined;
  describe(`Reranker contract: ${name}`, () => {
    let ut: RerankerUnderTest;
    before(async () => {
      ut = await factory({});
    });
    after(() => ut?.cleanup());

    it('puts the obviously relevant passage first, each document once, best first', async () => {
      for (const { query, docs, answer } of OBVIOUS) {
        const results = await ut.reranker.rerank(query, docs);
        assert.equal(results.length, docs.length);
        assertWellFormed(ut.reranker, results, docs.length);
        assert.equal(results[0]!.index, answer, `${query}: ${JSON.stringify(results)}`);
        assert.ok(results[0]!.score > results[1]!.score, 'the relevant passage scores strictly higher');
      }
    });

    it('scores a document the same wherever it sits in the list', async () => {
      const { query, docs } = OBVIOUS[0]!;
      const forward = await ut.reranker.rerank(query, docs);
      const reversed = await ut.reranker.rerank(query, [...docs].reverse());
      for (const r of forward) {
        const twin = reversed.find((x) => x.index === docs.length - 1 - r.index)!;
        assert.ok(Math.abs(twin.score - r.score) < 1e-4, `document ${r.index}: ${r.score} vs ${twin.score}`);
      }
    });

    it('topN keeps the n best, as the full ranking orders them', async () => {
      const { query, docs } = OBVIOUS[0]!;
      const all = await ut.reranker.rerank(query, docs);
      const top = await ut.reranker.rerank(query, docs, { topN: 2 });
      assert.deepEqual(
        top.map((x) => x.index),
        all.slice(0, 2).map((x) => x.index),
      );
      assert.equal((await ut.reranker.rerank(query, docs, { topN: 99 })).length, docs.length, 'topN above the count');
    });

    it('reranks no documents to no results, without a request', async () => {
      const before = ut.server?.log.length;
      assert.deepEqual(await ut.reranker.rerank('anything at all', []), []);
      assert.deepEqual(await ut.reranker.rerank('anything at all', [], { topN: 3 }), []);
      if (ut.server) assert.equal(ut.server.log.length, before);
    });

    it('truncates a passage longer than the window instead of failing', async () => {
      const size = Math.max(3 * ut.reranker.maxTokens, 1500);
      const docs = [
        long('Berlin has a population of about 3.5 million people.', size),
        long('The recipe needs two eggs and some milk.', size),
        'Stock markets fell sharply.',
      ];
      const results = await ut.reranker.rerank('How many people live in Berlin?', docs);
      assert.equal(results.length, 3);
      assertWellFormed(ut.reranker, results, 3);
      assert.equal(results[0]!.index, 0, 'the relevant start of a cut passage still counts');
    });

    it('refuses bad input with a non-retryable InvalidInput, before any request', async () => {
      const before = ut.server?.log.length;
      const r = ut.reranker;
      await rejects(r.rerank('', ['a document']), /query is empty/);
      await rejects(r.rerank('   ', ['a document']), /query is empty/);
      await rejects(r.rerank(42 as unknown as string, ['a document']), /query must be a string/);
      await rejects(r.rerank('q', 'not a list' as unknown as string[]), /array/);
      await rejects(r.rerank('q', ['fine', 7 as unknown as string]), /documents\[1\] is not a string/);
      await rejects(r.rerank('q', ['fine', '  ']), /documents\[1\] is empty/);
      await rejects(r.rerank('q', ['fine'], { topN: 0 }), /topN/);
      await rejects(r.rerank('q', ['fine'], { topN: 1.5 }), /topN/);
      if (ut.server) assert.equal(ut.server.log.length, before, 'nothing was sent');
    });

    it('rerankHits: k candidates from the sink reranked to n, carrying both scores', async () => {
      const { query, docs, answer } = OBVIOUS[0]!;
      const hits: SearchHit[] = docs.map((text, i) => ({
        id: `id-${i}`,
        score: 0.9 - i * 0.1,
        text,
        metadata: {
          tenant: 't',
          sourceUri: `file:///doc-${i}`,
          chunkIndex: 0,
          start: 0,
          end: text.length,
          contentHash: `h${i}`,
          pipelineVersion: 'v1',
        },
      }));
      const out = await rerankHits(ut.reranker, query, [...hits, { ...hits[0]!, id: 'beyond-k' }], {
        candidates: docs.length,
        topN: 2,
      });
      assert.equal(out.length, 2);
      assert.equal(out[0]!.id, `id-${answer}`);
      assert.equal(out[0]!.vectorScore, hits[answer]!.score);
      assert.equal(out[0]!.vectorRank, answer + 1);
      assert.equal(out[0]!.rerankScore, out[0]!.score);
      assert.ok(
        out.every((h) => h.id !== 'beyond-k'),
        'only the first k hits are candidates',
      );
    });

    hostedIt('splits a call over the per-request document limit and merges the scores', async () => {
      assert.ok(ut.server, 'a hosted reranker has its fake server');
      const small = await factory({ maxDocuments: 2 });
      try {
        const { query, docs } = OBVIOUS[0]!;
        const whole = await ut.reranker.rerank(query, docs);
        const before = small.server!.log.length;
        const split = await small.reranker.rerank(query, docs, { topN: 3 });
        assert.deepEqual(
          split.map((x) => x.index),
          whole.slice(0, 3).map((x) => x.index),
        );
        assert.equal(small.server!.log.length - before, 2, 'two requests of two documents');
      } finally {
        await small.cleanup();
      }
    });

    hostedIt('waits out 429 with Retry-After inside the call', async () => {
      assert.ok(ut.server, 'a hosted reranker has its fake server');
      ut.server.failNext(2, { status: 429, retryAfter: '1', body: { message: 'slow down' } });
      const before = ut.server.log.length;
      const [first] = await ut.reranker.rerank(OBVIOUS[1]!.query, OBVIOUS[1]!.docs);
      assert.equal(first!.index, 0);
      assert.deepEqual(
        ut.server.log.slice(before).map((e) => e.status),
        [429, 429, 200],
      );
    });

    hostedIt('hands a long Retry-After to Temporal as a retryable RateLimited carrying the delay', async () => {
      assert.ok(ut.server, 'a hosted reranker has its fake server');
      const quick = await factory({ maxWaitMs: 0 });
      try {
        quick.server!.failNext(1, { status: 429, retryAfter: '30' });
        const err = await quick.reranker.rerank('anything', ['a document']).then(
          () => assert.fail('expected a rate limit'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof ConnectorError);
        assert.equal(err.type, FailureType.RateLimited);
        assert.equal(err.retryable, true);
        assert.equal(err.retryAfterMs, 30_000);
      } finally {
        await quick.cleanup();
      }
    });

    hostedIt('maps a server error to a retryable Unavailable without retrying it itself', async () => {
      assert.ok(ut.server, 'a hosted reranker has its fake server');
      ut.server.failNext(1, { status: 500, body: { error: 'boom' } });
      const before = ut.server.log.length;
      const err = await ut.reranker.rerank('anything', ['a document']).then(
        () => assert.fail('expected an error'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ConnectorError && err.type === FailureType.Unavailable && err.retryable);
      assert.equal(ut.server.log.length - before, 1, 'one request: Temporal owns the retries');
    });

    it('names its provider and model in its identity', () => {
      assert.ok(ut.reranker.identity.startsWith(`${ut.reranker.provider}:${ut.reranker.model}`), ut.reranker.identity);
      assert.ok(ut.reranker.maxTokens > 0);
    });
  });
}
