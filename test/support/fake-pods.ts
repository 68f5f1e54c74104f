/**
 * Pods for unit tests, built from a short description: identity, node, phase, and which
 * Secrets and ConfigMaps they reference through which field. Only the fields the registry and
 * the reference extraction read are filled in.
 */
import type { V1Pod } from '@kubernetes/client-node';

/** What a test Pod looks like; every field has a default. */
export interface PodShape {
  readonly namespace?: string;
  /** Default `pod`. */
  readonly name?: string;
  /** Default `uid-<name>`. */
  readonly uid?: string;
  /** Empty or absent: not bound to a node. */
  readonly nodeName?: string;
  readonly phase?: string;
  /** An RFC 3339 time: the Pod is being deleted. */
  readonly deletionTimestamp?: string;
  readonly annotations?: Record<string, string>;
  /** Secrets mounted as volumes. */
  readonly secretVolumes?: readonly string[];
  /** Secrets read through `env[].valueFrom.secretKeyRef`. */
  readonly secretEnv?: readonly string[];
  /** Secrets read through `envFrom[].secretRef`. */
  readonly secretEnvFrom?: readonly string[];
  readonly imagePullSecrets?: readonly string[];
  /** ConfigMaps mounted as volumes. */
  readonly configMapVolumes?: readonly string[];
  /** ConfigMaps read through `env[].valueFrom.configMapKeyRef`. */
  readonly configMapEnv?: readonly string[];
}

/** Default namespace of test Pods. */
export const POD_NAMESPACE = 'apps';

/** A Pod of `shape`, as the API server would send it. */
export function makePod(shape: PodShape = {}): V1Pod {
  const name = shape.name ?? 'pod';
  const env = [
    ...(shape.secretEnv ?? []).map((ref, i) => ({
      name: `S${i}`,
      valueFrom: { secretKeyRef: { name: ref, key: 'k' } },
    })),
    ...(shape.configMapEnv ?? []).map((ref, i) => ({
      name: `C${i}`,
      valueFrom: { configMapKeyRef: { name: ref, key: 'k' } },
    })),
  ];
  const volumes = [
    ...(shape.secretVolumes ?? []).map((ref, i) => ({
      name: `s${i}`,
      secret: { secretName: ref },
    })),
    ...(shape.configMapVolumes ?? []).map((ref, i) => ({
      name: `c${i}`,
      configMap: { name: ref },
    })),
  ];

  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      namespace: shape.namespace ?? POD_NAMESPACE,
      name,
      uid: shape.uid ?? `uid-${name}`,
      ...(shape.annotations === undefined ? {} : { annotations: shape.annotations }),
      ...(shape.deletionTimestamp === undefined
        ? {}
        : { deletionTimestamp: new Date(shape.deletionTimestamp) }),
    },
    spec: {
      ...(shape.nodeName ? { nodeName: shape.nodeName } : {}),
      containers: [
        {
          name: 'app',
          image: 'app',
          env,
          envFrom: (shape.secretEnvFrom ?? []).map((ref) => ({ secretRef: { name: ref } })),
        },
      ],
      volumes,
      imagePullSecrets: (shape.imagePullSecrets ?? []).map((ref) => ({ name: ref })),
    },
    status: { phase: shape.phase ?? 'Running' },
  };
}
