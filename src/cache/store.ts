import type { KubeObject } from '../apimachinery/types.ts';
import type { ReflectorStore } from './reflector.ts';

/**
 * The content one reflector maintains: objects of one namespace keyed by name, the
 * resourceVersion last seen, and whether a full list has initialized it (rule 7).
 *
 * The store never copies objects: callers receive the stored instance and must not change it
 * (rule 14).
 */
export class Store<T extends KubeObject> implements ReflectorStore<T> {
  readonly #objects = new Map<string, T>();
  #synced = false;
  #listed = false;
  #resourceVersion = '';
  #lastChange: number | undefined;

  /**
   * Replaces the whole content with a complete list and marks the store synced. Only a full
   * list does that; single watch events never do (rule 7). A listed object older than the
   * stored version of the same object is ignored (rule 6).
   */
  replace(items: readonly T[], resourceVersion: string, now: number): void {
    const before = this.#fingerprint();
    const previous = new Map(this.#objects);
    this.#objects.clear();
    for (const item of items) {
      const name = item.metadata?.name;
      if (name === undefined) continue;

      const stored = previous.get(name);
      this.#objects.set(name, stored !== undefined && isOlder(item, stored) ? stored : item);
    }
    this.#resourceVersion = resourceVersion;
    this.#synced = true;
    this.#listed = true;
    if (this.#fingerprint() !== before) this.#lastChange = now;
  }

  /** Adds or replaces one object from an ADDED or MODIFIED event. */
  upsert(object: T, now: number): void {
    const name = object.metadata?.name;
    if (name === undefined) return;

    // A watch resumed from a lagging list may replay versions older than the stored one.
    const stored = this.#objects.get(name);
    if (stored !== undefined && isOlder(object, stored)) return;

    this.#objects.set(name, object);
    this.#resourceVersion = object.metadata?.resourceVersion ?? this.#resourceVersion;
    this.#lastChange = now;
  }

  /** Removes one object after a DELETED event. */
  remove(object: T, now: number): void {
    const name = object.metadata?.name;
    if (name === undefined) return;

    const stored = this.#objects.get(name);
    if (stored !== undefined && isOlder(object, stored)) return;

    this.#objects.delete(name);
    this.#resourceVersion = object.metadata?.resourceVersion ?? this.#resourceVersion;
    this.#lastChange = now;
  }

  /** Records the resourceVersion of a BOOKMARK; the content is unchanged. */
  bookmark(resourceVersion: string): void {
    this.#resourceVersion = resourceVersion;
  }

  /** Clears the synced flag and keeps the content (a stopped mutable item, rule 7). */
  unsetSynced(): void {
    this.#synced = false;
  }

  /** The stored object of that name. */
  get(name: string): T | undefined {
    return this.#objects.get(name);
  }

  /** True once a full list replaced the content, until `unsetSynced`. */
  get synced(): boolean {
    return this.#synced;
  }

  /** True once any full list completed, even if the store was unsynced since. */
  get listed(): boolean {
    return this.#listed;
  }

  /** The resourceVersion of the last list, event or bookmark; empty before the first list. */
  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  /** When the content last changed (by the injected clock); undefined if it never held data. */
  get lastChange(): number | undefined {
    return this.#lastChange;
  }

  #fingerprint(): string {
    const versions: string[] = [];
    for (const [name, object] of this.#objects) {
      versions.push(`${name}@${object.metadata?.resourceVersion ?? ''}`);
    }
    return versions.sort().join(',');
  }
}

/**
 * Guards rule 6: a list served by a lagging server must not replace an object with an older
 * version of itself. resourceVersions are compared only when both are plain integers, which
 * is what etcd-backed servers send, and only for the same incarnation (uid).
 */
function isOlder(candidate: KubeObject, stored: KubeObject): boolean {
  const a = candidate.metadata?.resourceVersion ?? '';
  const b = stored.metadata?.resourceVersion ?? '';
  if (candidate.metadata?.uid !== stored.metadata?.uid) return false;
  if (!/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return BigInt(a) < BigInt(b);
}
