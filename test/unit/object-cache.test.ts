import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';

import { type GroupResource, NotFoundError, isNotFound } from '../../src/apimachinery/errors.ts';
import type { KubeObject } from '../../src/apimachinery/types.ts';
import {
  NotRegisteredError,
  SyncTimeoutError,
  isNotRegistered,
  isSyncTimeout,
} from '../../src/cache/errors.ts';
import {
  type ItemKey,
  ObjectCache,
  type ObjectCacheOptions,
} from '../../src/cache/object-cache.ts';
import { FakeClock, advance, drive, flush } from '../support/fake-clock.ts';
import { FakeSource } from '../support/fake-source.ts';
import { RecordingLogger } from '../support/recording-logger.ts';

/** A Secret-like object: the cache core only ever looks at its metadata and `immutable`. */
interface TestObject extends KubeObject {
  immutable?: boolean;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

const NS = 'default';
const SECRETS: GroupResource = { group: '', resource: 'secret' };
const CONFIGMAPS: GroupResource = { group: '', resource: 'configmap' };
const MINUTE = 60_000;

interface Harness {
  readonly clock: FakeClock;
  readonly source: FakeSource<TestObject>;
  readonly logger: RecordingLogger;
  readonly cache: ObjectCache<TestObject>;
}

type HarnessOptions = Partial<Omit<ObjectCacheOptions<TestObject>, 'listerWatcher' | 'clock'>> & {
  readonly clock?: FakeClock;
};

/**
 * A cache on a fake clock and a fake source, with no jitter (random() is 0, so a backoff is
 * exactly 800 ms and a watch timeout exactly 30 min). Stopped when the test ends.
 */
function setup(t: TestContext, options: HarnessOptions = {}): Harness {
  const clock = options.clock ?? new FakeClock();
  const source = new FakeSource<TestObject>();
  const logger = new RecordingLogger();
  const cache = new ObjectCache<TestObject>({
    isImmutable: (object) => object.immutable === true,
    groupResource: SECRETS,
    logger,
    random: () => 0,
    ...options,
    listerWatcher: source,
    clock,
  });
  t.after(() => cache.stop());
  return { clock, source, logger, cache };
}

function secret(name: string, data: Record<string, string> = { token: 'c2VjcmV0' }): TestObject {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name }, data };
}

function immutableSecret(name: string): TestObject {
  return { ...secret(name), immutable: true };
}

/** `cache.get`, driven to settlement on the fake clock. */
function get(h: Harness, name: string, namespace = NS): Promise<TestObject> {
  return drive(h.clock, h.cache.get(namespace, name));
}

/** The rejection of `promise`, which must reject. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected a rejection');
}

/** Moves the clock just past the idle time and sweeps, as the periodic sweep would. */
async function goIdle(h: Harness): Promise<void> {
  h.clock.step(h.cache.maxIdleTimeMs + 1);
  h.cache.sweep();
  await flush();
}

/** Tracks whether a promise has settled, without awaiting it. */
function track(promise: Promise<unknown>): { readonly settled: boolean } {
  const state = { settled: false };
  void promise.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
}

function requestCounts(source: FakeSource<TestObject>): { lists: number; watches: number } {
  return { lists: source.count('list'), watches: source.count('watch') };
}

