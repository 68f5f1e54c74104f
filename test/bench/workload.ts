/**
 * The objects and Pods the benchmarks run on, as pure functions of the scale, and their
 * creation through the API. At scale 1: 20 namespaces of 100 Pods each; every namespace has 25
 * referenced Secret names and 25 referenced ConfigMap names (1,000 distinct objects in all; in
 * each namespace one of each kind does not exist and one is immutable), its
 * `kube-root-ca.crt` ConfigMap (which every Pod references through the projected
 * service-account volume that admission would add), 5 + 5 objects only churn Pods reference,
 * and 75 + 75 objects no Pod references (for the informer alternative).
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { KubeClient } from '../../src/kube/client.ts';
import { ResourceClient } from '../../src/kube/resource.ts';
import type { CachedKind } from './protocol.ts';

/** Sizes of the workload. */
export interface WorkloadShape {
  readonly namespaces: readonly string[];
  readonly podsPerNamespace: number;
  /** Referenced names per kind and namespace; index 0 never exists, index 1 is immutable. */
  readonly referencedPerKind: number;
  /** Objects per kind and namespace that only churn Pods reference (one more name is missing). */
  readonly churnOnlyPerKind: number;
  /** Objects per kind and namespace that no Pod references. */
  readonly unreferencedPerKind: number;
  /** Distinct node names the Pods are bound to. */
  readonly nodes: number;
}

/** The ConfigMap every namespace carries and every Pod with a service-account volume reads. */
export const ROOT_CA_CONFIG_MAP = 'kube-root-ca.crt';

/** Label on every Pod the bench creates; its value is `base` or `churn`. */
export const ROLE_LABEL = 'bench.objectcache.dev/role';

/** The workload at `scale` (1 is the default for a 2-core machine). */
export function workloadShape(scale: number): WorkloadShape {
  const count = Math.max(1, Math.round(20 * scale));
  return {
    namespaces: Array.from({ length: count }, (_, i) => `bench-${String(i).padStart(3, '0')}`),
    podsPerNamespace: 100,
    referencedPerKind: 25,
    churnOnlyPerKind: 5,
    unreferencedPerKind: 75,
    nodes: 10,
  };
}

/** A Secret or ConfigMap of the workload, whether created or only referenced. */
export interface PlannedObject {
  readonly kind: CachedKind;
  readonly namespace: string;
  readonly name: string;
  /** False for names Pods reference but that are never created. */
  readonly exists: boolean;
  readonly immutable: boolean;
  /** Referenced by the base Pods. */
  readonly referenced: boolean;
}

