import type {
  KubeObject,
  ListerWatcher,
  ListOptions,
  ListResult,
  WatchEvent,
  WatchOptions,
} from '../../src/apimachinery/types.ts';
import type { Clock, Timer } from '../../src/util/clock.ts';

/**
 * Wraps a real list+watch source: counts requests, and can hold new watches back (and end the
 * open ones) so that a test can change the server while the reflector is disconnected.
 */
export class GatedSource<T extends KubeObject> implements ListerWatcher<T> {
  readonly #inner: ListerWatcher<T>;
  lists = 0;
  watches = 0;
  /** resourceVersions that watches were opened from, in order. */
  readonly watchedFrom: string[] = [];
  #gate: Promise<void> | undefined;
  #open = new Set<AbortController>();
  #release: (() => void) | undefined;

  constructor(inner: ListerWatcher<T>) {
    this.#inner = inner;
  }

  list(options: ListOptions): Promise<ListResult<T>> {
    this.lists++;
    return this.#inner.list(options);
  }

  async *watch(options: WatchOptions): AsyncGenerator<WatchEvent<T>> {
    this.watches++;
    this.watchedFrom.push(options.resourceVersion);
    if (this.#gate !== undefined) await this.#gate;

    const controller = new AbortController();
    this.#open.add(controller);
    try {
      yield* this.#inner.watch({
        ...options,
        signal: AbortSignal.any([options.signal, controller.signal]),
      });
    } finally {
      this.#open.delete(controller);
    }
  }

  /** Ends every open watch with a network-like error and holds new ones until `open`. */
  disconnect(): void {
    this.#gate ??= new Promise((resolve) => (this.#release = resolve));
    for (const controller of this.#open) controller.abort(new Error('connection reset by test'));
  }

  /** Lets held and new watches through. */
  open(): void {
    this.#release?.();
    this.#gate = undefined;
  }

  /** Watches open right now. */
  get openWatches(): number {
    return this.#open.size;
  }
}

/**
 * A clock whose timers run in real time but whose `now` can jump forward, so that a test with
 * a real API server can make an item look idle without waiting minutes.
 */
export class JumpingClock implements Clock {
  #offset = 0;

  now(): number {
    return Date.now() + this.#offset;
  }

  setTimer(delayMs: number, callback: () => void): Timer {
    const handle = setTimeout(callback, delayMs);
    return { cancel: () => clearTimeout(handle) };
  }

  /** Moves `now` forward by `ms`. */
  jump(ms: number): void {
    this.#offset += ms;
  }
}

/** Polls `check` every 20 ms until it returns a value other than undefined or `timeoutMs`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