void describe('ObjectCache: items and references', () => {
  void it('rule 1: one item per namespace and name, with a count per Pod UID', async (t) => {
    const h = setup(t);
    h.source.create('a', secret('token'));
    h.source.create('b', secret('token'));

    h.cache.addReference('a', 'token', 'pod-1');
    h.cache.addReference('a', 'token', 'pod-1');
    h.cache.addReference('a', 'token', 'pod-2');
    h.cache.addReference('b', 'token', 'pod-3');
    await flush();

    assert.equal(h.cache.snapshot().length, 2);
    assert.deepEqual(
      h.cache.inspect('a', 'token')?.references,
      new Map([
        ['pod-1', 2],
        ['pod-2', 1],
      ]),
    );
    assert.deepEqual(h.cache.inspect('b', 'token')?.references, new Map([['pod-3', 1]]));
    assert.equal(h.source.count('list', 'a', 'token'), 1);
    assert.equal(h.source.count('list', 'b', 'token'), 1);
    assert.equal(h.source.count('list'), 2);
  });

  void it('rule 2: addReference starts a new reflector and never waits', async (t) => {
    const h = setup(t);
    h.source.holdLists();

    const returned: unknown = h.cache.addReference(NS, 'token', 'pod-1');

    assert.equal(returned, undefined, 'addReference returns nothing to await');
    assert.equal(h.cache.inspect(NS, 'token')?.reflector, 'Running');
    assert.deepEqual(h.cache.inspect(NS, 'token')?.references, new Map([['pod-1', 1]]));
    await flush();
    assert.equal(h.source.count('list', NS, 'token'), 1, 'the list is on its way');
    assert.equal(h.cache.inspect(NS, 'token')?.synced, false);

    h.cache.addReference(NS, 'token', 'pod-2');
    h.cache.addReference(NS, 'token', 'pod-1');
    await flush();
    assert.equal(h.source.count('list'), 1, 'an existing item only gains a count');
    assert.deepEqual(
      h.cache.inspect(NS, 'token')?.references,
      new Map([
        ['pod-1', 2],
        ['pod-2', 1],
      ]),
    );
  });

  void it('rule 3: deleteReference drops a UID at zero, the item at no UID', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    h.cache.addReference(NS, 'token', 'pod-1');
    h.cache.addReference(NS, 'token', 'pod-1');
    h.cache.addReference(NS, 'token', 'pod-2');
    await get(h, 'token');
    assert.equal(h.source.openWatches, 1);

    h.cache.deleteReference(NS, 'token', 'pod-1');
    assert.deepEqual(
      h.cache.inspect(NS, 'token')?.references,
      new Map([
        ['pod-1', 1],
        ['pod-2', 1],
      ]),
    );
    h.cache.deleteReference(NS, 'token', 'pod-1');
    assert.deepEqual(h.cache.inspect(NS, 'token')?.references, new Map([['pod-2', 1]]));
    h.cache.deleteReference(NS, 'token', 'pod-2');
    assert.equal(h.cache.inspect(NS, 'token'), undefined);
    await flush();

    assert.equal(h.source.openWatches, 0, 'the reflector released its watch');
    assert.equal(h.cache.metrics().items, 0);
    const before = requestCounts(h.source);
    await advance(h.clock, 10 * MINUTE, MINUTE);
    assert.deepEqual(requestCounts(h.source), before, 'a removed item sends no more requests');
    assert.ok(isNotRegistered(await rejection(h.cache.get(NS, 'token'))));
  });

  void it('rule 3: a delete for an unknown item is a no-op', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    h.cache.addReference(NS, 'token', 'pod-1');
    await flush();

    h.cache.deleteReference(NS, 'other', 'pod-1');
    h.cache.deleteReference('elsewhere', 'token', 'pod-1');

    assert.equal(h.cache.snapshot().length, 1);
    assert.deepEqual(h.cache.inspect(NS, 'token')?.references, new Map([['pod-1', 1]]));
    assert.equal(h.cache.inspect('elsewhere', 'token'), undefined);
  });

  void it('rule 3: a delete for a UID the item does not hold changes nothing', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    h.cache.addReference(NS, 'token', 'pod-1');
    await get(h, 'token');

    h.cache.deleteReference(NS, 'token', 'pod-stranger');
    assert.deepEqual(h.cache.inspect(NS, 'token')?.references, new Map([['pod-1', 1]]));
    h.cache.deleteReference(NS, 'token', 'pod-stranger');
    assert.deepEqual(h.cache.inspect(NS, 'token')?.references, new Map([['pod-1', 1]]));

    // The kubelet would now hold a negative count for the stranger and keep the item forever.
    h.cache.deleteReference(NS, 'token', 'pod-1');
    assert.equal(h.cache.inspect(NS, 'token'), undefined);
    await flush();
    assert.equal(h.source.openWatches, 0);
  });

  void it('twenty add and delete cycles cost one list and one watch', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    h.cache.addReference(NS, 'token', 'pod-keeper');

    for (let cycle = 0; cycle < 20; cycle++) {
      h.cache.addReference(NS, 'token', `pod-${cycle}`);
      await get(h, 'token');
      h.cache.deleteReference(NS, 'token', `pod-${cycle}`);
      await flush();
    }

    assert.deepEqual(requestCounts(h.source), { lists: 1, watches: 1 });
    assert.deepEqual(h.cache.inspect(NS, 'token')?.references, new Map([['pod-keeper', 1]]));
  });
});

