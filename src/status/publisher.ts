import { isConflict, isNotFound, StatusError } from '../apimachinery/errors.ts';
import type { CacheItemSnapshot } from '../cache/object-cache.ts';
import type { ResourceClient } from '../kube/resource.ts';
import { Backoff } from '../util/backoff.ts';
import { type Clock, systemClock, type Timer } from '../util/clock.ts';
import { describeError, type Logger, silentLogger } from '../util/logger.ts';
import { buildStatus, resourceBody, type PodInfo } from './build.ts';
import { statusName } from './naming.ts';
import { TokenBucket } from './rate-limiter.ts';
import {
  API_VERSION,
  type CachedObjectKind,
  type CachedObjectStatus,
  type Condition,
  FIELD_MANAGER,
  KIND,
  MANAGED_BY_SELECTOR,
} from './types.ts';

/** The part of an object cache the publisher reads. */
export interface CacheView {
  inspect(namespace: string, name: string): CacheItemSnapshot | undefined;
  snapshot(): CacheItemSnapshot[];
}

/** Options of the publisher. */
export interface PublisherOptions {
  readonly resources: ResourceClient<CachedObjectStatus>;
  readonly caches: Readonly<Record<CachedObjectKind, CacheView>>;
  /** Looks up a referencing Pod by uid. */
  readonly podOf: (uid: string) => PodInfo | undefined;
  /** Most Pods listed per resource. Default 20. */
  readonly maxPods?: number;
  /** Least time between two writes of one resource. Default 1 s. */
  readonly minWriteIntervalMs?: number;
  /** Sustained writes per second over all resources. Default 20. */
  readonly writesPerSecond?: number;
  /** Writes at once above the sustained rate. Default 40. */
  readonly burst?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

/** Counts for metrics. */
export interface PublisherMetrics {
  writes: number;
  deletes: number;
  failures: number;
  /** Resources waiting to be written. */
  pending: number;
}

interface Pending {
  readonly kind: CachedObjectKind;
  readonly namespace: string;
  readonly name: string;
  /** Earliest time to write, by the clock. */
  notBefore: number;
}

interface Published {
  /** The status last written, without its time of observation. */
  readonly fingerprint: string;
  readonly conditions: readonly Condition[] | undefined;
  readonly writtenAt: number;
}

/**
 * Publishes the cache's state as one `CachedObjectStatus` per cached object. Changes are
 * coalesced: a resource is written at most once per `minWriteIntervalMs`, every write passes a
 * global token bucket, and a status equal to the one last written is not written again, so an
 * idle cache costs no writes. Writes are server-side applies under the operator's own field
 * manager; failures are retried with backoff. A resource whose object left the cache is
 * deleted.
 *
 * `markDirty` is synchronous and never blocks. `start` runs the writer until `stop`, which
 * first flushes what is pending.
 */
export class StatusPublisher {
  readonly #options: PublisherOptions;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #bucket: TokenBucket;
  readonly #pending = new Map<string, Pending>();
  readonly #published = new Map<string, Published>();
  readonly #failures = new Map<string, Backoff>();
  readonly metrics: PublisherMetrics = { writes: 0, deletes: 0, failures: 0, pending: 0 };
  #controller: AbortController | undefined;
  #run: Promise<void> = Promise.resolve();
  #wake: (() => void) | undefined;
  #flushing = false;

  constructor(options: PublisherOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#bucket = new TokenBucket(this.#clock, options.writesPerSecond ?? 20, options.burst ?? 40);
  }

  /** Schedules the resource of this object to be brought up to date. */
  markDirty(kind: CachedObjectKind, namespace: string, name: string): void {
    const key = keyOf(kind, namespace, name);
    if (!this.#pending.has(key)) this.#pending.set(key, { kind, namespace, name, notBefore: 0 });
    this.metrics.pending = this.#pending.size;
    this.#wake?.();
  }

  /**
   * Makes the resources match the cache after a start: every object in the cache is scheduled,
   * and every resource the operator owns whose object is not cached is scheduled for deletion.
   * `namespaces` empty means all namespaces.
   */
  async resync(namespaces: readonly string[], signal?: AbortSignal): Promise<void> {
    const listed = new Set<string>();
    for (const namespace of namespaces.length === 0 ? [''] : namespaces) {
      const owned = await this.#options.resources.list({
        namespace,
        labelSelector: MANAGED_BY_SELECTOR,
        signal: signal ?? new AbortController().signal,
      });
      for (const resource of owned.items) {
        const key = await this.#adopt(resource, signal);
        if (key !== undefined) listed.add(key);
      }
    }

    // A resource written before but absent now was deleted by hand (or with its CRD): forget
    // it, so that it is created again.
    for (const key of this.#published.keys()) {
      if (!listed.has(key)) this.#published.delete(key);
    }
    for (const [kind, cache] of Object.entries(this.#options.caches)) {
      for (const item of cache.snapshot()) {
        this.markDirty(kind as CachedObjectKind, item.namespace, item.name);
      }
    }
  }

