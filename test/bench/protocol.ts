/**
 * The line protocol between the bench orchestrator and a cache runner: the Go reference runner
 * (`test/cluster/cmd/refcache`, the kubelet's own managers) and the TypeScript runner
 * (`ts-runner.ts`, this project's cache) both implement it, so that the orchestrator drives
 * them through exactly the same sequence.
 *
 * Each command is one JSON object on the runner's standard input, `{ id, op, ... }`; each gets
 * exactly one answer on its standard output, `{ id, ok: true, ... }` or `{ id, ok: false,
 * error }`, in order. Standard error carries logs only. No message ever carries a Secret's or
 * ConfigMap's content.
 */

/** The kinds a runner caches, spelled as in the kubelet's error messages. */
export type CachedKind = 'secret' | 'configmap';

/** How a runner caches objects. */
export type RunnerMode = 'perObject' | 'informer';

/**
 * Commands. `waitPods`: wait for the Pod watch's first list, then measure the heap. `open`:
 * feed the known Pods to the caches, forward later Pod events, and get every referenced object
 * until each is served or known missing. `memory`: measure the heap. `track`: start reading one
 * object every millisecond until its resourceVersion differs from the given one. `tracked`: wait
 * for tracked changes and hand over their sightings. `state`: every cache item with its
 * references and whether its watch runs. `stop`: answer, then exit.
 */
export type RunnerCommand =
  | { readonly op: 'waitPods'; readonly timeoutMs: number }
  | { readonly op: 'open'; readonly timeoutMs: number }
  | { readonly op: 'memory' }
  | {
      readonly op: 'track';
      readonly kind: CachedKind;
      readonly namespace: string;
      readonly name: string;
      readonly resourceVersion: string;
    }
  | { readonly op: 'tracked'; readonly timeoutMs: number }
  | { readonly op: 'state' }
  | { readonly op: 'stop' };

/** Answer to `waitPods`. */
export interface WaitPodsAnswer {
  /** Pods in the watch's store after its first list. */
  readonly pods: number;
  /** From the runner's start to the Pod watch's first list. */
  readonly podSyncMs: number;
  /** Live heap after a full collection, with the Pods known and the caches empty. */
  readonly heapBytes: number;
}

/** Answer to `open`. */
export interface OpenAnswer {
  /** From opening until every referenced object was served or found missing. */
  readonly syncedMs: number;
  /** Distinct referenced objects per kind. */
  readonly items: Readonly<Record<CachedKind, number>>;
  readonly found: number;
  readonly notFound: number;
  /** Objects still not served when the timeout passed. */
  readonly unsynced: number;
  /** Rounds of parallel gets it took. */
  readonly rounds: number;
  /** Gets that failed otherwise than NotFound (sync timeouts), retried in the next round. */
  readonly failedGets: number;
}

/** Answer to `memory`. */
export interface MemoryAnswer {
  readonly heapBytes: number;
  /** TypeScript only: memory of objects outside the V8 heap (`external`). */
  readonly externalBytes?: number;
  /**
   * Memory the runtime holds for the heap, used or not: V8's `heapTotal`; Go's `HeapInuse`
   * (spans in use, fragmentation included) plus `StackInuse`.
   */
  readonly heapHeldBytes: number;
  /** TypeScript only: memory of ArrayBuffers and Buffers (`arrayBuffers`). */
  readonly arrayBuffersBytes?: number;
  /** Go only: memory of goroutine stacks (`StackInuse`). */
  readonly stackBytes?: number;
}

/** When a runner first served a new resourceVersion of a tracked object. */
export interface Sighting {
  readonly kind: CachedKind;
  readonly namespace: string;
  readonly name: string;
  readonly resourceVersion: string;
  /** Wall clock, milliseconds since the epoch, sub-millisecond precision. */
  readonly seenAtMs: number;
}

/** Answer to `tracked`. */
export interface TrackedAnswer {
  readonly seen: readonly Sighting[] | null;
  /** Tracked changes not seen yet. */
  readonly pending: number;
}

/** One cache item as a runner reports it. */
export interface ItemState {
  readonly kind: CachedKind;
  readonly namespace: string;
  readonly name: string;
  /** Reference count per Pod UID. */
  readonly refs: Readonly<Record<string, number>>;
  /** Whether the item's list+watch runs (false when stopped as idle or immutable). */
  readonly running: boolean;
}

/** Answer to `state`. */
export interface StateAnswer {
  readonly items: readonly ItemState[] | null;
}

/** The wall clock in milliseconds since the epoch, as both runners and the orchestrator read it. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}
