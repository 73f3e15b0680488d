import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';

// RAGLINE_COMPOSE_FILE points the checks at another file, e.g. a broken copy, to prove they can fail.
// (Not COMPOSE_FILE: Docker Compose reads that one itself, often as a colon-separated list.)
const file = process.env.RAGLINE_COMPOSE_FILE ?? join(import.meta.dirname, '..', 'docker-compose.yml');

interface Service {
  image?: string;
  command?: string | string[];
  restart?: string;
  healthcheck?: { test?: unknown };
  ports?: (string | number | { published?: string | number })[];
  volumes?: (string | { type?: string; source?: string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
}
interface Compose {
  version?: unknown;
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
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

function namedVolume(v: string | { type?: string; source?: string }): string | undefined {
  let source: string | undefined;
  if (typeof v === 'string')
    source = v.includes(':') ? v.split(':')[0] : undefined; // "/path" alone is anonymous
  else if ((v.type ?? 'volume') === 'volume') source = v.source;
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
