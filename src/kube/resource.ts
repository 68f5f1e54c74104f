import type {
  KubeObject,
  ListerWatcher,
  ListOptions,
  ListResult,
  WatchEvent,
  WatchOptions,
} from '../apimachinery/types.ts';
import type { KubeClient } from './client.ts';

/** Where a resource lives in the API. */
export interface ResourceType {
  /** Empty for the core group. */
  readonly group: string;
  readonly version: string;
  readonly plural: string;
}

/** Options of a server-side apply. */
export interface ApplyOptions {
  readonly fieldManager: string;
  readonly force?: boolean;
  /** For example `status`. */
  readonly subresource?: string;
  readonly signal?: AbortSignal;
}

/** Options of a delete. */
export interface DeleteOptions {
  /** Delete only the object with this uid. */
  readonly uid?: string;
  /** 0 removes a Pod at once instead of waiting for its kubelet. */
  readonly gracePeriodSeconds?: number;
  readonly signal?: AbortSignal;
}

interface ListBody<T> {
  items?: T[] | null;
  metadata?: { resourceVersion?: string; continue?: string };
}

/**
 * Typed access to one resource: list (paginated), watch, get, create, replace, server-side
 * apply and delete. Implements `ListerWatcher`, so a cache can list and watch through it.
 */
export class ResourceClient<T extends KubeObject> implements ListerWatcher<T> {
  readonly #client: KubeClient;
  readonly #type: ResourceType;
  readonly #pageSize: number;

  /** `pageSize` bounds each list page (default 500); 0 asks for everything at once. */
  constructor(client: KubeClient, type: ResourceType, pageSize = 500) {
    this.#client = client;
    this.#type = type;
    this.#pageSize = pageSize;
  }

  /** Path of the collection in `namespace`, or across all namespaces when it is empty. */
  collectionPath(namespace: string): string {
    const { group, version, plural } = this.#type;
    const prefix = group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
    return namespace === ''
      ? `${prefix}/${plural}`
      : `${prefix}/namespaces/${encodeURIComponent(namespace)}/${plural}`;
  }

  /** Path of one object, or of one of its subresources. */
  objectPath(namespace: string, name: string, subresource?: string): string {
    const path = `${this.collectionPath(namespace)}/${encodeURIComponent(name)}`;
    return subresource === undefined ? path : `${path}/${subresource}`;
  }

  /**
   * A complete list, read page by page from one consistent snapshot. Reads the latest state
   * (no resourceVersion), so a relist never goes back in time.
   */
  async list(options: ListOptions): Promise<ListResult<T>> {
    const items: T[] = [];
    let token: string | undefined;
    let resourceVersion = '';

    do {
      const page = await this.#client.request<ListBody<T>>(
        'GET',
        this.collectionPath(options.namespace),
        {
          query: {
            fieldSelector: options.fieldSelector,
            labelSelector: options.labelSelector,
            limit: this.#pageSize > 0 ? this.#pageSize : undefined,
            continue: token,
          },
          signal: options.signal,
        },
      );
      items.push(...(page.items ?? []));
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      token = page.metadata?.continue || undefined;
    } while (token !== undefined);

    return { items, resourceVersion };
  }

  /** Watch events from `options.resourceVersion` on, until the server closes the stream. */
  async *watch(options: WatchOptions): AsyncGenerator<WatchEvent<T>> {
    const stream = this.#client.stream(
      this.collectionPath(options.namespace),
      {
        watch: true,
        fieldSelector: options.fieldSelector,
        labelSelector: options.labelSelector,
        resourceVersion: options.resourceVersion || undefined,
        timeoutSeconds: options.timeoutSeconds,
        allowWatchBookmarks: options.allowWatchBookmarks,
      },
      options.signal,
    );

    for await (const value of stream) {
      const event = value as { type?: unknown; object?: unknown };
      if (
        typeof event.type !== 'string' ||
        typeof event.object !== 'object' ||
        event.object === null
      ) {
        throw new Error('malformed watch event: expected { type, object }');
      }
      yield event as WatchEvent<T>;
    }
  }

  /** The object, or a NotFound StatusError. */
  get(namespace: string, name: string, signal?: AbortSignal): Promise<T> {
    return this.#client.request<T>('GET', this.objectPath(namespace, name), { signal });
  }

  /** Creates the object; AlreadyExists is a Conflict (409). */
  create(namespace: string, object: T, signal?: AbortSignal): Promise<T> {
    return this.#client.request<T>('POST', this.collectionPath(namespace), {
      body: object,
      signal,
    });
  }

  /** Replaces the object; a stale resourceVersion is a Conflict (409). */
  replace(namespace: string, name: string, object: T, signal?: AbortSignal): Promise<T> {
    return this.#client.request<T>('PUT', this.objectPath(namespace, name), {
      body: object,
      signal,
    });
  }

  /** Server-side apply of `object` (a partial object with apiVersion, kind and name). */
  apply(namespace: string, name: string, object: unknown, options: ApplyOptions): Promise<T> {
    return this.#client.request<T>('PATCH', this.objectPath(namespace, name, options.subresource), {
      query: { fieldManager: options.fieldManager, force: options.force },
      body: object,
      contentType: 'application/apply-patch+yaml',
      signal: options.signal,
    });
  }

  /**
   * Deletes the object: with `uid`, only that incarnation of it; with `gracePeriodSeconds`, as
   * `kubectl delete --grace-period` does. NotFound when absent.
   */
  async delete(namespace: string, name: string, options: DeleteOptions = {}): Promise<void> {
    const body: Record<string, unknown> = {};
    if (options.uid !== undefined) body.preconditions = { uid: options.uid };
    if (options.gracePeriodSeconds !== undefined) {
      body.gracePeriodSeconds = options.gracePeriodSeconds;
    }
    await this.#client.request<unknown>('DELETE', this.objectPath(namespace, name), {
      body: Object.keys(body).length === 0 ? undefined : body,
      signal: options.signal,
    });
  }
}
