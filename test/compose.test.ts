import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { METRICS_PORTS } from '../cli/metrics.ts';
import { validatePipelineSpec, type PipelineSpec } from '../pipeline/spec.ts';
import { checkIngestArgs, processKind, type IngestArgs } from './deploy/ingest-args.ts';

// RAGLINE_COMPOSE_FILE points the checks at another file, e.g. a broken copy, to prove they can fail.
// (Not COMPOSE_FILE: Docker Compose reads that one itself, often as a colon-separated list.)
const file = process.env.RAGLINE_COMPOSE_FILE ?? join(import.meta.dirname, '..', 'docker-compose.yml');

interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  profiles?: string[];
  command?: string | string[];
  environment?: Record<string, string> | string[];
  configs?: { source: string; target?: string }[];
  expose?: (string | number)[];
  restart?: string;
  healthcheck?: { test?: unknown };
  ports?: (string | number | { published?: string | number })[];
  volumes?: (string | { type?: string; source?: string })[];
  depends_on?: string[] | Record<string, { condition?: string; required?: boolean }>;
  deploy?: {
    resources?: { reservations?: { devices?: { driver?: string; count?: number | string; capabilities?: string[] }[] } };
  };
}
interface Compose {
  version?: unknown;
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  configs?: Record<string, { content?: string; file?: string }>;
}

const compose = parse(readFileSync(file, 'utf8')) as Compose;
const services = Object.entries(compose.services ?? {});
const isOneShot = (s: Service) => s.restart === 'no';

function dependencies(s: Service): [string, string | undefined][] {
  const d = s.depends_on ?? [];
  return Array.isArray(d) ? d.map((n) => [n, undefined]) : Object.entries(d).map(([n, v]) => [n, v?.condition]);
}

/** Host port of a `ports` entry (short "[IP:]HOST:CONTAINER[/proto]" or long form); undefined if unpublished. */
function hostPort(p: string | number | { published?: string | number }): number | undefined {
  if (typeof p === 'object') return p.published === undefined ? undefined : Number(p.published);
  const parts = String(p).split('/')[0]!.split(':');
  return parts.length < 2 ? undefined : Number(parts.at(-2));
}

/** Compose's `${VAR:-default}` / `${VAR}` interpolation, with nothing set in the environment. */
const interpolate = (text: string): string => text.replace(/\$\{(\w+)(?::?-([^}]*))?\}/g, (_, _name, def = '') => def);

function namedVolume(v: string | { type?: string; source?: string }): string | undefined {
  let source: string | undefined;
  if (typeof v === 'string') {
    const spec = interpolate(v); // "${DIR:-./models}:/models" binds a host folder
    source = spec.includes(':') ? spec.split(':')[0] : undefined; // "/path" alone is anonymous
  } else if ((v.type ?? 'volume') === 'volume') source = v.source;
  return source && !/^[./~]/.test(source) ? source : undefined;
}

/** The word after `flag` in a command, in exec form or shell form. */
function argAfter(command: Service['command'], flag: string): string | undefined {
  const words = (Array.isArray(command) ? command : [command ?? '']).flatMap((w) => String(w).split(/\s+/));
  const i = words.indexOf(flag);
  return i >= 0 ? words[i + 1] : words.find((w) => w.startsWith(`${flag}=`))?.slice(flag.length + 1);
}

