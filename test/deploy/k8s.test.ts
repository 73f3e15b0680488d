import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { METRICS_PORTS } from '../../cli/metrics.ts';
import { DEFAULT_TRIGGER_GROUP } from '../../connectors/events/trigger-config.ts';
import { loadStackConfig } from '../../infra/config.ts';
import { installKustomize, kustomizeBuild } from '../../infra/kustomize.ts';
import { validatePipelineSpec, type PipelineSpec } from '../../pipeline/spec.ts';
import { taskQueues } from '../../workflows/types.ts';
import { checkIngestArgs, processKind, type IngestArgs } from './ingest-args.ts';
import {
  allContainers,
  deployments,
  envValue,
  keysOf,
  ofKind,
  quantity,
  secretValues,
  selects,
  type Container,
  type Deployment,
  type ScaledObject,
} from './k8s-objects.ts';
import { schemaProblems, typeProblems, type K8sObject } from './k8s-schema.ts';

// Renders deploy/k8s (base and every overlay) with a real kustomize, validates every object against the Kubernetes
// and KEDA schemas, and checks that the objects fit together and fit the code: references resolve, the processes
// run real `ingest` commands on a spec the project accepts, KEDA watches the queues and topics the code uses.
// RAGLINE_K8S_DIR points the checks at another folder, e.g. a broken copy, to prove they can fail.

const ROOT = join(import.meta.dirname, '..', '..');
const K8S = process.env.RAGLINE_K8S_DIR ?? join(ROOT, 'deploy', 'k8s');
const NAMESPACE = 'ragline';
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

const overlays = readdirSync(join(K8S, 'overlays')).filter((d) => existsSync(join(K8S, 'overlays', d, 'kustomization.yaml')));
const targets = ['base', ...overlays.map((o) => `overlays/${o}`)];
const kustomize = await installKustomize(loadStackConfig(), (line) => console.error(`[kustomize] ${line}`));
const rendered = new Map<string, K8sObject[]>();
for (const t of targets) {
  const docs = parseAllDocuments(await kustomizeBuild(kustomize, join(K8S, t)));
  rendered.set(
    t,
    docs.map((d) => d.toJSON() as K8sObject),
  );
}

const argsSeen = new Map<string, IngestArgs>();
/** `ingest` arguments of a container of the worker image (memoised: each distinct command line is asked once). */
function ingestArgs(c: Container, where: string): IngestArgs {
  const key = JSON.stringify(c.args ?? []);
  if (!argsSeen.has(key)) argsSeen.set(key, checkIngestArgs(c.args ?? [], where));
  return argsSeen.get(key)!;
}
const runsIngest = (c: Container): boolean => /(^|\/)ragline:/.test(c.image ?? '') && !c.command;
const hasGpu = (o: K8sObject): boolean => /nvidia\.com\/gpu/.test(JSON.stringify(o));

/** The pipeline spec the render mounts: the ConfigMap generated from pipeline.yaml, parsed by the project's parser. */
function pipelineOf(objects: K8sObject[]): { configMap: K8sObject; spec: PipelineSpec } {
  const cms = ofKind<K8sObject & { data: Record<string, string> }>(objects, 'ConfigMap').filter((o) =>
    keysOf(o).has('pipeline.yaml'),
  );
  assert.equal(cms.length, 1, 'exactly one ConfigMap holds pipeline.yaml');
  const [cm] = cms as [K8sObject & { data: Record<string, string> }];
  return { configMap: cm, spec: validatePipelineSpec(parse(cm.data['pipeline.yaml']!), `${cm.metadata.name}/pipeline.yaml`) };
}

/** The containers that run `ingest`, with what each runs. */
function processes(objects: K8sObject[]): { d: Deployment; c: Container; args: IngestArgs }[] {
  return deployments(objects).flatMap((d) =>
    allContainers(d.spec.template.spec)
      .filter(runsIngest)
      .map((c) => ({ d, c, args: ingestArgs(c, `${d.metadata.name}/${c.name}`) })),
  );
}

/** Every `{ env: NAME }` secret reference in a spec. */
function envRefs(v: unknown): string[] {
  if (Array.isArray(v)) return v.flatMap(envRefs);
  if (typeof v !== 'object' || v === null) return [];
  const o = v as Record<string, unknown>;
  if (Object.keys(o).length === 1 && typeof o.env === 'string') return [o.env];
  return Object.values(o).flatMap(envRefs);
}

