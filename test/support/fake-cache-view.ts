/**
 * A cache as the status publisher sees it: item snapshots that a test sets directly, without
 * reflectors or a clock.
 */
import type { CacheItemSnapshot } from '../../src/cache/object-cache.ts';
import type { CacheView } from '../../src/status/publisher.ts';

/** The parts of a snapshot a test chooses; the rest defaults to a synced, found, running item. */
export interface SnapshotShape extends Partial<Omit<CacheItemSnapshot, 'references'>> {
  readonly namespace: string;
  readonly name: string;
  /** Uids of the referencing Pods, one reference each. Default none. */
  readonly pods?: readonly string[];
}

/** A snapshot of a running, synced item whose object was found at resourceVersion 1. */
export function itemSnapshot(shape: SnapshotShape): CacheItemSnapshot {
  const { pods = [], ...rest } = shape;
  return {
    reflector: 'Running',
    stopReason: undefined,
    synced: true,
    found: true,
    immutable: false,
    resourceVersion: '1',
    lastAccess: undefined,
    lastChange: undefined,
    ...rest,
    references: new Map(pods.map((uid) => [uid, 1])),
  };
}

/** A cache view whose items are whatever the test last set. */
export class FakeCacheView implements CacheView {
  readonly #items = new Map<string, CacheItemSnapshot>();

  /** Puts (or replaces) the item of `shape`. Returns the snapshot. */
  set(shape: SnapshotShape): CacheItemSnapshot {
    const snapshot = itemSnapshot(shape);
    this.#items.set(`${snapshot.namespace}/${snapshot.name}`, snapshot);
    return snapshot;
  }

  /** Removes the item, as the cache does when its last reference goes. */
  remove(namespace: string, name: string): void {
    this.#items.delete(`${namespace}/${name}`);
  }

  inspect(namespace: string, name: string): CacheItemSnapshot | undefined {
    return this.#items.get(`${namespace}/${name}`);
  }

  snapshot(): CacheItemSnapshot[] {
    return [...this.#items.values()];
  }
}
