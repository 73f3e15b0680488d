import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConnectorError, FailureType } from '../../connectors/shared/errors.ts';
import type { ChunkTerms, TermStats } from '../../connectors/sparse/term-stats.ts';

export interface TermStatsFixture {
  stats: TermStats;
  /** A second, independent store on the same backend (another worker process's view). */
  openAnother(): Promise<TermStats>;
  cleanup(): Promise<void>;
}

const chunk = (id: string, terms: string[], length = terms.length): ChunkTerms => ({ id, length, terms });

/** The frequencies as a plain sorted object, so a failure shows every term at once. */
async function dfs(stats: TermStats, index: string, tenant: string, terms: string[]): Promise<Record<string, number>> {
  const got = await stats.documentFrequencies(index, tenant, terms);
  return Object.fromEntries([...got].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/**
 * The behaviour every TermStats store shares (SQLite for one host, PostgreSQL for a fleet). Each case uses indexes of
 * its own, so one store serves them all.
 */
export function termStatsContract(name: string, factory: () => Promise<TermStatsFixture>): void {
  describe(`TermStats contract: ${name}`, () => {
    let fx: TermStatsFixture;
    let stats: TermStats;
    let n = 0;
    const index = () => `idx-${++n}`;

    before(async () => {
      fx = await factory();
      stats = fx.stats;
    });
    after(async () => {
      await fx?.stats.close();
      await fx?.cleanup();
    });

    it('counts chunks, averages their lengths and counts each term once per chunk', async () => {
      const ix = index();
      assert.deepEqual(await stats.collection(ix, 't1'), { chunks: 0, avgLength: 0 });
      await stats.put(ix, 't1', [
        chunk('a', ['alpha', 'beta', 'gamma'], 5),
        chunk('b', ['beta', 'delta'], 2),
        chunk('c', ['beta', 'Beta', 'bêta', '𝔟eta'], 4),
      ]);
      assert.deepEqual(await stats.collection(ix, 't1'), { chunks: 3, avgLength: 11 / 3 });
      // Terms are compared as they are: case, accents and characters past the BMP each make a different term.
      assert.deepEqual(await dfs(stats, ix, 't1', ['alpha', 'beta', 'Beta', 'bêta', '𝔟eta', 'delta', 'gamma', 'missing']), {
        Beta: 1,
        alpha: 1,
        beta: 3,
        bêta: 1,
        delta: 1,
        gamma: 1,
        '𝔟eta': 1,
      });
      assert.deepEqual(await dfs(stats, ix, 't1', ['missing']), {});
    });

    it('replaces the terms of a chunk written again under the same id', async () => {
      const ix = index();
      await stats.put(ix, 't1', [chunk('a', ['old', 'shared'], 10), chunk('b', ['shared', 'other'], 2)]);
      await stats.put(ix, 't1', [chunk('a', ['new', 'shared'], 4)]);
      assert.deepEqual(await stats.collection(ix, 't1'), { chunks: 2, avgLength: 3 });
      assert.deepEqual(await dfs(stats, ix, 't1', ['old', 'new', 'shared', 'other']), { new: 1, other: 1, shared: 2 });
      // A chunk whose text became empty keeps counting as a chunk, with no terms.
      await stats.put(ix, 't1', [chunk('b', [], 0)]);
      assert.deepEqual(await stats.collection(ix, 't1'), { chunks: 2, avgLength: 2 });
      assert.deepEqual(await dfs(stats, ix, 't1', ['shared', 'other', 'new']), { new: 1, shared: 1 });
    });

    it('is idempotent: the same chunks written twice, or repeated within one call, count once', async () => {
      const ix = index();
      const chunks = [chunk('a', ['x', 'y'], 3), chunk('b', ['y', 'z'], 5)];
      await stats.put(ix, 't1', chunks);
      await stats.put(ix, 't1', chunks);
      assert.deepEqual(await stats.collection(ix, 't1'), { chunks: 2, avgLength: 4 });
      assert.deepEqual(await dfs(stats, ix, 't1', ['x', 'y', 'z']), { x: 1, y: 2, z: 1 });
      // A term listed twice, and an id given twice in one call (the later wins, as two calls would have it).
      await stats.put(ix, 't1', [chunk('c', ['w', 'w', 'x'], 1), chunk('d', ['q'], 9), chunk('d', ['x', 'y'], 7)]);
      assert.deepEqual(await stats.collection(ix, 't1'), { chunks: 4, avgLength: 16 / 4 });
      assert.deepEqual(await dfs(stats, ix, 't1', ['w', 'x', 'y', 'z', 'q']), { w: 1, x: 3, y: 3, z: 1 });
    });

    it('removes chunks by id whatever their tenant, ignoring unknown ids and repeats', async () => {
      const ix = index();
      await stats.put(ix, 't1', [chunk('a', ['x', 'y'], 2), chunk('b', ['y'], 4), chunk('c', ['x'], 6)]);
      await stats.put(ix, 't2', [chunk('d', ['x'], 8), chunk('e', ['x', 'y'], 10)]);
      await stats.remove(ix, ['a', 'nope', 'a', 'd']);
      assert.deepEqual(await stats.collection(ix, 't1'), { chunks: 2, avgLength: 5 });
      assert.deepEqual(await stats.collection(ix, 't2'), { chunks: 1, avgLength: 10 });
      assert.deepEqual(await dfs(stats, ix, 't1', ['x', 'y']), { x: 1, y: 1 });
      assert.deepEqual(await dfs(stats, ix, 't2', ['x', 'y']), { x: 1, y: 1 });
      await stats.remove(ix, ['a', 'd']);
      await stats.remove(ix, ['b', 'c', 'e']);
      assert.deepEqual(await stats.collection(ix, 't1'), { chunks: 0, avgLength: 0 });
      assert.deepEqual(await stats.collection(ix, 't2'), { chunks: 0, avgLength: 0 });
      assert.deepEqual(await dfs(stats, ix, 't1', ['x', 'y']), {});
      assert.deepEqual(await dfs(stats, ix, 't2', ['x', 'y']), {});
    });

    it("keeps tenants apart: one tenant's chunks never change another's counts", async () => {
      const ix = index();
      await stats.put(ix, 'acme', [chunk('acme-1', ['invoice', 'total'], 2), chunk('acme-2', ['invoice'], 4)]);
      await stats.put(ix, 'globex', [chunk('globex-1', ['invoice', 'secret'], 30)]);
      assert.deepEqual(await stats.collection(ix, 'acme'), { chunks: 2, avgLength: 3 });
      assert.deepEqual(await stats.collection(ix, 'globex'), { chunks: 1, avgLength: 30 });
      assert.deepEqual(await dfs(stats, ix, 'acme', ['invoice', 'total', 'secret']), { invoice: 2, total: 1 });
      assert.deepEqual(await dfs(stats, ix, 'globex', ['invoice', 'total', 'secret']), { invoice: 1, secret: 1 });
      assert.deepEqual(await stats.collection(ix, 'initech'), { chunks: 0, avgLength: 0 });
      // A chunk written again under another tenant moves there, terms and all.
      await stats.put(ix, 'globex', [chunk('acme-2', ['moved'], 6)]);
      assert.deepEqual(await stats.collection(ix, 'acme'), { chunks: 1, avgLength: 2 });
      assert.deepEqual(await stats.collection(ix, 'globex'), { chunks: 2, avgLength: 18 });
      assert.deepEqual(await dfs(stats, ix, 'acme', ['invoice', 'moved']), { invoice: 1 });
      assert.deepEqual(await dfs(stats, ix, 'globex', ['invoice', 'moved']), { invoice: 1, moved: 1 });
    });

    it('keeps indexes apart, and drop clears only the index dropped', async () => {
      const [one, two] = [index(), index()];
      await stats.put(one, 't1', [chunk('a', ['x'], 2), chunk('b', ['x', 'y'], 4)]);
      await stats.put(one, 't2', [chunk('c', ['x'], 6)]);
      await stats.put(two, 't1', [chunk('a', ['y', 'z'], 10)]);
      assert.deepEqual(await stats.collection(one, 't1'), { chunks: 2, avgLength: 3 });
      assert.deepEqual(await stats.collection(two, 't1'), { chunks: 1, avgLength: 10 });
      assert.deepEqual(await dfs(stats, two, 't1', ['x', 'y', 'z']), { y: 1, z: 1 });
      // The same chunk id in another index is another chunk.
      await stats.remove(two, ['a']);
      assert.deepEqual(await stats.collection(one, 't1'), { chunks: 2, avgLength: 3 });
      assert.deepEqual(await dfs(stats, one, 't1', ['x', 'y']), { x: 2, y: 1 });
      await stats.put(two, 't1', [chunk('a', ['z'], 1)]);

      await stats.drop(one);
      assert.deepEqual(await stats.collection(one, 't1'), { chunks: 0, avgLength: 0 });
      assert.deepEqual(await stats.collection(one, 't2'), { chunks: 0, avgLength: 0 });
      assert.deepEqual(await dfs(stats, one, 't1', ['x', 'y']), {});
      assert.deepEqual(await dfs(stats, one, 't2', ['x']), {});
      assert.deepEqual(await stats.collection(two, 't1'), { chunks: 1, avgLength: 1 });
      assert.deepEqual(await dfs(stats, two, 't1', ['z']), { z: 1 });
      await stats.drop(one);
      await stats.drop(index());
      // A dropped index starts again from nothing.
      await stats.put(one, 't1', [chunk('a', ['x'], 3)]);
      assert.deepEqual(await stats.collection(one, 't1'), { chunks: 1, avgLength: 3 });
      assert.deepEqual(await dfs(stats, one, 't1', ['x', 'y']), { x: 1 });
    });

    it('answers frequencies for more terms than one statement takes, with repeats in the request', async () => {
      const ix = index();
      const vocab = Array.from({ length: 2600 }, (_, i) => `term${i}`);
      // 1300 chunks (more than one batch of ids): chunk i holds term i and term i+1300; every 100th also holds 'common'.
      const chunks = Array.from({ length: 1300 }, (_, i) =>
        chunk(`c${i}`, [vocab[i]!, vocab[i + 1300]!, ...(i % 100 === 0 ? ['common'] : [])], i % 7),
      );
      await stats.put(ix, 't1', chunks);
      const lengths = chunks.reduce((sum, ch) => sum + ch.length, 0);
      assert.deepEqual(await stats.collection(ix, 't1'), { chunks: 1300, avgLength: lengths / 1300 });
      const asked = [...vocab, 'common', ...vocab.slice(0, 700), 'absent', 'common'];
      const got = await stats.documentFrequencies(ix, 't1', asked);
      assert.equal(got.size, 2601);
      assert.ok(
        vocab.every((t) => got.get(t) === 1),
        'every term once',
      );
      assert.equal(got.get('common'), 13);
      assert.equal(got.has('absent'), false);
      await stats.remove(
        ix,
        chunks.map((ch) => ch.id),
      );
      assert.deepEqual(await stats.collection(ix, 't1'), { chunks: 0, avgLength: 0 });
      assert.equal((await stats.documentFrequencies(ix, 't1', asked)).size, 0);
    });

    it('treats empty inputs as no-ops', async () => {
      const ix = index();
      await stats.put(ix, 't1', [chunk('a', ['x'], 2)]);
      await stats.put(ix, 't1', []);
      await stats.remove(ix, []);
      assert.deepEqual(await stats.documentFrequencies(ix, 't1', []), new Map());
      assert.deepEqual(await stats.collection(ix, 't1'), { chunks: 1, avgLength: 2 });
      assert.deepEqual(await dfs(stats, ix, 't1', ['x']), { x: 1 });
    });

    it('throws a typed InvalidInput once closed, and closes twice without fault', async () => {
      const other = await fx.openAnother();
      const ix = index();
      await other.put(ix, 't1', [chunk('a', ['x'], 2)]);
      await other.close();
      await other.close();
      const closed = (e: unknown) => {
        assert.ok(e instanceof ConnectorError && e.type === FailureType.InvalidInput && !e.retryable, String(e));
        assert.match(e.message, /closed/);
        return true;
      };
      await assert.rejects(other.put(ix, 't1', [chunk('b', ['y'], 1)]), closed);
      await assert.rejects(other.remove(ix, ['a']), closed);
      await assert.rejects(other.drop(ix), closed);
      await assert.rejects(other.collection(ix, 't1'), closed);
      await assert.rejects(other.documentFrequencies(ix, 't1', ['x']), closed);
      // What it wrote before is there for everyone else.
      assert.deepEqual(await stats.collection(ix, 't1'), { chunks: 1, avgLength: 2 });
    });

    it('ends with exact counts when two stores write and remove overlapping chunks at once', async () => {
      const other = await fx.openAnother();
      const ix = index();
      const ids = Array.from({ length: 60 }, (_, i) => `c${String(i).padStart(2, '0')}`);
      const mine = ids.slice(0, 40);
      const theirs = ids.slice(20).reverse(); // the other writer meets the shared chunks in the opposite order
      const shared = ids.slice(20, 40);
      const ROUNDS = 6;
      // Chunks both writers meet for the first time in the same round: neither finds a row of it to take back.
      const fresh = (r: number) => Array.from({ length: 10 }, (_, i) => `f${r}-${i}`);
      try {
        // Both stores connected (and migrated) first, so their first writes really overlap.
        await Promise.all([stats.collection(ix, 't1'), other.collection(ix, 't1')]);
        for (let r = 0; r < ROUNDS; r++) {
          await Promise.all([
            stats.put(ix, 't1', [
              ...mine.map((id) => chunk(id, ['common', `round${r}`, `a${r}`, id], r + 1)),
              ...fresh(r).map((id) => chunk(id, ['new'], 1)),
            ]),
            other.put(ix, 't1', [
              ...theirs.map((id) => chunk(id, ['common', `round${r}`, `b${r}`, id], r + 1)),
              ...fresh(r)
                .reverse()
                .map((id) => chunk(id, ['new'], 1)),
            ]),
            // Another writer of another tenant in the same index, never in the way.
            other.put(ix, 't2', [chunk(`t2-${r}`, ['common'], 1)]),
          ]);
          const n = 10 * (r + 1);
          assert.deepEqual(await stats.collection(ix, 't1'), { chunks: 60 + n, avgLength: (60 * (r + 1) + n) / (60 + n) });
          assert.equal((await dfs(stats, ix, 't1', ['new'])).new, n, 'a chunk both wrote first counts once');
          const got = await dfs(stats, ix, 't1', ['common', `round${r}`, `a${r}`, `b${r}`, ...(r > 0 ? [`round${r - 1}`] : [])]);
          assert.equal(got.common, 60);
          assert.equal(got[`round${r}`], 60);
          assert.equal(got[`round${r - 1}`], undefined, 'the previous round is replaced everywhere');
          // Each shared chunk holds one writer's terms, never both and never none.
          assert.equal((got[`a${r}`] ?? 0) + (got[`b${r}`] ?? 0), 60);
          assert.ok(got[`a${r}`]! >= 20 && got[`b${r}`]! >= 20, JSON.stringify(got));
          assert.deepEqual(await dfs(stats, ix, 't1', shared), Object.fromEntries(shared.map((id) => [id, 1])));
        }
        assert.deepEqual(await stats.collection(ix, 't2'), { chunks: ROUNDS, avgLength: 1 });
        const allFresh = Array.from({ length: ROUNDS }, (_, r) => fresh(r)).flat();
        await Promise.all([stats.remove(ix, [...mine, ...allFresh]), other.remove(ix, [...theirs, ...allFresh.reverse()])]);
        assert.deepEqual(await stats.collection(ix, 't1'), { chunks: 0, avgLength: 0 });
        assert.deepEqual(await dfs(stats, ix, 't1', ['common', ...ids]), {});
        assert.deepEqual(await dfs(stats, ix, 't2', ['common']), { common: ROUNDS });
      } finally {
        await other.close();
      }
    });
  });
}
