import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { StatusError } from '../../src/apimachinery/errors.ts';
import {
  formatMicroTime,
  LeaderElector,
  leaderIdentity,
} from '../../src/operator/leader-election.ts';
import type {
  Lease,
  LeaseClient,
  LeaseSpec,
  LeaderCallbacks,
  LeaderElectorOptions,
} from '../../src/operator/leader-election.ts';
import { advance, FAKE_EPOCH_MS, FakeClock, flush } from '../support/fake-clock.ts';
import { RecordingLogger } from '../support/recording-logger.ts';

const NAMESPACE = 'objectcache-system';
const NAME = 'objectcache-operator';
const LEASE_MS = 15_000;
const RENEW_DEADLINE_MS = 10_000;
const RETRY_MS = 2000;
/** Fake time moves in steps of this; every timer of these tests falls due on a step's end. */
const STEP_MS = 100;

const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** A request of the fake that never answers; it rejects once its signal aborts. */
type Failure = Error | 'hang';

/**
 * One Lease in memory, with the API server's optimistic concurrency: every write bumps the
 * resourceVersion, a create of an existing Lease and a replace with a stale resourceVersion
 * are 409 Conflict, and a time that is not a six-digit MicroTime is 422 Invalid.
 */
class FakeLeases implements LeaseClient {
  stored: Lease | undefined;
  readonly calls = { get: 0, create: 0, replace: 0 };
  /** Every successful create or replace, in order. */
  readonly writes: Lease[] = [];
  /** While set, every request fails with it. */
  failure: Failure | undefined;
  /** Runs once, just before the next create or replace is checked: a rival's racing write. */
  beforeNextWrite: (() => void) | undefined;
  #version = 0;

  get(_namespace: string, name: string, signal?: AbortSignal): Promise<Lease> {
    this.calls.get++;
    return this.#serve(signal, () => {
      if (this.stored === undefined) throw notFound(name);
      return structuredClone(this.stored);
    });
  }

  create(_namespace: string, object: Lease, signal?: AbortSignal): Promise<Lease> {
    this.calls.create++;
    return this.#serve(signal, () => {
      this.#raceOnce();
      if (this.stored !== undefined) {
        throw status(409, 'AlreadyExists', `leases "${NAME}" already exists`);
      }
      return this.#store(object);
    });
  }

  replace(_namespace: string, name: string, object: Lease, signal?: AbortSignal): Promise<Lease> {
    this.calls.replace++;
    return this.#serve(signal, () => {
      this.#raceOnce();
      if (this.stored === undefined) throw notFound(name);
      if (object.metadata?.resourceVersion !== this.stored.metadata?.resourceVersion) {
        throw status(409, 'Conflict', 'the object has been modified');
      }
      return this.#store(object);
    });
  }

  /** Another process writes the Lease (a rival candidate or leader). */
  put(spec: LeaseSpec): void {
    this.#store({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { namespace: NAMESPACE, name: NAME },
      spec,
    });
  }

  get spec(): LeaseSpec | undefined {
    return this.stored?.spec;
  }

  #raceOnce(): void {
    const race = this.beforeNextWrite;
    this.beforeNextWrite = undefined;
    race?.();
  }

  #store(object: Lease): Lease {
    for (const time of [object.spec?.acquireTime, object.spec?.renewTime]) {
      if (time != null && !MICRO_TIME.test(time)) {
        throw status(422, 'Invalid', `invalid MicroTime ${time}`);
      }
    }
    this.#version++;
    const stored = structuredClone(object);
    stored.metadata = { ...stored.metadata, resourceVersion: String(this.#version) };
    this.stored = stored;
    this.writes.push(structuredClone(stored));
    return structuredClone(stored);
  }

  async #serve(signal: AbortSignal | undefined, answer: () => Lease): Promise<Lease> {
    await Promise.resolve();
    signal?.throwIfAborted();
    const failure = this.failure;
    if (failure === 'hang') {
      return new Promise((_resolve, reject) => {
        signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      });
    }
    if (failure !== undefined) throw failure;
    return answer();
  }
}

function status(code: number, reason: string, message: string): StatusError {
  return new StatusError({ code, reason, message });
}

