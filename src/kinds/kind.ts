import type { GroupResource } from '../apimachinery/errors.ts';
import type { KubeObject } from '../apimachinery/types.ts';
import type { ResourceType } from '../kube/resource.ts';

/** The kinds the operator caches. */
export type CachedKind = 'Secret' | 'ConfigMap';

/** What the kind-agnostic cache needs to know about one kind. */
export interface KindAdapter<T extends KubeObject> {
  readonly kind: CachedKind;
  /** Where the kind lives in the API. */
  readonly resource: ResourceType;
  /** How errors name the kind (rule 11), e.g. `secret`. */
  readonly groupResource: GroupResource;
  /** True when the object can never change. */
  isImmutable(object: T): boolean;
  /** What is kept of an object in memory. */
  transform(object: T): T;
}

/** Options shared by the adapters. */
export interface AdapterOptions {
  /**
   * Keep the object's content (data, stringData, binaryData) in memory. The operator reads only
   * metadata and the immutable flag, so it keeps none by default: content that is never held
   * can never leak. Default false.
   */
  readonly keepContent?: boolean;
}

/** Names of the fields that hold an object's content. */
const CONTENT_FIELDS = ['data', 'stringData', 'binaryData'] as const;

/**
 * Returns a shallow copy without `metadata.managedFields` (never kept, rule of the adapters)
 * and, unless `keepContent`, without the content fields.
 */
export function stripObject<T extends KubeObject>(object: T, keepContent: boolean): T {
  const copy: Record<string, unknown> = { ...(object as Record<string, unknown>) };
  if (object.metadata?.managedFields !== undefined) {
    const metadata = { ...object.metadata };
    delete metadata.managedFields;
    copy.metadata = metadata;
  }
  if (!keepContent) {
    for (const field of CONTENT_FIELDS) delete copy[field];
  }
  return copy as T;
}
