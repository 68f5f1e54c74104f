import { type GroupResource, NotFoundError } from '../apimachinery/errors.ts';
import type { KubeObject, ListerWatcher } from '../apimachinery/types.ts';
import type { BackoffOptions } from '../util/backoff.ts';
import { type Clock, every, sleep, systemClock, type Timer } from '../util/clock.ts';
import { type Logger, silentLogger } from '../util/logger.ts';
import { NotRegisteredError, SyncTimeoutError } from './errors.ts';
import { CacheItem, type StopReason } from './item.ts';
import { Reflector, type ReflectorCounters } from './reflector.ts';
import { Store } from './store.ts';

const MINUTE_MS = 60_000;

/** Options of an object cache. Every default is the kubelet's. */
export interface ObjectCacheOptions<T extends KubeObject> {
  /** Lists and watches objects of the cached kind; called with one namespace and name. */
  readonly listerWatcher: ListerWatcher<T>;
  /** True when the object can never change (`immutable: true`). */
  readonly isImmutable: (object: T) => boolean;
  /** Names the kind in errors, e.g. `{ group: '', resource: 'secret' }`. */
  readonly groupResource: GroupResource;
  /** Default: the system clock. */
  readonly clock?: Clock;
  /** Idle time after which a synced item's reflector stops. Default 5 min, at least 1 min. */
  readonly maxIdleTimeMs?: number;
  /** Period of the idle sweep. Default 1 min. */
  readonly sweepPeriodMs?: number;
  /** How often `get` checks whether an item synced. Default 10 ms. */
  readonly syncPollIntervalMs?: number;
  /** How long `get` waits for an item to sync. Default 1 s. */
  readonly syncTimeoutMs?: number;
  /** Default: silent. */
  readonly logger?: Logger;
  /** Applied to each object before it is stored, e.g. to drop fields that are never read. */
  readonly transform?: (object: T) => T;
  /** Lower bound of the random server-side watch timeout. Default 30 min. */
  readonly minWatchTimeoutSeconds?: number;
  /** Backoff of failed lists and watches. Default 800 ms doubling to 30 s, full jitter. */
  readonly backoff?: BackoffOptions;
  /** Source of randomness in [0, 1). Default Math.random. */
  readonly random?: () => number;
}

/** The state of one item, as the status publisher reports it. */
export interface CacheItemSnapshot {
  readonly namespace: string;
  readonly name: string;
  /** Reference count per Pod UID. */
  readonly references: ReadonlyMap<string, number>;
  readonly reflector: 'Running' | 'Stopped';
  readonly stopReason: StopReason | undefined;
  readonly synced: boolean;
  /** Whether the last completed list held the object; undefined before the first list. */
  readonly found: boolean | undefined;
  readonly immutable: boolean;
  /** resourceVersion of the cached object, if it is cached. */
  readonly resourceVersion: string | undefined;
  readonly lastAccess: number | undefined;
  readonly lastChange: number | undefined;
}

/** Counts for metrics. Counters only grow; gauges are current values. */
export interface ObjectCacheMetrics {
  readonly items: number;
  readonly runningReflectors: number;
  /** Sum over items of the number of distinct Pod UIDs referencing them. */
  readonly references: number;
  readonly gets: Readonly<Record<GetResult, number>>;
  readonly lists: number;
  readonly watches: number;
  readonly watchRestarts: number;
  readonly relists: number;
}

/** How a `get` ended. */
export type GetResult = 'hit' | 'notFound' | 'syncTimeout' | 'notRegistered';

/** Identifies the item whose state changed. */
export interface ItemKey {
  readonly namespace: string;
  readonly name: string;
}

/**
 * The kubelet's watch-based object cache (`../shared/semantics.md`, rules 1 to 17), for any
 * kind: one reference-counted item per (namespace, name), each with its own reflector on
 * `metadata.name=<name>`, idle reflectors stopped by a periodic sweep and restarted by `get`,
 * and immutable objects served without a watch.
 *
 * `addReference` and `deleteReference` are synchronous and never wait on the network. The
 * constructor does no I/O and arms no timer; the sweep is armed by the first `addReference`.
 */
