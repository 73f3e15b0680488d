import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { StackConfig } from '../config.ts';
import { goInstall } from '../install.ts';
import { httpGet, type Service } from '../service.ts';
import { ensureDir } from '../supervisor.ts';
import { VERSIONS } from '../versions.ts';
import { hideKafkajsTimerWarning } from '../../connectors/shared/node-warnings.ts';

/**
 * The gateway's S3-style server access log: one line per request, written before the response is sent, so a
 * request a client has seen answered is already in the file. Tests count GetObject requests from it.
 */
export function s3AccessLogFile(config: StackConfig): string {
  return join(config.dataDir, 's3', 'access.log');
}

function binary(cacheDir: string): string {
  return join(cacheDir, 'go-bin', `versitygw-${VERSIONS.versitygw}`, 'versitygw');
}

/**
 * versitygw (Apache-2.0) serving S3 over a POSIX folder. Object-created/removed events go to a Kafka topic,
 * so Kafka must be up first (the gateway sends a test event when it starts).
 */
export const s3: Service = {
  name: 's3',
  version: VERSIONS.versitygw,
  after: ['kafka'],
  startTimeoutMs: 30_000,
  ports: (c) => [c.ports.s3],
  endpoint: (c) => `http://127.0.0.1:${c.ports.s3}`,
  extra: (c) => ({ eventTopic: c.s3.eventTopic }),

  async install(ctx) {
    await goInstall({
      cacheDir: ctx.config.cacheDir,
      name: 'versitygw',
      module: 'github.com/versity/versitygw/cmd/versitygw',
      version: VERSIONS.versitygw,
      binary: 'versitygw',
      log: ctx.log,
    });
  },

  async launch(ctx) {
    const { ports, s3: creds } = ctx.config;
    await ensureTopic(`127.0.0.1:${ports.kafka}`, creds.eventTopic);
    // Metadata goes to a sidecar folder: user xattrs are not available on every filesystem.
    const objects = ensureDir(join(ctx.dataDir, 'objects'));
    const sidecar = ensureDir(join(ctx.dataDir, 'meta'));
    return {
      command: binary(ctx.config.cacheDir),
      args: [
        '--port',
        `127.0.0.1:${ports.s3}`,
        '--quiet',
        '--access-log',
        s3AccessLogFile(ctx.config),
        '--event-kafka-url',
        `127.0.0.1:${ports.kafka}`,
        '--event-kafka-topic',
        creds.eventTopic,
        'posix',
        '--sidecar',
        sidecar,
        objects,
      ],
      env: { ROOT_ACCESS_KEY: creds.accessKey, ROOT_SECRET_KEY: creds.secretKey },
    };
  },

  async probe(config) {
    // Unsigned requests are refused with an S3 error document: any S3-shaped answer means the gateway serves.
    const res = await httpGet(`http://127.0.0.1:${config.ports.s3}/`);
    const ok = res.status > 0 && res.body.includes('<Error>');
    return ok ? { ok, version: VERSIONS.versitygw } : { ok, detail: res.status ? `answered ${res.status}` : 'no answer' };
  },
};

/** The gateway refuses to start when its event topic does not exist yet. */
async function ensureTopic(broker: string, topic: string): Promise<void> {
  hideKafkajsTimerWarning();
  const admin = new Kafka({ clientId: 'ragline-infra', brokers: [broker], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}