  /** Starts writing. Idempotent. */
  start(): void {
    if (this.#controller !== undefined) return;
    const controller = new AbortController();
    this.#controller = controller;
    this.#run = this.#loop(controller.signal);
  }

  /**
   * Writes everything pending (ignoring the per-resource interval, within `flushTimeoutMs`),
   * then stops. Idempotent.
   */
  async stop(flushTimeoutMs = 5000): Promise<void> {
    const controller = this.#controller;
    if (controller === undefined) return;

    this.#flushing = true;
    this.#wake?.();
    const timer: Timer = this.#clock.setTimer(flushTimeoutMs, () => controller.abort());
    await this.#run;
    timer.cancel();
    controller.abort();
    this.#controller = undefined;
    this.#flushing = false;
  }

  /** Remembers a resource found on the server, and schedules it. */
  /**
   * Takes the state of a resource found on the server as the one last written, and returns its
   * key. A resource of the operator's that cannot be one it would write (a malformed spec, or a
   * name that does not match its spec) is deleted.
   */
  async #adopt(
    resource: CachedObjectStatus,
    signal: AbortSignal | undefined,
  ): Promise<string | undefined> {
    const namespace = resource.metadata.namespace ?? '';
    const resourceName = resource.metadata.name ?? '';
    const { kind, name } = (resource.spec ?? {}) as Partial<CachedObjectStatus['spec']>;
    if (
      (kind !== 'Secret' && kind !== 'ConfigMap') ||
      typeof name !== 'string' ||
      statusName(kind, name) !== resourceName
    ) {
      this.#logger.warn('Deleting a CachedObjectStatus that does not match its spec', {
        namespace,
        name: resourceName,
      });
      await this.#options.resources
        .delete(namespace, resourceName, { signal })
        .catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
      return undefined;
    }