export class ObjectCache<T extends KubeObject> {
  readonly #items = new Map<string, CacheItem<T>>();
  readonly #listeners = new Set<(key: ItemKey) => void>();
  readonly #settling = new Set<Promise<void>>();
  readonly #counters: ReflectorCounters = { lists: 0, watches: 0, watchRestarts: 0, relists: 0 };
  readonly #gets: Record<GetResult, number> = {
    hit: 0,
    notFound: 0,
    syncTimeout: 0,
    notRegistered: 0,
  };
  readonly #options: ObjectCacheOptions<T>;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #maxIdleTimeMs: number;
  #sweepTimer: Timer | undefined;
  #stopped = false;

  constructor(options: ObjectCacheOptions<T>) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    // Rule 15: an idle time below a minute would stop watches between a Pod's reads.
    this.#maxIdleTimeMs = Math.max(options.maxIdleTimeMs ?? 5 * MINUTE_MS, MINUTE_MS);
  }

  /** The idle time in force after clamping (rule 15). */
  get maxIdleTimeMs(): number {
    return this.#maxIdleTimeMs;
  }

  /**
   * Records that the Pod `podUID` references the object (rule 2). A new item starts its
   * reflector at once; an existing one only gains a count. Does nothing after `stop`.
   */
  addReference(namespace: string, name: string, podUID: string): void {
    if (this.#stopped) return;

    const key = itemKey(namespace, name);
    let item = this.#items.get(key);
    if (item === undefined) {
      item = this.#newItem(namespace, name);
      this.#items.set(key, item);
      item.reflector.start();
      this.#armSweep();
    }

    item.references.set(podUID, (item.references.get(podUID) ?? 0) + 1);
    this.#notify(item);
  }

  /**
   * Removes one reference of the Pod `podUID` (rule 3). At zero the UID is dropped; with no
   * UID left the reflector stops and the item is removed. An unknown item or UID is a no-op.
   */
  deleteReference(namespace: string, name: string, podUID: string): void {
    const key = itemKey(namespace, name);
    const item = this.#items.get(key);
    const count = item?.references.get(podUID);
    if (item === undefined || count === undefined) return;

    if (count > 1) {
      item.references.set(podUID, count - 1);
    } else {
      item.references.delete(podUID);
    }

    if (item.references.size === 0) {
      this.#items.delete(key);
      this.#track(item.reflector.stop());
    }
    this.#notify(item);
  }

  /**
   * The cached object (rules 8 to 14). Records the access time first, restarts an idle
   * reflector, waits for the store to sync, and returns the stored instance, which the caller
   * must not change. Fails with NotRegisteredError, SyncTimeoutError or NotFoundError.
   */
  async get(namespace: string, name: string): Promise<T> {
    const item = this.#items.get(itemKey(namespace, name));
    if (item === undefined) {
      this.#gets.notRegistered++;
      throw new NotRegisteredError(namespace, name);
    }

    item.lastAccess = this.#clock.now();

    if (!this.#stopped && item.restartIfNeeded()) {
      this.#logger.debug('Restarted idle reflector', { namespace, name });
      this.#notify(item);
    }

    await this.#waitForSync(item);

    const object = item.store.get(name);
    if (object === undefined) {
      this.#gets.notFound++;
      throw new NotFoundError(this.#options.groupResource, name);
    }

    if (!item.immutable && this.#options.isImmutable(object)) {
      this.#markImmutable(item);
    }
    this.#gets.hit++;
    return object;
  }

  /**
   * Stops the reflector of every item that is running, synced, and was last read more than
   * `maxIdleTimeMs` ago (rule 16). Runs every sweep period; tests call it directly. Returns how
   * many reflectors it stopped.
   */
  sweep(): number {
    const now = this.#clock.now();
    let stopped = 0;

    for (const item of this.#items.values()) {
      // An item that never synced is never stopped: its list may still be on its way, and
      // stopping it would throw that work away (rule 16).
      if (item.stopped || !item.store.synced) continue;
      // An item that synced but was never read is idle at once, as the kubelet's zero time is.
      if (item.lastAccess !== undefined && now <= item.lastAccess + this.#maxIdleTimeMs) continue;

      const result = item.stop('Idle');
      this.#track(result.settled);
      stopped++;
      this.#logger.debug('Stopped idle reflector', { namespace: item.namespace, name: item.name });
      this.#notify(item);
    }
    return stopped;
  }

  /** The state of every item, in no particular order. */
  snapshot(): CacheItemSnapshot[] {
    return [...this.#items.values()].map((item) => this.#snapshotOf(item));
  }

  /** The state of one item, or undefined when it is not cached. */
  inspect(namespace: string, name: string): CacheItemSnapshot | undefined {
    const item = this.#items.get(itemKey(namespace, name));
    return item === undefined ? undefined : this.#snapshotOf(item);
  }

  /**
   * Calls `listener` synchronously after an item's references, reflector state, synced flag or
   * content changed, or after it was removed (then `inspect` returns undefined). Reads alone do
   * not notify. Returns the function that unsubscribes.
   */
  subscribe(listener: (key: ItemKey) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Current counts for metrics. */
  metrics(): ObjectCacheMetrics {
    let running = 0;
    let references = 0;
    for (const item of this.#items.values()) {
      if (item.reflector.running) running++;
      references += item.references.size;
    }
    return {
      items: this.#items.size,
      runningReflectors: running,
      references,
      gets: { ...this.#gets },
      ...this.#counters,
    };
  }

  /**
   * Stops the sweep and every reflector. Idempotent; later `addReference` calls do nothing.
   * Resolves once every reflector has released its connection.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#sweepTimer?.cancel();
    this.#sweepTimer = undefined;

    for (const item of this.#items.values()) {
      // Like a stopped item, a stopped cache no longer vouches for mutable content.
      if (!item.immutable) item.store.unsetSynced();
      this.#track(item.reflector.stop());
    }
    await Promise.all([...this.#settling]);
  }

  #newItem(namespace: string, name: string): CacheItem<T> {
    const options = this.#options;
    const store = new Store<T>();
    const reflectorName = `object-"${namespace}"/"${name}"`;
    const holder: { item?: CacheItem<T> } = {};
    const reflector = new Reflector<T>({
      name: reflectorName,
      namespace,
      fieldSelector: `metadata.name=${name}`,
      listerWatcher: options.listerWatcher,
      store,
      clock: this.#clock,
      logger: this.#logger,
      counters: this.#counters,
      transform: options.transform,
      onStoreChange: () => {
        if (holder.item !== undefined) this.#notify(holder.item);
      },
      minWatchTimeoutSeconds: options.minWatchTimeoutSeconds,
      backoff: options.backoff,
      random: options.random,
    });
    holder.item = new CacheItem(namespace, name, store, reflector);
    return holder.item;
  }

  #markImmutable(item: CacheItem<T>): void {
    item.immutable = true;
    const result = item.stop('Immutable');
    this.#track(result.settled);
    if (result.stopped) {
      this.#logger.debug('Stopped watching for changes, object is immutable', {
        namespace: item.namespace,
        name: item.name,
      });
    }
    this.#notify(item);
  }

  async #waitForSync(item: CacheItem<T>): Promise<void> {
    const timeoutMs = this.#options.syncTimeoutMs ?? 1000;
    const pollMs = this.#options.syncPollIntervalMs ?? 10;
    const deadline = this.#clock.now() + timeoutMs;

    while (!item.store.synced) {
      if (this.#clock.now() >= deadline) {
        this.#gets.syncTimeout++;
        throw new SyncTimeoutError(this.#options.groupResource);
      }
      await sleep(this.#clock, pollMs);
    }
  }

  #snapshotOf(item: CacheItem<T>): CacheItemSnapshot {
    const object = item.store.get(item.name);
    return {
      namespace: item.namespace,
      name: item.name,
      references: new Map(item.references),
      reflector: item.reflector.running ? 'Running' : 'Stopped',
      stopReason: item.stopReason,
      synced: item.store.synced,
      found: item.store.listed ? object !== undefined : undefined,
      immutable: item.immutable,
      resourceVersion: object?.metadata?.resourceVersion,
      lastAccess: item.lastAccess,
      lastChange: item.store.lastChange,
    };
  }

  #armSweep(): void {
    if (this.#sweepTimer !== undefined) return;
    const periodMs = this.#options.sweepPeriodMs ?? MINUTE_MS;
    this.#sweepTimer = every(this.#clock, periodMs, () => this.sweep());
  }

  #track(settled: Promise<void>): void {
    this.#settling.add(settled);
    void settled.finally(() => this.#settling.delete(settled));
  }

  #notify(item: CacheItem<T>): void {
    const key = { namespace: item.namespace, name: item.name };
    for (const listener of this.#listeners) listener(key);
  }
}

function itemKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