describe(`deploy/k8s (${K8S}) rendered by kustomize`, () => {
  it('has a base and a cpu and a gpu overlay', () => {
    assert.ok(overlays.includes('cpu') && overlays.includes('gpu'), `overlays: ${overlays.join(', ')}`);
  });

  for (const target of targets) {
    const objects = rendered.get(target)!;
    const gpuOverlay = target === 'overlays/gpu';

    describe(target, () => {
      it('every object passes its Kubernetes or KEDA schema', () => {
        assert.ok(objects.length > 0, 'kustomize rendered nothing');
        assert.deepEqual(objects.flatMap(schemaProblems), []);
      });

      it('no object has a field its schema does not know (which the API server would drop)', () => {
        assert.deepEqual(typeProblems(objects), []);
      });

      it(`everything lives in the namespace ${NAMESPACE}, which it creates`, () => {
        const ns = ofKind(objects, 'Namespace');
        assert.deepEqual(
          ns.map((n) => n.metadata.name),
          [NAMESPACE],
        );
        for (const o of objects.filter((o) => o.kind !== 'Namespace'))
          assert.equal(o.metadata.namespace, NAMESPACE, `${o.kind} ${o.metadata.name}`);
        const ids = objects.map((o) => `${o.kind}/${o.metadata.name}`);
        assert.deepEqual(
          ids.filter((id, i) => ids.indexOf(id) !== i),
          [],
          'duplicate objects',
        );
      });

      it('every reference points at something that exists', () => {
        const named = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);
        for (const d of deployments(objects)) {
          const pod = d.spec.template.spec;
          const where = `Deployment ${d.metadata.name}`;
          assert.ok(selects(d.spec.selector.matchLabels, d.spec.template.metadata?.labels), `${where}: selector misses its pods`);
          const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
          for (const v of volumes.values()) {
            if (v.configMap) assert.ok(named('ConfigMap', v.configMap.name), `${where}: no ConfigMap ${v.configMap.name}`);
            if (v.secret) assert.ok(named('Secret', v.secret.secretName), `${where}: no Secret ${v.secret.secretName}`);
            const claim = v.persistentVolumeClaim?.claimName;
            if (claim) assert.ok(named('PersistentVolumeClaim', claim), `${where}: no PersistentVolumeClaim ${claim}`);
          }
          for (const c of allContainers(pod)) {
            for (const e of c.env ?? []) {
              for (const [kind, ref] of [
                ['ConfigMap', e.valueFrom?.configMapKeyRef],
                ['Secret', e.valueFrom?.secretKeyRef],
              ] as const) {
                if (!ref) continue;
                const o = named(kind, ref.name);
                assert.ok(o, `${where}/${c.name}: env ${e.name} names a missing ${kind} ${ref.name}`);
                assert.ok(keysOf(o).has(ref.key), `${where}/${c.name}: ${kind} ${ref.name} has no key ${ref.key}`);
              }
            }
            for (const m of c.volumeMounts ?? []) assert.ok(volumes.has(m.name), `${where}/${c.name}: no volume ${m.name}`);
            const ports = new Set((c.ports ?? []).flatMap((p) => [p.name, p.containerPort]));
            for (const p of [c.readinessProbe, c.livenessProbe, c.startupProbe])
              if (p?.httpGet) assert.ok(ports.has(p.httpGet.port), `${where}/${c.name}: probe port ${p.httpGet.port}`);
          }
        }
        for (const s of ofKind<K8sObject & { spec: { selector: Record<string, string>; ports: { targetPort: string }[] } }>(
          objects,
          'Service',
        )) {
          const pods = deployments(objects).filter((d) => selects(s.spec.selector, d.spec.template.metadata?.labels));
          assert.ok(pods.length > 0, `Service ${s.metadata.name} selects no pods`);
          for (const p of s.spec.ports) {
            const found = pods.some((d) =>
              allContainers(d.spec.template.spec).some((c) => c.ports?.some((cp) => cp.name === p.targetPort)),
            );
            assert.ok(found, `Service ${s.metadata.name}: no selected container has port ${p.targetPort}`);
          }
        }
        for (const pdb of ofKind<K8sObject & { spec: { selector: { matchLabels: Record<string, string> } } }>(
          objects,
          'PodDisruptionBudget',
        )) {
          const pods = deployments(objects).filter((d) =>
            selects(pdb.spec.selector.matchLabels, d.spec.template.metadata?.labels),
          );
          assert.equal(pods.length, 1, `PodDisruptionBudget ${pdb.metadata.name} selects ${pods.length} Deployments`);
        }
        for (const so of ofKind<ScaledObject>(objects, 'ScaledObject')) {
          const ref = so.spec.scaleTargetRef;
          assert.equal(ref.kind ?? 'Deployment', 'Deployment');
          const d = named('Deployment', ref.name) as Deployment | undefined;
          assert.ok(d, `ScaledObject ${so.metadata.name} targets a missing Deployment ${ref.name}`);
          // A replicas field would fight the HPA KEDA makes at every apply.
          assert.equal(d.spec.replicas, undefined, `Deployment ${ref.name} is scaled by KEDA but sets replicas`);
        }
      });

      it('pins every image to a version, never latest', () => {
        for (const d of deployments(objects)) {
          for (const c of allContainers(d.spec.template.spec)) {
            const tag = /:([^:/@]+)$/.exec(c.image ?? '')?.[1];
            assert.ok(tag || c.image?.includes('@sha256:'), `${d.metadata.name}/${c.name}: image ${c.image} has no tag`);
            if (tag) assert.ok(tag !== 'latest' && /\d/.test(tag), `${d.metadata.name}/${c.name}: tag ${tag}`);
            // Our own images carry the project's version.
            if (/^ragline(-embed-server)?:/.test(c.image ?? '')) assert.equal(tag, pkg.version, `${c.image}`);
          }
        }
      });

      it('runs every container as non-root, locked down, with resource requests and probes', () => {
        for (const d of deployments(objects)) {
          const pod = d.spec.template.spec;
          const where = `Deployment ${d.metadata.name}`;
          assert.equal(pod.securityContext?.runAsNonRoot, true, `${where}: runAsNonRoot`);
          assert.ok((pod.securityContext?.runAsUser ?? 0) > 0, `${where}: runAsUser`);
          assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault', `${where}: seccomp`);
          assert.equal(pod.automountServiceAccountToken, false, `${where}: service account token mounted`);
          assert.ok((pod.terminationGracePeriodSeconds ?? 30) >= 60, `${where}: too short a grace to drain`);
          for (const c of allContainers(pod)) {
            const sc = c.securityContext;
            assert.notEqual(sc?.runAsNonRoot, false, `${where}/${c.name}: runAsNonRoot false`);
            assert.notEqual(sc?.runAsUser, 0, `${where}/${c.name}: runs as root`);
            assert.equal(sc?.allowPrivilegeEscalation, false, `${where}/${c.name}: allowPrivilegeEscalation`);
            assert.equal(sc?.readOnlyRootFilesystem, true, `${where}/${c.name}: readOnlyRootFilesystem`);
            assert.deepEqual(sc?.capabilities?.drop, ['ALL'], `${where}/${c.name}: capabilities`);
            assert.equal(sc?.capabilities?.add, undefined, `${where}/${c.name}: adds capabilities`);
            // A read-only root needs a writable /tmp.
            assert.ok(
              c.volumeMounts?.some((m) => m.mountPath === '/tmp'),
              `${where}/${c.name}: no writable /tmp`,
            );
            for (const r of ['cpu', 'memory'])
              assert.ok(c.resources?.requests?.[r] !== undefined, `${where}/${c.name}: no ${r} request`);
            const mem = c.resources?.limits?.memory;
            assert.ok(mem !== undefined, `${where}/${c.name}: no memory limit`);
            assert.ok(quantity(mem) >= quantity(c.resources!.requests!.memory!), `${where}/${c.name}: limit under request`);
            assert.ok(c.readinessProbe?.httpGet && c.livenessProbe?.httpGet, `${where}/${c.name}: probes`);
          }
        }
      });

      it('keeps secrets out of the manifests: placeholders only, read through secretKeyRef', () => {
        for (const s of ofKind(objects, 'Secret'))
          for (const [k, v] of Object.entries(secretValues(s))) assert.equal(v, 'replace-me', `Secret ${s.metadata.name} ${k}`);
        for (const d of deployments(objects))
          for (const c of allContainers(d.spec.template.spec))
            for (const e of c.env ?? [])
              if (/KEY|SECRET|PASSWORD|TOKEN/.test(e.name))
                assert.ok(e.valueFrom?.secretKeyRef, `${d.metadata.name}/${c.name}: ${e.name} not from a Secret`);
        for (const cm of ofKind(objects, 'ConfigMap'))
          for (const k of keysOf(cm))
            assert.doesNotMatch(k, /KEY_ID|SECRET|PASSWORD|TOKEN/, `ConfigMap ${cm.metadata.name} holds ${k}`);
      });

      it(gpuOverlay ? 'asks for GPUs only for the embedding server' : 'asks for no GPU', () => {
        const withGpu = objects.filter(hasGpu).map((o) => `${o.kind}/${o.metadata.name}`);
        if (!gpuOverlay) return assert.deepEqual(withGpu, []);
        assert.deepEqual(withGpu, ['Deployment/ragline-embed-server']);
        const pod = (objects.find((o) => o.metadata.name === 'ragline-embed-server') as Deployment).spec.template.spec;
        const gpus = allContainers(pod).filter((c) => c.resources?.limits?.['nvidia.com/gpu'] !== undefined);
        assert.deepEqual(
          gpus.map((c) => [c.name, c.resources?.limits?.['nvidia.com/gpu']]),
          [['server', 1]],
        );
        assert.ok(
          pod.tolerations?.some((t) => t.key === 'nvidia.com/gpu'),
          'no toleration for GPU nodes',
        );
        assert.ok(
          Object.keys(pod.nodeSelector ?? {}).some((k) => k.startsWith('nvidia.com/')),
          'no GPU node selector',
        );
      });

      it('runs real ingest commands, each reading the pipeline spec from its ConfigMap', () => {
        const { configMap } = pipelineOf(objects);
        const procs = processes(objects);
        assert.ok(procs.length > 0, 'no ingest process');
        for (const { d, c, args } of procs) {
          const where = `${d.metadata.name}/${c.name}`;
          assert.ok(args.pipeline, `${where}: no --pipeline`);
          const pod = d.spec.template.spec;
          const mount = c.volumeMounts?.find((m) => m.mountPath === dirname(args.pipeline!));
          const volume = pod.volumes?.find((v) => v.name === mount?.name);
          assert.equal(
            volume?.configMap?.name,
            configMap.metadata.name,
            `${where}: ${args.pipeline} is not the spec's ConfigMap`,
          );
          assert.ok(
            keysOf(configMap).has(basename(args.pipeline!)),
            `${where}: the ConfigMap has no ${basename(args.pipeline!)}`,
          );
        }
      });

      it('gives every process each secret and setting the spec and the code read', () => {
        const { spec } = pipelineOf(objects);
        const needed = [...envRefs(spec), ...(spec.ledger.kind === 'postgres' && !spec.ledger.password ? ['PGPASSWORD'] : [])];
        for (const { d, c, args } of processes(objects)) {
          const names = new Set((c.env ?? []).map((e) => e.name));
          const want = ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', ...(args.command === 'trigger' ? ['KAFKA_BROKERS'] : [])];
          // Workers build every connector (sinks, blob store, sources); the trigger only the ledger.
          if (args.command === 'worker')
            want.push(...needed, 'AWS_ENDPOINT_URL_S3', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY');
          else if (spec.ledger.kind === 'postgres') want.push('PGPASSWORD');
          for (const n of want) assert.ok(names.has(n), `${d.metadata.name}/${c.name}: no ${n}`);
          const port = args.command === 'trigger' ? METRICS_PORTS.trigger : METRICS_PORTS.worker;
          assert.ok(
            c.ports?.some((p) => p.name === 'metrics' && p.containerPort === port),
            `${d.metadata.name}: metrics port ${port}`,
          );
        }
      });

      it("scales with KEDA on the code's task queues and the spec's Kafka topics", () => {
        const { spec } = pipelineOf(objects);
        const queues = taskQueues(spec.name, spec.version);
        for (const so of ofKind<ScaledObject>(objects, 'ScaledObject')) {
          const d = deployments(objects).find((x) => x.metadata.name === so.spec.scaleTargetRef.name)!;
          const procs = processes([d]);
          assert.equal(procs.length, 1, `${so.metadata.name}: its target runs ${procs.length} ingest processes`);
          const { c, args } = procs[0]!;
          const kind = processKind(args);
          assert.ok((so.spec.minReplicaCount ?? 0) >= 1, `${so.metadata.name}: scales to zero`);
          for (const t of so.spec.triggers) {
            if (kind === 'trigger') {
              assert.equal(t.type, 'kafka', `${so.metadata.name}: a trigger scales on Kafka lag`);
              assert.equal(t.metadata.bootstrapServers, envValue(objects, c, 'KAFKA_BROKERS'));
              continue;
            }
            assert.equal(t.type, 'temporal', `${so.metadata.name}: a worker scales on its task queue`);
            assert.ok(kind === 'ingest' || kind === 'embed', `${so.metadata.name}: role ${kind}`);
            assert.equal(t.metadata.taskQueue, kind === 'ingest' ? queues.ingestQueue : queues.embedQueue);
            assert.equal(t.metadata.queueTypes, kind === 'ingest' ? 'workflow,activity' : 'activity');
            assert.equal(t.metadata.endpoint, envValue(objects, c, 'TEMPORAL_ADDRESS'), `${so.metadata.name}: endpoint`);
            assert.equal(t.metadata.namespace, envValue(objects, c, 'TEMPORAL_NAMESPACE'), `${so.metadata.name}: namespace`);
            assert.match(t.metadata.targetQueueSize ?? '', /^[1-9]\d*$/);
          }
          if (kind === 'trigger') {
            const topics = so.spec.triggers.map((t) => [t.metadata.topic, t.metadata.consumerGroup]);
            const declared = (spec.triggers ?? []).map((t) => [t.topic, t.groupId ?? DEFAULT_TRIGGER_GROUP]);
            assert.deepEqual(topics.sort(), declared.sort(), `${so.metadata.name}: topics and groups`);
          }
        }
      });

      if (target === 'base') return;

      it('runs every process a pipeline needs: ingest workers, embed workers and the trigger, each scaled', () => {
        const kinds = processes(objects).map((p) => processKind(p.args));
        for (const k of ['ingest', 'embed', 'trigger'] as const) assert.ok(kinds.includes(k), `no ${k} process`);
        const scaled = new Set(ofKind<ScaledObject>(objects, 'ScaledObject').map((s) => s.spec.scaleTargetRef.name));
        for (const d of deployments(objects)) assert.ok(scaled.has(d.metadata.name), `${d.metadata.name} is not scaled`);
      });

      if (!gpuOverlay) {
        it('embeds with the local model on the CPU', () => {
          assert.equal(pipelineOf(objects).spec.embedder.kind, 'local-onnx');
        });
        return;
      }

      it("embeds on the GPU server in the embed worker's own pod, with the base's pipeline otherwise", () => {
        const { spec } = pipelineOf(objects);
        assert.equal(spec.embedder.kind, 'pool');
        const d = deployments(objects).find((x) => x.metadata.name === 'ragline-embed-server')!;
        const pod = d.spec.template.spec;
        // The pool embedder sends to the server its worker names (RAGLINE_EMBED_SERVER): the pod's own.
        const worker = pod.containers.find((c) => c.name === 'worker');
        const serverUrl = worker?.env?.find((e) => e.name === 'RAGLINE_EMBED_SERVER')?.value;
        assert.ok(serverUrl, 'the embed worker names its server');
        const url = new URL(serverUrl);
        assert.ok(['127.0.0.1', 'localhost'].includes(url.hostname), `${url}: not the pod's own server`);
        const server = pod.initContainers?.find((c) => c.name === 'server');
        assert.ok(server, 'no server container');
        assert.equal(server.restartPolicy, 'Always', 'the server is a native sidecar: started first, stopped last');
        const args = [...(server.command ?? []), ...(server.args ?? [])];
        assert.deepEqual(args.slice(0, 3), ['python', '-m', 'ragline_embed_server']);
        assert.equal(args[args.indexOf('--port') + 1], url.port, 'the server listens where the embedder sends');
        assert.equal(args[args.indexOf('--device') + 1], 'cuda');
        assert.equal(args[args.indexOf('--model-id') + 1], (spec.embedder as { model: string }).model, 'the workers check it');
        assert.ok(server.ports?.some((p) => String(p.containerPort) === url.port));
        assert.equal(server.startupProbe?.httpGet?.path, '/health');
        const modelDir = args[args.indexOf('--model-dir') + 1];
        assert.ok(
          server.volumeMounts?.some((m) => m.mountPath === modelDir),
          `the server's ${modelDir} is not mounted`,
        );
        const workers = processes([d]).map((p) => processKind(p.args));
        assert.deepEqual(workers, ['embed'], 'one embed worker per server');
        // Nothing but the embedder differs from the base's spec.
        const base = pipelineOf(rendered.get('base')!).spec;
        assert.deepEqual({ ...spec, embedder: undefined }, { ...base, embedder: undefined });
      });
    });
  }
});
