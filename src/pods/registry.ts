import type { V1Pod } from '@kubernetes/client-node';
import { every, type Clock, systemClock, type Timer } from '../util/clock.ts';
import { describeError, type Logger, silentLogger } from '../util/logger.ts';
import { podReferences, type PodReferences } from './references.ts';

/** The part of an object cache the registry drives. */
export interface ReferenceSink {
  addReference(namespace: string, name: string, podUID: string): void;
  deleteReference(namespace: string, name: string, podUID: string): void;
  /** A read, as a kubelet makes when it starts a container or syncs a volume. */
  get(namespace: string, name: string): Promise<unknown>;
}

/** A Pod as the registry remembers it: identity, node, and what it references. */
export interface RegisteredPod {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** Empty while the Pod is not bound to a node. */
  readonly nodeName: string;
  readonly references: PodReferences;
}

/** Which cached object a change concerns. */
export interface ReferencedObject {
  readonly kind: 'Secret' | 'ConfigMap';
  readonly namespace: string;
  readonly name: string;
}

/** Options of the registry. */
export interface PodRegistryOptions {
  readonly secrets: ReferenceSink;
  readonly configMaps: ReferenceSink;
  /** Period of the volume re-reads (the kubelet's volume manager). Default 60 s. */
  readonly volumeSyncPeriodMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

/** Annotation of Pods that a kubelet created from a static manifest. */
const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

/**
 * Registers Pods with the Secret and ConfigMap caches the way a kubelet's managers do
 * (`../shared/semantics.md`, rules 18 to 21), and reads referenced objects the way a kubelet
 * does (design.md, access model): each newly referenced object once, and objects mounted as
 * volumes again every volume sync period.
 *
 * Every method is synchronous, idempotent and never blocks; reads run in the background and
 * their failures (NotFound, sync timeout) are expected and only traced.
 */
export class PodRegistry {
  readonly #pods = new Map<string, RegisteredPod>();
  readonly #listeners = new Set<(object: ReferencedObject) => void>();
  readonly #options: PodRegistryOptions;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #volumeTimer: Timer | undefined;

  constructor(options: PodRegistryOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
  }

  /**
   * Registers `pod`, or re-registers it after an update (rule 19: references gained are added
   * before references lost are deleted; unchanged ones are untouched). A terminal Pod is
   * unregistered instead, and a mirror Pod is ignored (rule 21). A Pod without namespace, name
   * or uid is logged and skipped.
   */
  register(pod: V1Pod): void {
    const identity = identityOf(pod);
    if (identity === undefined) {
      this.#logger.warn('Skipping malformed Pod', describePod(pod));
      return;
    }
    if (isMirror(pod)) return;
    if (isTerminal(pod)) {
      this.unregister(identity.uid);
      return;
    }

    const previous = this.#pods.get(identity.uid);
    const registered: RegisteredPod = {
      ...identity,
      nodeName: typeof pod.spec?.nodeName === 'string' ? pod.spec.nodeName : '',
      references: podReferences(pod),
    };
    this.#pods.set(identity.uid, registered);

    this.#apply('Secret', this.#options.secrets, registered, previous, (r) => r.secrets);
    this.#apply('ConfigMap', this.#options.configMaps, registered, previous, (r) => r.configMaps);
  }

  /**
   * Unregisters the Pod with this uid, using the references of the version registered (rule
   * 20). An unknown uid is a no-op.
   */
  unregister(uid: string): void {
    const pod = this.#pods.get(uid);
    if (pod === undefined) return;

    this.#pods.delete(uid);
    const { namespace } = pod;
    for (const name of pod.references.secrets) {
      this.#options.secrets.deleteReference(namespace, name, uid);
      this.#notify({ kind: 'Secret', namespace, name });
    }
    for (const name of pod.references.configMaps) {
      this.#options.configMaps.deleteReference(namespace, name, uid);
      this.#notify({ kind: 'ConfigMap', namespace, name });
    }
  }

  /** The registered Pod with this uid. */
  pod(uid: string): RegisteredPod | undefined {
    return this.#pods.get(uid);
  }

  /** Uids of every registered Pod. */
  uids(): IterableIterator<string> {
    return this.#pods.keys();
  }