void describe('ObjectCache: reflector and store', () => {
  void it('rule 4: lists and watches by field selector; reflector named after it', async (t) => {
    const h = setup(t, { maxIdleTimeMs: 24 * 60 * MINUTE });
    h.source.create(NS, secret('token'));
    h.source.create(NS, secret('neighbour'));
    h.cache.addReference(NS, 'token', 'pod-1');
    const object = await get(h, 'token');

    assert.equal(object.metadata?.name, 'token');
    for (const request of h.source.requests) {
      assert.equal(request.namespace, NS);
      assert.equal(request.fieldSelector, 'metadata.name=token');
      assert.equal(request.labelSelector, undefined);
    }
    const reflectors = new Set(
      h.logger.records.map((r) => r.fields.reflector).filter((r) => r !== undefined),
    );
    assert.deepEqual([...reflectors], ['object-"default"/"token"']);

    await advance(h.clock, 2 * 60 * MINUTE, MINUTE);
    assert.deepEqual(requestCounts(h.source), { lists: 1, watches: 1 }, 'no periodic resync');
  });

  void it('rule 5: asks for a 30 to 60 minute server timeout and for bookmarks', async (t) => {
    const cases = [
      { random: () => 0, timeoutSeconds: 1800 },
      { random: () => 0.5, timeoutSeconds: 2700 },
      { random: () => 0.999_999, timeoutSeconds: 3599 },
    ];
    for (const c of cases) {
      const h = setup(t, { random: c.random });
      h.cache.addReference(NS, 'token', 'pod-1');
      await flush();

      const watch = h.source.requests.find((r) => r.verb === 'watch');
      assert.equal(watch?.timeoutSeconds, c.timeoutSeconds);
      assert.equal(watch?.allowWatchBookmarks, true);
    }

    const h = setup(t, { random: Math.random });
    for (let i = 0; i < 50; i++) h.cache.addReference(NS, `token-${i}`, 'pod-1');
    await flush();
    for (const watch of h.source.requests.filter((r) => r.verb === 'watch')) {
      const seconds = watch.timeoutSeconds ?? 0;
      assert.ok(seconds >= 1800 && seconds < 3600, `timeout ${seconds} s`);
    }
  });

  void it('rule 5: resumes from the last resourceVersion after a clean close', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    h.cache.addReference(NS, 'token', 'pod-1');
    await get(h, 'token');
    h.source.update(NS, secret('token', { token: 'djI=' }));
    h.source.update(NS, secret('token', { token: 'djM=' }));
    await advance(h.clock, 2000);

    assert.equal(h.source.closeWatches(), 1);
    await flush();

    const watches = h.source.requests.filter((r) => r.verb === 'watch');
    assert.deepEqual(
      watches.map((w) => w.resourceVersion),
      ['1', '3'],
    );
    assert.equal(h.source.count('list'), 1);
    assert.equal(h.cache.metrics().watchRestarts, 0, 'a clean close is not a failure');
  });

  for (const as of ['status', 'event'] as const) {
    const label = as === 'status' ? 'a status' : 'an ERROR event';
    void it(`rule 5: lists afresh after a 410 Gone sent as ${label}`, async (t) => {
      const h = setup(t);
      h.source.create(NS, secret('token'));
      h.source.failWatches(1, 410, as);
      h.cache.addReference(NS, 'token', 'pod-1');

      await advance(h.clock, 5000, 100);

      assert.deepEqual(requestCounts(h.source), { lists: 2, watches: 2 });
      assert.equal(h.source.openWatches, 1);
      assert.equal(h.cache.metrics().relists, 1);
      assert.equal((await get(h, 'token')).metadata?.resourceVersion, '1');
    });
  }

  const watchFailures = [
    { what: '403 Forbidden', code: 403 },
    { what: '429 TooManyRequests', code: 429 },
    { what: '500 InternalError', code: 500 },
    { what: 'a network reset', code: 0 },
  ];
  for (const f of watchFailures) {
    void it(`rule 5: backs off, then watches from the same version, after ${f.what}`, async (t) => {
      const h = setup(t);
      h.source.create(NS, secret('token'));
      h.source.update(NS, secret('token', { token: 'djI=' }));
      if (f.code !== 0) h.source.failWatches(1, f.code);
      h.cache.addReference(NS, 'token', 'pod-1');
      await flush();
      if (f.code === 0) assert.equal(h.source.resetWatches(), 1);

      await advance(h.clock, 799, 1);
      assert.equal(h.source.count('watch'), 1, 'no retry before the backoff elapsed');
      await advance(h.clock, 1, 1);

      const watches = h.source.requests.filter((r) => r.verb === 'watch');
      assert.deepEqual(
        watches.map((w) => w.resourceVersion),
        ['2', '2'],
      );
      assert.equal(h.source.count('list'), 1);
      assert.equal(h.cache.metrics().watchRestarts, 1);
      assert.equal(h.source.openWatches, 1);
    });
  }

  for (const code of [403, 429, 500]) {
    void it(`rule 5: backs off, then lists again, after a list fails with ${code}`, async (t) => {
      const h = setup(t);
      h.source.create(NS, secret('token'));
      h.source.failLists(1, code);
      h.cache.addReference(NS, 'token', 'pod-1');
      await flush();

      await advance(h.clock, 799, 1);
      assert.deepEqual(requestCounts(h.source), { lists: 1, watches: 0 });
      await advance(h.clock, 1, 1);

      assert.deepEqual(requestCounts(h.source), { lists: 2, watches: 1 });
      assert.equal(h.cache.inspect(NS, 'token')?.synced, true);
    });
  }

  void it('rule 5: sends no request after stop, when stopped during a held list', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    const hold = h.source.holdLists();
    h.cache.addReference(NS, 'token', 'pod-1');
    await flush();

    await h.cache.stop();
    hold.release();
    await advance(h.clock, 10 * MINUTE, 100);

    assert.deepEqual(requestCounts(h.source), { lists: 1, watches: 0 });
    assert.equal(h.source.openWatches, 0);
  });

  void it('rule 5: sends no request after stop, when stopped during a backoff', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    h.source.failLists(1, 500);
    h.cache.addReference(NS, 'token', 'pod-1');
    await flush();
    assert.equal(h.clock.pendingTimers() > 0, true, 'a backoff timer is armed');

    await h.cache.stop();
    await advance(h.clock, 10 * MINUTE, 100);

    assert.deepEqual(requestCounts(h.source), { lists: 1, watches: 0 });
    assert.equal(h.clock.pendingTimers(), 0, 'stop cancelled the backoff and the sweep');
  });

  void it('rule 5: no watch stays open once stop resolves', async (t) => {
    const h = setup(t);
    for (const name of ['a', 'b', 'c']) {
      h.source.create(NS, secret(name));
      h.cache.addReference(NS, name, 'pod-1');
    }
    await flush();
    assert.equal(h.source.openWatches, 3);

    await h.cache.stop();

    assert.equal(h.source.openWatches, 0);
    assert.equal(h.cache.metrics().runningReflectors, 0);
    h.cache.addReference(NS, 'd', 'pod-1');
    await advance(h.clock, 10 * MINUTE, MINUTE);
    assert.deepEqual(requestCounts(h.source), { lists: 3, watches: 3 });
  });

  void it('rule 6: a restarted reflector keeps the newer object over an older list', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token', { token: 'djE=' }));
    h.cache.addReference(NS, 'token', 'pod-1');
    await get(h, 'token');
    h.source.update(NS, secret('token', { token: 'djI=' }));
    await flush();
    assert.equal((await get(h, 'token')).metadata?.resourceVersion, '2');
    await goIdle(h);
    assert.equal(h.cache.inspect(NS, 'token')?.reflector, 'Stopped');

    h.source.lagNextList('1');
    const object = await get(h, 'token');

    assert.equal(h.source.count('list'), 2, 'the restart listed again');
    assert.equal(object.metadata?.resourceVersion, '2');
    assert.deepEqual(object.data, { token: 'djI=' });
    assert.equal(h.cache.inspect(NS, 'token')?.resourceVersion, '2');
  });

  void it('rule 7: only a list syncs; stopping unsyncs and keeps the content', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    let hold = h.source.holdLists();
    h.cache.addReference(NS, 'token', 'pod-1');
    await flush();
    assert.equal(h.cache.inspect(NS, 'token')?.synced, false);
    assert.equal(h.cache.inspect(NS, 'token')?.found, undefined);

    hold.release();
    await flush();
    assert.equal(h.cache.inspect(NS, 'token')?.synced, true);
    h.source.update(NS, secret('token', { token: 'djI=' }));
    await flush();
    await goIdle(h);

    const stopped = h.cache.inspect(NS, 'token');
    assert.equal(stopped?.reflector, 'Stopped');
    assert.equal(stopped?.stopReason, 'Idle');
    assert.equal(stopped?.synced, false);
    assert.equal(stopped?.found, true, 'the content is kept');
    assert.equal(stopped?.resourceVersion, '2');
    assert.deepEqual(h.cache.snapshot(), [stopped]);

    hold = h.source.holdLists();
    const pending = h.cache.get(NS, 'token');
    await advance(h.clock, 500);
    assert.equal(h.cache.inspect(NS, 'token')?.synced, false, 'a restart waits for its list');
    hold.release();
    await drive(h.clock, pending);
    assert.equal(h.cache.inspect(NS, 'token')?.synced, true);
  });
});

