import { type StatusError, statusErrorFrom } from '../../src/apimachinery/errors.ts';
import type {
  KubeObject,
  ListerWatcher,
  ListOptions,
  ListResult,
  WatchEvent,
  WatchOptions,
} from '../../src/apimachinery/types.ts';

/** One request the source received, whatever its answer was. */
export interface RequestRecord {
  readonly verb: 'list' | 'watch';
  readonly namespace: string;
  /** The name picked by the field selector `metadata.name=<name>`, if any. */
  readonly name: string | undefined;
  readonly fieldSelector: string | undefined;
  readonly labelSelector: string | undefined;
  /** Watch only. */
  readonly resourceVersion?: string;
  readonly timeoutSeconds?: number;
  readonly allowWatchBookmarks?: boolean;
}

/** How a scripted watch failure reaches the client. */
export type WatchFailure = 'status' | 'event';

/** A list hold: lists started while it is in place wait until `release`. */
export interface ListHold {
  release(): void;
}

/** One committed change, as the server's history keeps it. */
interface Change<T> {
  readonly resourceVersion: number;
  readonly namespace: string;
  readonly name: string;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: T;
}

type Delivery<T> =
  | { readonly kind: 'event'; readonly event: WatchEvent<T> }
  | { readonly kind: 'close' }
  | { readonly kind: 'fail'; readonly error: unknown };

/** The server side of one open watch: a queue of what it will deliver next. */
class OpenWatch<T> {
  readonly namespace: string;
  readonly name: string | undefined;
  readonly #queue: Delivery<T>[] = [];
  #wake: (() => void) | undefined;

  constructor(namespace: string, name: string | undefined) {
    this.namespace = namespace;
    this.name = name;
  }

  selects(namespace: string, name: string): boolean {
    return (
      (this.namespace === '' || this.namespace === namespace) &&
      (this.name === undefined || this.name === name)
    );
  }

  push(delivery: Delivery<T>): void {
    this.#queue.push(delivery);
    this.#wake?.();
    this.#wake = undefined;
  }

  async take(): Promise<Delivery<T>> {
    for (;;) {
      const next = this.#queue.shift();
      if (next !== undefined) return next;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }
}

/**
 * An in-memory API server for one kind: objects per namespace, a global integer
 * resourceVersion, a full history of changes (so a watch resumes from any resourceVersion and a
 * lagging list can be served), and the field selector `metadata.name=<name>`.
 *
 * Every request is recorded. Faults are scripted: held lists, failed lists and watches (a
 * thrown StatusError, or for watches an ERROR event carrying a Status), watches closed cleanly
 * or reset mid-stream. Aborting a request's signal rejects it with an AbortError and ends its
 * stream. Objects handed out are copies, as a real server's would be.
 */
export class FakeSource<T extends KubeObject> implements ListerWatcher<T> {
  readonly #history: Change<T>[] = [];
  readonly #requests: RequestRecord[] = [];
  readonly #open = new Set<OpenWatch<T>>();
  readonly #listFailures: number[] = [];
  readonly #watchFailures: { code: number; as: WatchFailure }[] = [];
  readonly #laggingLists: number[] = [];
  #hold: { promise: Promise<void>; release: () => void } | undefined;
  #resourceVersion = 0;
  #uids = 0;

  // --- ListerWatcher ---

  async list(options: ListOptions): Promise<ListResult<T>> {
    const name = selectedName(options.fieldSelector);
    this.#requests.push({
      verb: 'list',
      namespace: options.namespace,
      name,
      fieldSelector: options.fieldSelector,
      labelSelector: options.labelSelector,
    });

