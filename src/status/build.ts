import type { CacheItemSnapshot } from '../cache/object-cache.ts';
import { statusName } from './naming.ts';
import {
  API_VERSION,
  type CachedObjectKind,
  type CachedObjectStatusStatus,
  type Condition,
  CONDITION_FOUND,
  CONDITION_SYNCED,
  type ConditionStatus,
  KIND,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  type PodRef,
} from './types.ts';

/** What the status needs to know of a referencing Pod. */
export interface PodInfo {
  readonly name: string;
  readonly uid: string;
  /** Empty while unscheduled. */
  readonly nodeName: string;
}

/** The apply body of a resource's main object: identity, owner label and spec. */
export function resourceBody(
  kind: CachedObjectKind,
  namespace: string,
  objectName: string,
): Record<string, unknown> {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: {
      name: statusName(kind, objectName),
      namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
    },
    spec: { kind, name: objectName },
  };
}

/**
 * The status of one cache item. Referencing Pods are sorted by name and uid and capped at
 * `maxPods`; the reference count and node count always cover every Pod. Conditions keep their
 * `lastTransitionTime` from `previous` while their status is unchanged.
 */
export function buildStatus(
  item: CacheItemSnapshot,
  podOf: (uid: string) => PodInfo | undefined,
  maxPods: number,
  now: number,
  previous: readonly Condition[] | undefined,
): CachedObjectStatusStatus {
  const pods: PodRef[] = [];
  const nodes = new Set<string>();
  for (const uid of item.references.keys()) {
    const pod = podOf(uid);
    if (pod?.nodeName) nodes.add(pod.nodeName);
    pods.push(
      pod === undefined
        ? { name: '', uid }
        : { name: pod.name, uid, ...(pod.nodeName ? { node: pod.nodeName } : {}) },
    );
  }
  // A plain code-unit order: the same on every replica, whatever its locale.
  pods.sort((a, b) => compare(a.name, b.name) || compare(a.uid, b.uid));

  return {
    referenceCount: item.references.size,
    pods: pods.slice(0, maxPods),
    podsTruncated: pods.length > maxPods,
    nodeCount: nodes.size,
    reflector: { state: item.reflector, reason: item.stopReason ?? '' },
    synced: item.synced,
    ...(item.found === undefined ? {} : { found: item.found }),
    immutable: item.immutable,
    ...(item.resourceVersion === undefined ? {} : { resourceVersion: item.resourceVersion }),
    ...(item.lastAccess === undefined ? {} : { lastAccessTime: isoTime(item.lastAccess) }),
    ...(item.lastChange === undefined ? {} : { lastChangeTime: isoTime(item.lastChange) }),
    conditions: conditionsOf(item, now, previous),
  };
}

function conditionsOf(
  item: CacheItemSnapshot,
  now: number,
  previous: readonly Condition[] | undefined,
): Condition[] {
  const synced: [ConditionStatus, string, string] = item.synced
    ? ['True', 'ListCompleted', 'The cache holds the result of a completed list.']
    : item.stopReason === 'Idle'
      ? ['False', 'Idle', 'The watch is stopped until the object is read again.']
      : ['False', 'Listing', 'The first list has not completed yet.'];
  const found: [ConditionStatus, string, string] =
    item.found === undefined
      ? ['Unknown', 'NotListed', 'No list has completed yet.']
      : item.found
        ? ['True', 'Found', 'The object exists.']
        : ['False', 'NotFound', 'The object does not exist; Pods that need it cannot start.'];

  return [
    condition(CONDITION_SYNCED, synced, now, previous),
    condition(CONDITION_FOUND, found, now, previous),
  ];
}

function condition(
  type: Condition['type'],
  [status, reason, message]: [ConditionStatus, string, string],
  now: number,
  previous: readonly Condition[] | undefined,
): Condition {
  const before = previous?.find((c) => c.type === type);
  const lastTransitionTime =
    before !== undefined && before.status === status ? before.lastTransitionTime : isoTime(now);
  return { type, status, reason, message, lastTransitionTime };
}

/** RFC 3339 with second precision, as `metav1.Time` serialises. */
export function isoTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
