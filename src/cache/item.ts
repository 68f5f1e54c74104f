import type { KubeObject } from '../apimachinery/types.ts';
import type { Reflector } from './reflector.ts';
import type { Store } from './store.ts';

/** Why a reflector is not running. */
export type StopReason = 'Idle' | 'Immutable';

/**
 * One cached object (rule 1): the references to it keyed by Pod UID, its reflector and store,
 * the last access time and the stopped and immutable flags. Items are owned by the object
 * cache, which serialises every change to them.
 */
export class CacheItem<T extends KubeObject> {
  readonly namespace: string;
  readonly name: string;
  readonly store: Store<T>;
  readonly reflector: Reflector<T>;
  /** Count of references per Pod UID; a UID is dropped when its count reaches zero. */
  readonly references = new Map<string, number>();
  /** Last `get` by the injected clock; undefined until the first `get` (rule 16). */
  lastAccess: number | undefined;
  immutable = false;
  stopReason: StopReason | undefined;

  constructor(namespace: string, name: string, store: Store<T>, reflector: Reflector<T>) {
    this.namespace = namespace;
    this.name = name;
    this.store = store;
    this.reflector = reflector;
  }

  /** True while the reflector is not running (idle or immutable). */
  get stopped(): boolean {
    return this.stopReason !== undefined;
  }

  /**
   * Stops the reflector for `reason`. A mutable item loses its synced flag and keeps its
   * content (rule 7); an immutable one stays synced (rule 13). Returns false when the item was
   * already stopped. The reflector's settling promise is returned for whoever must await it.
   */
  stop(reason: StopReason): { stopped: boolean; settled: Promise<void> } {
    if (this.stopReason !== undefined) return { stopped: false, settled: Promise.resolve() };

    this.stopReason = reason;
    if (!this.immutable) this.store.unsetSynced();
    return { stopped: true, settled: this.reflector.stop() };
  }

  /** Restarts a reflector stopped as idle; an immutable item is never restarted (rule 10). */
  restartIfNeeded(): boolean {
    if (this.immutable || this.stopReason === undefined) return false;

    this.stopReason = undefined;
    this.reflector.start();
    return true;
  }
}