void describe('ObjectCache: get', () => {
  void it('rule 8: get on an unregistered object fails with a not-registered error', async (t) => {
    const h = setup(t);

    const err = await rejection(h.cache.get('kube-system', 'nobody'));

    assert.ok(err instanceof NotRegisteredError);
    assert.ok(isNotRegistered(err));
    assert.equal(isSyncTimeout(err), false);
    assert.equal(isNotFound(err), false);
    assert.equal(err.message, 'object "kube-system"/"nobody" not registered');
    assert.equal(h.source.requests.length, 0);
    assert.equal(h.cache.metrics().gets.notRegistered, 1);
  });

  void it('rule 9: get records the access time before it fails with a sync timeout', async (t) => {
    const h = setup(t);
    h.source.holdLists();
    h.cache.addReference(NS, 'token', 'pod-1');
    const calledAt = h.clock.now();

    const err = await rejection(get(h, 'token'));

    assert.ok(isSyncTimeout(err));
    assert.ok(h.clock.now() > calledAt);
    assert.equal(h.cache.inspect(NS, 'token')?.lastAccess, calledAt);
  });

  void it('rule 9: get records the access time before it fails with NotFound', async (t) => {
    const h = setup(t);
    h.cache.addReference(NS, 'missing', 'pod-1');
    await advance(h.clock, 1000);
    const calledAt = h.clock.now();

    assert.ok(isNotFound(await rejection(get(h, 'missing'))));
    assert.equal(h.cache.inspect(NS, 'missing')?.lastAccess, calledAt);
  });

  void it('rule 10: get restarts a reflector the sweep stopped', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    h.cache.addReference(NS, 'token', 'pod-1');
    await get(h, 'token');
    await goIdle(h);
    assert.equal(h.cache.inspect(NS, 'token')?.reflector, 'Stopped');
    assert.equal(h.source.openWatches, 0);

    h.source.update(NS, secret('token', { token: 'djI=' }));
    const object = await get(h, 'token');

    assert.deepEqual(object.data, { token: 'djI=' }, 'changes made while stopped are seen');
    assert.equal(h.cache.inspect(NS, 'token')?.reflector, 'Running');
    assert.equal(h.cache.inspect(NS, 'token')?.stopReason, undefined);
    assert.deepEqual(requestCounts(h.source), { lists: 2, watches: 2 });
    assert.equal(h.source.openWatches, 1);
  });

  for (const gr of [SECRETS, CONFIGMAPS]) {
    void it(`rule 11: a ${gr.resource} get waits at most 1 s, then times out`, async (t) => {
      const h = setup(t, { groupResource: gr });
      h.source.holdLists();
      h.cache.addReference(NS, 'token', 'pod-1');
      const calledAt = h.clock.now();

      const err = await rejection(drive(h.clock, h.cache.get(NS, 'token'), { stepMs: 1 }));

      assert.ok(err instanceof SyncTimeoutError);
      assert.ok(isSyncTimeout(err));
      assert.equal(isNotFound(err), false);
      assert.equal(
        err.message,
        `failed to sync ${gr.resource} cache: timed out waiting for the condition`,
      );
      assert.equal(h.clock.now() - calledAt, 1000);
      assert.equal(h.cache.metrics().gets.syncTimeout, 1);
    });
  }

  void it('rule 11: get polls every 10 ms, and not at all when synced', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    const hold = h.source.holdLists();
    h.cache.addReference(NS, 'token', 'pod-1');
    const pending = track(h.cache.get(NS, 'token'));
    await advance(h.clock, 25, 1);

    hold.release();
    await advance(h.clock, 4, 1);
    assert.equal(pending.settled, false, 'the next check is at 30 ms');
    await advance(h.clock, 1, 1);
    assert.equal(pending.settled, true);

    await drive(h.clock, h.cache.get(NS, 'token'), { maxMs: 0 });
  });

  void it('rule 11: the poll interval and the sync timeout are configurable', async (t) => {
    const h = setup(t, { syncPollIntervalMs: 100, syncTimeoutMs: 300 });
    h.source.create(NS, secret('token'));
    const hold = h.source.holdLists();
    h.cache.addReference(NS, 'token', 'pod-1');
    const calledAt = h.clock.now();

    const err = await rejection(drive(h.clock, h.cache.get(NS, 'token'), { stepMs: 1 }));
    assert.ok(isSyncTimeout(err));
    assert.equal(h.clock.now() - calledAt, 300);

    const pending = track(h.cache.get(NS, 'token'));
    await advance(h.clock, 150, 1);
    hold.release();
    await advance(h.clock, 49, 1);
    assert.equal(pending.settled, false, 'the next check is 100 ms after the last one');
    await advance(h.clock, 1, 1);
    assert.equal(pending.settled, true);
  });

  const notFoundCases = [
    { gr: SECRETS, message: 'secret "missing" not found' },
    { gr: CONFIGMAPS, message: 'configmap "missing" not found' },
    {
      gr: { group: 'example.io', resource: 'widgets' },
      message: 'widgets.example.io "missing" not found',
    },
  ];
  for (const c of notFoundCases) {
    void it(`rule 12: a synced item without the object is NotFound: ${c.message}`, async (t) => {
      const h = setup(t, { groupResource: c.gr });
      h.source.create(NS, secret('other'));
      h.cache.addReference(NS, 'missing', 'pod-1');

      const err = await rejection(get(h, 'missing'));

      assert.ok(err instanceof NotFoundError);
      assert.ok(isNotFound(err));
      assert.equal(isSyncTimeout(err), false);
      assert.equal(isNotRegistered(err), false);
      assert.equal(err.code, 404);
      assert.equal(err.reason, 'NotFound');
      assert.equal(err.message, c.message);
      assert.equal(err.objectName, 'missing');
      assert.deepEqual(err.groupResource, c.gr);
      assert.equal(h.cache.inspect(NS, 'missing')?.found, false);
      assert.equal(h.cache.inspect(NS, 'missing')?.synced, true);
    });
  }

  void it('rule 13: an immutable object stops its watch; later gets never wait', async (t) => {
    const h = setup(t);
    h.source.create(NS, immutableSecret('token'));
    h.cache.addReference(NS, 'token', 'pod-1');

    const first = await get(h, 'token');
    await flush();

    const item = h.cache.inspect(NS, 'token');
    assert.equal(item?.immutable, true);
    assert.equal(item?.reflector, 'Stopped');
    assert.equal(item?.stopReason, 'Immutable');
    assert.equal(item?.synced, true);
    assert.equal(h.source.openWatches, 0);
    const before = requestCounts(h.source);

    await advance(h.clock, 30 * MINUTE, MINUTE);
    for (let i = 0; i < 5; i++) {
      const later = await drive(h.clock, h.cache.get(NS, 'token'), { maxMs: 0 });
      assert.equal(later, first);
    }
    await advance(h.clock, 30 * MINUTE, MINUTE);

    assert.deepEqual(requestCounts(h.source), before, 'no request after the immutable stop');
    assert.equal(h.cache.sweep(), 0);
    assert.equal(h.cache.inspect(NS, 'token')?.stopReason, 'Immutable');
  });

  void it('rule 13: an object made immutable later stops its watch at the next get', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    h.cache.addReference(NS, 'token', 'pod-1');
    await get(h, 'token');
    assert.equal(h.cache.inspect(NS, 'token')?.immutable, false);

    h.source.update(NS, immutableSecret('token'));
    await flush();
    await get(h, 'token');
    await flush();

    assert.equal(h.cache.inspect(NS, 'token')?.stopReason, 'Immutable');
    assert.equal(h.source.openWatches, 0);
  });

  void it('rule 13: a recreated immutable object is unseen while referenced', async (t) => {
    const h = setup(t);
    h.source.create(NS, { ...immutableSecret('token'), data: { token: 'b2xk' } });
    h.cache.addReference(NS, 'token', 'pod-1');
    await get(h, 'token');

    h.source.delete(NS, 'token');
    h.source.create(NS, { ...immutableSecret('token'), data: { token: 'bmV3' } });
    await advance(h.clock, 10 * MINUTE, MINUTE);

    const object = await get(h, 'token');
    assert.deepEqual(object.data, { token: 'b2xk' });
    assert.equal(object.metadata?.uid, 'uid-1');
  });

  void it('rule 14: get returns the cached instance itself, never a copy', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    h.cache.addReference(NS, 'token', 'pod-1');

    const first = await get(h, 'token');
    const second = await get(h, 'token');

    assert.equal(first, second);
  });
});

