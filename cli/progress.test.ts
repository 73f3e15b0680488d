import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyCounts, type SourceProgress } from '../workflows/types.ts';
import { formatDuration, progressFigures, progressLine } from './progress.ts';

const progress = (p: Partial<SourceProgress>): SourceProgress => ({
  ...emptyCounts(),
  inFlight: 0,
  maxInFlight: 8,
  paused: false,
  pages: 1,
  done: false,
  startedAt: 1_000_000,
  ...p,
});

describe('live progress figures', () => {
  it('counts every finished kind, the rate since the run started, and the time left for what is listed', () => {
    const p = progress({ listed: 40, ingested: 10, unchanged: 4, deleted: 1, failed: 2, handedOff: 3, chunks: 130 });
    const f = progressFigures(p, 1_000_000 + 10_000);
    assert.deepEqual(f, { finished: 20, listed: 40, chunks: 130, failed: 2, docsPerSecond: 2, etaSeconds: 10 });
    assert.equal(progressLine(f), '20/40 documents, 130 chunks, 2.0 docs/s, ETA 10s, 2 failed');
  });

  it('has no ETA before the first document finishes, and none left once the run is done', () => {
    assert.equal(progressFigures(progress({ listed: 5 }), 1_005_000).etaSeconds, undefined);
    assert.match(progressLine(progressFigures(progress({ listed: 5 }), 1_005_000)), /0\.0 docs\/s, ETA \?/);
    assert.equal(progressFigures(progress({ listed: 5, ingested: 5, done: true }), 1_005_000).etaSeconds, 0);
  });

  it('formats durations for people', () => {
    assert.deepEqual([4, 59.6, 75, 3599, 3725, undefined, Number.POSITIVE_INFINITY].map(formatDuration), [
      '4s',
      '1m00s',
      '1m15s',
      '59m59s',
      '1h02m',
      '?',
      '?',
    ]);
  });
});
