/**
 * The shapes the cache needs from any Kubernetes object and from a list+watch source. Nothing
 * here names a kind: adapters in `src/kinds/` bind these to Secrets and ConfigMaps.
 */

/** The metadata fields the cache reads; everything else of an object is opaque to it. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  annotations?: Record<string, string>;
  managedFields?: unknown;
}

/** Any Kubernetes object. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

/** One page of a list: its items and the collection's resourceVersion. */
export interface ListResult<T> {
  readonly items: readonly T[];
  readonly resourceVersion: string;
}

/** A watch event as the API server sends it. ERROR events carry a `metav1.Status`. */
export type WatchEvent<T> =
  | { readonly type: 'ADDED' | 'MODIFIED' | 'DELETED'; readonly object: T }
  | { readonly type: 'BOOKMARK'; readonly object: KubeObject }
  | { readonly type: 'ERROR'; readonly object: unknown };

/** Selects the objects of one list or watch. */
export interface ListOptions {
  /** Namespace to list in; empty means all namespaces. */
  readonly namespace: string;
  readonly fieldSelector?: string;
  readonly labelSelector?: string;
  /** Aborting ends the request and rejects with an AbortError. */
  readonly signal: AbortSignal;
}

/** A watch continues from `resourceVersion` and asks the server to end it after the timeout. */
export interface WatchOptions extends ListOptions {
  readonly resourceVersion: string;
  readonly timeoutSeconds: number;
  readonly allowWatchBookmarks: boolean;
}

/**
 * A list+watch source. `list` resolves with a complete, consistent list. `watch` yields events
 * until the server closes the stream (the iterator then ends normally) or the request fails
 * (the iterator throws, a StatusError when the server said why). Both reject with an AbortError
 * once `signal` aborts, and release their connection when they end in any way.
 */
export interface ListerWatcher<T> {
  list(options: ListOptions): Promise<ListResult<T>>;
  watch(options: WatchOptions): AsyncIterable<WatchEvent<T>>;
}