void describe('ObjectCache: idle recycling', () => {
  const idleCases = [
    { configured: undefined, effective: 5 * MINUTE },
    { configured: 0, effective: MINUTE },
    { configured: 59_999, effective: MINUTE },
    { configured: MINUTE, effective: MINUTE },
    { configured: 90_000, effective: 90_000 },
    { configured: 30 * MINUTE, effective: 30 * MINUTE },
  ];
  for (const c of idleCases) {
    void it(`rule 15: maxIdleTime ${String(c.configured)} ms becomes ${c.effective} ms`, (t) => {
      const h = setup(t, c.configured === undefined ? {} : { maxIdleTimeMs: c.configured });
      assert.equal(h.cache.maxIdleTimeMs, c.effective);
    });
  }

  void it('rule 15: an idle time below a minute still keeps a watch a minute', async (t) => {
    const h = setup(t, { maxIdleTimeMs: 1000, sweepPeriodMs: 24 * 60 * MINUTE });
    h.source.create(NS, secret('token'));
    h.cache.addReference(NS, 'token', 'pod-1');
    await get(h, 'token');
    const lastAccess = h.cache.inspect(NS, 'token')?.lastAccess ?? Number.NaN;

    h.clock.step(lastAccess + MINUTE - h.clock.now());
    assert.equal(h.cache.sweep(), 0);
    h.clock.step(1);
    assert.equal(h.cache.sweep(), 1);
  });

  void it('rule 16: a sweep every minute stops a synced, never-read item', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    h.cache.addReference(NS, 'token', 'pod-1');
    await flush();
    assert.equal(h.cache.inspect(NS, 'token')?.synced, true);

    h.clock.step(MINUTE - 1);
    await flush();
    assert.equal(h.cache.inspect(NS, 'token')?.reflector, 'Running');
    h.clock.step(1);
    await flush();

    assert.equal(h.cache.inspect(NS, 'token')?.reflector, 'Stopped');
    assert.equal(h.cache.inspect(NS, 'token')?.stopReason, 'Idle');
    assert.equal(h.source.openWatches, 0);
  });

  void it('rule 16: stops an item only once now is past lastAccess + maxIdleTime', async (t) => {
    const h = setup(t, { sweepPeriodMs: 24 * 60 * MINUTE });
    h.source.create(NS, secret('token'));
    h.cache.addReference(NS, 'token', 'pod-1');
    await get(h, 'token');
    const lastAccess = h.cache.inspect(NS, 'token')?.lastAccess ?? Number.NaN;

    h.clock.step(lastAccess + 5 * MINUTE - h.clock.now());
    assert.equal(h.cache.sweep(), 0, 'exactly maxIdleTime after the last read is not idle');
    h.clock.step(1);
    assert.equal(h.cache.sweep(), 1);
    assert.equal(h.cache.sweep(), 0, 'a stopped item is not stopped again');
  });

  void it('rule 16: an item whose list never completes survives every sweep', async (t) => {
    const h = setup(t);
    h.source.holdLists();
    h.cache.addReference(NS, 'token', 'pod-1');
    await flush();

    for (let minute = 0; minute < 120; minute++) {
      h.clock.step(MINUTE);
      assert.equal(h.cache.sweep(), 0);
      await flush();
    }

    assert.equal(h.cache.inspect(NS, 'token')?.reflector, 'Running');
    assert.deepEqual(requestCounts(h.source), { lists: 1, watches: 0 });
  });

  void it('rule 16: the sweep stops an item read long ago; a get restarts it', async (t) => {
    const h = setup(t, { sweepPeriodMs: 24 * 60 * MINUTE });
    h.source.create(NS, secret('token'));
    h.cache.addReference(NS, 'token', 'pod-1');
    await get(h, 'token');
    h.clock.step(4 * MINUTE);
    await get(h, 'token');
    h.clock.step(4 * MINUTE);
    assert.equal(h.cache.sweep(), 0, 'read 4 minutes ago');

    h.clock.step(MINUTE + 1);
    assert.equal(h.cache.sweep(), 1);
    await flush();
    assert.equal(h.source.openWatches, 0);

    await get(h, 'token');
    assert.deepEqual(requestCounts(h.source), { lists: 2, watches: 2 });
  });

  void it('rule 17: the cache reads time only from the injected clock', async (t) => {
    const farPast = 1_000_000;
    const h = setup(t, { clock: new FakeClock(farPast) });
    const dateNow = t.mock.method(Date, 'now');
    const setTimeoutSpy = t.mock.method(globalThis, 'setTimeout');
    const setIntervalSpy = t.mock.method(globalThis, 'setInterval');
    h.source.create(NS, secret('token'));

    h.cache.addReference(NS, 'token', 'pod-1');
    await flush();
    await drive(h.clock, h.cache.get(NS, 'token'), { maxMs: 0 });
    assert.equal(h.cache.inspect(NS, 'token')?.lastAccess, farPast);
    assert.equal(h.cache.inspect(NS, 'token')?.lastChange, farPast);
    h.source.failWatches(1, 500);
    h.source.resetWatches();
    await advance(h.clock, 10_000, 100);
    await goIdle(h);
    await get(h, 'token');
    await h.cache.stop();

    assert.equal(dateNow.mock.callCount(), 0, 'Date.now');
    assert.equal(setTimeoutSpy.mock.callCount(), 0, 'setTimeout');
    assert.equal(setIntervalSpy.mock.callCount(), 0, 'setInterval');
  });
});

