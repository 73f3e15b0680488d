import { join } from 'node:path';
import ts from 'typescript';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';

// Two checks per object, because neither is enough alone: the models' JSON-schema validators (Kubernetes 1.27 and
// KEDA's CRD) catch wrong types, missing required fields and bad formats but accept unknown fields, which the API
// server would drop in silence (a misspelt `terminationGracePeriodSecond` just vanishes); the models' TypeScript
// interfaces catch exactly those, through the compiler's excess-property check on each object as a literal.

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

interface Kind {
  validate(o: K8sObject): void;
  /** Module and interface name of the object's TypeScript model. */
  types: [module: string, iface: string];
}

const model = (M: new (o: never) => { validate(): void }, module: string, iface: string): Kind => ({
  validate: (o) => new M(o as never).validate(),
  types: [module, iface],
});

/** Every apiVersion/kind the manifests may use; anything else is an error (no schema to check it against). */
export const KINDS: Record<string, Kind> = {
  'v1/Namespace': model(Namespace, 'kubernetes-models/v1/Namespace', 'INamespace'),
  'v1/ConfigMap': model(ConfigMap, 'kubernetes-models/v1/ConfigMap', 'IConfigMap'),
  'v1/Secret': model(Secret, 'kubernetes-models/v1/Secret', 'ISecret'),
  'v1/Service': model(Service, 'kubernetes-models/v1/Service', 'IService'),
  'v1/PersistentVolumeClaim': model(
    PersistentVolumeClaim,
    'kubernetes-models/v1/PersistentVolumeClaim',
    'IPersistentVolumeClaim',
  ),
  'apps/v1/Deployment': model(Deployment, 'kubernetes-models/apps/v1/Deployment', 'IDeployment'),
  'policy/v1/PodDisruptionBudget': model(
    PodDisruptionBudget,
    'kubernetes-models/policy/v1/PodDisruptionBudget',
    'IPodDisruptionBudget',
  ),
  'keda.sh/v1alpha1/ScaledObject': model(ScaledObject, '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject', 'IScaledObject'),
};

export const kindKey = (o: Pick<K8sObject, 'apiVersion' | 'kind'>): string => `${o.apiVersion}/${o.kind}`;
export const describe = (o: K8sObject): string => `${o.kind} ${o.metadata?.name}`;

/** Schema validation of one object; returns the problems (empty when valid). */
export function schemaProblems(o: K8sObject): string[] {
  const kind = KINDS[kindKey(o)];
  if (!kind) return [`${describe(o)}: no schema for ${kindKey(o)}`];
  try {
    kind.validate(o);
    return [];
  } catch (err) {
    return [`${describe(o)}: ${(err as Error).message}`];
  }
}

/**
 * Compiles every object as a literal of its model's interface (one line each) and returns the compiler's complaints
 * per object: unknown fields, and wrong shapes the schemas let through.
 */
export function typeProblems(objects: K8sObject[]): string[] {
  const file = join(import.meta.dirname, '__k8s_objects__.ts'); // never written: served to the compiler from memory
  const known = objects.filter((o) => KINDS[kindKey(o)]);
  const imports = [...new Set(known.map((o) => KINDS[kindKey(o)]!.types.join('|')))].map((t) => {
    const [module, iface] = t.split('|');
    return `import type { ${iface} } from '${module}';`;
  });
  const lines = known.map((o, i) => `export const o${i}: ${KINDS[kindKey(o)]!.types[1]} = ${JSON.stringify(o)};`);
  const source = [...imports, ...lines].join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2022.d.ts'],
    types: [],
    skipLibCheck: true,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) =>
    name === file ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, ...rest);
  host.fileExists = (name) => name === file || fileExists(name);
  host.readFile = (name) => (name === file ? source : readFile(name));
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, ' ');
    if (d.file?.fileName !== file || d.start === undefined) return message;
    const line = d.file.getLineAndCharacterOfPosition(d.start).line - imports.length;
    const o = known[line];
    return o ? `${describe(o)}: ${message}` : message;
  });
}