describe(`docker-compose.yml (${file})`, () => {
  it('follows the Compose Specification: no top-level version key', () => {
    assert.equal(compose.version, undefined);
  });

  it('defines every service of the local stack', () => {
    const expected = [
      'postgresql',
      'temporal',
      'temporal-search-attributes',
      'temporal-ui',
      'kafka',
      'kafka-init',
      's3',
      'weaviate',
      'etcd',
      'minio',
      'milvus',
      'chroma',
      'prometheus',
      'ingest-worker',
      'embed-worker',
      'trigger',
      'embed-server',
    ];
    const missing = expected.filter((name) => !compose.services?.[name]);
    assert.deepEqual(missing, [], `missing services: ${missing.join(', ')}`);
  });

  it('pins every image to an exact tag, never latest', () => {
    for (const [name, s] of services) {
      assert.ok(s.image, `${name} has no image`);
      const ref = s.image.split('@')[0]!;
      const colon = ref.lastIndexOf(':');
      const tag = colon > ref.lastIndexOf('/') ? ref.slice(colon + 1) : '';
      assert.ok(tag, `${name}: image ${s.image} has no tag`);
      assert.notEqual(tag, 'latest', `${name}: image ${s.image} uses latest`);
      assert.match(tag, /\d/, `${name}: tag ${tag} names no version`);
    }
  });

  it('builds local images from a Dockerfile that exists, and names each built image with a version', () => {
    for (const [name, s] of services.filter(([, s]) => s.build !== undefined)) {
      const b = typeof s.build === 'string' ? { context: s.build } : s.build!;
      const dockerfile = join(dirname(file), b.context ?? '.', b.dockerfile ?? 'Dockerfile');
      assert.ok(existsSync(dockerfile), `${name} builds from ${dockerfile}, which does not exist`);
      assert.match(s.image ?? '', /:\d+\.\d+\.\d+$/, `${name}: built image ${s.image} carries no version`);
    }
  });

  it('gives every long-running service a healthcheck', () => {
    for (const [name, s] of services.filter(([, s]) => !isOneShot(s))) {
      assert.ok(s.healthcheck?.test, `${name} is long-running but has no healthcheck test`);
    }
  });

  it('declares every named volume it uses, and uses every one it declares', () => {
    const all = services.flatMap(([, s]) => (s.volumes ?? []).map(namedVolume));
    const used = new Set(all.filter((v) => v !== undefined));
    const declared = new Set(Object.keys(compose.volumes ?? {}));
    assert.deepEqual(
      [...used].filter((v) => !declared.has(v)),
      [],
      'volumes used but not declared',
    );
    assert.deepEqual(
      [...declared].filter((v) => !used.has(v)),
      [],
      'volumes declared but never used',
    );
  });

  it('depends only on services that exist, with conditions they can meet, and without cycles', () => {
    for (const [name, s] of services) {
      for (const [target, condition] of dependencies(s)) {
        const t = compose.services[target];
        assert.ok(t, `${name} depends on unknown service ${target}`);
        if (condition === 'service_healthy') {
          assert.ok(t.healthcheck?.test, `${name} waits for ${target} healthy, which has no healthcheck`);
        }
        if (condition === 'service_completed_successfully') {
          assert.ok(isOneShot(t), `${name} waits for ${target} to complete, which is not one-shot`);
        }
      }
    }
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (name: string, path: string[]): void => {
      if (state.get(name) === 'done') return;
      assert.notEqual(state.get(name), 'visiting', `dependency cycle: ${[...path, name].join(' -> ')}`);
      state.set(name, 'visiting');
      for (const [target] of dependencies(compose.services[name] ?? {})) visit(target, [...path, name]);
      state.set(name, 'done');
    };
    for (const [name] of services) visit(name, []);
  });

  it("publishes the local stack's default ports, each host port once", () => {
    const published = services.flatMap(([name, s]) =>
      (s.ports ?? [])
        .map(hostPort)
        .filter((p) => p !== undefined)
        .map((port) => ({ name, port })),
    );
    const expected: [string, number][] = [
      ['temporal', 7233],
      ['temporal-ui', 8233],
      ['kafka', 9092],
      ['s3', 7070],
      ['weaviate', 8080],
      ['weaviate', 50051],
      ['milvus', 19530],
      ['chroma', 8000],
      ['prometheus', 9090],
    ];
    for (const [name, port] of expected) {
      const found = published.some((p) => p.name === name && p.port === port);
      assert.ok(found, `${name} does not publish host port ${port}`);
    }
    const seen = new Map<number, string>();
    for (const { name, port } of published) {
      assert.ok(!seen.has(port), `host port ${port} published by both ${seen.get(port)} and ${name}`);
      seen.set(port, name);
    }
  });

  it('points the S3 gateway at the Kafka topic that kafka-init creates', () => {
    const created = argAfter(compose.services['kafka-init']?.command, '--topic');
    const used = argAfter(compose.services.s3?.command, '--event-kafka-topic');
    assert.ok(created, 'kafka-init creates no --topic');
    assert.equal(used, created);
  });
});

