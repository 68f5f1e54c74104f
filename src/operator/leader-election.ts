/**
 * Leader election on a `coordination.k8s.io/v1` Lease, after client-go's
 * `tools/leaderelection`: candidates read the Lease, a free or expired one is taken with a
 * write that carries the resourceVersion of the read (so of two racing candidates one gets 409
 * Conflict), and the leader renews it every retry period.
 *
 * Expiry is judged on the local clock only: a candidate notes when *it* saw the Lease change
 * and waits the holder's lease duration from then. Remote timestamps are written for people
 * and tools, never trusted, so clock skew between nodes does not matter (only skew *rate*
 * does). Like client-go this gives no fencing: for a short time two processes may both act as
 * leader, which the operator tolerates because its writes are idempotent server-side applies.
 */
import { randomUUID } from 'node:crypto';

import { isConflict, isNotFound } from '../apimachinery/errors.ts';
import type { KubeObject } from '../apimachinery/types.ts';
import type { ResourceClient, ResourceType } from '../kube/resource.ts';
import { type Clock, sleep, systemClock } from '../util/clock.ts';
import { describeError, type Logger, silentLogger } from '../util/logger.ts';

/** Where Leases live in the API. */
export const LEASE_RESOURCE: ResourceType = {
  group: 'coordination.k8s.io',
  version: 'v1',
  plural: 'leases',
};

/**
 * The fields of a Lease's spec that election uses. Times are MicroTime strings as the server
 * sends them (`2026-12-04T16:00:00.123456Z`); fields the elector does not know are kept.
 */
export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number | null;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number | null;
}

/** A `coordination.k8s.io/v1` Lease. */
export interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

/** The Lease operations the elector uses; a ResourceClient of Leases has them. */
export type LeaseClient = Pick<ResourceClient<Lease>, 'get' | 'create' | 'replace'>;

/** Everything an elector needs; all of it injected. */
export interface LeaderElectorOptions {
  readonly leases: LeaseClient;
  /** Namespace and name of the Lease. */
  readonly namespace: string;
  readonly name: string;
  /** Unique per process, see {@link leaderIdentity}. */
  readonly identity: string;
  /**
   * How long followers wait, from the last change they saw, before taking the Lease over.
   * Written to the Lease rounded up to whole seconds. Must exceed `renewDeadlineMs`.
   */
  readonly leaseDurationMs: number;
  /**
   * How long, from its last successful renewal, the leader keeps trying to renew before it
   * stops leading. Must exceed `retryPeriodMs`.
   */
  readonly renewDeadlineMs: number;
  /** Time between two attempts to acquire (jittered) or to renew. Positive. */
  readonly retryPeriodMs: number;
  /** Default: the system clock. */
  readonly clock?: Clock;
  /** Default: silent. */
  readonly logger?: Logger;
  /** Source of randomness in [0, 1) for the jitter. Default Math.random. */
  readonly random?: () => number;
}

/** What the elector tells its user. Callbacks that throw are logged and otherwise ignored. */
export interface LeaderCallbacks {
  /**
   * This process now leads. `leaderSignal` aborts when it must stop: leadership was lost or the
   * run was aborted. If this returns a promise, the Lease is kept (and renewed) until that
   * promise settles after `leaderSignal` aborted, and released only then, so that the work has
   * stopped before a follower takes over.
   */
  onStartedLeading(leaderSignal: AbortSignal): void | Promise<void>;
  /** Leadership ended: called once, after the work settled and the Lease was released. */
  onStoppedLeading(): void;
  /** The Lease is seen held by a holder other than the last one reported (ourselves included). */
  onNewLeader?(identity: string): void;
}

/**
 * An identity for one process: the Pod name and a random suffix, so that a restarted container
 * of the same Pod is a different candidate and never mistakes the old lease for its own.
 */
export function leaderIdentity(podName: string): string {
  return `${podName}_${randomUUID()}`;
}

/**
 * A time in the API's MicroTime format: RFC 3339 in UTC with exactly six fractional digits.
 * The server refuses the three digits of `Date.prototype.toISOString`.
 */
export function formatMicroTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Acquire attempts wait `retryPeriod × (1 + JITTER × random)`, as client-go's default. */
const JITTER = 1.2;

/** The result of one attempt to acquire or renew. */
type Attempt = 'held' | 'heldByOther' | 'failed';

