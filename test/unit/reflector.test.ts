import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';

import type { KubeObject } from '../../src/apimachinery/types.ts';
import {
  Reflector,
  type ReflectorCounters,
  type ReflectorOptions,
} from '../../src/cache/reflector.ts';
import { Store } from '../../src/cache/store.ts';
import { FakeClock, advance, flush } from '../support/fake-clock.ts';
import { FakeSource } from '../support/fake-source.ts';
import { RecordingLogger } from '../support/recording-logger.ts';

interface TestObject extends KubeObject {
  data?: Record<string, string>;
}

const NS = 'default';

interface Harness {
  readonly clock: FakeClock;
  readonly source: FakeSource<TestObject>;
  readonly store: Store<TestObject>;
  readonly logger: RecordingLogger;
  readonly counters: ReflectorCounters;
  readonly reflector: Reflector<TestObject>;
  /** How often the reflector reported a store change. */
  readonly changes: { count: number };
}

/**
 * A reflector for `default/token` on a fake clock and source, with no jitter (a first backoff
 * of exactly 800 ms). Not started; stopped when the test ends.
 */
function setup(t: TestContext, options: Partial<ReflectorOptions<TestObject>> = {}): Harness {
  const clock = new FakeClock();
  const source = new FakeSource<TestObject>();
  const store = new Store<TestObject>();
  const logger = new RecordingLogger();
  const counters: ReflectorCounters = { lists: 0, watches: 0, watchRestarts: 0, relists: 0 };
  const changes = { count: 0 };
  const reflector = new Reflector<TestObject>({
    name: 'object-"default"/"token"',
    namespace: NS,
    fieldSelector: 'metadata.name=token',
    listerWatcher: source,
    store,
    clock,
    logger,
    counters,
    onStoreChange: () => changes.count++,
    random: () => 0,
    ...options,
  });
  t.after(() => reflector.stop());
  return { clock, source, store, logger, counters, reflector, changes };
}

function secret(name: string, value = 'djE='): TestObject {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name }, data: { token: value } };
}

function watchVersions(source: FakeSource<TestObject>): (string | undefined)[] {
  return source.requests.filter((r) => r.verb === 'watch').map((r) => r.resourceVersion);
}

