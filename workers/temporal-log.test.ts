import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../connectors/shared/log.ts';
import { documentKey } from '../pipeline/ids.ts';
import { documentFields, documentOutcome, TemporalLogger, temporalLevel } from './temporal-log.ts';

describe('temporal-log: the SDK logger through ours', () => {
  it('keeps the context fields, writes runId for workflowRunId, drops the task token and symbol keys', () => {
    const out: string[] = [];
    const logger = new TemporalLogger(createLogger({ level: 'debug', destination: { write: (s) => void out.push(s) } }));
    logger.warn('Activity failed', {
      sdkComponent: 'worker',
      workflowId: 'doc:p-v1:t:s3://b/a.md',
      workflowRunId: 'run-1',
      activityType: 'fetchAndParse',
      taskToken: 'Q2FwYWJpbGl0eQ==',
      [Symbol.for('log_timestamp')]: 1n,
    });
    logger.trace('below the level');
    assert.equal(out.length, 1);
    const r = JSON.parse(out[0]!) as Record<string, unknown>;
    assert.equal(r.level, 'warn');
    assert.equal(r.msg, 'Activity failed');
    assert.equal(r.workflowId, 'doc:p-v1:t:s3://b/a.md');
    assert.equal(r.runId, 'run-1');
    assert.equal(r.workflowRunId, undefined);
    assert.equal(r.taskToken, undefined);
    assert.equal(temporalLevel('debug'), 'DEBUG');
    assert.equal(temporalLevel('silent'), 'ERROR');
  });

  it('names the document and sink of an activity from ids in its input, nothing else', () => {
    const pipeline = { tenant: 't1', name: 'p', version: 1 };
    const uri = 's3://b/docs/a.md';
    assert.deepEqual(documentFields('documentWorkflow', { pipeline, sourceUri: uri, sink: 'chroma', text: 'x' }), {
      sourceUri: uri,
      docId: documentKey('t1', uri),
      sink: 'chroma',
    });
    // A source run's activities name its prefix, which is no document.
    assert.deepEqual(documentFields('sourceWorkflow', { pipeline, sourceUri: 's3://b/docs/' }), { sourceUri: 's3://b/docs/' });
    // The embed step knows the document by its work folder.
    assert.deepEqual(documentFields('documentWorkflow', { pipeline, work: { prefix: 'work/t1/abc123/run' } }), {
      docId: 'abc123',
    });
    assert.deepEqual(documentFields(undefined, undefined), {});
  });

  it("tells a document's outcome from the ledger activities, with bounded reasons", () => {
    assert.deepEqual(documentOutcome('commitDocument', { sinks: { chroma: { ok: true }, weaviate: { ok: true } } }), {
      level: 'info',
      msg: 'document ingested',
      fields: { sinks: ['chroma', 'weaviate'] },
    });
    const failed = documentOutcome('commitDocument', {
      sinks: { chroma: { ok: true }, milvus: { ok: false, error: 'x'.repeat(900) } },
    });
    assert.equal(failed?.level, 'warn');
    assert.ok((failed?.fields.failedSinks as Record<string, string>).milvus!.length < 400);
    assert.deepEqual(documentOutcome('recordFailure', { error: { type: 'CorruptDocument', message: 'a.pdf is\nbad' } }), {
      level: 'warn',
      msg: 'document failed',
      fields: { failureType: 'CorruptDocument', reason: 'a.pdf is bad' },
    });
    assert.equal(documentOutcome('recordDeleted', {})?.msg, 'document deleted');
    assert.equal(documentOutcome('recordCancelled', {})?.msg, 'document cancelled');
    assert.equal(documentOutcome('upsertToSink', {}), undefined);
  });
});