/**
 * Competes for one Lease and tells its user when it leads. A constructor does no I/O; `run`
 * does the work and may be called once.
 */
export class LeaderElector {
  readonly #options: LeaderElectorOptions;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #random: () => number;
  readonly #leaseDurationSeconds: number;
  #started = false;
  #leading = false;
  /** The Lease as we last wrote it, while we may hold it: the base of renewal and release. */
  #ours: Lease | undefined;
  /** The spec fields of the Lease as last seen, and when (on our clock) they last changed. */
  #observedRecord = '';
  #observedAt = 0;
  #observedDurationMs = 0;
  #reportedLeader = '';
  #callbacks: LeaderCallbacks | undefined;

  /** Throws a RangeError unless leaseDuration > renewDeadline > retryPeriod > 0. */
  constructor(options: LeaderElectorOptions) {
    const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = options;
    const ordered =
      retryPeriodMs > 0 && renewDeadlineMs > retryPeriodMs && leaseDurationMs > renewDeadlineMs;
    if (!ordered) {
      throw new RangeError(
        'leader election needs leaseDuration > renewDeadline > retryPeriod > 0, got ' +
          `${leaseDurationMs} ms, ${renewDeadlineMs} ms, ${retryPeriodMs} ms`,
      );
    }
    if (options.identity === '') {
      throw new RangeError('leader election needs a non-empty identity');
    }

    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#leaseDurationSeconds = Math.ceil(leaseDurationMs / 1000);
    this.#logger = (options.logger ?? silentLogger).child({
      namespace: options.namespace,
      name: options.name,
      identity: options.identity,
    });
  }

  /** True from acquiring the Lease until leadership is lost or the Lease is released. */
  get isLeader(): boolean {
    return this.#leading;
  }

  /**
   * Tries to acquire the Lease until it succeeds or `signal` aborts, then leads: renews every
   * retry period until `signal` aborts or renewals keep failing for the renew deadline (or the
   * Lease is seen taken by another).
   *
   * Resolves when it is done: after an abort, with the Lease released if it was held (holder
   * emptied, duration 1 s, so a follower takes over at its next attempt); after leadership was
   * lost, without touching the Lease. `signal.aborted` tells the two apart: when it is false,
   * leadership was lost and the caller should exit so that the process restarts as a fresh
   * candidate. `onStoppedLeading` is called only if leading had started. Rejects only when
   * called a second time.
   */
  async run(signal: AbortSignal, callbacks: LeaderCallbacks): Promise<void> {
    if (this.#started) {
      throw new Error('a LeaderElector runs only once');
    }
    this.#started = true;
    this.#callbacks = callbacks;

    const acquired = await this.#acquire(signal);
    if (!acquired) {
      return;
    }

    await this.#lead(signal, callbacks);
  }

  /** Attempts until the Lease is ours (true) or `signal` aborts (false). */
  async #acquire(signal: AbortSignal): Promise<boolean> {
    this.#logger.info('Attempting to acquire leader lease');

    while (!signal.aborted) {
      const attempt = await this.#attempt(signal);
      if (attempt === 'held') {
        break;
      }

      const delayMs = this.#options.retryPeriodMs * (1 + JITTER * this.#random());
      await pause(this.#clock, delayMs, signal);
    }

    if (signal.aborted) {
      // An attempt may have succeeded just as the abort came: give the Lease back at once.
      await this.#release();
      return false;
    }
    return true;
  }

  async #lead(signal: AbortSignal, callbacks: LeaderCallbacks): Promise<void> {
    this.#leading = true;
    this.#logger.info('Successfully acquired lease');

    const lost = new AbortController();
    const leaderSignal = AbortSignal.any([signal, lost.signal]);
    const stopRenewing = new AbortController();
    const renewal = this.#renewUntilLost(stopRenewing.signal).then((outcome) => {
      if (outcome === 'lost') {
        this.#leading = false;
        lost.abort(new Error('leader election lost'));
      }
      return outcome;
    });

    const work = this.#startWork(callbacks, leaderSignal);
    await aborted(leaderSignal);
    await work;

    stopRenewing.abort();
    if ((await renewal) === 'stopped') {
      await this.#release();
    }
    this.#leading = false;

    this.#logger.info('Stopped leading');
    this.#call('onStoppedLeading', () => callbacks.onStoppedLeading());
  }

  /** Runs `onStartedLeading`; resolves when it and the promise it returned have settled. */
  async #startWork(callbacks: LeaderCallbacks, leaderSignal: AbortSignal): Promise<void> {
    try {
      await callbacks.onStartedLeading(leaderSignal);
    } catch (err) {
      this.#logger.error('Leader callback failed', {
        callback: 'onStartedLeading',
        err: describeError(err),
      });
    }
  }

  /**
   * Renews every retry period. Resolves `stopped` once `stop` aborts, or `lost` when no renewal
   * succeeded for the renew deadline or the Lease is seen held by another. An attempt still in
   * flight when the deadline passes is aborted, so a hung request cannot stretch leadership.
   */
  async #renewUntilLost(stop: AbortSignal): Promise<'lost' | 'stopped'> {
    const { retryPeriodMs, renewDeadlineMs } = this.#options;
    let renewedAt = this.#clock.now();

    for (;;) {
      await pause(this.#clock, retryPeriodMs, stop);
      if (stop.aborted) return 'stopped';

      const deadline = renewedAt + renewDeadlineMs;
      const attempt = await this.#attemptBefore(deadline, stop);
      if (stop.aborted) return 'stopped';

      if (attempt === 'held') {
        renewedAt = this.#clock.now();
        continue;
      }
      if (attempt === 'heldByOther') {
        this.#logger.warn('Lost leader lease to another holder', {
          holder: this.#reportedLeader,
        });
        return 'lost';
      }
      if (this.#clock.now() >= deadline) {
        this.#logger.error('Failed to renew lease within the renew deadline', {
          renewDeadlineMs,
        });
        return 'lost';
      }
    }
  }

  /** One attempt, aborted if it is still in flight at `deadline` (on our clock). */
  async #attemptBefore(deadline: number, stop: AbortSignal): Promise<Attempt> {
    const remaining = deadline - this.#clock.now();
    if (remaining <= 0) {
      return 'failed';
    }

    const timeout = new AbortController();
    const timer = this.#clock.setTimer(remaining, () =>
      timeout.abort(new DOMException('the renew deadline passed', 'TimeoutError')),
    );
    try {
      return await this.#attempt(AbortSignal.any([stop, timeout.signal]));
    } finally {
      timer.cancel();
    }
  }

  /**
   * Reads the Lease and, when it is free, expired or ours, writes it with us as holder. Never
   * throws: failures are logged and reported as `failed`.
   */
  async #attempt(signal: AbortSignal): Promise<Attempt> {
    const { leases, namespace, name } = this.#options;

    let current: Lease;
    try {
      current = await leases.get(namespace, name, signal);
    } catch (err) {
      if (isNotFound(err)) {
        return this.#write(() => leases.create(namespace, this.#newLease(), signal), signal);
      }
      return this.#failed('Failed to read lease', err, signal);
    }

    const now = this.#clock.now();
    this.#observe(current, now);
    const holder = current.spec?.holderIdentity ?? '';
    // While leading, another holder has just been seen to change the Lease, so it is never
    // expired here: the renewal loop then stops leading rather than take the Lease back.
    if (holder !== '' && holder !== this.#options.identity && !this.#observedExpired(now)) {
      this.#logger.trace('Lease is held by another', { holder });
      return 'heldByOther';
    }

    const claimed = this.#claim(current, now);
    return this.#write(() => leases.replace(namespace, name, claimed, signal), signal);
  }

  /** Sends a create or replace that makes us the holder; remembers the Lease it returns. */
  async #write(send: () => Promise<Lease>, signal: AbortSignal): Promise<Attempt> {
    try {
      const written = await send();
      this.#ours = written;
      this.#observe(written, this.#clock.now());
      return 'held';
    } catch (err) {
      if (isConflict(err)) {
        // Another candidate wrote between our read and our write: it won this round.
        this.#logger.debug('Lease changed while acquiring or renewing', {
          err: describeError(err),
        });
        return 'failed';
      }
      return this.#failed('Failed to write lease', err, signal);
    }
  }

  /** Logs a failed request, unless it failed because it was aborted. */
  #failed(message: string, err: unknown, signal: AbortSignal): 'failed' {
    if (!signal.aborted) {
      this.#logger.warn(message, { err: describeError(err) });
    }
    return 'failed';
  }

  /** A new Lease with us as holder. */
  #newLease(): Lease {
    const { namespace, name, identity } = this.#options;
    const now = formatMicroTime(this.#clock.now());
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { namespace, name },
      spec: {
        holderIdentity: identity,
        leaseDurationSeconds: this.#leaseDurationSeconds,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: 0,
      },
    };
  }

  /**
   * `current` with us as holder and a fresh renew time. Renewing our own Lease keeps its
   * acquire time and transition count; taking it from another (or from nobody after a release)
   * counts one transition. The read's metadata, and so its resourceVersion, is kept: a write
   * that raced ours makes this one fail with 409 Conflict.
   */
  #claim(current: Lease, now: number): Lease {
    const spec = current.spec ?? {};
    const renewing = spec.holderIdentity === this.#options.identity;
    const transitions = spec.leaseTransitions ?? 0;

    return {
      ...current,
      spec: {
        ...spec,
        holderIdentity: this.#options.identity,
        leaseDurationSeconds: this.#leaseDurationSeconds,
        acquireTime: renewing ? spec.acquireTime : formatMicroTime(now),
        renewTime: formatMicroTime(now),
        leaseTransitions: renewing ? transitions : transitions + 1,
      },
    };
  }

  /**
   * Notes the Lease as seen at `now`: when its election fields differ from the last read, the
   * change is dated now. Reports a new holder.
   */
  #observe(lease: Lease, now: number): void {
    const spec = lease.spec ?? {};
    const record = JSON.stringify([
      spec.holderIdentity ?? '',
      spec.leaseDurationSeconds ?? null,
      spec.acquireTime ?? null,
      spec.renewTime ?? null,
      spec.leaseTransitions ?? null,
    ]);
    if (record !== this.#observedRecord) {
      this.#observedRecord = record;
      this.#observedAt = now;
      const seconds = spec.leaseDurationSeconds;
      this.#observedDurationMs =
        typeof seconds === 'number' && seconds > 0 ? seconds * 1000 : this.#options.leaseDurationMs;
    }

    const holder = spec.holderIdentity ?? '';
    if (holder !== '' && holder !== this.#reportedLeader) {
      this.#reportedLeader = holder;
      this.#logger.info('New leader elected', { holder });
      const onNewLeader = this.#callbacks?.onNewLeader?.bind(this.#callbacks);
      if (onNewLeader !== undefined) this.#call('onNewLeader', () => onNewLeader(holder));
    }
  }

  /** True once the holder's lease duration has passed since we saw the Lease last change. */
  #observedExpired(now: number): boolean {
    return now >= this.#observedAt + this.#observedDurationMs;
  }

  /**
   * Gives the Lease up if we may still hold it: holder emptied and duration 1 s, from the
   * Lease as we last wrote it, so that a Lease someone else has written since is left alone
   * (409). Bounded by the renew deadline; a failure is logged, and the Lease then expires.
   */
  async #release(): Promise<void> {
    const ours = this.#ours;
    this.#ours = undefined;
    if (ours === undefined) {
      return;
    }

    const { leases, namespace, name, renewDeadlineMs } = this.#options;
    const now = formatMicroTime(this.#clock.now());
    const released: Lease = {
      ...ours,
      spec: {
        ...ours.spec,
        holderIdentity: '',
        leaseDurationSeconds: 1,
        acquireTime: now,
        renewTime: now,
      },
    };

    const timeout = new AbortController();
    const timer = this.#clock.setTimer(renewDeadlineMs, () => timeout.abort());
    try {
      await leases.replace(namespace, name, released, timeout.signal);
      this.#logger.info('Released leader lease');
    } catch (err) {
      this.#logger.warn('Failed to release lease', { err: describeError(err) });
    } finally {
      timer.cancel();
    }
  }

  #call(callback: string, invoke: () => void): void {
    try {
      invoke();
    } catch (err) {
      this.#logger.error('Leader callback failed', { callback, err: describeError(err) });
    }
  }
}

/** Sleeps on `clock`; resolves early, without error, when `signal` aborts. */
async function pause(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  try {
    await sleep(clock, ms, signal);
  } catch {
    // Aborted: the caller checks the signal.
  }
}

/** Resolves once `signal` has aborted. */
function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
