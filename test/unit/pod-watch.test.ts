// The Pod watch: a never-ending list+watch of Pods that keeps the Pod registry up to date.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';

import { PodWatch } from '../../src/pods/pod-watch.ts';
import { PodRegistry } from '../../src/pods/registry.ts';
import { advance, FakeClock, flush } from '../support/fake-clock.ts';
import { makePod, POD_NAMESPACE as NS } from '../support/fake-pods.ts';
import { FakeSource } from '../support/fake-source.ts';
import { RecordingLogger } from '../support/recording-logger.ts';
import { RecordingSink } from '../support/recording-sink.ts';

interface Harness {
  readonly clock: FakeClock;
  readonly source: FakeSource<V1Pod>;
  readonly registry: PodRegistry;
  readonly secrets: RecordingSink;
  readonly watch: PodWatch;
}

/** Backoff of exactly 100 ms, doubling: retries are easy to step to. */
const BACKOFF = { initialMs: 100, jitter: 0 };

/** A Pod watch over a fake source, not started; stopped when the test ends. */
function setup(t: TestContext, namespaces?: readonly string[]): Harness {
  const clock = new FakeClock();
  const source = new FakeSource<V1Pod>();
  const secrets = new RecordingSink();
  const logger = new RecordingLogger();
  const registry = new PodRegistry({ secrets, configMaps: new RecordingSink(), clock, logger });
  const watch = new PodWatch({
    listerWatcher: source,
    registry,
    namespaces,
    clock,
    logger,
    backoff: BACKOFF,
  });
  t.after(() => watch.stop());
  return { clock, source, registry, secrets, watch };
}

/** A running Pod `name` (uid `uid-<name>` unless given) that mounts the Secret `tls`. */
function pod(name: string, uid?: string, namespace = NS): V1Pod {
  return makePod({ namespace, name, uid, secretVolumes: ['tls'] });
}

function registeredNames(registry: PodRegistry): string[] {
  return [...registry.uids()].map((uid) => registry.pod(uid)?.name ?? '?').sort();
}

/** Breaks the watch; the retry after the backoff gets 410 Gone and relists. */
async function disconnectThenRelist(h: Harness, whileDisconnected: () => void): Promise<void> {
  h.source.failWatches(1, 410);
  assert.equal(h.source.resetWatches(), 1);
  whileDisconnected();
  await advance(h.clock, BACKOFF.initialMs);
}

