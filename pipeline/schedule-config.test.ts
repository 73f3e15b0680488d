import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cronProblem, defaultScheduleName, formatInterval, parseInterval } from './schedule-config.ts';
import { PipelineSpecError, validatePipelineSpec } from './spec.ts';

const base = {
  name: 'docs',
  version: 1,
  tenant: 'acme',
  chunker: { kind: 'recursive', chunkSize: 100, chunkOverlap: 10 },
  embedder: { kind: 'local-onnx' },
  sinks: [{ kind: 'chroma', name: 'a' }],
  blobStore: { kind: 'local-dir' },
  ledger: { kind: 'sqlite' },
};

/** The issues a spec with these schedules is refused for, or [] when it is valid. */
function issues(schedules: unknown[]): string[] {
  try {
    validatePipelineSpec({ ...base, schedules });
    return [];
  } catch (err) {
    assert.ok(err instanceof PipelineSpecError);
    return err.issues;
  }
}

test('intervals are whole numbers with units, largest first; anything else is not an interval', () => {
  assert.equal(parseInterval('30m'), 30 * 60_000);
  assert.equal(parseInterval('1h'), 3_600_000);
  assert.equal(parseInterval('1d'), 86_400_000);
  assert.equal(parseInterval('1h30m'), 90 * 60_000);
  assert.equal(parseInterval('2d12h5m7s'), ((2 * 24 + 12) * 3600 + 5 * 60 + 7) * 1000);
  assert.equal(parseInterval('0s'), 0);
  for (const bad of ['', '1', '1.5h', '1 h', '1H', '30min', '1m1h', '-1h', 'h', '1h ', ' 1h', '500ms', '9'.repeat(20) + 'd'])
    assert.equal(parseInterval(bad), undefined, bad);
  for (const text of ['1s', '30m', '1h', '1h30m', '1d', '2d12h5m7s', '0s'])
    assert.equal(formatInterval(parseInterval(text)!), text);
  assert.equal(formatInterval(90_000), '1m30s');
});

test('a cron string gets a light check of its shape; Temporal checks the ranges at apply', () => {
  for (const ok of [
    '0 3 * * *',
    '0 0 3 * * * 2030',
    '*/15 * * * MON-FRI',
    '@daily',
    '@every 2h',
    'CRON_TZ=Europe/Paris 0 3 * * *',
    '0 3 * * * # nightly',
  ])
    assert.equal(cronProblem(ok), undefined, ok);
  assert.match(cronProblem('0 3 * *')!, /has 4 field\(s\)/);
  assert.match(cronProblem('@every 1.5h')!, /not an interval/);
  assert.match(cronProblem('0 3 * * {}')!, /not a cron field/);
});

test('a schedule gets its defaults and a name derived from kind and source', () => {
  const spec = validatePipelineSpec({ ...base, schedules: [{ kind: 'reindex', source: 's3://docs/inbox/', every: '1h' }] });
  const [s] = spec.schedules!;
  assert.deepEqual(s, {
    kind: 'reindex',
    source: 's3://docs/inbox/',
    every: '1h',
    overlap: 'skip',
    catchupWindow: '1h',
    jitter: '0s',
    paused: false,
    name: defaultScheduleName('reindex', 's3://docs/inbox/'),
  });
  assert.match(s!.name, /^reindex-docs-inbox-[0-9a-f]{8}$/);
  // The same words from another source are another name; the name is stable.
  assert.notEqual(defaultScheduleName('reindex', 'file:///docs/inbox/'), s!.name);
  assert.equal(defaultScheduleName('reindex', 's3://docs/inbox/'), s!.name);
  assert.match(defaultScheduleName('reconcile', `s3://b/${'x'.repeat(300)}`), /^reconcile-b-x{38}-[0-9a-f]{8}$/);
  // A validated spec validates again unchanged (specs are written back as JSON by tools and tests).
  assert.deepEqual(validatePipelineSpec(JSON.parse(JSON.stringify(spec))).schedules, spec.schedules);
});

test('reconcile validates like reindex; every problem of every schedule is reported with its path', () => {
  assert.deepEqual(issues([{ kind: 'reconcile', source: 'file:///srv/docs', cron: '0 3 * * *', overlap: 'buffer-one' }]), []);
  assert.deepEqual(
    issues([
      { kind: 'reindex', source: 's3://b/', every: '1.5h' },
      { kind: 'reindex', source: 's3://b/', every: '1h', cron: '0 3 * * *' },
      { kind: 'reindex', source: 's3://b/' },
      { kind: 'rebuild', source: 'http://x/', every: '1h', overlap: 'allow-all', name: 'Nightly', catchupWindow: '5s' },
      { kind: 'reindex', source: 's3://b/', every: '1h', jitter: 'soon', pasued: true },
    ]).sort(),
    [
      "schedules.0.every: '1.5h' is not an interval: whole numbers with units d, h, m, s, largest first (30m, 1h, 1d, 1h30m)",
      'schedules.1.every: give exactly one of every and cron',
      'schedules.2.every: give exactly one of every and cron',
      "schedules.3.catchupWindow: '5s' is too short: Temporal's minimum catch-up window is 10s",
      'schedules.3.kind: Invalid option: expected one of "reindex"|"reconcile"',
      'schedules.3.name: lowercase letters, digits and dashes, starting with a letter',
      'schedules.3.overlap: Invalid option: expected one of "skip"|"buffer-one"',
      'schedules.3.source: an s3://bucket/prefix or file:///abs/dir uri',
      "schedules.4.jitter: 'soon' is not an interval: whole numbers with units d, h, m, s, largest first (30m, 1h, 1d, 1h30m)",
    ],
  );
  // Unknown keys are reported once the shape is right, like everywhere in the spec.
  assert.deepEqual(issues([{ kind: 'reindex', source: 's3://b/', every: '1h', pasued: true }]), [
    'schedules.0.pasued: unknown key (did you mean paused?)',
  ]);
});

test('schedule names are unique in a pipeline, default names included', () => {
  assert.deepEqual(
    issues([
      { kind: 'reindex', source: 's3://b/a/', every: '1h' },
      { kind: 'reindex', source: 's3://b/a/', cron: '@daily' },
      { name: 'x', kind: 'reindex', source: 's3://b/c/', every: '1h' },
      { name: 'x', kind: 'reindex', source: 's3://b/d/', every: '1h' },
    ]),
    [
      `schedules.1.name: duplicate schedule name ${defaultScheduleName('reindex', 's3://b/a/')}`,
      'schedules.3.name: duplicate schedule name x',
    ],
  );
});