void describe('ObjectCache: observation', () => {
  void it('metrics count items, reflectors, references, gets and restarts', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('a'));
    h.cache.addReference(NS, 'a', 'pod-1');
    h.cache.addReference(NS, 'a', 'pod-1');
    h.cache.addReference(NS, 'a', 'pod-2');
    h.cache.addReference(NS, 'b', 'pod-1');
    await get(h, 'a');
    await get(h, 'a');
    await rejection(get(h, 'b'));
    await rejection(h.cache.get(NS, 'nobody'));
    const hold = h.source.holdLists();
    h.cache.addReference(NS, 'c', 'pod-3');
    await rejection(get(h, 'c'));

    assert.deepEqual(h.cache.metrics(), {
      items: 3,
      runningReflectors: 3,
      references: 4,
      gets: { hit: 2, notFound: 1, syncTimeout: 1, notRegistered: 1 },
      lists: 3,
      watches: 2,
      watchRestarts: 0,
      relists: 0,
    });

    hold.release();
    assert.equal(h.source.resetWatches(), 2);
    await advance(h.clock, 2000, 100);
    h.source.failWatches(1, 410, 'event');
    assert.equal(h.source.resetWatches(), 3, 'the third item synced once its list was released');
    await advance(h.clock, 5000, 100);
    const metrics = h.cache.metrics();
    assert.equal(metrics.watchRestarts, 5);
    assert.equal(metrics.relists, 1);

    assert.equal(metrics.lists, 4);
    assert.equal(metrics.runningReflectors, 3);

    h.cache.deleteReference(NS, 'b', 'pod-1');
    await goIdle(h);
    const after = h.cache.metrics();
    assert.equal(after.items, 2);
    assert.equal(after.references, 3);
    assert.equal(after.runningReflectors, 0, 'both remaining items went idle');
  });

  void it('subscribe notifies on references, sync and stop, not on a get', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    const seen: { key: ItemKey; present: boolean }[] = [];
    const unsubscribe = h.cache.subscribe((key) => {
      seen.push({ key, present: h.cache.inspect(key.namespace, key.name) !== undefined });
    });
    const key = { namespace: NS, name: 'token' };

    h.cache.addReference(NS, 'token', 'pod-1');
    assert.equal(seen.length, 1, 'added a reference');
    await flush();
    assert.equal(seen.length, 2, 'synced');
    h.cache.addReference(NS, 'token', 'pod-2');
    assert.equal(seen.length, 3, 'added another reference');

    await get(h, 'token');
    await get(h, 'token');
    assert.equal(seen.length, 3, 'plain gets');

    h.source.update(NS, secret('token', { token: 'djI=' }));
    await flush();
    assert.equal(seen.length, 4, 'the content changed');
    await goIdle(h);
    assert.equal(seen.length, 5, 'stopped as idle');
    h.cache.deleteReference(NS, 'token', 'pod-2');
    assert.equal(seen.length, 6, 'deleted a reference');
    h.cache.deleteReference(NS, 'token', 'pod-1');
    assert.equal(seen.length, 7, 'deleted the last reference');

    assert.ok(seen.every((s) => s.key.namespace === key.namespace && s.key.name === key.name));
    assert.equal(seen.at(-1)?.present, false, 'the item is gone when the last delete notifies');

    unsubscribe();
    h.cache.addReference(NS, 'token', 'pod-1');
    await flush();
    assert.equal(seen.length, 7, 'no notification after unsubscribe');
  });

  void it('no secret value reaches a log line or field, a snapshot or an error', async (t) => {
    const marker = `marker-${process.pid}-5f1c2a`;
    const encoded = Buffer.from(marker).toString('base64');
    const h = setup(t);
    const holding = (name: string, extra: Partial<TestObject> = {}): TestObject => ({
      ...secret(name, { password: encoded, plain: marker }),
      stringData: { password: marker },
      ...extra,
    });
    h.source.create(NS, holding('token'));
    h.source.create(NS, holding('frozen', { immutable: true }));

    h.cache.addReference(NS, 'token', 'pod-1');
    h.cache.addReference(NS, 'frozen', 'pod-1');
    h.cache.addReference(NS, 'absent', 'pod-1');
    const errors: unknown[] = [];
    assert.equal((await get(h, 'token')).data?.plain, marker, 'the content went through');
    await get(h, 'frozen');
    errors.push(await rejection(get(h, 'absent')));
    h.source.update(NS, holding('token'));
    h.source.resetWatches();
    h.source.failWatches(1, 500);
    await advance(h.clock, 5000, 100);
    h.source.failWatches(1, 410, 'event');
    h.source.closeWatches();
    await advance(h.clock, 60_000, 100);
    await goIdle(h);
    h.source.holdLists();
    errors.push(await rejection(get(h, 'token')));
    await h.cache.stop();

    assert.ok(h.logger.find('Watch event', 'trace').length > 0, 'trace lines were recorded');
    const surfaces = [
      h.logger.text(),
      JSON.stringify(h.cache.snapshot(), (_, v: unknown) => (v instanceof Map ? [...v] : v)),
      JSON.stringify(h.cache.metrics()),
      ...errors.map((e) => (e instanceof Error ? `${e.name} ${e.message} ${String(e.stack)}` : '')),
    ];
    for (const surface of surfaces) {
      assert.equal(surface.includes(marker), false);
      assert.equal(surface.includes(encoded), false);
    }
  });
});