function notFound(name: string): StatusError {
  return status(404, 'NotFound', `leases.coordination.k8s.io "${name}" not found`);
}

/** The MicroTime of `offsetMs` after the fake clock's start. */
function at(offsetMs: number): string {
  return formatMicroTime(FAKE_EPOCH_MS + offsetMs);
}

/** A Lease held by `holder`, renewed at the given remote time. */
function heldBy(holder: string, overrides: Partial<LeaseSpec> = {}): LeaseSpec {
  return {
    holderIdentity: holder,
    leaseDurationSeconds: 15,
    acquireTime: at(-60_000),
    renewTime: at(0),
    leaseTransitions: 2,
    ...overrides,
  };
}

/** One candidate running against shared fakes, with everything it reported. */
interface Candidate {
  readonly elector: LeaderElector;
  readonly controller: AbortController;
  /** `started`, `stopped` and `leader <identity>`, in order. */
  readonly events: string[];
  readonly done: Promise<void>;
  readonly finished: () => boolean;
  readonly leaderSignal: () => AbortSignal | undefined;
}

interface World {
  readonly clock: FakeClock;
  readonly leases: FakeLeases;
  readonly logger: RecordingLogger;
}

function world(): World {
  return { clock: new FakeClock(), leases: new FakeLeases(), logger: new RecordingLogger() };
}

function electorOptions(w: World, identity: string): LeaderElectorOptions {
  return {
    leases: w.leases,
    namespace: NAMESPACE,
    name: NAME,
    identity,
    leaseDurationMs: LEASE_MS,
    renewDeadlineMs: RENEW_DEADLINE_MS,
    retryPeriodMs: RETRY_MS,
    clock: w.clock,
    logger: w.logger,
    random: () => 0,
  };
}

function candidate(
  w: World,
  identity = 'me',
  work?: (leaderSignal: AbortSignal) => Promise<void>,
): Candidate {
  const elector = new LeaderElector(electorOptions(w, identity));
  const controller = new AbortController();
  const events: string[] = [];
  let leaderSignal: AbortSignal | undefined;
  let finished = false;

  const callbacks: LeaderCallbacks = {
    onStartedLeading(signal) {
      events.push('started');
      leaderSignal = signal;
      return work?.(signal);
    },
    onStoppedLeading: () => events.push('stopped'),
    onNewLeader: (holder) => events.push(`leader ${holder}`),
  };
  const done = elector.run(controller.signal, callbacks).then(() => {
    finished = true;
  });

  return {
    elector,
    controller,
    events,
    done,
    finished: () => finished,
    leaderSignal: () => leaderSignal,
  };
}

/** Moves fake time forward to `offsetMs` after the start, letting every request settle. */
async function until(w: World, offsetMs: number): Promise<void> {
  await advance(w.clock, FAKE_EPOCH_MS + offsetMs - w.clock.now(), STEP_MS);
}

void describe('formatMicroTime', () => {
  const cases: readonly { ms: number; text: string }[] = [
    { ms: Date.UTC(2026, 11, 4, 16, 0, 0, 123), text: '2026-12-04T16:00:00.123000Z' },
    { ms: 0, text: '1970-01-01T00:00:00.000000Z' },
    { ms: Date.UTC(2025, 0, 1, 23, 59, 59, 999), text: '2025-01-01T23:59:59.999000Z' },
  ];

  for (const c of cases) {
    void it(`writes ${c.ms} as ${c.text}, with six fractional digits`, () => {
      assert.equal(formatMicroTime(c.ms), c.text);
    });
  }
});

void describe('leaderIdentity', () => {
  void it('is the Pod name and a random suffix, different for each process', () => {
    const first = leaderIdentity('operator-7d9f-abcde');
    const second = leaderIdentity('operator-7d9f-abcde');

    assert.match(first, /^operator-7d9f-abcde_[0-9a-f-]{36}$/);
    assert.notEqual(first, second);
  });
});