/** Key of an object in maps: `<kind>/<namespace>/<name>`. */
export function objectKey(kind: CachedKind, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

function referencedName(kind: CachedKind, index: number): string {
  return `${kind === 'secret' ? 's' : 'c'}-${String(index).padStart(2, '0')}`;
}

function churnOnlyName(kind: CachedKind, index: number): string {
  return `churn-${kind === 'secret' ? 's' : 'c'}-${index}`;
}

/** Every object of the workload, referenced ones first. */
export function planObjects(shape: WorkloadShape): PlannedObject[] {
  const objects: PlannedObject[] = [];
  const kinds: CachedKind[] = ['secret', 'configmap'];
  for (const namespace of shape.namespaces) {
    for (const kind of kinds) {
      for (let i = 0; i < shape.referencedPerKind; i++) {
        const name = referencedName(kind, i);
        objects.push({
          kind,
          namespace,
          name,
          exists: i !== 0,
          immutable: i === 1,
          referenced: true,
        });
      }
      for (let i = 0; i <= shape.churnOnlyPerKind; i++) {
        const name = churnOnlyName(kind, i);
        const exists = i < shape.churnOnlyPerKind;
        objects.push({ kind, namespace, name, exists, immutable: false, referenced: false });
      }
      for (let i = 0; i < shape.unreferencedPerKind; i++) {
        const name = `x-${kind === 'secret' ? 's' : 'c'}-${String(i).padStart(3, '0')}`;
        objects.push({ kind, namespace, name, exists: true, immutable: false, referenced: false });
      }
    }
    objects.push({
      kind: 'configmap',
      namespace,
      name: ROOT_CA_CONFIG_MAP,
      exists: true,
      immutable: false,
      referenced: true,
    });
  }
  return objects;
}

/**
 * The mutable objects that exist and that base Pods reference, in an order that alternates
 * kinds and namespaces: the candidates of the propagation scenario.
 */
export function propagationTargets(shape: WorkloadShape, count: number): PlannedObject[] {
  const candidates = planObjects(shape).filter(
    (o) => o.referenced && o.exists && !o.immutable && o.name !== ROOT_CA_CONFIG_MAP,
  );
  const byNamespace = shape.namespaces.map((namespace) => ({
    secret: candidates.filter((o) => o.namespace === namespace && o.kind === 'secret'),
    configmap: candidates.filter((o) => o.namespace === namespace && o.kind === 'configmap'),
  }));
  const out: PlannedObject[] = [];
  for (let round = 0; out.length < count && round < shape.referencedPerKind; round++) {
    for (const group of byNamespace) {
      for (const kind of ['secret', 'configmap'] as const) {
        const object = group[kind][round];
        if (object !== undefined && out.length < count) out.push(object);
      }
    }
  }
  return out;
}

/** Filler text of a given length, the same for the same seed. Not secret: bench data only. */
function filler(seed: string, length: number): string {
  let out = '';
  let state = 0;
  for (const char of seed) state = (state * 31 + char.charCodeAt(0)) >>> 0;
  while (out.length < length) {
    state = (state * 1103515245 + 12345) >>> 0;
    out += (state >>> 8).toString(36);
  }
  return out.slice(0, length);
}

/** The manifest of one planned object that exists; `caPem` fills `kube-root-ca.crt`. */
export function objectManifest(object: PlannedObject, caPem: string): Record<string, unknown> {
  const metadata = { name: object.name, namespace: object.namespace };
  const immutable = object.immutable ? { immutable: true } : {};
  if (object.kind === 'secret') {
    const base64 = (text: string): string => Buffer.from(text).toString('base64');
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata,
      type: 'Opaque',
      data: { username: base64(`user-${object.name}`), token: base64(filler(object.name, 256)) },
      ...immutable,
    };
  }
  const data =
    object.name === ROOT_CA_CONFIG_MAP
      ? { 'ca.crt': caPem }
      : { 'app.properties': filler(object.name, 512), mode: 'bench' };
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata, data, ...immutable };
}

/** Names one Pod references besides `kube-root-ca.crt`. */
export interface PodNames {
  readonly volumeSecret: string;
  readonly envSecret: string;
  readonly volumeConfigMap: string;
  readonly envFromConfigMap: string;
}

/** The names base Pod `index` of a namespace references. */
export function basePodNames(shape: WorkloadShape, index: number): PodNames {
  const n = shape.referencedPerKind;
  return {
    volumeSecret: referencedName('secret', index % n),
    envSecret: referencedName('secret', (index * 7 + 3) % n),
    volumeConfigMap: referencedName('configmap', index % n),
    envFromConfigMap: referencedName('configmap', (index * 11 + 5) % n),
  };
}

/** The names churn Pod `index` references: base objects and objects only churn Pods use. */
export function churnPodNames(shape: WorkloadShape, index: number): PodNames {
  const churnNames = shape.churnOnlyPerKind + 1;
  return {
    volumeSecret: churnOnlyName('secret', index % churnNames),
    envSecret: referencedName('secret', (index * 13 + 1) % shape.referencedPerKind),
    volumeConfigMap: churnOnlyName('configmap', (index * 3) % churnNames),
    envFromConfigMap: referencedName('configmap', (index * 17 + 2) % shape.referencedPerKind),
  };
}

/**
 * A Pod bound to a node (no scheduler runs) with a Secret and a ConfigMap volume, a Secret env
 * reference, a ConfigMap envFrom, and the projected service-account volume that admission adds,
 * which references `kube-root-ca.crt`.
 */