void describe('Reflector', () => {
  void it('lists, then watches from the resourceVersion of the list', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    h.source.create(NS, secret('other'));

    h.reflector.start();
    await flush();

    assert.equal(h.reflector.running, true);
    assert.deepEqual(
      h.source.requests.map((r) => [r.verb, r.namespace, r.fieldSelector]),
      [
        ['list', NS, 'metadata.name=token'],
        ['watch', NS, 'metadata.name=token'],
      ],
    );
    assert.deepEqual(watchVersions(h.source), ['2']);
    assert.equal(h.store.synced, true);
    assert.equal(h.store.get('other'), undefined);
    assert.deepEqual(h.counters, { lists: 1, watches: 1, watchRestarts: 0, relists: 0 });
  });

  void it('applies watch events to the store and reports each change', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    h.reflector.start();
    await flush();
    const afterList = h.changes.count;

    h.source.update(NS, secret('token', 'djI='));
    await flush();
    assert.deepEqual(h.store.get('token')?.data, { token: 'djI=' });
    h.source.delete(NS, 'token');
    await flush();
    assert.equal(h.store.get('token'), undefined);
    h.source.create(NS, secret('token', 'djM='));
    await flush();

    assert.deepEqual(h.store.get('token')?.data, { token: 'djM=' });
    assert.equal(h.store.resourceVersion, '4');
    assert.equal(h.changes.count, afterList + 3);
  });

  void it('resumes from a bookmark without reporting a store change', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    h.source.create(NS, secret('other'));
    h.reflector.start();
    await flush();
    h.source.update(NS, secret('other', 'djI='));
    const changes = h.changes.count;

    h.source.bookmark();
    await flush();
    assert.equal(h.changes.count, changes);
    h.source.closeWatches();
    await flush();

    assert.deepEqual(watchVersions(h.source), ['2', '3']);
    assert.equal(h.counters.lists, 1);
  });

  void it('applies the transform to listed and watched objects', async (t) => {
    const h = setup(t, {
      transform: (object) => ({ ...object, metadata: { ...object.metadata, annotations: {} } }),
    });
    h.source.create(NS, {
      ...secret('token'),
      metadata: { name: 'token', annotations: { a: 'b' } },
    });
    h.reflector.start();
    await flush();
    assert.deepEqual(h.store.get('token')?.metadata?.annotations, {});

    h.source.update(NS, {
      ...secret('token'),
      metadata: { name: 'token', annotations: { c: 'd' } },
    });
    await flush();
    assert.deepEqual(h.store.get('token')?.metadata?.annotations, {});
  });

  void it('backs off after a watch the server ends at once with no event', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    h.reflector.start();
    await flush();

    h.source.closeWatches();
    await advance(h.clock, 799, 1);
    assert.equal(h.source.count('watch'), 1);
    await advance(h.clock, 1, 1);

    assert.equal(h.source.count('watch'), 2);
    assert.equal(h.counters.watchRestarts, 1);
  });

  void it('backs off after an ERROR event that is not 410, then watches again', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    h.source.failWatches(1, 500, 'event');
    h.reflector.start();
    await flush();

    await advance(h.clock, 799, 1);
    assert.equal(h.source.count('watch'), 1);
    await advance(h.clock, 1, 1);

    assert.deepEqual(watchVersions(h.source), ['1', '1']);
    assert.equal(h.counters.lists, 1);
    assert.equal(h.counters.relists, 0);
  });

  void it('rule 5: never gives up; backoff grows to a cap, then it syncs', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    h.source.failLists(12, 500);
    h.reflector.start();
    await flush();

    const listTimes: number[] = [h.clock.now()];
    while (h.source.count('list') < 13) {
      const before = h.source.count('list');
      await advance(h.clock, 100, 100);
      if (h.source.count('list') > before) listTimes.push(h.clock.now());
    }
    const gaps = listTimes.slice(1).map((time, i) => time - (listTimes[i] ?? 0));

    assert.deepEqual(
      gaps,
      [800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000, 30_000, 30_000, 30_000, 30_000],
    );
    await flush();
    assert.equal(h.store.synced, true);
    assert.equal(h.reflector.running, true);
    assert.equal(h.counters.watchRestarts, 12);
  });

  void it('rule 5: a success resets the backoff', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    h.source.failLists(3, 500);
    h.reflector.start();
    await advance(h.clock, 800 + 1600 + 3200, 100);
    assert.equal(h.store.synced, true);

    h.source.failWatches(1, 500);
    h.source.resetWatches();
    await advance(h.clock, 799, 1);
    assert.equal(h.source.count('watch'), 1);
    await advance(h.clock, 1, 1);
    assert.equal(h.source.count('watch'), 2, 'the first retry waits 800 ms again');
  });

  void it('start is a no-op while running, and stop is idempotent', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));

    h.reflector.start();
    h.reflector.start();
    await flush();
    assert.equal(h.source.count('list'), 1);

    await Promise.all([h.reflector.stop(), h.reflector.stop()]);
    await h.reflector.stop();
    assert.equal(h.reflector.running, false);
    assert.equal(h.source.openWatches, 0);
  });

  void it('stop resolves only after the watch is released, and nothing follows it', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    h.reflector.start();
    await flush();
    assert.equal(h.source.openWatches, 1);

    await h.reflector.stop();

    assert.equal(h.source.openWatches, 0);
    const requests = h.source.requests.length;
    h.source.update(NS, secret('token', 'djI='));
    await advance(h.clock, 60_000, 1000);
    assert.equal(h.source.requests.length, requests);
    assert.equal(h.store.get('token')?.metadata?.resourceVersion, '1');
  });

  void it('every restart lists again and keeps the store in between', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    h.reflector.start();
    await flush();
    await h.reflector.stop();
    assert.equal(h.store.get('token')?.metadata?.resourceVersion, '1');

    h.source.update(NS, secret('token', 'djI='));
    h.reflector.start();
    await flush();

    assert.equal(h.source.count('list'), 2);
    assert.equal(h.store.get('token')?.metadata?.resourceVersion, '2');
    assert.equal(h.source.openWatches, 1);
  });

  void it('a restart right after stop waits for the previous run to end', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    h.source.holdLists();
    h.reflector.start();
    await flush();

    void h.reflector.stop();
    h.reflector.start();
    await flush();

    assert.equal(h.source.count('list'), 2);
    assert.equal(h.reflector.running, true);
  });

  void it('rule 4: logs under its name, and per-event lines only at trace', async (t) => {
    const h = setup(t);
    h.source.create(NS, secret('token'));
    h.reflector.start();
    await flush();
    h.source.update(NS, secret('token', 'djI='));
    h.source.resetWatches();
    await advance(h.clock, 1000, 100);
    await h.reflector.stop();

    assert.ok(h.logger.records.length > 0);
    for (const record of h.logger.records) {
      assert.equal(record.fields.reflector, 'object-"default"/"token"', record.message);
    }
    assert.ok(h.logger.find('Watch event').length > 0);
    assert.ok(h.logger.find('Watch event').every((r) => r.level === 'trace'));
    assert.equal(
      h.logger.records.filter((r) => r.level === 'error' || r.level === 'warn').length,
      0,
    );
  });
});

void describe('Reflector: requests that time out', () => {
  it('retries a list that timed out instead of ending the run', async (t) => {
    let lists = 0;
    const { clock, store, reflector, counters } = setup(t, {
      listerWatcher: {
        list: () => {
          lists++;
          if (lists === 1) {
            return Promise.reject(new DOMException('The operation timed out', 'TimeoutError'));
          }
          return Promise.resolve({ items: [secret('token')], resourceVersion: '5' });
        },
        // eslint-disable-next-line require-yield
        async *watch(options) {
          await new Promise((_, reject) => {
            options.signal.addEventListener('abort', () => reject(new Error('aborted')));
          });
        },
      },
    });

    reflector.start();
    await flush();
    assert.equal(lists, 1);
    assert.equal(reflector.running, true);

    await advance(clock, 800);
    assert.equal(lists, 2, 'listed again after the backoff');
    assert.equal(store.synced, true);
    assert.equal(counters.watchRestarts, 1);
  });
});