    await untilReleased(this.#hold?.promise, options.signal);

    const failure = this.#listFailures.shift();
    if (failure !== undefined) throw statusFailure(failure);

    const at = this.#laggingLists.shift() ?? this.#resourceVersion;
    const items = [...this.#stateAt(at).values()]
      .filter((change) => selects(options.namespace, name, change))
      .map((change) => structuredClone(change.object));
    return { items, resourceVersion: String(at) };
  }

  watch(options: WatchOptions): AsyncIterable<WatchEvent<T>> {
    const name = selectedName(options.fieldSelector);
    this.#requests.push({
      verb: 'watch',
      namespace: options.namespace,
      name,
      fieldSelector: options.fieldSelector,
      labelSelector: options.labelSelector,
      resourceVersion: options.resourceVersion,
      timeoutSeconds: options.timeoutSeconds,
      allowWatchBookmarks: options.allowWatchBookmarks,
    });
    return this.#stream(options, name);
  }

  // --- the server's data ---

  /** Creates the object; assigns a uid unless it has one. Returns the stored copy. */
  create(namespace: string, object: T): T {
    const name = nameOf(object);
    if (this.#current(namespace, name) !== undefined) {
      throw new Error(`fake source: ${namespace}/${name} already exists`);
    }
    const uid = object.metadata?.uid ?? `uid-${++this.#uids}`;
    return this.#commit('ADDED', namespace, object, uid);
  }

  /** Replaces an existing object, keeping its uid. Returns the stored copy. */
  update(namespace: string, object: T): T {
    const current = this.#existing(namespace, nameOf(object));
    return this.#commit('MODIFIED', namespace, object, current.metadata?.uid);
  }

  /** Deletes an existing object. Returns its last state, at the deletion's resourceVersion. */
  delete(namespace: string, name: string): T {
    const current = this.#existing(namespace, name);
    return this.#commit('DELETED', namespace, current, current.metadata?.uid);
  }

  /** The current resourceVersion of the whole server. */
  get resourceVersion(): string {
    return String(this.#resourceVersion);
  }

  // --- scripted faults ---

  /** Makes lists wait until the hold is released; a hold never released delays them forever. */
  holdLists(): ListHold {
    if (this.#hold === undefined) {
      let release = (): void => undefined;
      const promise = new Promise<void>((resolve) => (release = resolve));
      this.#hold = { promise, release };
    }
    const hold = this.#hold;
    return {
      release: () => {
        if (this.#hold === hold) this.#hold = undefined;
        hold.release();
      },
    };
  }

  /** The next `count` lists fail with a StatusError of `code` (403, 429, 500, ...). */
  failLists(count: number, code: number): void {
    for (let i = 0; i < count; i++) this.#listFailures.push(code);
  }

  /**
   * The next `count` watches fail with `code`: thrown as a StatusError (`status`), or as an
   * ERROR event carrying a Status object after which the stream ends (`event`).
   */
  failWatches(count: number, code: number, as: WatchFailure = 'status'): void {
    for (let i = 0; i < count; i++) this.#watchFailures.push({ code, as });
  }

  /** The next list is served as of `resourceVersion`, as a lagging server would serve it. */
  lagNextList(resourceVersion: string): void {
    this.#laggingLists.push(Number(resourceVersion));
  }

  /** Ends every open watch normally, as the server does when its timeout expires. */
  closeWatches(): number {
    return this.#endWatches({ kind: 'close' });
  }

  /** Breaks every open watch with a network error, as a dropped connection does. */
  resetWatches(): number {
    const error = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    return this.#endWatches({ kind: 'fail', error });
  }

  /** Sends a BOOKMARK at the current resourceVersion to every open watch. */
  bookmark(): void {
    const object: KubeObject = { metadata: { resourceVersion: this.resourceVersion } };
    for (const watch of this.#open)
      watch.push({ kind: 'event', event: { type: 'BOOKMARK', object } });
  }

  // --- what the client did ---

  /** Every request received, oldest first. */
  get requests(): readonly RequestRecord[] {
    return this.#requests;
  }

  /** How many requests of `verb` were received, optionally only those for one object. */
  count(verb: 'list' | 'watch', namespace?: string, name?: string): number {
    return this.#requests.filter(
      (r) =>
        r.verb === verb &&
        (namespace === undefined || r.namespace === namespace) &&
        (name === undefined || r.name === name),
    ).length;
  }

  /** The watches whose streams the client has not yet released. */
  get openWatches(): number {
    return this.#open.size;
  }

  // --- internals ---

  async *#stream(options: WatchOptions, name: string | undefined): AsyncGenerator<WatchEvent<T>> {
    const failure = this.#watchFailures.shift();
    if (failure?.as === 'status') throw statusFailure(failure.code);
    if (failure?.as === 'event') {
      yield { type: 'ERROR', object: statusObject(failure.code) };
      return;
    }

    const watch = new OpenWatch<T>(options.namespace, name);
    this.#replay(watch, options.resourceVersion);
    const onAbort = (): void => watch.push({ kind: 'fail', error: abortError() });
    options.signal.addEventListener('abort', onAbort, { once: true });
    if (options.signal.aborted) onAbort();
    this.#open.add(watch);

    try {
      for (;;) {
        const delivery = await watch.take();
        if (delivery.kind === 'close') return;
        if (delivery.kind === 'fail') throw delivery.error;
        yield delivery.event;
      }
    } finally {
      this.#open.delete(watch);
      options.signal.removeEventListener('abort', onAbort);
    }
  }

  /** Queues the changes after `resourceVersion` that the watch selects. */
  #replay(watch: OpenWatch<T>, resourceVersion: string): void {
    if (!/^\d+$/.test(resourceVersion)) return;

    const from = Number(resourceVersion);
    for (const change of this.#history) {
      if (change.resourceVersion > from && watch.selects(change.namespace, change.name)) {
        watch.push({ kind: 'event', event: eventOf(change) });
      }
    }
  }

  #commit(type: Change<T>['type'], namespace: string, object: T, uid: string | undefined): T {
    const resourceVersion = ++this.#resourceVersion;
    const stored = structuredClone(object);
    stored.metadata = {
      ...stored.metadata,
      namespace,
      uid,
      resourceVersion: String(resourceVersion),
    };
    const change: Change<T> = {
      resourceVersion,
      namespace,
      name: nameOf(stored),
      type,
      object: stored,
    };
    this.#history.push(change);

    for (const watch of this.#open) {
      if (watch.selects(namespace, change.name)) {
        watch.push({ kind: 'event', event: eventOf(change) });
      }
    }
    return structuredClone(stored);
  }

  /** The last change of each object that exists at `resourceVersion`, keyed `ns/name`. */
  #stateAt(resourceVersion: number): Map<string, Change<T>> {
    const state = new Map<string, Change<T>>();
    for (const change of this.#history) {
      if (change.resourceVersion > resourceVersion) break;

      const key = `${change.namespace}/${change.name}`;
      if (change.type === 'DELETED') state.delete(key);
      else state.set(key, change);
    }
    return state;
  }

  #current(namespace: string, name: string): T | undefined {
    return this.#stateAt(this.#resourceVersion).get(`${namespace}/${name}`)?.object;
  }

  #existing(namespace: string, name: string): T {
    const current = this.#current(namespace, name);
    if (current === undefined) throw new Error(`fake source: ${namespace}/${name} not found`);
    return current;
  }

  #endWatches(delivery: Delivery<T>): number {
    const count = this.#open.size;
    for (const watch of this.#open) watch.push(delivery);
    return count;
  }
}