void describe('LeaderElector options', () => {
  const cases: readonly { name: string; lease: number; renew: number; retry: number }[] = [
    { name: 'a renew deadline as long as the lease', lease: 10_000, renew: 10_000, retry: 2000 },
    {
      name: 'a retry period as long as the renew deadline',
      lease: 15_000,
      renew: 2000,
      retry: 2000,
    },
    { name: 'a retry period of zero', lease: 15_000, renew: 10_000, retry: 0 },
  ];

  for (const c of cases) {
    void it(`refuses ${c.name}`, () => {
      const options = {
        ...electorOptions(world(), 'me'),
        leaseDurationMs: c.lease,
        renewDeadlineMs: c.renew,
        retryPeriodMs: c.retry,
      };
      assert.throws(() => new LeaderElector(options), RangeError);
    });
  }

  void it('refuses an empty identity', () => {
    assert.throws(() => new LeaderElector(electorOptions(world(), '')), RangeError);
  });

  void it('does no I/O and arms no timer when constructed', () => {
    const w = world();

    new LeaderElector(electorOptions(w, 'me'));

    assert.deepEqual(w.leases.calls, { get: 0, create: 0, replace: 0 });
    assert.equal(w.clock.pendingTimers(), 0);
  });
});

void describe('LeaderElector acquiring', () => {
  void it('creates the Lease and leads when there is none', async () => {
    const w = world();
    const me = candidate(w);

    await flush();

    assert.equal(me.elector.isLeader, true);
    assert.deepEqual(me.events, ['leader me', 'started']);
    assert.deepEqual(w.leases.calls, { get: 1, create: 1, replace: 0 });
    assert.deepEqual(w.leases.stored, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { namespace: NAMESPACE, name: NAME, resourceVersion: '1' },
      spec: {
        holderIdentity: 'me',
        leaseDurationSeconds: 15,
        acquireTime: '2025-01-01T00:00:00.000000Z',
        renewTime: '2025-01-01T00:00:00.000000Z',
        leaseTransitions: 0,
      },
    });
    me.controller.abort();
    await me.done;
  });

  void it('takes a released Lease at once and counts one transition', async () => {
    const w = world();
    w.leases.put(heldBy('', { leaseDurationSeconds: 1, leaseTransitions: 4 }));
    const me = candidate(w);

    await flush();

    assert.equal(me.elector.isLeader, true);
    assert.deepEqual(w.leases.spec, {
      holderIdentity: 'me',
      leaseDurationSeconds: 15,
      acquireTime: at(0),
      renewTime: at(0),
      leaseTransitions: 5,
    });
    me.controller.abort();
    await me.done;
  });

  void it('waits, without writing, while another holder keeps renewing', async () => {
    const w = world();
    w.leases.put(heldBy('other'));
    const me = candidate(w);

    for (let t = 1000; t <= 60_000; t += 1000) {
      await until(w, t);
      w.leases.put(heldBy('other', { renewTime: at(t) }));
    }

    assert.equal(me.elector.isLeader, false);
    assert.deepEqual(me.events, ['leader other']);
    assert.equal(w.leases.calls.create + w.leases.calls.replace, 0);
    assert.equal(w.leases.calls.get, 31, 'one read every retry period, from the start');
    me.controller.abort();
    await me.done;
  });

  const expiries: readonly {
    name: string;
    spec: LeaseSpec;
    /** Still held at this offset; taken over at `takenAtMs`. */
    heldAtMs: number;
    takenAtMs: number;
  }[] = [
    {
      name: 'a renew time written long ago',
      spec: heldBy('other', { renewTime: '2000-01-01T00:00:00.000000Z' }),
      heldAtMs: 15_900,
      takenAtMs: 16_000,
    },
    {
      name: 'a renew time in the future',
      spec: heldBy('other', { renewTime: '2099-01-01T00:00:00.000000Z' }),
      heldAtMs: 15_900,
      takenAtMs: 16_000,
    },
    {
      name: 'no renew time at all',
      spec: heldBy('other', { renewTime: null }),
      heldAtMs: 15_900,
      takenAtMs: 16_000,
    },
    {
      name: "the holder's own lease duration of 40 s",
      spec: heldBy('other', { leaseDurationSeconds: 40 }),
      heldAtMs: 39_900,
      takenAtMs: 40_000,
    },
  ];

  for (const c of expiries) {
    void it(`takes over one lease duration after it saw the Lease, given ${c.name}`, async () => {
      const w = world();
      w.leases.put(c.spec);
      const me = candidate(w);

      await until(w, c.heldAtMs);
      assert.equal(me.elector.isLeader, false);
      assert.equal(w.leases.spec?.holderIdentity, 'other');

      await until(w, c.takenAtMs);
      assert.equal(me.elector.isLeader, true);
      assert.deepEqual(me.events, ['leader other', 'leader me', 'started']);
      assert.deepEqual(w.leases.spec, {
        holderIdentity: 'me',
        leaseDurationSeconds: 15,
        acquireTime: at(c.takenAtMs),
        renewTime: at(c.takenAtMs),
        leaseTransitions: 3,
      });
      me.controller.abort();
      await me.done;
    });
  }

  void it('counts the lease duration from the last change it saw, not from its first read', async () => {
    const w = world();
    w.leases.put(heldBy('other'));
    const me = candidate(w);
    await until(w, 9000);
    w.leases.put(heldBy('other', { renewTime: at(9000) }));

    // The change is seen by the read at 10 s, so the Lease expires at 25 s: the read at 24 s
    // is too early and the one at 26 s takes over.
    await until(w, 25_900);
    assert.equal(me.elector.isLeader, false);
    await until(w, 26_000);
    assert.equal(me.elector.isLeader, true);
    me.controller.abort();
    await me.done;
  });

  void it('backs off after losing a race to replace the Lease, then respects the winner', async () => {
    const w = world();
    w.leases.put(heldBy('', { leaseDurationSeconds: 1 }));
    w.leases.beforeNextWrite = () => w.leases.put(heldBy('rival', { renewTime: at(0) }));
    const me = candidate(w);

    await flush();
    assert.equal(me.elector.isLeader, false);
    assert.equal(w.leases.calls.replace, 1);

    await until(w, 10_000);
    assert.equal(me.elector.isLeader, false);
    assert.equal(w.leases.calls.replace, 1, 'no second write while the rival holds the Lease');
    assert.equal(w.leases.spec?.holderIdentity, 'rival');
    assert.deepEqual(me.events, ['leader rival']);
    me.controller.abort();
    await me.done;
  });

  void it('backs off after losing a race to create the Lease', async () => {
    const w = world();
    w.leases.beforeNextWrite = () => w.leases.put(heldBy('rival'));
    const me = candidate(w);

    await until(w, 10_000);

    assert.equal(me.elector.isLeader, false);
    assert.deepEqual(w.leases.calls, { get: 6, create: 1, replace: 0 });
    assert.equal(w.leases.spec?.holderIdentity, 'rival');
    me.controller.abort();
    await me.done;
  });

  void it('retries after a failed read, logging the error, and leads once the API answers', async () => {
    const w = world();
    w.leases.failure = status(503, 'ServiceUnavailable', 'etcd leader changed');
    const me = candidate(w);

    await until(w, 3900);
    assert.equal(me.elector.isLeader, false);
    assert.equal(w.leases.calls.get, 2);
    w.leases.failure = undefined;
    await until(w, 4000);

    assert.equal(me.elector.isLeader, true);
    const warnings = w.logger.find('Failed to read lease', 'warn');
    assert.equal(warnings.length, 2);
    assert.deepEqual(warnings[0]?.fields, {
      namespace: NAMESPACE,
      name: NAME,
      identity: 'me',
      err: 'StatusError: etcd leader changed',
    });
    me.controller.abort();
    await me.done;
  });

  void it('spreads its retries with jitter of up to 1.2 retry periods', async () => {
    const w = world();
    w.leases.put(heldBy('other'));
    const elector = new LeaderElector({ ...electorOptions(w, 'me'), random: () => 0.5 });
    const controller = new AbortController();
    const done = elector.run(controller.signal, {
      onStartedLeading: () => undefined,
      onStoppedLeading: () => undefined,
    });

    // Reads at 0, 3.2 s and 6.4 s: each wait is 2 s × (1 + 1.2 × 0.5).
    await until(w, 6300);
    assert.equal(w.leases.calls.get, 2);
    await until(w, 6400);
    assert.equal(w.leases.calls.get, 3);
    controller.abort();
    await done;
  });

  void it('resolves without callbacks or writes when aborted while waiting', async () => {
    const w = world();
    w.leases.put(heldBy('other'));
    const me = candidate(w);
    await until(w, 3000);

    me.controller.abort();
    await flush();

    assert.equal(me.finished(), true);
    assert.deepEqual(me.events, ['leader other']);
    assert.deepEqual(w.leases.calls, { get: 2, create: 0, replace: 0 });
    assert.equal(w.clock.pendingTimers(), 0);
  });

  void it('gives the Lease back when aborted while its winning write was in flight', async () => {
    const w = world();
    const me = candidate(w);
    w.leases.beforeNextWrite = () => me.controller.abort();

    await flush(6);

    assert.equal(me.finished(), true);
    assert.deepEqual(me.events, ['leader me']);
    assert.equal(w.leases.spec?.holderIdentity, '');
  });

  void it('runs only once', async () => {
    const w = world();
    const me = candidate(w);
    await flush();

    await assert.rejects(
      me.elector.run(new AbortController().signal, {
        onStartedLeading: () => undefined,
        onStoppedLeading: () => undefined,
      }),
      /runs only once/,
    );
    me.controller.abort();
    await me.done;
  });
});

