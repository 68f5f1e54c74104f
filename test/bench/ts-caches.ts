/**
 * The caches the TypeScript runner puts under test, behind one interface: this project's
 * per-object cache (one `ObjectCache` per kind, as the operator builds them) or the
 * alternative that lists and watches every Secret and ConfigMap of the cluster with one
 * reflector per kind. The Pod registry feeds either through gates that stay shut until the
 * orchestrator opens them, so that the heap can be measured with the Pods known and the caches
 * still empty.
 */
import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import { NotFoundError } from '../../src/apimachinery/errors.ts';
import type { KubeObject } from '../../src/apimachinery/types.ts';
import type { ObjectCache } from '../../src/cache/object-cache.ts';
import { Reflector, type ReflectorStore } from '../../src/cache/reflector.ts';
import { cacheForKind } from '../../src/kinds/cache-for-kind.ts';
import { configMapAdapter } from '../../src/kinds/configmap.ts';
import type { KindAdapter } from '../../src/kinds/kind.ts';
import { secretAdapter } from '../../src/kinds/secret.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { ResourceClient } from '../../src/kube/resource.ts';
import type { PodRegistry, ReferenceSink } from '../../src/pods/registry.ts';
import { systemClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';
import type { CachedKind, ItemState, RunnerMode } from './protocol.ts';

/** A cache under test, as the runner drives it. */
export interface CacheUnderTest {
  /** What the Pod registry feeds; shut until `open`. */
  readonly sinks: Readonly<Record<CachedKind, ReferenceSink>>;
  /** Opens the gates, feeds every Pod the registry holds, and starts what must start. */
  open(registry: PodRegistry, timeoutMs: number): Promise<void>;
  /** The resourceVersion the cache serves; rejects like the cache's own `get`. */
  resourceVersion(kind: CachedKind, namespace: string, name: string): Promise<string>;
  /** Every item with its references and whether its watch runs (per-object mode only). */
  state(): ItemState[];
  /** Stops every watch. */
  stop(): Promise<void>;
}

/** Options of {@link cacheUnderTest}. */
export interface CacheUnderTestOptions {
  readonly client: KubeClient;
  readonly mode: RunnerMode;
  /** Keep Secret and ConfigMap content in memory (the operator drops it by default). */
  readonly keepContent: boolean;
}

/** Builds the cache for `mode`. Does no I/O. */
export function cacheUnderTest(options: CacheUnderTestOptions): CacheUnderTest {
  const adapters = {
    secret: secretAdapter({ keepContent: options.keepContent }),
    configmap: configMapAdapter({ keepContent: options.keepContent }),
  };
  return options.mode === 'perObject'
    ? new PerObjectCaches(options.client, adapters)
    : new ClusterInformers(options.client, adapters);
}

interface Adapters {
  readonly secret: KindAdapter<V1Secret>;
  readonly configmap: KindAdapter<V1ConfigMap>;
}

/** A sink that drops every call until it is opened, then forwards to its target. */
class GatedSink implements ReferenceSink {
  readonly #target: ReferenceSink | undefined;
  opened = false;

  constructor(target: ReferenceSink | undefined) {
    this.#target = target;
  }

  addReference(namespace: string, name: string, podUID: string): void {
    if (this.opened) this.#target?.addReference(namespace, name, podUID);
  }

  deleteReference(namespace: string, name: string, podUID: string): void {
    if (this.opened) this.#target?.deleteReference(namespace, name, podUID);
  }

  get(namespace: string, name: string): Promise<unknown> {
    if (!this.opened || this.#target === undefined) return Promise.resolve(undefined);
    return this.#target.get(namespace, name);
  }
}

/** This project's cache: one reference-counted list+watch per object. */
class PerObjectCaches implements CacheUnderTest {
  readonly #caches: { secret: ObjectCache<V1Secret>; configmap: ObjectCache<V1ConfigMap> };
  readonly #gates: Record<CachedKind, GatedSink>;

  constructor(client: KubeClient, adapters: Adapters) {
    this.#caches = {
      secret: cacheForKind(client, adapters.secret),
      configmap: cacheForKind(client, adapters.configmap),
    };
    this.#gates = {
      secret: new GatedSink(this.#caches.secret),
      configmap: new GatedSink(this.#caches.configmap),
    };
  }

  get sinks(): Readonly<Record<CachedKind, ReferenceSink>> {
    return this.#gates;
  }

  open(registry: PodRegistry): Promise<void> {
    // Synchronous from here to the end: no Pod event can slip between the gates opening and
    // the replay of the Pods registered while they were shut.
    this.#gates.secret.opened = true;
    this.#gates.configmap.opened = true;

    for (const uid of registry.uids()) {
      const pod = registry.pod(uid);
      if (pod === undefined) continue;
      for (const name of pod.references.secrets) {
        this.#addAndRead(this.#caches.secret, pod.namespace, name, uid);
      }
      for (const name of pod.references.configMaps) {
        this.#addAndRead(this.#caches.configmap, pod.namespace, name, uid);
      }
    }
    return Promise.resolve();
  }

  /** As the registry does for a new reference: add it, then read the object once. */
  #addAndRead(sink: ReferenceSink, namespace: string, name: string, uid: string): void {
    sink.addReference(namespace, name, uid);
    sink.get(namespace, name).catch(() => undefined);
  }

  async resourceVersion(kind: CachedKind, namespace: string, name: string): Promise<string> {
    const object: KubeObject = await this.#caches[kind].get(namespace, name);
    return object.metadata?.resourceVersion ?? '';
  }

  state(): ItemState[] {
    const kinds: CachedKind[] = ['secret', 'configmap'];
    return kinds.flatMap((kind) =>
      this.#caches[kind].snapshot().map((item) => ({
        kind,
        namespace: item.namespace,
        name: item.name,
        refs: Object.fromEntries(item.references),
        running: item.reflector === 'Running',
      })),
    );
  }

  async stop(): Promise<void> {
    await Promise.all([this.#caches.secret.stop(), this.#caches.configmap.stop()]);
  }
}

/** The alternative: every Secret and every ConfigMap of the cluster, one list+watch per kind. */
class ClusterInformers implements CacheUnderTest {
  readonly #stores: Record<CachedKind, MapStore>;
  readonly #reflectors: Reflector<KubeObject>[];
  readonly #adapters: Adapters;
  readonly sinks: Readonly<Record<CachedKind, ReferenceSink>>;

  constructor(client: KubeClient, adapters: Adapters) {
    this.#adapters = adapters;
    this.#stores = { secret: new MapStore(), configmap: new MapStore() };
    this.#reflectors = (['secret', 'configmap'] as const).map(
      (kind) =>
        new Reflector<KubeObject>({
          name: `all-${kind}s`,
          namespace: '',
          fieldSelector: '',
          listerWatcher: new ResourceClient<KubeObject>(client, adapters[kind].resource),
          store: this.#stores[kind],
          clock: systemClock,
          logger: silentLogger,
          counters: { lists: 0, watches: 0, watchRestarts: 0, relists: 0 },
          transform: (object) => adapters[kind].transform(object as V1Secret & V1ConfigMap),
          onStoreChange: () => undefined,
        }),
    );
    // References only tell the runner which objects to read; the informers hold everything.
    this.sinks = { secret: new GatedSink(undefined), configmap: new GatedSink(undefined) };
  }

  async open(_registry: PodRegistry, timeoutMs: number): Promise<void> {
    for (const reflector of this.#reflectors) reflector.start();

    const deadline = performance.now() + timeoutMs;
    while (!this.#stores.secret.synced || !this.#stores.configmap.synced) {
      if (performance.now() > deadline) {
        throw new Error('the Secret and ConfigMap informers did not sync in time');
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  resourceVersion(kind: CachedKind, namespace: string, name: string): Promise<string> {
    const object = this.#stores[kind].get(namespace, name);
    if (object === undefined) {
      return Promise.reject(new NotFoundError(this.#adapters[kind].groupResource, name));
    }
    return Promise.resolve(object.metadata?.resourceVersion ?? '');
  }

  state(): ItemState[] {
    throw new Error('state is only known in perObject mode');
  }

  async stop(): Promise<void> {
    await Promise.all(this.#reflectors.map((reflector) => reflector.stop()));
  }
}

/** An informer's store: every object by namespace and name. */
class MapStore implements ReflectorStore<KubeObject> {
  #objects = new Map<string, KubeObject>();
  synced = false;

  get(namespace: string, name: string): KubeObject | undefined {
    return this.#objects.get(`${namespace}/${name}`);
  }

  replace(items: readonly KubeObject[]): void {
    this.#objects = new Map(items.map((item) => [keyOf(item), item]));
    this.synced = true;
  }

  upsert(object: KubeObject): void {
    this.#objects.set(keyOf(object), object);
  }

  remove(object: KubeObject): void {
    this.#objects.delete(keyOf(object));
  }

  bookmark(): void {
    // The reflector keeps the resourceVersion itself.
  }
}

function keyOf(object: KubeObject): string {
  return `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
}