function eventOf<T>(change: Change<T>): WatchEvent<T> {
  return { type: change.type, object: structuredClone(change.object) };
}

function selects(namespace: string, name: string | undefined, change: Change<unknown>): boolean {
  return (
    (namespace === '' || namespace === change.namespace) &&
    (name === undefined || name === change.name)
  );
}

/** The name of `metadata.name=<name>`; undefined without a selector. Other selectors throw. */
function selectedName(fieldSelector: string | undefined): string | undefined {
  if (fieldSelector === undefined || fieldSelector === '') return undefined;

  const match = /^metadata\.name=([^,=]+)$/.exec(fieldSelector);
  if (match?.[1] === undefined) {
    throw new Error(`fake source: unsupported field selector ${fieldSelector}`);
  }
  return match[1];
}

function nameOf(object: KubeObject): string {
  const name = object.metadata?.name;
  if (name === undefined || name === '') throw new Error('fake source: object without a name');
  return name;
}

function statusObject(code: number): Record<string, unknown> {
  const reasons: Record<number, string> = {
    403: 'Forbidden',
    410: 'Expired',
    429: 'TooManyRequests',
    500: 'InternalError',
  };
  return {
    apiVersion: 'v1',
    kind: 'Status',
    status: 'Failure',
    code,
    reason: reasons[code] ?? 'Unknown',
    message: code === 410 ? 'too old resource version' : `scripted failure ${code}`,
  };
}

function statusFailure(code: number): StatusError {
  return statusErrorFrom(code, statusObject(code));
}

function abortError(): DOMException {
  return new DOMException('This operation was aborted', 'AbortError');
}

/** Waits for `gate` (if any); rejects with an AbortError as soon as `signal` aborts. */
async function untilReleased(gate: Promise<void> | undefined, signal: AbortSignal): Promise<void> {
  if (signal.aborted) throw abortError();
  if (gate === undefined) return;

  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortError());
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([gate, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
