import type { V1Pod } from '@kubernetes/client-node';
import type { ListerWatcher } from '../apimachinery/types.ts';
import { Reflector, type ReflectorCounters, type ReflectorStore } from '../cache/reflector.ts';
import type { BackoffOptions } from '../util/backoff.ts';
import { type Clock, systemClock } from '../util/clock.ts';
import { type Logger, silentLogger } from '../util/logger.ts';
import { type PodRegistry, podUID } from './registry.ts';

/** Options of the Pod watch. */
export interface PodWatchOptions {
  readonly listerWatcher: ListerWatcher<V1Pod>;
  readonly registry: PodRegistry;
  /** Namespaces to watch; empty watches the whole cluster. */
  readonly namespaces?: readonly string[];
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly backoff?: BackoffOptions;
}

/**
 * Feeds a Pod registry from a list+watch of Pods that never gives up (the same reflector as
 * the object cache's): every listed or added Pod is registered, updates re-register, deletes
 * unregister, and a relist unregisters the Pods that vanished meanwhile.
 */
export class PodWatch {
  readonly #reflectors: Reflector<V1Pod>[] = [];
  readonly #sinks: RegistrySink[] = [];
  readonly counters: ReflectorCounters = { lists: 0, watches: 0, watchRestarts: 0, relists: 0 };
  readonly #syncedListeners = new Set<() => void>();

  constructor(options: PodWatchOptions) {
    const namespaces = options.namespaces?.length ? options.namespaces : [''];
    const logger = options.logger ?? silentLogger;

    for (const namespace of namespaces) {
      const sink = new RegistrySink(options.registry, () => this.#onSynced());
      this.#sinks.push(sink);
      this.#reflectors.push(
        new Reflector<V1Pod>({
          name: namespace === '' ? 'pods' : `pods-"${namespace}"`,
          namespace,
          fieldSelector: '',
          listerWatcher: options.listerWatcher,
          store: sink,
          clock: options.clock ?? systemClock,
          logger,
          counters: this.counters,
          onStoreChange: () => undefined,
          backoff: options.backoff,
          failureLogLevel: 'warn',
        }),
      );
    }
  }

  /** True once every watched namespace has been listed completely. */
  get synced(): boolean {
    return this.#sinks.every((sink) => sink.synced);
  }

  /** Resolves once `synced` is true, or at once if it already is. */
  whenSynced(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => {
      const listener = (): void => {
        if (!this.synced) return;
        this.#syncedListeners.delete(listener);
        resolve();
      };
      this.#syncedListeners.add(listener);
    });
  }

  /** Starts listing and watching. Idempotent; returns at once. */
  start(): void {
    for (const reflector of this.#reflectors) reflector.start();
  }

  /** Stops every watch; resolves once their connections are released. Idempotent. */
  async stop(): Promise<void> {
    await Promise.all(this.#reflectors.map((reflector) => reflector.stop()));
  }

  #onSynced(): void {
    for (const listener of [...this.#syncedListeners]) listener();
  }
}

/** Turns a reflector's list and events into register and unregister calls. */
class RegistrySink implements ReflectorStore<V1Pod> {
  readonly #registry: PodRegistry;
  readonly #onSynced: () => void;
  #uids = new Set<string>();
  synced = false;

  constructor(registry: PodRegistry, onSynced: () => void) {
    this.#registry = registry;
    this.#onSynced = onSynced;
  }

  replace(items: readonly V1Pod[]): void {
    const listed = new Set<string>();
    for (const pod of items) {
      this.#registry.register(pod);
      const uid = podUID(pod);
      if (uid !== undefined) listed.add(uid);
    }

    // Pods deleted while the watch was down appear only as absent from the new list.
    for (const uid of this.#uids) {
      if (!listed.has(uid)) this.#registry.unregister(uid);
    }
    this.#uids = listed;

    if (!this.synced) {
      this.synced = true;
      this.#onSynced();
    }
  }

  upsert(pod: V1Pod): void {
    this.#registry.register(pod);
    const uid = podUID(pod);
    if (uid !== undefined) this.#uids.add(uid);
  }

  remove(pod: V1Pod): void {
    const uid = podUID(pod);
    if (uid === undefined) return;
    this.#registry.unregister(uid);
    this.#uids.delete(uid);
  }

  bookmark(): void {
    // Nothing to do: the reflector tracks the resourceVersion itself.
  }
}
