import { isGone, isStatusObject, statusErrorFrom } from '../apimachinery/errors.ts';
import type { KubeObject, ListerWatcher, WatchEvent } from '../apimachinery/types.ts';
import { Backoff, type BackoffOptions } from '../util/backoff.ts';
import { type Clock, sleep } from '../util/clock.ts';
import { describeError, type Logger } from '../util/logger.ts';

/**
 * Where a reflector puts what it lists and watches. `Store` is the cache's implementation;
 * other consumers (the Pod registry) turn the same calls into register and unregister.
 */
export interface ReflectorStore<T> {
  /** A complete list replaced the content. */
  replace(items: readonly T[], resourceVersion: string, now: number): void;
  /** An ADDED or MODIFIED event. */
  upsert(object: T, now: number): void;
  /** A DELETED event. */
  remove(object: T, now: number): void;
  /** A BOOKMARK: only the resourceVersion moved. */
  bookmark(resourceVersion: string): void;
}

/** Counters a reflector adds to; the cache sums them over all its reflectors. */
export interface ReflectorCounters {
  lists: number;
  watches: number;
  /** Lists and watches retried after a failure (not after a normal close by the server). */
  watchRestarts: number;
  /** Full relists caused by 410 Gone. */
  relists: number;
}

/** Everything a reflector needs; all of it injected. */
export interface ReflectorOptions<T extends KubeObject> {
  /** Name used in logs, e.g. `object-"ns"/"name"`. */
  readonly name: string;
  readonly namespace: string;
  readonly fieldSelector: string;
  readonly listerWatcher: ListerWatcher<T>;
  readonly store: ReflectorStore<T>;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly counters: ReflectorCounters;
  /** Applied to every object before it is stored. */
  readonly transform?: ((object: T) => T) | undefined;
  /** Called after the store's content or synced flag changed. */
  readonly onStoreChange: () => void;
  /** The server-side watch timeout is drawn from [min, 2 × min). Default 30 min (rule 5). */
  readonly minWatchTimeoutSeconds?: number;
  readonly backoff?: BackoffOptions;
  /** Source of randomness in [0, 1) for watch timeouts and jitter. Default Math.random. */
  readonly random?: () => number;
  /**
   * Level of the line logged for each failed list or watch. Default `debug`: a cache runs
   * thousands of reflectors, and their failures are counted in metrics; a reflector the
   * process cannot work without (the Pod watch) logs them as `warn`.
   */
  readonly failureLogLevel?: 'debug' | 'warn';
}

/** A watch that the server ends this soon after it opened, with no event, counts as failed. */
const SHORT_WATCH_MS = 1000;

/**
 * Keeps a store equal to the server's view of the objects a field selector picks: a full list,
 * then a watch from the list's resourceVersion, for as long as it runs (rules 4 to 7).
 *
 * It never stops by itself. A watch the server closes resumes from the last resourceVersion; a
 * 410 Gone (HTTP status or ERROR event) leads to a fresh list; every other failure is retried
 * after a jittered exponential backoff. `start` and `stop` may alternate any number of times;
 * the store survives them.
 */
export class Reflector<T extends KubeObject> {
  readonly #options: ReflectorOptions<T>;
  readonly #backoff: Backoff;
  readonly #random: () => number;
  #controller: AbortController | undefined;
  #run: Promise<void> = Promise.resolve();
  /** 410s since the last event or list; see `#recover`. */
  #goneInARow = 0;