void describe('LeaderElector leading', () => {
  void it('renews every retry period, keeping the acquire time and the transition count', async () => {
    const w = world();
    const me = candidate(w);

    await until(w, 6000);

    assert.deepEqual(w.leases.calls, { get: 4, create: 1, replace: 3 });
    assert.deepEqual(w.leases.spec, {
      holderIdentity: 'me',
      leaseDurationSeconds: 15,
      acquireTime: at(0),
      renewTime: at(6000),
      leaseTransitions: 0,
    });
    assert.deepEqual(me.events, ['leader me', 'started']);
    me.controller.abort();
    await me.done;
  });

  void it('keeps leading through renewal failures shorter than the renew deadline', async () => {
    const w = world();
    const me = candidate(w);
    await until(w, 1000);

    // Renewals at 2, 4 and 6 s fail; the one at 8 s, before the deadline at 10 s, succeeds.
    w.leases.failure = status(500, 'InternalError', 'boom');
    await until(w, 7000);
    w.leases.failure = undefined;
    await until(w, 30_000);

    assert.equal(me.elector.isLeader, true);
    assert.equal(me.leaderSignal()?.aborted, false);
    assert.equal(w.leases.spec?.renewTime, at(30_000));
    me.controller.abort();
    await me.done;
  });

  const failures: readonly { name: string; failure: Failure }[] = [
    { name: 'fail', failure: status(500, 'InternalError', 'boom') },
    { name: 'hang', failure: 'hang' },
  ];

  for (const c of failures) {
    void it(`stops leading at the renew deadline when renewals ${c.name}`, async () => {
      const w = world();
      const me = candidate(w);
      await until(w, 4000);

      w.leases.failure = c.failure;
      await until(w, 4000 + RENEW_DEADLINE_MS - STEP_MS);
      assert.equal(me.elector.isLeader, true);
      assert.equal(me.leaderSignal()?.aborted, false);

      await until(w, 4000 + RENEW_DEADLINE_MS);
      assert.equal(me.elector.isLeader, false);
      assert.equal(me.leaderSignal()?.aborted, true);
      assert.equal(me.finished(), true);
      assert.equal(me.controller.signal.aborted, false, 'the caller tells loss by this');
      assert.deepEqual(me.events, ['leader me', 'started', 'stopped']);
      assert.equal(w.leases.spec?.holderIdentity, 'me', 'a lost Lease is not written');
      assert.equal(w.logger.find('Failed to renew lease within the renew deadline').length, 1);
      assert.equal(w.clock.pendingTimers(), 0);
    });
  }

  void it('stops leading at once when the Lease is seen held by another', async () => {
    const w = world();
    const me = candidate(w);
    await until(w, 3000);

    w.leases.put(heldBy('rival', { renewTime: at(3000) }));
    await until(w, 4000);

    assert.equal(me.elector.isLeader, false);
    assert.equal(me.finished(), true);
    assert.deepEqual(me.events, ['leader me', 'started', 'leader rival', 'stopped']);
    assert.equal(w.leases.spec?.holderIdentity, 'rival');
  });

  void it('logs a throwing onStartedLeading and keeps leading', async () => {
    const w = world();
    const me = candidate(w, 'me', () => Promise.reject(new Error('boom')));

    await until(w, 4000);

    assert.equal(me.elector.isLeader, true);
    const [record] = w.logger.find('Leader callback failed', 'error');
    assert.deepEqual(record?.fields, {
      namespace: NAMESPACE,
      name: NAME,
      identity: 'me',
      callback: 'onStartedLeading',
      err: 'Error: boom',
    });
    me.controller.abort();
    await me.done;
  });
});