export function podManifest(
  namespace: string,
  name: string,
  node: string,
  names: PodNames,
  role: 'base' | 'churn',
): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { [ROLE_LABEL]: role } },
    spec: {
      nodeName: node,
      // The account need not exist (its admission plugin is off); a token source needs a name.
      serviceAccountName: 'default',
      containers: [
        {
          name: 'app',
          image: 'registry.k8s.io/pause:3.10',
          env: [
            {
              name: 'TOKEN',
              valueFrom: { secretKeyRef: { name: names.envSecret, key: 'token', optional: true } },
            },
          ],
          envFrom: [{ configMapRef: { name: names.envFromConfigMap, optional: true } }],
          volumeMounts: [
            { name: 'creds', mountPath: '/creds' },
            { name: 'config', mountPath: '/config' },
            {
              name: 'kube-api-access',
              mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
              readOnly: true,
            },
          ],
        },
      ],
      volumes: [
        { name: 'creds', secret: { secretName: names.volumeSecret, optional: true } },
        { name: 'config', configMap: { name: names.volumeConfigMap, optional: true } },
        {
          name: 'kube-api-access',
          projected: {
            defaultMode: 420,
            sources: [
              { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
              {
                configMap: {
                  name: ROOT_CA_CONFIG_MAP,
                  items: [{ key: 'ca.crt', path: 'ca.crt' }],
                },
              },
              {
                downwardAPI: {
                  items: [
                    {
                      path: 'namespace',
                      fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' },
                    },
                  ],
                },
              },
            ],
          },
        },
      ],
    },
  };
}

/** The base Pods of the workload. */
export function basePods(shape: WorkloadShape): V1Pod[] {
  return shape.namespaces.flatMap((namespace) =>
    Array.from({ length: shape.podsPerNamespace }, (_, i) =>
      podManifest(
        namespace,
        `pod-${String(i).padStart(4, '0')}`,
        `node-${i % shape.nodes}`,
        basePodNames(shape, i),
        'base',
      ),
    ),
  );
}

/** Runs `task` on every item with at most `concurrency` in flight; rejects on the first error. */
export async function inPool<T>(
  items: readonly T[],
  concurrency: number,
  task: (item: T) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      signal?.throwIfAborted();
      const item = items[next++] as T;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/** Typed clients of the kinds the bench writes. */
export interface BenchResources {
  readonly namespaces: ResourceClient<{ metadata?: { name?: string } }>;
  readonly secrets: ResourceClient<ObjectWithVersion>;
  readonly configMaps: ResourceClient<ObjectWithVersion>;
  readonly pods: ResourceClient<V1Pod>;
}

/** The part of an object the bench reads back. */
export interface ObjectWithVersion {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; uid?: string };
}

/** Clients of the kinds the bench writes, through `client`. */
export function benchResources(client: KubeClient): BenchResources {
  const core = (plural: string): { group: string; version: string; plural: string } => ({
    group: '',
    version: 'v1',
    plural,
  });
  return {
    namespaces: new ResourceClient(client, core('namespaces')),
    secrets: new ResourceClient(client, core('secrets')),
    configMaps: new ResourceClient(client, core('configmaps')),
    pods: new ResourceClient(client, core('pods')),
  };
}

/** What creating the workload produced. */
export interface CreatedWorkload {
  /** resourceVersion of every object that exists, by {@link objectKey}. */
  readonly versions: Map<string, string>;
  readonly objects: number;
  readonly pods: number;
  readonly elapsedMs: number;
}

/** Creates the namespaces, the objects that exist and the base Pods. */
export async function createWorkload(
  resources: BenchResources,
  shape: WorkloadShape,
  caPem: string,
  signal: AbortSignal,
): Promise<CreatedWorkload> {
  const startedAt = performance.now();
  const concurrency = 32;

  await inPool(
    shape.namespaces,
    concurrency,
    async (name) => {
      await resources.namespaces.create('', { metadata: { name } }, signal);
    },
    signal,
  );

  const versions = new Map<string, string>();
  const existing = planObjects(shape).filter((object) => object.exists);
  await inPool(
    existing,
    concurrency,
    async (object) => {
      const client = object.kind === 'secret' ? resources.secrets : resources.configMaps;
      const created = await client.create(object.namespace, objectManifest(object, caPem), signal);
      const key = objectKey(object.kind, object.namespace, object.name);
      versions.set(key, created.metadata?.resourceVersion ?? '');
    },
    signal,
  );

  const pods = basePods(shape);
  await inPool(
    pods,
    concurrency,
    async (pod) => {
      await resources.pods.create(pod.metadata?.namespace ?? '', pod, signal);
    },
    signal,
  );

  return {
    versions,
    objects: existing.length,
    pods: pods.length,
    elapsedMs: performance.now() - startedAt,
  };
}
