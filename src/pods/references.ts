/**
 * Which Secrets and ConfigMaps a Pod references: exactly the names the kubelet registers with
 * its object managers (semantics rules 22 to 25), split into the names used through volumes
 * and the rest. Pure functions, no I/O.
 *
 * The input comes from JSON and is not trusted to match its type: every field is checked at
 * run time, and anything that is not where a name should be, or not a non-empty string, is
 * skipped. Nothing here throws on an odd shape.
 */
import type { V1Pod, V1Volume, V1VolumeProjection } from '@kubernetes/client-node';

/**
 * The names of the Secrets and ConfigMaps one Pod references, all in the Pod's namespace.
 * `mountedSecrets` and `mountedConfigMaps` are the subsets referenced through volumes: those
 * are read again every volume sync period, the others (env, envFrom, imagePullSecrets) once.
 * A name used both ways is in both the full set and the mounted subset.
 */
export interface PodReferences {
  readonly secrets: ReadonlySet<string>;
  readonly configMaps: ReadonlySet<string>;
  readonly mountedSecrets: ReadonlySet<string>;
  readonly mountedConfigMaps: ReadonlySet<string>;
}

type Fields = Readonly<Record<string, unknown>>;

/** Reads the candidate names of one volume source; the caller filters them. */
type SourceReader = (source: Fields) => readonly unknown[];

/** One volume source kind that may carry a reference, and how to read it. */
interface VolumeSourceRule {
  readonly field: keyof V1Volume;
  readonly read: SourceReader;
}

const CONTAINER_LISTS = ['initContainers', 'containers', 'ephemeralContainers'] as const;

const readSecretRef: SourceReader = (source) => [field(source.secretRef, 'name')];

/**
 * The volume sources that can reference a Secret, in the kubelet's order. A volume is meant to
 * have exactly one source; when a malformed volume has several, the kubelet reads only the
 * first of this list that is present, and so does this module (the API server refuses such
 * Pods, so this matters for parity on raw input only).
 */
const SECRET_VOLUME_SOURCES: readonly VolumeSourceRule[] = [
  { field: 'azureFile', read: (source) => [source.secretName] },
  { field: 'cephfs', read: readSecretRef },
  { field: 'cinder', read: readSecretRef },
  { field: 'flexVolume', read: readSecretRef },
  { field: 'projected', read: (source) => projectedNames(source, 'secret') },
  { field: 'rbd', read: readSecretRef },
  { field: 'secret', read: (source) => [source.secretName] },
  { field: 'scaleIO', read: readSecretRef },
  { field: 'iscsi', read: readSecretRef },
  { field: 'storageos', read: readSecretRef },
  { field: 'csi', read: (source) => [field(source.nodePublishSecretRef, 'name')] },
];

/** The volume sources that can reference a ConfigMap, in the kubelet's order (see above). */
const CONFIG_MAP_VOLUME_SOURCES: readonly VolumeSourceRule[] = [
  { field: 'projected', read: (source) => projectedNames(source, 'configMap') },
  { field: 'configMap', read: (source) => [source.name] },
];

/**
 * Returns every Secret and ConfigMap name `pod` references, as the kubelet's visitors
 * (`VisitPodSecretNames`, `VisitPodConfigmapNames`) report them, deduplicated:
 *
 * - Secrets: `spec.imagePullSecrets[].name`; in init, regular and ephemeral containers,
 *   `env[].valueFrom.secretKeyRef.name` and `envFrom[].secretRef.name`; volumes `secret`,
 *   `projected` secret sources, `csi.nodePublishSecretRef`, `azureFile.secretName` and the
 *   `secretRef` of cephfs, cinder, flexVolume, rbd, scaleIO, iscsi and storageos.
 * - ConfigMaps: in all three container kinds, `env[].valueFrom.configMapKeyRef.name` and
 *   `envFrom[].configMapRef.name`; volumes `configMap` and `projected` configMap sources.
 *
 * Optional references count like any other; empty names are skipped; nothing is followed
 * transitively (a PersistentVolumeClaim volume references nothing). A projected volume that
 * lists `kube-root-ca.crt` (as the service-account admission plugin injects it) references that
 * ConfigMap like any projected source; no name is ever added that the Pod does not spell out.
 * Never throws, whatever the shape of the input.
 */