    const key = keyOf(kind, namespace, name);
    this.#published.set(key, {
      fingerprint: fingerprint(resource.status),
      conditions: resource.status?.conditions,
      writtenAt: Number.NEGATIVE_INFINITY,
    });
    // Rewritten if the cache says otherwise, deleted if the object is no longer cached.
    this.markDirty(kind, namespace, name);
    return key;
  }

  async #loop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const next = this.#nextDue();
      if (next === undefined) {
        if (this.#flushing) return;
        await this.#idle(signal, this.#earliest());
        continue;
      }

      try {
        await this.#publish(next, signal);
        this.#failures.delete(keyOf(next.kind, next.namespace, next.name));
      } catch (err) {
        // A write that timed out is retried; only the publisher's own signal ends the loop.
        if (signal.aborted) return;
        this.#retryLater(next, err);
      }
    }
  }

  /** The next pending resource that may be written now, taken off the queue. */
  #nextDue(): Pending | undefined {
    const now = this.#clock.now();
    for (const [key, pending] of this.#pending) {
      if (this.#flushing || this.#dueAt(key, pending) <= now) {
        this.#pending.delete(key);
        this.metrics.pending = this.#pending.size;
        return pending;
      }
    }
    return undefined;
  }

  #earliest(): number | undefined {
    let earliest: number | undefined;
    for (const [key, pending] of this.#pending) {
      const due = this.#dueAt(key, pending);
      if (earliest === undefined || due < earliest) earliest = due;
    }
    return earliest;
  }

  /**
   * When a pending resource may be written: after its retry delay, and at least the minimum
   * interval after its last write, even if that write was still in flight when it was queued.
   */
  #dueAt(key: string, pending: Pending): number {
    const last = this.#published.get(key)?.writtenAt ?? Number.NEGATIVE_INFINITY;
    return Math.max(pending.notBefore, last + (this.#options.minWriteIntervalMs ?? 1000));
  }

  /** Waits for `markDirty`, a flush, the abort, or the time `until`. */
  #idle(signal: AbortSignal, until: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      let timer: Timer | undefined;
      const done = (): void => {
        timer?.cancel();
        signal.removeEventListener('abort', done);
        this.#wake = undefined;
        resolve();
      };
      if (until !== undefined) timer = this.#clock.setTimer(until - this.#clock.now(), done);
      signal.addEventListener('abort', done, { once: true });
      this.#wake = done;
    });
  }

  async #publish(pending: Pending, signal: AbortSignal): Promise<void> {
    const { kind, namespace, name } = pending;
    const key = keyOf(kind, namespace, name);
    const item = this.#options.caches[kind].inspect(namespace, name);
    const resourceName = statusName(kind, name);

    if (item === undefined) {
      await this.#bucket.take(signal);
      await this.#delete(key, namespace, resourceName, kind, name, signal);
      return;
    }

    const previous = this.#published.get(key);
    // A new leader adopts resources before its own lists complete. Writing "not listed yet"
    // over them now would only be undone a moment later: the list's completion marks the
    // item again.
    if (previous !== undefined && item.found === undefined) return;

    const now = this.#clock.now();
    const status = buildStatus(
      item,
      this.#options.podOf,
      this.#options.maxPods ?? 20,
      now,
      previous?.conditions,
    );
    const print = fingerprint(status);
    if (previous?.fingerprint === print) return;

    // Only a real write spends from the rate limit: comparing costs nothing.
    await this.#bucket.take(signal);
    if (previous === undefined) await this.#applyResource(kind, namespace, name, signal);
    await this.#applyStatus(kind, namespace, name, status, signal);
    this.#published.set(key, { fingerprint: print, conditions: status.conditions, writtenAt: now });
    this.metrics.writes++;
    this.#logger.trace('Published status', { kind, namespace, name });
  }

  /** Creates the resource (or re-asserts its spec and label). */
  async #applyResource(
    kind: CachedObjectKind,
    namespace: string,
    name: string,
    signal: AbortSignal,
  ): Promise<void> {
    const body = resourceBody(kind, namespace, name);
    await this.#options.resources.apply(namespace, statusName(kind, name), body, {
      fieldManager: FIELD_MANAGER,
      force: true,
      signal,
    });
  }

  async #applyStatus(
    kind: CachedObjectKind,
    namespace: string,
    name: string,
    status: CachedObjectStatus['status'],
    signal: AbortSignal,
  ): Promise<void> {
    const resourceName = statusName(kind, name);
    const body = {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { name: resourceName, namespace },
      status: { ...status, observedAt: isoNow(this.#clock) },
    };
    const options = { fieldManager: FIELD_MANAGER, force: true, subresource: 'status', signal };
    try {
      await this.#options.resources.apply(namespace, resourceName, body, options);
    } catch (err) {
      // The resource was deleted by someone else since it was created: create it again.
      if (!isNotFound(err)) throw err;
      await this.#applyResource(kind, namespace, name, signal);
      await this.#options.resources.apply(namespace, resourceName, body, options);
    }
  }

  async #delete(
    key: string,
    namespace: string,
    resourceName: string,
    kind: CachedObjectKind,
    name: string,
    signal: AbortSignal,
  ): Promise<void> {
    try {
      await this.#options.resources.delete(namespace, resourceName, { signal });
      this.metrics.deletes++;
      this.#logger.debug('Deleted status of an object that left the cache', {
        kind,
        namespace,
        name,
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    this.#published.delete(key);
  }

  #retryLater(pending: Pending, err: unknown): void {
    const key = keyOf(pending.kind, pending.namespace, pending.name);
    let backoff = this.#failures.get(key);
    if (backoff === undefined) {
      backoff = new Backoff(this.#clock, { initialMs: 500, maxMs: 60_000 });
      this.#failures.set(key, backoff);
    }

    if (isInvalid(err)) {
      // The server refuses this write for good (e.g. a referenced name longer than any object
      // name can be): retrying cannot help. The next change of the item tries again.
      this.metrics.failures++;
      this.#logger.warn('The API server refused a status; not retrying', {
        kind: pending.kind,
        namespace: pending.namespace,
        name: pending.name,
        err: describeError(err),
      });
      return;
    }

    if (this.#flushing) {
      // A flush tries each resource once: the next leader rewrites what is left.
      this.metrics.failures++;
      this.#logger.warn('Failed to publish status while stopping', {
        kind: pending.kind,
        namespace: pending.namespace,
        name: pending.name,
        err: describeError(err),
      });
      return;
    }

    const delayMs = isConflict(err) ? 0 : backoff.next();
    this.metrics.failures++;
    this.#logger.warn('Failed to publish status, will retry', {
      kind: pending.kind,
      namespace: pending.namespace,
      name: pending.name,
      err: describeError(err),
      delayMs: Math.round(delayMs),
    });
    if (!this.#pending.has(key)) {
      this.#pending.set(key, { ...pending, notBefore: this.#clock.now() + delayMs });
      this.metrics.pending = this.#pending.size;
    }
  }
}

/** 400 Bad Request or 422 Invalid: the write itself is wrong, not the moment. */
function isInvalid(err: unknown): boolean {
  return err instanceof StatusError && (err.code === 400 || err.code === 422);
}

function keyOf(kind: CachedObjectKind, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

/**
 * The status without the fields that a write need not carry by itself, as JSON with sorted keys
 * (the server returns keys in its own order, and an adopted status must compare equal to a
 * built one). Times alone never cause a write: `lastAccessTime` changes on every read, and
 * `lastChangeTime` is reset by every new leader's first list, while a real change of the object
 * also changes its `resourceVersion`, which is compared.
 */
function fingerprint(status: CachedObjectStatus['status']): string {
  if (status === undefined) return '';
  const {
    observedAt: _observedAt,
    lastAccessTime: _lastAccess,
    lastChangeTime: _lastChange,
    ...rest
  } = status;
  return JSON.stringify(rest, (_key, value: unknown) =>
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : value,
  );
}

function isoNow(clock: Clock): string {
  return new Date(clock.now()).toISOString();
}
