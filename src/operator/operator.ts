import type { KubeConfig, V1ConfigMap, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { ObjectCache } from '../cache/object-cache.ts';
import { cacheForKind } from '../kinds/cache-for-kind.ts';
import { configMapAdapter } from '../kinds/configmap.ts';
import { secretAdapter } from '../kinds/secret.ts';
import { KubeClient } from '../kube/client.ts';
import { ResourceClient } from '../kube/resource.ts';
import { PodWatch } from '../pods/pod-watch.ts';
import { PodRegistry } from '../pods/registry.ts';
import { StatusPublisher } from '../status/publisher.ts';
import { type CachedObjectStatus, GROUP, PLURAL, VERSION } from '../status/types.ts';
import { Backoff } from '../util/backoff.ts';
import { type Clock, sleep, systemClock } from '../util/clock.ts';
import { describeError, type Logger } from '../util/logger.ts';
import type { OperatorConfig } from './config.ts';
import { LEASE_RESOURCE, type Lease, LeaderElector } from './leader-election.ts';
import { collectMetrics } from './operator-metrics.ts';

/** Everything the operator needs from its process. */
export interface OperatorOptions {
  readonly config: OperatorConfig;
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  /** Holder identity in the Lease, unique per process. */
  readonly identity: string;
  readonly clock?: Clock;
}

/** How `run` ended. */
export type RunOutcome = 'stopped' | 'leadershipLost';

/** The parts that exist while this process leads. */
interface Leading {
  readonly secrets: ObjectCache<V1Secret>;
  readonly configMaps: ObjectCache<V1ConfigMap>;
  readonly registry: PodRegistry;
  readonly podWatch: PodWatch;
  readonly publisher: StatusPublisher;
  readonly unsubscribe: () => void;
  /** Aborted when leading ends, before anything is stopped. */
  readonly controller: AbortController;
}

/**
 * The operator: Pod watch → Pod registry → one object cache per kind → status publisher,
 * active only while this process holds the Lease. A follower stands by and is ready.
 */
export class Operator {
  readonly #options: OperatorOptions;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #client: KubeClient;
  #leading: Leading | undefined;
  #leadingDone: Promise<void> = Promise.resolve();
  #isLeader = false;

  constructor(options: OperatorOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger;
    this.#client = new KubeClient(options.kubeConfig, { http2: options.config.client.http2 });
  }

  /** Ready once the Pod watch has synced while leading, or at once while following. */
  ready(): boolean {
    if (!this.#isLeader) return true;
    return this.#leading?.podWatch.synced ?? false;
  }

  /** The metrics page in Prometheus text format. */
  metrics(): string {
    const leading = this.#leading;
    return collectMetrics({
      leader: this.#isLeader,
      secrets: leading?.secrets.metrics(),
      configMaps: leading?.configMaps.metrics(),
      registeredPods: leading?.registry.size ?? 0,
      podWatch: leading?.podWatch.counters,
      publisher: leading?.publisher.metrics,
    });
  }

  /**
   * Runs until `signal` aborts (then stops the watches, flushes pending writes, releases the
   * Lease and resolves 'stopped') or until leadership is lost ('leadershipLost': the caller
   * should exit so that a fresh process campaigns again).
   */
  async run(signal: AbortSignal): Promise<RunOutcome> {
    const { config } = this.#options;

    if (!config.leaderElection.enabled) {
      this.#isLeader = true;
      this.#startLeading();
      await abortion(signal);
      await this.#stopLeading();
      await this.#client.close();
      return 'stopped';
    }

    const elector = new LeaderElector({
      leases: new ResourceClient<Lease>(this.#client, LEASE_RESOURCE),
      namespace: config.leaderElection.namespace,
      name: config.leaderElection.leaseName,
      identity: this.#options.identity,
      leaseDurationMs: config.leaderElection.leaseDurationMs,
      renewDeadlineMs: config.leaderElection.renewDeadlineMs,
      retryPeriodMs: config.leaderElection.retryPeriodMs,
      clock: this.#clock,
      logger: this.#logger.child({ component: 'leaderElection' }),
    });

    // The elector keeps the Lease until the work stopped: watches closed and pending writes
    // flushed. Only then is it released, so the next leader never races this one's writes.
    await elector.run(signal, {
      onStartedLeading: async (leaderSignal) => {
        this.#isLeader = true;
        this.#startLeading();
        await abortion(leaderSignal);
        await this.#stopLeading();
      },
      onStoppedLeading: () => undefined,
    });
    await this.#client.close();
    return signal.aborted ? 'stopped' : 'leadershipLost';
  }

  #startLeading(): void {
    const { config } = this.#options;
    const logger = this.#logger;
    logger.info('Started leading', { identity: this.#options.identity });

    const cacheOptions = {
      clock: this.#clock,
      maxIdleTimeMs: config.cache.maxIdleTimeMs,
      sweepPeriodMs: config.cache.sweepPeriodMs,
      syncPollIntervalMs: config.cache.syncPollIntervalMs,
      syncTimeoutMs: config.cache.syncTimeoutMs,
    };
    const secrets = cacheForKind(this.#client, secretAdapter(), {
      ...cacheOptions,
      logger: logger.child({ kind: 'Secret' }),
    });
    const configMaps = cacheForKind(this.#client, configMapAdapter(), {
      ...cacheOptions,
      logger: logger.child({ kind: 'ConfigMap' }),
    });
    const registry = new PodRegistry({
      secrets,
      configMaps,
      volumeSyncPeriodMs: config.access.volumeSyncPeriodMs,
      clock: this.#clock,
      logger,
    });
    const podWatch = new PodWatch({
      listerWatcher: new ResourceClient<V1Pod>(this.#client, {
        group: '',
        version: 'v1',
        plural: 'pods',
      }),
      registry,
      namespaces: config.namespaces,
      clock: this.#clock,
      logger,
    });
    const publisher = new StatusPublisher({
      resources: new ResourceClient<CachedObjectStatus>(this.#client, {
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
      }),
      caches: { Secret: secrets, ConfigMap: configMaps },
      podOf: (uid) => registry.pod(uid),
      maxPods: config.status.maxPods,
      minWriteIntervalMs: config.status.minWriteIntervalMs,
      writesPerSecond: config.status.writesPerSecond,
      burst: config.status.burst,
      clock: this.#clock,
      logger,
    });

    const unsubscribers = [
      secrets.subscribe(({ namespace, name }) => publisher.markDirty('Secret', namespace, name)),
      configMaps.subscribe(({ namespace, name }) =>
        publisher.markDirty('ConfigMap', namespace, name),
      ),
      registry.subscribe(({ kind, namespace, name }) => publisher.markDirty(kind, namespace, name)),
    ];
    const leading: Leading = {
      secrets,
      configMaps,
      registry,
      podWatch,
      publisher,
      unsubscribe: () => unsubscribers.forEach((unsubscribe) => unsubscribe()),
      controller: new AbortController(),
    };
    this.#leading = leading;

    podWatch.start();
    registry.startVolumeSync();
    this.#leadingDone = this.#publishOnceSynced(leading);
  }

  async #publishOnceSynced(leading: Leading): Promise<void> {
    const { signal } = leading.controller;
    await Promise.race([leading.podWatch.whenSynced(), abortion(signal)]);
    if (signal.aborted) return;
    this.#logger.info('Pod watch synced', { pods: leading.registry.size });

    // Resources left by an earlier leader are reconciled before the first write: kept ones are
    // rewritten where they differ, stale ones deleted. The cache keeps collecting changes
    // meanwhile. Later resyncs repair resources deleted or edited by hand.
    await this.#resync(leading);
    if (signal.aborted) return;
    leading.publisher.start();

    while (!signal.aborted) {
      await sleep(this.#clock, this.#options.config.status.resyncPeriodMs, signal).catch(
        () => undefined,
      );
      if (!signal.aborted) await this.#resync(leading);
    }
  }

  /** Resyncs the publisher, retrying with backoff until it succeeds or leading ends. */
  async #resync(leading: Leading): Promise<void> {
    const { signal } = leading.controller;
    const backoff = new Backoff(this.#clock, { initialMs: 1000, maxMs: 60_000 });
    while (!signal.aborted) {
      try {
        await leading.publisher.resync(this.#options.config.namespaces, signal);
        return;
      } catch (err) {
        if (signal.aborted) return;
        this.#logger.warn('Failed to list CachedObjectStatus resources, will retry', {
          err: describeError(err),
        });
        await sleep(this.#clock, backoff.next(), signal).catch(() => undefined);
      }
    }
  }

  async #stopLeading(): Promise<void> {
    const leading = this.#leading;
    if (leading === undefined) return;

    leading.controller.abort();
    await leading.podWatch.stop();
    leading.registry.stopVolumeSync();
    await this.#leadingDone;
    await leading.publisher.stop();
    leading.unsubscribe();
    await Promise.all([leading.secrets.stop(), leading.configMaps.stop()]);
    this.#leading = undefined;
    this.#isLeader = false;
    this.#logger.info('Stopped leading', { identity: this.#options.identity });
  }
}

function abortion(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener('abort', () => resolve(), { once: true }),
  );
}
