import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Stack } from '../../infra/stack.ts';
import type { CliContext } from '../context.ts';
import { runCommand } from './run.ts';
import { searchCommand } from './search.ts';

const SAMPLES = join(import.meta.dirname, '..', '..', 'samples', 'corpus');
export const DEMO_QUESTION = 'How does late chunking keep the context of the whole document?';

/**
 * `npm run demo`: starts what the embedded default needs, uploads the bundled sample corpus (Markdown, text, HTML,
 * PDF, DOCX) to the local S3 server, ingests it, and answers a sample question.
 */
export async function demoCommand(ctx: CliContext): Promise<void> {
  const stack = new Stack(ctx.stack, (line) => console.error(`[infra] ${line}`));
  await stack.up(['temporal', 's3', 'chroma']);

  const bucket = 'ragline-demo';
  const s3 = new S3Client({
    endpoint: ctx.s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: ctx.s3.accessKeyId!, secretAccessKey: ctx.s3.secretAccessKey! },
  });
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket })).catch((err: Error) => {
      if (!/BucketAlready(OwnedByYou|Exists)/.test(err.name)) throw err;
    });
    const files = readdirSync(SAMPLES).sort();
    for (const f of files)
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `samples/${f}`, Body: readFileSync(join(SAMPLES, f)) }));
    console.log(`uploaded ${files.length} sample documents to s3://${bucket}/samples/`);
  } finally {
    s3.destroy();
  }

  await runCommand(ctx, { source: `s3://${bucket}/samples/`, wait: true });
  console.log(`\nquestion: ${DEMO_QUESTION}`);
  await searchCommand(ctx, DEMO_QUESTION, { topK: 3 });
  console.log(`
Temporal UI: http://127.0.0.1:${ctx.stack.ports.temporalUi}/namespaces/${ctx.temporal.namespace}/workflows
Try: npm run ingest -- search "what is a consumer group?"   |   stop the stack: npm run infra:down`);
}
