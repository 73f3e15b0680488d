import type { K8sObject } from './k8s-schema.ts';

// Plain readers over rendered manifests, typed just enough for the checks in k8s.test.ts.

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    secretKeyRef?: { name: string; key: string; optional?: boolean };
  };
}
export interface Probe {
  httpGet?: { path?: string; port: number | string };
}
export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  restartPolicy?: string;
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
    seccompProfile?: { type?: string };
  };
  volumeMounts?: { name: string; mountPath: string }[];
}
export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  terminationGracePeriodSeconds?: number;
  automountServiceAccountToken?: boolean;
  nodeSelector?: Record<string, string>;
  tolerations?: { key?: string }[];
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    seccompProfile?: { type?: string };
  };
  volumes?: {
    name: string;
    configMap?: { name: string };
    secret?: { secretName: string };
    persistentVolumeClaim?: { claimName: string };
    emptyDir?: object;
  }[];
}
export interface Deployment extends K8sObject {
  spec: {
    replicas?: number;
    selector: { matchLabels?: Record<string, string> };
    template: { metadata?: { labels?: Record<string, string> }; spec: PodSpec };
  };
}
export interface ScaledObject extends K8sObject {
  spec: {
    scaleTargetRef: { name: string; kind?: string; apiVersion?: string };
    minReplicaCount?: number;
    maxReplicaCount?: number;
    triggers: { type: string; metadata: Record<string, string> }[];
  };
}

export const ofKind = <T extends K8sObject>(objects: K8sObject[], kind: string): T[] =>
  objects.filter((o) => o.kind === kind) as T[];

export const deployments = (objects: K8sObject[]): Deployment[] => ofKind<Deployment>(objects, 'Deployment');

/** Every container of a pod, sidecars (init containers that keep running) and init containers included. */
export function allContainers(pod: PodSpec): Container[] {
  return [...(pod.initContainers ?? []), ...pod.containers];
}

/** Whether `selector` selects pods labelled `labels` (matchLabels only: the manifests use nothing else). */
export function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  const wanted = Object.entries(selector ?? {});
  return wanted.length > 0 && wanted.every(([k, v]) => labels?.[k] === v);
}

/** A ConfigMap or Secret's keys (data, stringData and binaryData). */
export function keysOf(o: K8sObject): Set<string> {
  const r = o as { data?: object; stringData?: object; binaryData?: object };
  return new Set([...Object.keys(r.data ?? {}), ...Object.keys(r.stringData ?? {}), ...Object.keys(r.binaryData ?? {})]);
}

/** Values of a Secret, decoded. */
export function secretValues(o: K8sObject): Record<string, string> {
  const r = o as { data?: Record<string, string>; stringData?: Record<string, string> };
  const decoded = Object.entries(r.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]);
  return { ...Object.fromEntries(decoded), ...(r.stringData ?? {}) };
}

/** The value an env var gets in `objects`: inline, or from the ConfigMap key it names. */
export function envValue(objects: K8sObject[], c: Container, name: string): string | undefined {
  const v = c.env?.find((e) => e.name === name);
  if (!v) return undefined;
  if (v.value !== undefined) return v.value;
  const ref = v.valueFrom?.configMapKeyRef;
  if (!ref) return undefined;
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === ref.name) as
    { data?: Record<string, string> } | undefined;
  return cm?.data?.[ref.key];
}

/** A resource quantity in base units (cores, bytes), for comparisons. */
export function quantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(q);
  if (!m) return NaN;
  const scale: Record<string, number> = {
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
  };
  return Number(m[1]) * (m[2] ? scale[m[2]]! : 1);
}