void describe('ObjectCache: regressions', () => {
  void it('rule 16: a never-read synced item stops at the first sweep on a clock near 0', async (t) => {
    const h = setup(t, { clock: new FakeClock(0) });
    h.source.create(NS, secret('token'));
    h.cache.addReference(NS, 'token', 'pod-1');
    await flush();
    assert.equal(h.cache.inspect(NS, 'token')?.synced, true);

    h.clock.step(MINUTE);
    await flush();

    assert.equal(h.cache.inspect(NS, 'token')?.reflector, 'Stopped');
  });

  void it('rule 5: get after stop does not restart an idle reflector, so no request follows stop', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    h.cache.addReference(NS, 'token', 'pod-1');
    await get(h, 'token');
    await goIdle(h);
    const before = requestCounts(h.source);

    await h.cache.stop();
    await rejection(get(h, 'token'));
    await advance(h.clock, MINUTE, 100);

    assert.deepEqual(requestCounts(h.source), before);
    assert.equal(h.source.openWatches, 0);
  });

  void it('rule 6: after a lagging list, replayed watch events never take the item back in time', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token', { token: 'djE=' }));
    h.cache.addReference(NS, 'token', 'pod-1');
    await get(h, 'token');
    h.source.update(NS, secret('token', { token: 'djI=' }));
    h.source.update(NS, secret('token', { token: 'djM=' }));
    await flush();
    assert.equal(h.cache.inspect(NS, 'token')?.resourceVersion, '3');
    await goIdle(h);
    const served: (string | undefined)[] = [];
    h.cache.subscribe((key) =>
      served.push(h.cache.inspect(key.namespace, key.name)?.resourceVersion),
    );

    h.source.lagNextList('1');
    await get(h, 'token');
    await flush();

    assert.deepEqual(
      served.filter((rv) => rv !== '3'),
      [],
      `served resourceVersions after the restart: ${served.join(', ')}`,
    );
  });
});