export function podReferences(pod: V1Pod): PodReferences {
  const spec = field(pod, 'spec');
  const containers = CONTAINER_LISTS.flatMap((list) => items(field(spec, list)));
  const volumes = items(field(spec, 'volumes'));

  const mountedSecrets = namesOf(
    volumes.flatMap((volume) => volumeNames(volume, SECRET_VOLUME_SOURCES)),
  );
  const mountedConfigMaps = namesOf(
    volumes.flatMap((volume) => volumeNames(volume, CONFIG_MAP_VOLUME_SOURCES)),
  );

  const pullSecrets = items(field(spec, 'imagePullSecrets')).map((ref) => field(ref, 'name'));
  const envSecrets = containers.flatMap((container) => containerNames(container, 'secret'));
  const envConfigMaps = containers.flatMap((container) => containerNames(container, 'configMap'));

  return {
    secrets: union(namesOf([...pullSecrets, ...envSecrets]), mountedSecrets),
    configMaps: union(namesOf(envConfigMaps), mountedConfigMaps),
    mountedSecrets,
    mountedConfigMaps,
  };
}

/** The names of every Secret `pod` references; shorthand for `podReferences(pod).secrets`. */
export function podSecretNames(pod: V1Pod): ReadonlySet<string> {
  return podReferences(pod).secrets;
}

/** The names of every ConfigMap `pod` references; shorthand for `podReferences(pod).configMaps`. */
export function podConfigMapNames(pod: V1Pod): ReadonlySet<string> {
  return podReferences(pod).configMaps;
}

/** Candidate names from a container's `envFrom[]` and `env[].valueFrom`, for one kind. */
function containerNames(container: unknown, kind: 'secret' | 'configMap'): unknown[] {
  const envFromKey = kind === 'secret' ? 'secretRef' : 'configMapRef';
  const keyRefKey = kind === 'secret' ? 'secretKeyRef' : 'configMapKeyRef';

  const fromEnvFrom = items(field(container, 'envFrom')).map((source) =>
    field(field(source, envFromKey), 'name'),
  );
  const fromEnv = items(field(container, 'env')).map((variable) =>
    field(field(field(variable, 'valueFrom'), keyRefKey), 'name'),
  );

  return [...fromEnvFrom, ...fromEnv];
}

/** Candidate names from the first source of `rules` that `volume` has, like a Go `switch`. */
function volumeNames(volume: unknown, rules: readonly VolumeSourceRule[]): readonly unknown[] {
  for (const rule of rules) {
    const source = field(volume, rule.field);
    if (isFields(source)) {
      return rule.read(source);
    }
  }
  return [];
}

/** Candidate names from `projected.sources[].<kind>.name`. */
function projectedNames(projected: Fields, kind: keyof V1VolumeProjection): unknown[] {
  return items(projected.sources).map((source) => field(field(source, kind), 'name'));
}

/** The non-empty strings among `candidates`, as a set. */
function namesOf(candidates: readonly unknown[]): Set<string> {
  const names = new Set<string>();
  for (const candidate of candidates) {
    if (typeof candidate === 'string' && candidate.length > 0) {
      names.add(candidate);
    }
  }
  return names;
}

function union(a: ReadonlySet<string>, b: ReadonlySet<string>): Set<string> {
  return new Set([...a, ...b]);
}

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `value[key]` when `value` is a plain object, otherwise undefined. */
function field(value: unknown, key: string): unknown {
  return isFields(value) ? value[key] : undefined;
}

/** `value` when it is an array, otherwise no items. */
function items(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? (value as unknown[]) : [];
}
