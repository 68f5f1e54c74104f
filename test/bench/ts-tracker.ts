/**
 * Reads objects whose update is on its way until the cache serves a resourceVersion other than
 * the one they had, and records when: the TypeScript half of the propagation scenario, doing
 * what the Go runner's tracker does.
 */
import type { CachedKind, Sighting, TrackedAnswer } from './protocol.ts';
import { wallClockMs } from './protocol.ts';

/** Reads one object through the cache under test and returns its resourceVersion. */
export type VersionReader = (kind: CachedKind, namespace: string, name: string) => Promise<string>;

/** How often a tracked object is read while its change is awaited. */
const POLL_INTERVAL_MS = 1;

/** A change not served after this long is given up and counted as pending. */
const GIVE_UP_MS = 30_000;

/** Tracks changes; see the module comment. */
export class ChangeTracker {
  readonly #read: VersionReader;
  readonly #running = new Set<Promise<void>>();
  #seen: Sighting[] = [];
  #pending = 0;

  constructor(read: VersionReader) {
    this.#read = read;
  }

  /** Starts reading the object every millisecond in the background; returns at once. */
  track(kind: CachedKind, namespace: string, name: string, resourceVersion: string): void {
    this.#pending++;
    const poll = this.#poll(kind, namespace, name, resourceVersion);
    this.#running.add(poll);
    void poll.finally(() => this.#running.delete(poll));
  }

  /**
   * Waits up to `timeoutMs` for every tracked change, then returns and forgets what was seen;
   * changes still awaited are counted as pending.
   */
  async results(timeoutMs: number): Promise<TrackedAnswer> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.all([...this.#running]), timeout]);
    clearTimeout(timer);

    const seen = this.#seen;
    this.#seen = [];
    return { seen, pending: this.#pending };
  }

  async #poll(kind: CachedKind, namespace: string, name: string, old: string): Promise<void> {
    const deadline = performance.now() + GIVE_UP_MS;
    while (performance.now() < deadline) {
      const resourceVersion = await this.#read(kind, namespace, name).catch(() => old);
      if (resourceVersion !== old) {
        this.#seen.push({ kind, namespace, name, resourceVersion, seenAtMs: wallClockMs() });
        this.#pending--;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
  }
}
