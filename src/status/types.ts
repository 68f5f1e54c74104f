/**
 * The `CachedObjectStatus` custom resource (`crds/cachedobjectstatuses.objectcache.dev.yaml`):
 * one per cached Secret or ConfigMap, in that object's namespace, describing the state of its
 * cache item. It carries names, counts, times and flags only, never a value of the object.
 */
import type { ObjectMeta } from '../apimachinery/types.ts';

/** API group of the resource. */
export const GROUP = 'objectcache.dev';

/** The only served (and stored) version. */
export const VERSION = 'v1alpha1';

/** `apiVersion` of every resource: `objectcache.dev/v1alpha1`. */
export const API_VERSION = `${GROUP}/${VERSION}` as const;

/** Kind of the resource. */
export const KIND = 'CachedObjectStatus';

/** Resource name in URLs and RBAC rules. */
export const PLURAL = 'cachedobjectstatuses';

/** Field manager of every write the operator makes (server-side apply and deletes). */
export const FIELD_MANAGER = 'objectcache-operator';

/** Label key the operator sets on every resource it owns. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';

/** Value of {@link MANAGED_BY_LABEL} on every resource the operator owns. */
export const MANAGED_BY_VALUE = 'objectcache-operator';

/**
 * Label selector matching exactly the resources the operator owns: list with it at start-up to
 * delete resources whose object is no longer cached.
 */
export const MANAGED_BY_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;

/**
 * Most Pods `status.pods` may list (the CRD's `maxItems`). The configured `status.maxPods` is
 * at most this; `status.referenceCount` stays exact however many Pods are left out.
 */
export const MAX_LISTED_PODS = 100;

/** The kinds of object the cache holds. */
export type CachedObjectKind = 'Secret' | 'ConfigMap';

/** Every {@link CachedObjectKind}, in a stable order. */
export const CACHED_OBJECT_KINDS: readonly CachedObjectKind[] = ['Secret', 'ConfigMap'];

/** Which object a resource describes. Immutable once created (the CRD enforces it). */
export interface CachedObjectStatusSpec {
  readonly kind: CachedObjectKind;
  /** Name of the Secret or ConfigMap, in the resource's own namespace. */
  readonly name: string;
}

/** A Pod that references the object. */
export interface PodRef {
  readonly name: string;
  readonly uid: string;
  /** The node the Pod is bound to; absent while it is unscheduled. */
  readonly node?: string;
}

/** Whether the item's reflector holds a list+watch on the object now. */
export type ReflectorState = 'Running' | 'Stopped';

/**
 * Why a reflector is stopped: `Idle` (not read for `maxIdleTime`; the next read restarts it),
 * `Immutable` (stopped for good; the cached content is served). Empty while running.
 */
export type ReflectorStopReason = '' | 'Idle' | 'Immutable';

/** State of the item's reflector. */
export interface ReflectorStatus {
  readonly state: ReflectorState;
  readonly reason: ReflectorStopReason;
}

/** `metav1.ConditionStatus`. */
export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** Condition `Synced`: the item's store holds the result of a completed list. */
export const CONDITION_SYNCED = 'Synced';

/** Condition `Found`: the last completed list contained the object. */
export const CONDITION_FOUND = 'Found';

/** The condition types the operator sets. */
export type ConditionType = typeof CONDITION_SYNCED | typeof CONDITION_FOUND;

/** A condition in the standard `metav1.Condition` shape (the list is keyed by `type`). */
export interface Condition {
  readonly type: ConditionType;
  readonly status: ConditionStatus;
  /** CamelCase machine-readable reason, non-empty. */
  readonly reason: string;
  /** Human-readable detail; may be empty. Never a value of the object. */
  readonly message: string;
  /** RFC 3339 time of the last change of `status`. */
  readonly lastTransitionTime: string;
  readonly observedGeneration?: number;
}

/**
 * Observed state of one cache item. Every field is optional so that a partial server-side apply
 * is valid; times are RFC 3339 strings.
 */
export interface CachedObjectStatusStatus {
  /** Number of distinct Pods (by UID) that reference the object; always exact. */
  readonly referenceCount?: number;
  /** Referencing Pods, sorted and capped at the configured `status.maxPods`. */
  readonly pods?: readonly PodRef[];
  /** True when `pods` left some referencing Pods out. */
  readonly podsTruncated?: boolean;
  /** Number of distinct nodes the referencing Pods are bound to. */
  readonly nodeCount?: number;
  readonly reflector?: ReflectorStatus;
  /** The store holds the result of a completed list (rule 7). */
  readonly synced?: boolean;
  /** Whether the last completed list contained the object; absent until a list completes. */
  readonly found?: boolean;
  /** The object has `immutable: true`; its reflector is stopped for good. */
  readonly immutable?: boolean;
  /** `metadata.resourceVersion` of the cached copy of the object. */
  readonly resourceVersion?: string;
  /** Last time the cache served (or tried to serve) a read of the object. */
  readonly lastAccessTime?: string;
  /** Last time the cache saw the object change (added, modified or deleted). */
  readonly lastChangeTime?: string;
  /** When the operator took the snapshot this status reports. */
  readonly observedAt?: string;
  readonly conditions?: readonly Condition[];
}

/** Metadata of a `CachedObjectStatus`: the fields the operator reads and writes. */
export interface CachedObjectStatusMeta extends ObjectMeta {
  labels?: Record<string, string>;
  generation?: number;
  creationTimestamp?: string;
}

/** A `CachedObjectStatus` resource as stored by the API server. */
export interface CachedObjectStatus {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: typeof KIND;
  readonly metadata: CachedObjectStatusMeta;
  readonly spec: CachedObjectStatusSpec;
  readonly status?: CachedObjectStatusStatus;
}