  /** Number of registered Pods. */
  get size(): number {
    return this.#pods.size;
  }

  /**
   * Calls `listener` for each object whose set of referencing Pods, or one of whose Pods'
   * node, changed. Returns the function that unsubscribes.
   */
  subscribe(listener: (object: ReferencedObject) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Starts re-reading volume-mounted objects every volume sync period. Idempotent. */
  startVolumeSync(): void {
    this.#volumeTimer ??= every(this.#clock, this.#options.volumeSyncPeriodMs ?? 60_000, () =>
      this.syncVolumes(),
    );
  }

  /** Stops the volume re-reads. Idempotent. */
  stopVolumeSync(): void {
    this.#volumeTimer?.cancel();
    this.#volumeTimer = undefined;
  }

  /** Reads every object that a registered Pod mounts as a volume, once. */
  syncVolumes(): void {
    for (const pod of this.#pods.values()) {
      for (const name of pod.references.mountedSecrets) {
        this.#read(this.#options.secrets, 'Secret', pod.namespace, name);
      }
      for (const name of pod.references.mountedConfigMaps) {
        this.#read(this.#options.configMaps, 'ConfigMap', pod.namespace, name);
      }
    }
  }

  #apply(
    kind: ReferencedObject['kind'],
    sink: ReferenceSink,
    pod: RegisteredPod,
    previous: RegisteredPod | undefined,
    namesOf: (references: PodReferences) => ReadonlySet<string>,
  ): void {
    const names = namesOf(pod.references);
    const before = previous === undefined ? new Set<string>() : namesOf(previous.references);
    const moved = previous !== undefined && previous.nodeName !== pod.nodeName;
    const { namespace, uid } = pod;

    for (const name of names) {
      if (before.has(name)) {
        if (moved) this.#notify({ kind, namespace, name });
        continue;
      }
      sink.addReference(namespace, name, uid);
      this.#notify({ kind, namespace, name });
      // A kubelet reads each object once when it starts the container that needs it.
      this.#read(sink, kind, namespace, name);
    }

    for (const name of before) {
      if (names.has(name)) continue;
      sink.deleteReference(namespace, name, uid);
      this.#notify({ kind, namespace, name });
    }
  }

  #read(sink: ReferenceSink, kind: string, namespace: string, name: string): void {
    sink.get(namespace, name).catch((err: unknown) => {
      this.#logger.trace('Read of referenced object failed', {
        kind,
        namespace,
        name,
        err: describeError(err),
      });
    });
  }

  #notify(object: ReferencedObject): void {
    for (const listener of this.#listeners) listener(object);
  }
}

interface PodIdentity {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

/** The metadata of something that should be a Pod, if it has any. */
function metadataOf(pod: unknown): Record<string, unknown> | undefined {
  if (typeof pod !== 'object' || pod === null) return undefined;
  const metadata = (pod as { metadata?: unknown }).metadata;
  return typeof metadata === 'object' && metadata !== null
    ? (metadata as Record<string, unknown>)
    : undefined;
}

function identityOf(pod: unknown): PodIdentity | undefined {
  const { namespace, name, uid } = metadataOf(pod) ?? {};
  if (typeof namespace !== 'string' || typeof name !== 'string' || typeof uid !== 'string') {
    return undefined;
  }
  if (namespace === '' || name === '' || uid === '') return undefined;
  return { namespace, name, uid };
}

/** The uid of a Pod from the API, or undefined when it has none (a malformed object). */
export function podUID(pod: unknown): string | undefined {
  const uid = metadataOf(pod)?.uid;
  return typeof uid === 'string' && uid !== '' ? uid : undefined;
}

function describePod(pod: unknown): { namespace: unknown; name: unknown } {
  const metadata = metadataOf(pod);
  return { namespace: metadata?.namespace, name: metadata?.name };
}

/** Rule 21: static Pods' mirrors are never registered. */
export function isMirror(pod: V1Pod): boolean {
  const annotations = pod.metadata?.annotations;
  return (
    typeof annotations === 'object' && annotations !== null && MIRROR_ANNOTATION in annotations
  );
}

/** Rule 21: Succeeded and Failed Pods hold no references. */
export function isTerminal(pod: V1Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}