void describe('PodWatch', () => {
  void it('registers every listed Pod, then follows added, updated and deleted Pods', async (t) => {
    const h = setup(t);
    h.source.create(NS, pod('a'));
    h.source.create(NS, pod('b'));

    h.watch.start();
    await flush();
    assert.deepEqual(registeredNames(h.registry), ['a', 'b']);
    assert.deepEqual(
      h.source.requests.map((r) => [r.verb, r.namespace, r.fieldSelector]),
      [
        ['list', '', ''],
        ['watch', '', ''],
      ],
    );

    h.source.create(NS, pod('c'));
    await flush();
    assert.deepEqual(registeredNames(h.registry), ['a', 'b', 'c']);

    h.source.update(NS, makePod({ name: 'c', nodeName: 'node-1', secretEnv: ['db'] }));
    await flush();
    assert.equal(h.registry.pod('uid-c')?.nodeName, 'node-1');
    assert.deepEqual(h.secrets.changes().slice(-2), ['+db@uid-c', '-tls@uid-c']);

    h.source.delete(NS, 'a');
    await flush();
    assert.deepEqual(registeredNames(h.registry), ['b', 'c']);
    assert.deepEqual(h.secrets.changes().slice(-1), ['-tls@uid-a']);
    assert.deepEqual(h.watch.counters, { lists: 1, watches: 1, watchRestarts: 0, relists: 0 });
  });

  void it('unregisters a Pod that finished, when the watch reports its phase', async (t) => {
    const h = setup(t);
    h.source.create(NS, pod('job'));
    h.watch.start();
    await flush();

    h.source.update(NS, makePod({ name: 'job', secretVolumes: ['tls'], phase: 'Succeeded' }));
    await flush();

    assert.equal(h.registry.size, 0);
    assert.deepEqual(h.secrets.changes(), ['+tls@uid-job', '-tls@uid-job']);
  });

  void it('unregisters Pods deleted while the watch was down when it lists again', async (t) => {
    const h = setup(t);
    h.source.create(NS, pod('kept'));
    h.source.create(NS, pod('gone'));
    h.watch.start();
    await flush();

    await disconnectThenRelist(h, () => {
      h.source.delete(NS, 'gone');
      h.source.create(NS, pod('added'));
    });

    assert.deepEqual(registeredNames(h.registry), ['added', 'kept']);
    assert.equal(h.watch.counters.relists, 1);
    assert.equal(h.watch.counters.lists, 2);
    assert.equal(h.source.openWatches, 1);
  });

  void it('registers a Pod recreated while disconnected before unregistering the old one', async (t) => {
    const h = setup(t);
    h.source.create(NS, pod('web', 'first'));
    h.watch.start();
    await flush();
    h.secrets.clear();

    await disconnectThenRelist(h, () => {
      h.source.delete(NS, 'web');
      h.source.create(NS, pod('web', 'second'));
    });

    assert.deepEqual(h.secrets.changes(), ['+tls@second', '-tls@first']);
    assert.deepEqual([...h.registry.uids()], ['second']);
  });

  void it('changes nothing when a relist finds the same Pods', async (t) => {
    const h = setup(t);
    h.source.create(NS, pod('a'));
    h.watch.start();
    await flush();
    h.secrets.clear();

    await disconnectThenRelist(h, () => undefined);

    assert.deepEqual(h.secrets.calls, []);
    assert.deepEqual(registeredNames(h.registry), ['a']);
  });

  void it('is synced once the first list completed, and whenSynced waits for it', async (t) => {
    const h = setup(t);
    h.source.create(NS, pod('a'));
    const hold = h.source.holdLists();
    let resolved = false;
    void h.watch.whenSynced().then(() => (resolved = true));

    h.watch.start();
    await flush();
    assert.equal(h.watch.synced, false);
    assert.equal(resolved, false);

    hold.release();
    await flush();
    assert.equal(h.watch.synced, true);
    assert.equal(resolved, true);
    assert.equal(h.registry.size, 1);
  });

  void it('resolves whenSynced at once when it is already synced', async (t) => {
    const h = setup(t);
    h.watch.start();
    await flush();

    let resolved = false;
    void h.watch.whenSynced().then(() => (resolved = true));
    await Promise.resolve();

    assert.equal(resolved, true);
  });

  void it('stays synced through a relist', async (t) => {
    const h = setup(t);
    h.watch.start();
    await flush();
    h.source.failWatches(1, 410);
    const hold = h.source.holdLists();
    h.source.resetWatches();

    await advance(h.clock, BACKOFF.initialMs);

    assert.equal(h.watch.counters.lists, 2);
    assert.equal(h.watch.synced, true);
    hold.release();
  });

  void describe('several namespaces', () => {
    void it('lists and watches each namespace and ignores the others', async (t) => {
      const h = setup(t, ['team-a', 'team-b']);
      h.source.create('team-a', pod('a', undefined, 'team-a'));
      h.source.create('team-b', pod('b', undefined, 'team-b'));
      h.source.create('team-c', pod('c', undefined, 'team-c'));

      h.watch.start();
      await flush();

      assert.deepEqual(registeredNames(h.registry), ['a', 'b']);
      assert.deepEqual(h.source.requests.map((r) => `${r.verb} ${r.namespace}`).sort(), [
        'list team-a',
        'list team-b',
        'watch team-a',
        'watch team-b',
      ]);

      h.source.create('team-b', pod('b2', undefined, 'team-b'));
      h.source.create('team-c', pod('c2', undefined, 'team-c'));
      await flush();
      assert.deepEqual(registeredNames(h.registry), ['a', 'b', 'b2']);
    });

    void it('is synced only once every namespace has been listed', async (t) => {
      const h = setup(t, ['team-a', 'team-b']);
      h.source.failLists(1, 500);
      let resolved = false;
      void h.watch.whenSynced().then(() => (resolved = true));

      h.watch.start();
      await flush();
      assert.equal(h.source.count('list'), 2);
      assert.equal(h.watch.synced, false);
      assert.equal(resolved, false);

      await advance(h.clock, BACKOFF.initialMs);
      assert.equal(h.source.count('list'), 3);
      assert.equal(h.watch.synced, true);
      assert.equal(resolved, true);
    });

    void it('keeps a relist of one namespace from unregistering Pods of another', async (t) => {
      const h = setup(t, ['team-a', 'team-b']);
      h.source.create('team-a', pod('a', undefined, 'team-a'));
      h.source.create('team-b', pod('b', undefined, 'team-b'));
      h.watch.start();
      await flush();

      h.source.failWatches(1, 410);
      h.source.resetWatches();
      await advance(h.clock, 1000);

      assert.deepEqual(registeredNames(h.registry), ['a', 'b']);
      assert.equal(h.watch.counters.relists, 1);
    });
  });

  void it('leaves no watch open once stopped, and opens none afterwards', async (t) => {
    const h = setup(t);
    h.watch.start();
    await flush();
    assert.equal(h.source.openWatches, 1);

    await h.watch.stop();
    await h.watch.stop();
    const requests = h.source.requests.length;
    await advance(h.clock, 60_000, 1000);

    assert.equal(h.source.openWatches, 0);
    assert.equal(h.source.requests.length, requests);
  });

  void it('stops cleanly while its first list is still on its way', async (t) => {
    const h = setup(t);
    h.source.holdLists();
    h.watch.start();
    await flush();

    await h.watch.stop();

    assert.equal(h.source.openWatches, 0);
    assert.equal(h.source.count('watch'), 0);
    assert.equal(h.watch.synced, false);
  });
});