void describe('LeaderElector releasing', () => {
  void it('empties the holder and shortens the duration to 1 s when aborted', async () => {
    const w = world();
    const me = candidate(w);
    await until(w, 5000);

    me.controller.abort();
    await flush();

    assert.equal(me.finished(), true);
    assert.equal(me.elector.isLeader, false);
    assert.equal(me.leaderSignal()?.aborted, true);
    assert.deepEqual(me.events, ['leader me', 'started', 'stopped']);
    assert.deepEqual(w.leases.spec, {
      holderIdentity: '',
      leaseDurationSeconds: 1,
      acquireTime: at(5000),
      renewTime: at(5000),
      leaseTransitions: 0,
    });
    assert.equal(w.clock.pendingTimers(), 0);
  });

  void it('lets a waiting follower take over within one retry period', async () => {
    const w = world();
    const leader = candidate(w, 'leader');
    const follower = candidate(w, 'follower');
    await until(w, 5000);
    assert.equal(follower.elector.isLeader, false);

    leader.controller.abort();
    await until(w, 5000 + RETRY_MS);

    assert.equal(follower.elector.isLeader, true);
    assert.equal(w.leases.spec?.holderIdentity, 'follower');
    assert.equal(w.leases.spec?.leaseTransitions, 1);
    assert.deepEqual(follower.events, ['leader leader', 'leader follower', 'started']);
    follower.controller.abort();
    await Promise.all([leader.done, follower.done]);
  });

  void it('keeps renewing until the work has stopped, and releases only then', async () => {
    const w = world();
    const workStopped = Promise.withResolvers<void>();
    const me = candidate(w, 'me', () => workStopped.promise);
    await until(w, 1000);

    me.controller.abort();
    await until(w, 20_000);
    assert.equal(me.leaderSignal()?.aborted, true);
    assert.equal(me.finished(), false);
    assert.equal(me.elector.isLeader, true);
    assert.deepEqual(w.leases.spec?.holderIdentity, 'me');
    assert.equal(w.leases.spec?.renewTime, at(20_000));

    workStopped.resolve();
    await flush();
    assert.equal(me.finished(), true);
    assert.deepEqual(me.events, ['leader me', 'started', 'stopped']);
    assert.equal(w.leases.spec?.holderIdentity, '');
  });

  void it('leaves a Lease another process wrote since alone', async () => {
    const w = world();
    const workStopped = Promise.withResolvers<void>();
    const me = candidate(w, 'me', () => workStopped.promise);
    await until(w, 1000);

    me.controller.abort();
    w.leases.beforeNextWrite = () => w.leases.put(heldBy('rival'));
    workStopped.resolve();
    await flush();

    assert.equal(me.finished(), true);
    assert.equal(w.leases.spec?.holderIdentity, 'rival');
    assert.equal(w.logger.find('Failed to release lease', 'warn').length, 1);
  });

  void it('writes only six-digit MicroTimes, which the fake refuses otherwise', async () => {
    const w = world();
    const me = candidate(w);
    await until(w, 4000);
    me.controller.abort();
    await me.done;

    assert.ok(w.leases.writes.length >= 4);
    for (const lease of w.leases.writes) {
      assert.match(lease.spec?.acquireTime ?? '', MICRO_TIME);
      assert.match(lease.spec?.renewTime ?? '', MICRO_TIME);
    }
    w.leases.put(heldBy(''));
    assert.throws(() => w.leases.put(heldBy('x', { renewTime: new Date(0).toISOString() })), {
      code: 422,
    });
  });
});
