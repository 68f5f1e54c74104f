/**
 * An in-memory `CachedObjectStatus` API for the status publisher: list, server-side apply of
 * the main object and of the status subresource, and delete, with every call recorded and
 * failures scripted per verb. It keeps the server's rules that matter to the publisher: a
 * status apply or a delete of a missing resource is a 404 NotFound.
 */
import { type StatusError, statusErrorFrom } from '../../src/apimachinery/errors.ts';
import type { ListOptions, ListResult } from '../../src/apimachinery/types.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { type ApplyOptions, type DeleteOptions, ResourceClient } from '../../src/kube/resource.ts';
import {
  type CachedObjectStatus,
  type CachedObjectStatusStatus,
  GROUP,
  PLURAL,
  VERSION,
} from '../../src/status/types.ts';

/** What a call did: `apply` is the main object, `applyStatus` the status subresource. */
export type ResourceVerb = 'list' | 'apply' | 'applyStatus' | 'delete';

/** One call the fake received, whatever its answer was. */
export interface ResourceCall {
  readonly verb: ResourceVerb;
  readonly namespace: string;
  /** Empty for `list`. */
  readonly name: string;
  /** The apply body as sent. */
  readonly body?: Record<string, unknown>;
  readonly applyOptions?: ApplyOptions;
  readonly labelSelector?: string;
}

/** A hold on applies: they wait until `release`. */
export interface ApplyHold {
  release(): void;
}

/**
 * The publisher reaches the server through `list`, `apply` and `delete` only, and all three are
 * overridden here; anything else would fail on the missing client.
 */
const NO_CLIENT = undefined as unknown as KubeClient;

/** The fake `CachedObjectStatus` API. Objects are keyed `namespace/name`. */
export class FakeStatusResources extends ResourceClient<CachedObjectStatus> {
  readonly objects = new Map<string, CachedObjectStatus>();
  readonly calls: ResourceCall[] = [];
  readonly #failures = new Map<ResourceVerb, (number | Error)[]>();
  #hold: Promise<void> | undefined;

  constructor() {
    super(NO_CLIENT, { group: GROUP, version: VERSION, plural: PLURAL });
  }

  /** Stores `resource` as if someone had created it, status included. */
  put(resource: CachedObjectStatus): void {
    this.objects.set(
      keyOf(resource.metadata.namespace ?? '', resource.metadata.name ?? ''),
      resource,
    );
  }

  /**
   * The next `count` calls of `verb` fail: with a StatusError of `failure` when it is a code,
   * with `failure` itself when it is an error (a timeout, a reset connection).
   */
  fail(verb: ResourceVerb, failure: number | Error, count = 1): void {
    const queue = this.#failures.get(verb) ?? [];
    for (let i = 0; i < count; i++) queue.push(failure);
    this.#failures.set(verb, queue);
  }

  /**
   * Makes applies wait (after they were recorded) until the hold is released, as a server that
   * does not answer does. A held apply rejects with an AbortError when its signal aborts.
   */
  holdApplies(): ApplyHold {
    let release = (): void => undefined;
    const hold = new Promise<void>((resolve) => (release = resolve));
    this.#hold = hold;
    return {
      release: () => {
        if (this.#hold === hold) this.#hold = undefined;
        release();
      },
    };
  }

  /** The calls of `verb` (all calls without it), as `verb namespace/name`. */
  summary(verb?: ResourceVerb): string[] {
    return this.calls
      .filter((call) => verb === undefined || call.verb === verb)
      .map((call) => `${call.verb} ${call.namespace}/${call.name}`);
  }

  /** The status body of the last status apply of `namespace/name`. */
  lastStatus(namespace: string, name: string): CachedObjectStatusStatus | undefined {
    const call = this.calls.findLast(
      (c) => c.verb === 'applyStatus' && c.namespace === namespace && c.name === name,
    );
    return call?.body?.status as CachedObjectStatusStatus | undefined;
  }

  override async list(options: ListOptions): Promise<ListResult<CachedObjectStatus>> {
    this.calls.push({
      verb: 'list',
      namespace: options.namespace,
      name: '',
      labelSelector: options.labelSelector,
    });
    await Promise.resolve();
    this.#maybeFail('list');

    const items = [...this.objects.values()].filter(
      (object) =>
        (options.namespace === '' || object.metadata.namespace === options.namespace) &&
        matchesLabels(object, options.labelSelector),
    );
    return { items: structuredClone(items), resourceVersion: '1' };
  }

  override async apply(
    namespace: string,
    name: string,
    object: unknown,
    options: ApplyOptions,
  ): Promise<CachedObjectStatus> {
    const body = structuredClone(object) as Record<string, unknown>;
    const verb = options.subresource === 'status' ? 'applyStatus' : 'apply';
    this.calls.push({ verb, namespace, name, body, applyOptions: options });
    if (this.#hold !== undefined) await untilReleased(this.#hold, options.signal);
    this.#maybeFail(verb);

    const key = keyOf(namespace, name);
    const existing = this.objects.get(key);
    if (verb === 'applyStatus') {
      if (existing === undefined) throw notFound(name);
      const status = body.status as CachedObjectStatusStatus;
      this.objects.set(key, { ...existing, status });
    } else {
      const applied = body as unknown as CachedObjectStatus;
      this.objects.set(key, { ...applied, status: existing?.status });
    }
    return structuredClone(this.objects.get(key) as CachedObjectStatus);
  }

  override async delete(namespace: string, name: string, _options?: DeleteOptions): Promise<void> {
    this.calls.push({ verb: 'delete', namespace, name });
    await Promise.resolve();
    this.#maybeFail('delete');

    if (!this.objects.delete(keyOf(namespace, name))) throw notFound(name);
  }

  #maybeFail(verb: ResourceVerb): void {
    const next = this.#failures.get(verb)?.shift();
    if (next instanceof Error) throw next;
    if (next !== undefined) throw failure(next);
  }
}

/** Waits for `hold`; rejects with an AbortError as soon as `signal` aborts. */
function untilReleased(hold: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return hold;
  return new Promise((resolve, reject) => {
    const onAbort = (): void =>
      reject(new DOMException('This operation was aborted', 'AbortError'));
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    void hold.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

function keyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Supports the one form the publisher sends: `key=value`. */
function matchesLabels(object: CachedObjectStatus, selector: string | undefined): boolean {
  if (selector === undefined || selector === '') return true;
  const [key = '', value] = selector.split('=');
  return object.metadata.labels?.[key] === value;
}

function notFound(name: string): StatusError {
  return statusErrorFrom(404, {
    kind: 'Status',
    code: 404,
    reason: 'NotFound',
    message: `cachedobjectstatuses.objectcache.dev "${name}" not found`,
  });
}

function failure(code: number): StatusError {
  return statusErrorFrom(code, {
    kind: 'Status',
    code,
    reason: code === 409 ? 'Conflict' : code === 404 ? 'NotFound' : 'InternalError',
    message: `scripted failure ${code}`,
  });
}