const addressOf = (address: string): [string, number] => {
  const u = new URL(address.includes('://') ? address : `tcp://${address}`);
  return [u.hostname, Number(u.port)];
};

describe(`the ragline services of docker-compose.yml (${file})`, () => {
  const ragline = services.filter(([, s]) => /^ragline:/.test(s.image ?? ''));
  const argsSeen = new Map<string, IngestArgs>();
  const argsOf = (name: string, s: Service): IngestArgs => {
    const args = (Array.isArray(s.command) ? s.command : []).map((a) => interpolate(String(a)));
    const key = JSON.stringify(args);
    if (!argsSeen.has(key)) argsSeen.set(key, checkIngestArgs(args, name));
    return argsSeen.get(key)!;
  };
  /** The spec a service reads: the config mounted where its --pipeline points. */
  const specOf = (name: string, s: Service, pipeline: string): PipelineSpec => {
    const mounted = s.configs?.find((c) => (c.target ?? `/${c.source}`) === pipeline);
    assert.ok(mounted, `${name}: nothing is mounted at ${pipeline}`);
    const content = compose.configs?.[mounted.source]?.content;
    assert.ok(content, `${name}: config ${mounted.source} has no content`);
    return validatePipelineSpec(parse(content), `config ${mounted.source}`);
  };
  const specFiles = (s: Service) => (s.configs ?? []).filter((c) => c.target?.startsWith('/etc/ragline/'));
  const env = (s: Service): Record<string, string> =>
    Array.isArray(s.environment)
      ? Object.fromEntries(s.environment.map((e) => e.split('=', 2) as [string, string]))
      : (s.environment ?? {});

  it('runs real ingest commands: ingest workers, embed workers and the trigger, built from the Dockerfile', () => {
    const kinds = ragline.map(([name, s]) => processKind(argsOf(name, s)));
    assert.deepEqual(kinds.sort(), ['embed', 'ingest', 'trigger']);
    for (const [name, s] of ragline) assert.ok(s.build !== undefined, `${name} is not built here`);
  });

  it('gives every process a pipeline spec the project accepts, in every variant it can be pointed at', () => {
    for (const [name, s] of ragline) {
      const { pipeline } = argsOf(name, s);
      assert.ok(pipeline, `${name}: no --pipeline`);
      specOf(name, s, pipeline);
      // RAGLINE_PIPELINE_FILE picks one of the mounted specs: every one of them must be valid too.
      for (const c of specFiles(s)) specOf(name, s, c.target!);
      assert.deepEqual(
        specFiles(s).map((c) => c.target),
        specFiles(ragline[0]![1]).map((c) => c.target),
        `${name} mounts other specs than ${ragline[0]![0]}`,
      );
    }
  });

  it('points every spec and setting at services of this file', () => {
    const [first, s] = ragline[0]!;
    for (const c of specFiles(s)) {
      const spec = specOf(first, s, c.target!);
      for (const sink of spec.sinks) {
        const host = 'host' in sink ? sink.host : 'address' in sink ? addressOf(sink.address)[0] : undefined;
        assert.ok(host && compose.services[host], `${c.source}: sink ${sink.name} at ${host}, not a service`);
      }
      if (spec.embedder.kind === 'tei' || spec.embedder.kind === 'pool') {
        // A pool embedder's server is the one its embed worker names (RAGLINE_EMBED_SERVER).
        const embedWorker = ragline.find(([name]) => name === 'embed-worker')?.[1];
        const serverUrl =
          spec.embedder.kind === 'tei' ? spec.embedder.baseUrl : embedWorker && env(embedWorker).RAGLINE_EMBED_SERVER;
        assert.ok(serverUrl, `${c.source}: no server for the embedder`);
        const [host, port] = addressOf(serverUrl);
        const server = compose.services[host];
        assert.ok(server, `${c.source}: the embedder's server ${host} is not a service`);
        assert.equal(argAfter(server.command, '--port'), String(port), `${c.source}: ${host} does not listen on ${port}`);
        if (spec.embedder.kind === 'pool')
          assert.equal(argAfter(server.command, '--model-id'), spec.embedder.model, `${c.source}: ${host} reports another model`);
      }
      const topic = argAfter(compose.services['kafka-init']?.command, '--topic');
      for (const t of spec.triggers ?? []) assert.equal(t.topic, topic, `${c.source}: topic ${t.topic} is never created`);
      // Local blobs and SQLite work across the processes only on a volume they all mount.
      const paths = [
        spec.blobStore.kind === 'local-dir' ? spec.blobStore.root : undefined,
        spec.ledger.kind === 'sqlite' ? spec.ledger.path : undefined,
      ].filter((p) => p !== undefined);
      for (const p of paths)
        for (const [name, svc] of ragline) {
          const shared = (svc.volumes ?? []).some((v) => typeof v === 'string' && p.startsWith(`${v.split(':')[1]}/`));
          assert.ok(shared, `${name}: ${p} is not on a volume it mounts`);
        }
    }
    for (const [name, svc] of ragline) {
      const e = env(svc);
      assert.ok(compose.services[addressOf(e.TEMPORAL_ADDRESS ?? '')[0]], `${name}: TEMPORAL_ADDRESS`);
      const [s3host, s3port] = addressOf(e.AWS_ENDPOINT_URL_S3 ?? '');
      assert.equal(`:${s3port}`, argAfter(compose.services[s3host]?.command, '--port'), `${name}: AWS_ENDPOINT_URL_S3`);
      const listeners = (compose.services.kafka as { environment?: Record<string, string> }).environment
        ?.KAFKA_ADVERTISED_LISTENERS;
      for (const b of (e.KAFKA_BROKERS ?? '').split(','))
        assert.ok(listeners?.includes(`//${b}`), `${name}: KAFKA_BROKERS ${b} is not an advertised listener`);
    }
  });

  it("has Prometheus scrape every ragline service's metrics port", () => {
    const prom = parse(compose.configs?.['prometheus-config']?.content ?? '') as {
      scrape_configs: { static_configs?: { targets: string[] }[] }[];
    };
    const targets = prom.scrape_configs.flatMap((j) => (j.static_configs ?? []).flatMap((c) => c.targets));
    for (const [name, s] of ragline) {
      const port = processKind(argsOf(name, s)) === 'trigger' ? METRICS_PORTS.trigger : METRICS_PORTS.worker;
      assert.ok(s.expose?.map(String).includes(String(port)), `${name} does not expose ${port}`);
      assert.ok(targets.includes(`${name}:${port}`), `Prometheus does not scrape ${name}:${port}`);
    }
    assert.ok(targets.includes(`embed-server:${argAfter(compose.services['embed-server']?.command, '--port')}`));
  });

  it('keeps the GPU server behind the gpu profile, with a GPU reserved, so the stack starts without one', () => {
    const server = compose.services['embed-server']!;
    assert.deepEqual(server.profiles, ['gpu']);
    assert.deepEqual(server.deploy?.resources?.reservations?.devices, [{ driver: 'nvidia', count: 1, capabilities: ['gpu'] }]);
    assert.equal(basename(typeof server.build === 'string' ? server.build : (server.build?.context ?? '')), 'embed-server');
    assert.equal(argAfter(server.command, '--device'), 'cuda');
    // `command` is appended to the image's entrypoint (python -m ragline_embed_server): it must not repeat it.
    assert.ok(String((server.command as string[])[0]).startsWith('--'), 'the command repeats the entrypoint');
    const modelDir = argAfter(server.command, '--model-dir');
    const mounts = (server.volumes ?? []).map((v) => (typeof v === 'string' ? interpolate(v).split(':')[1] : undefined));
    assert.ok(mounts.includes(modelDir), `the server's ${modelDir} is not mounted`);
    // A service outside the profile may wait for the server only as an optional dependency.
    for (const [name, s] of services.filter(([, s]) => !s.profiles)) {
      const d = s.depends_on;
      const onServer = Array.isArray(d)
        ? d.includes('embed-server')
        : d?.['embed-server'] && d['embed-server'].required !== false;
      assert.ok(!onServer, `${name} requires embed-server, which runs only with the gpu profile`);
    }
  });
});