  constructor(options: ReflectorOptions<T>) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
    this.#backoff = new Backoff(options.clock, { random: this.#random, ...options.backoff });
  }

  /** True between `start` and `stop`. */
  get running(): boolean {
    return this.#controller !== undefined;
  }

  /** Starts listing and watching. Returns at once; a running reflector is left alone. */
  start(): void {
    if (this.#controller !== undefined) return;

    const controller = new AbortController();
    this.#controller = controller;
    const previous = this.#run;
    // A new run begins only after the previous one has settled, so two runs never write to
    // the store at the same time.
    this.#run = previous
      .then(() => this.#loop(controller.signal))
      .catch((err: unknown) => {
        this.#options.logger.error('Reflector ended unexpectedly', {
          reflector: this.#options.name,
          err: describeError(err),
        });
      });
  }

  /**
   * Stops listing and watching; no request is opened after this call. Idempotent. Resolves
   * once the current run has released its connection.
   */
  stop(): Promise<void> {
    const controller = this.#controller;
    this.#controller = undefined;
    controller?.abort();
    return this.#run;
  }

  async #loop(signal: AbortSignal): Promise<void> {
    const { logger, name } = this.#options;
    logger.debug('Starting reflector', { reflector: name });

    // Every run starts with a list: a restarted reflector must not trust content that may have
    // changed while it was stopped.
    let resourceVersion = '';
    while (!signal.aborted) {
      try {
        if (resourceVersion === '') resourceVersion = await this.#list(signal);
        resourceVersion = await this.#watch(resourceVersion, signal);
      } catch (err) {
        // Only this run's own signal ends it: a request that timed out is a failure like any
        // other, and is retried.
        if (signal.aborted) break;
        resourceVersion = await this.#recover(err, resourceVersion, signal);
      }
    }

    logger.debug('Stopped reflector', { reflector: name });
  }

  /** Decides how to continue after a failure; returns the resourceVersion to go on from. */
  async #recover(err: unknown, resourceVersion: string, signal: AbortSignal): Promise<string> {
    const { logger, name, counters } = this.#options;

    if (isGone(err)) {
      logger.debug('Watch expired, listing again', { reflector: name, resourceVersion });
      counters.relists++;
      // A first 410 relists at once; a server that answers 410 again and again is not
      // hammered: later ones wait the backoff like any other failure.
      if (this.#goneInARow++ > 0) await this.#wait(signal);
      return '';
    }

    logger[this.#options.failureLogLevel ?? 'debug']('List or watch failed, backing off', {
      reflector: name,
      err: describeError(err),
    });
    counters.watchRestarts++;
    await this.#wait(signal);
    return resourceVersion;
  }

  /** Sleeps the next backoff delay; returns early when `signal` aborts. */
  async #wait(signal: AbortSignal): Promise<void> {
    try {
      await sleep(this.#options.clock, this.#backoff.next(), signal);
    } catch {
      // Aborted while waiting: the loop sees the signal and ends.
    }
  }

  async #list(signal: AbortSignal): Promise<string> {
    const { listerWatcher, namespace, fieldSelector, store, clock, counters } = this.#options;

    counters.lists++;
    const list = await listerWatcher.list({ namespace, fieldSelector, signal });
    if (signal.aborted) throw signal.reason;

    const items = list.items.map((item) => this.#transform(item));
    store.replace(items, list.resourceVersion, clock.now());
    this.#backoff.reset();
    this.#options.onStoreChange();
    return list.resourceVersion;
  }

  /** Watches until the server ends the stream; returns the resourceVersion to resume from. */
  async #watch(resourceVersion: string, signal: AbortSignal): Promise<string> {
    const { listerWatcher, namespace, fieldSelector, clock, counters } = this.#options;
    const minTimeout = this.#options.minWatchTimeoutSeconds ?? 1800;
    const timeoutSeconds = Math.floor(minTimeout * (1 + this.#random()));

    counters.watches++;
    const openedAt = clock.now();
    let current = resourceVersion;
    let events = 0;
    const stream = listerWatcher.watch({
      namespace,
      fieldSelector,
      resourceVersion,
      timeoutSeconds,
      allowWatchBookmarks: true,
      signal,
    });
    for await (const event of stream) {
      if (signal.aborted) throw signal.reason;
      current = this.#apply(event, current);
      events++;
      this.#goneInARow = 0;
      this.#backoff.reset();
    }

    if (events === 0 && clock.now() - openedAt < SHORT_WATCH_MS) {
      throw new Error('watch closed by the server right after it opened');
    }
    return current;
  }

  /** Applies one event to the store; returns the new resourceVersion. Throws on ERROR. */
  #apply(event: WatchEvent<T>, resourceVersion: string): string {
    const { store, clock, logger, name } = this.#options;

    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED': {
        const object = this.#transform(event.object);
        store.upsert(object, clock.now());
        this.#options.onStoreChange();
        logger.trace('Watch event', { reflector: name, type: event.type, ...versionOf(object) });
        return object.metadata?.resourceVersion ?? resourceVersion;
      }
      case 'DELETED': {
        store.remove(event.object, clock.now());
        this.#options.onStoreChange();
        logger.trace('Watch event', { reflector: name, type: event.type });
        return event.object.metadata?.resourceVersion ?? resourceVersion;
      }
      case 'BOOKMARK': {
        const bookmarked = event.object.metadata?.resourceVersion ?? resourceVersion;
        store.bookmark(bookmarked);
        return bookmarked;
      }
      case 'ERROR': {
        const code = isStatusObject(event.object) ? (event.object.code ?? 500) : 500;
        throw statusErrorFrom(code, event.object);
      }
      default:
        return resourceVersion;
    }
  }

  #transform(object: T): T {
    const transform = this.#options.transform;
    return transform === undefined ? object : transform(object);
  }
}

function versionOf(object: KubeObject): { resourceVersion: string | undefined } {
  return { resourceVersion: object.metadata?.resourceVersion };
}
