// The status publisher: coalesced, rate-limited server-side applies of CachedObjectStatus.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';

import { buildStatus, type PodInfo, resourceBody } from '../../src/status/build.ts';
import { type PublisherOptions, StatusPublisher } from '../../src/status/publisher.ts';
import {
  API_VERSION,
  type CachedObjectKind,
  type CachedObjectStatus,
  type CachedObjectStatusStatus,
  FIELD_MANAGER,
  KIND,
  MANAGED_BY_LABEL,
  MANAGED_BY_SELECTOR,
  MANAGED_BY_VALUE,
} from '../../src/status/types.ts';
import { statusName } from '../../src/status/naming.ts';
import { advance, drive, FakeClock, flush } from '../support/fake-clock.ts';
import { FakeCacheView, type SnapshotShape } from '../support/fake-cache-view.ts';
import { FakeStatusResources } from '../support/fake-resources.ts';
import { RecordingLogger } from '../support/recording-logger.ts';

const NS = 'apps';

interface Harness {
  readonly clock: FakeClock;
  readonly resources: FakeStatusResources;
  readonly secrets: FakeCacheView;
  readonly configMaps: FakeCacheView;
  readonly pods: Map<string, PodInfo>;
  readonly logger: RecordingLogger;
  readonly publisher: StatusPublisher;
}

/** A publisher over fake caches and a fake API, not started; stopped when the test ends. */
function setup(t: TestContext, options: Partial<PublisherOptions> = {}): Harness {
  const clock = new FakeClock();
  const resources = new FakeStatusResources();
  const secrets = new FakeCacheView();
  const configMaps = new FakeCacheView();
  const pods = new Map<string, PodInfo>();
  const logger = new RecordingLogger();
  const publisher = new StatusPublisher({
    resources,
    caches: { Secret: secrets, ConfigMap: configMaps },
    podOf: (uid) => pods.get(uid),
    clock,
    logger,
    ...options,
  });
  t.after(() => drive(clock, publisher.stop(100), { maxMs: 1000 }));
  return { clock, resources, secrets, configMaps, pods, logger, publisher };
}

/** Puts the Secret `name` in the cache, referenced by `pods` uids. */
function cacheSecret(h: Harness, name: string, shape: Partial<SnapshotShape> = {}): void {
  h.secrets.set({ namespace: NS, name, ...shape });
}

/** Caches the Secret `name`, marks it, and lets the publisher write it. */
async function published(h: Harness, name: string, shape: Partial<SnapshotShape> = {}) {
  cacheSecret(h, name, shape);
  h.publisher.markDirty('Secret', NS, name);
  await flush();
}

/** A resource the operator owns, as the server would list it. */
function owned(
  kind: CachedObjectKind,
  name: string,
  status?: CachedObjectStatusStatus,
): CachedObjectStatus {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: {
      name: statusName(kind, name),
      namespace: NS,
      uid: `uid-${name}`,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
    },
    spec: { kind, name },
    ...(status === undefined ? {} : { status }),
  };
}

/** The same JSON with the keys of every object sorted, as the API server returns a resource. */
function serverOrder<T>(value: T): T {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (typeof v !== 'object' || v === null) return v;
    const entries = Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, inner]) => [k, sort(inner)]));
  };
  return sort(value) as T;
}

function statusWrites(h: Harness): number {
  return h.resources.summary('applyStatus').length;
}

void describe('StatusPublisher', () => {
  void describe('writing', () => {
    void it('creates the resource, then applies its status, on the first write', async (t) => {
      const h = setup(t);
      h.pods.set('u1', { name: 'web', uid: 'u1', nodeName: 'node-1' });
      h.publisher.start();

      await published(h, 'tls', { pods: ['u1'] });

      assert.deepEqual(h.resources.summary(), [
        'apply apps/secret-tls',
        'applyStatus apps/secret-tls',
      ]);
      const [main, status] = h.resources.calls;
      assert.deepEqual(main?.body, resourceBody('Secret', NS, 'tls'));
      const { signal: mainSignal, ...mainOptions } = main?.applyOptions ?? {};
      const { signal: statusSignal, ...statusOptions } = status?.applyOptions ?? {};
      assert.deepEqual(mainOptions, { fieldManager: FIELD_MANAGER, force: true });
      assert.deepEqual(statusOptions, {
        fieldManager: FIELD_MANAGER,
        force: true,
        subresource: 'status',
      });
      assert.ok(mainSignal instanceof AbortSignal && statusSignal instanceof AbortSignal);
      const item = h.secrets.inspect(NS, 'tls');
      assert.ok(item);
      assert.deepEqual(status?.body, {
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name: 'secret-tls', namespace: NS },
        status: {
          ...buildStatus(item, (uid) => h.pods.get(uid), 20, h.clock.now(), undefined),
          observedAt: new Date(h.clock.now()).toISOString(),
        },
      });
      assert.equal(h.resources.objects.get(`${NS}/secret-tls`)?.status?.referenceCount, 1);
      assert.deepEqual(h.publisher.metrics, { writes: 1, deletes: 0, failures: 0, pending: 0 });
    });

    void it('writes a ConfigMap’s resource from the ConfigMap cache', async (t) => {
      const h = setup(t);
      h.publisher.start();
      h.configMaps.set({ namespace: NS, name: 'cfg' });

      h.publisher.markDirty('ConfigMap', NS, 'cfg');
      await flush();

      assert.deepEqual(h.resources.summary(), [
        'apply apps/configmap-cfg',
        'applyStatus apps/configmap-cfg',
      ]);
    });

    void it('coalesces many changes of one object into one write of the latest state', async (t) => {
      const h = setup(t);
      h.publisher.start();

      for (let i = 1; i <= 50; i++) {
        cacheSecret(h, 'tls', { pods: Array.from({ length: i }, (_, j) => `u${j}`) });
        h.publisher.markDirty('Secret', NS, 'tls');
      }
      assert.equal(h.publisher.metrics.pending, 1);
      await flush();

      assert.equal(statusWrites(h), 1);
      assert.equal(h.resources.lastStatus(NS, 'secret-tls')?.referenceCount, 50);
      assert.equal(h.publisher.metrics.pending, 0);
    });

    void it('queues changes before start and writes them once started', async (t) => {
      const h = setup(t);
      for (const name of ['a', 'b', 'c']) {
        cacheSecret(h, name);
        h.publisher.markDirty('Secret', NS, name);
      }
      await flush();
      assert.equal(h.publisher.metrics.pending, 3);
      assert.deepEqual(h.resources.calls, []);

      h.publisher.start();
      h.publisher.start();
      await flush();

      assert.deepEqual(h.resources.summary('applyStatus').sort(), [
        'applyStatus apps/secret-a',
        'applyStatus apps/secret-b',
        'applyStatus apps/secret-c',
      ]);
      assert.equal(h.resources.calls.length, 6);
    });
  });

  void describe('pacing', () => {
    void it('writes one resource at most once per minWriteIntervalMs, others meanwhile', async (t) => {
      const h = setup(t, { minWriteIntervalMs: 1000 });
      h.publisher.start();
      await published(h, 'tls');

      await advance(h.clock, 100);
      cacheSecret(h, 'tls', { pods: ['u1'] });
      h.publisher.markDirty('Secret', NS, 'tls');
      await published(h, 'other');
      assert.deepEqual(h.resources.summary('applyStatus'), [
        'applyStatus apps/secret-tls',
        'applyStatus apps/secret-other',
      ]);

      await advance(h.clock, 899);
      assert.equal(statusWrites(h), 2);

      await advance(h.clock, 1);
      assert.equal(statusWrites(h), 3);
      assert.equal(h.resources.lastStatus(NS, 'secret-tls')?.referenceCount, 1);
    });

    void it('keeps the interval when the object changes while its write is in flight', async (t) => {
      const h = setup(t, { minWriteIntervalMs: 1000 });
      h.publisher.start();
      await published(h, 'tls');
      await advance(h.clock, 5000, 1000);

      const hold = h.resources.holdApplies();
      await published(h, 'tls', { pods: ['u1'] });
      assert.equal(statusWrites(h), 2);
      cacheSecret(h, 'tls', { pods: ['u1', 'u2'] });
      h.publisher.markDirty('Secret', NS, 'tls');
      hold.release();
      await flush();

      assert.equal(statusWrites(h), 2);
      await advance(h.clock, 1000);
      assert.equal(statusWrites(h), 3);
    });

    void it('passes every write through the global token bucket', async (t) => {
      const h = setup(t, { writesPerSecond: 2, burst: 2 });
      h.publisher.start();

      for (let i = 0; i < 6; i++) {
        cacheSecret(h, `s${i}`);
        h.publisher.markDirty('Secret', NS, `s${i}`);
      }
      await flush();
      assert.equal(statusWrites(h), 2);

      const expected = [
        [499, 2],
        [1, 3],
        [500, 4],
        [1000, 6],
        [5000, 6],
      ];
      for (const [ms = 0, writes] of expected) {
        await advance(h.clock, ms);
        assert.equal(statusWrites(h), writes, `at +${h.clock.now() % 100_000} ms`);
      }
    });

    void it('does not rewrite an equal status, even when only lastAccess moved', async (t) => {
      const h = setup(t);
      h.publisher.start();
      await published(h, 'tls', { lastAccess: h.clock.now() });

      await advance(h.clock, 5000, 500);
      cacheSecret(h, 'tls', { lastAccess: h.clock.now() });
      h.publisher.markDirty('Secret', NS, 'tls');
      await advance(h.clock, 5000, 500);

      assert.equal(h.resources.calls.length, 2);
      assert.equal(h.publisher.metrics.writes, 1);
    });

    void it('costs no write at all while the cache is idle', async (t) => {
      const h = setup(t);
      h.publisher.start();
      await published(h, 'tls');

      await advance(h.clock, 10 * 60_000, 10_000);

      assert.equal(h.resources.calls.length, 2);
      assert.equal(h.clock.pendingTimers(), 0);
    });
  });

  void describe('deleting', () => {
    void it('deletes the resource once its object left the cache', async (t) => {
      const h = setup(t);
      h.publisher.start();
      await published(h, 'tls');

      h.secrets.remove(NS, 'tls');
      h.publisher.markDirty('Secret', NS, 'tls');
      await advance(h.clock, 1000);

      assert.deepEqual(h.resources.summary('delete'), ['delete apps/secret-tls']);
      assert.equal(h.resources.objects.has(`${NS}/secret-tls`), false);
      assert.equal(h.publisher.metrics.deletes, 1);
    });

    void it('takes a 404 on delete as done', async (t) => {
      const h = setup(t);
      h.publisher.start();
      await published(h, 'tls');
      h.resources.objects.clear();

      h.secrets.remove(NS, 'tls');
      h.publisher.markDirty('Secret', NS, 'tls');
      await advance(h.clock, 1000);

      assert.deepEqual(h.resources.summary('delete'), ['delete apps/secret-tls']);
      assert.equal(h.publisher.metrics.failures, 0);
      assert.equal(h.publisher.metrics.pending, 0);
      assert.deepEqual(h.logger.find('Failed to publish status, will retry'), []);
    });

    void it('creates the resource again when the object comes back after a delete', async (t) => {
      const h = setup(t);
      h.publisher.start();
      await published(h, 'tls');
      h.secrets.remove(NS, 'tls');
      h.publisher.markDirty('Secret', NS, 'tls');
      await advance(h.clock, 1000);

      await published(h, 'tls');

      assert.deepEqual(h.resources.summary().slice(-2), [
        'apply apps/secret-tls',
        'applyStatus apps/secret-tls',
      ]);
      assert.ok(h.resources.objects.has(`${NS}/secret-tls`));
    });
  });

  void describe('resync', () => {
    void it('lists owned resources by label, adopts cached ones and deletes stale ones', async (t) => {
      const h = setup(t);
      cacheSecret(h, 'tls');
      h.resources.put(owned('Secret', 'tls', { referenceCount: 7 }));
      h.resources.put(owned('ConfigMap', 'gone'));
      const foreign = owned('ConfigMap', 'foreign');
      h.resources.put({ ...foreign, metadata: { ...foreign.metadata, labels: {} } });

      await h.publisher.resync([]);
      h.publisher.start();
      await flush();

      const [list] = h.resources.calls;
      assert.deepEqual(
        [list?.verb, list?.namespace, list?.labelSelector],
        ['list', '', MANAGED_BY_SELECTOR],
      );
      assert.deepEqual(h.resources.summary().slice(1).sort(), [
        'applyStatus apps/secret-tls',
        'delete apps/configmap-gone',
      ]);
      assert.equal(h.resources.lastStatus(NS, 'secret-tls')?.referenceCount, 0);
      assert.ok(h.resources.objects.has(`${NS}/configmap-foreign`));
    });

    void it('lists each configured namespace', async (t) => {
      const h = setup(t);

      await h.publisher.resync(['team-a', 'team-b']);

      assert.deepEqual(h.resources.summary('list'), ['list team-a/', 'list team-b/']);
    });

    void it('schedules every cached object, of both kinds', async (t) => {
      const h = setup(t);
      cacheSecret(h, 'tls');
      h.configMaps.set({ namespace: 'other', name: 'cfg' });

      await h.publisher.resync([]);
      assert.equal(h.publisher.metrics.pending, 2);
      h.publisher.start();
      await flush();

      assert.deepEqual(h.resources.summary('applyStatus').sort(), [
        'applyStatus apps/secret-tls',
        'applyStatus other/configmap-cfg',
      ]);
    });

    void it('does not rewrite an adopted resource whose status is up to date', async (t) => {
      const h = setup(t);
      cacheSecret(h, 'tls', { lastAccess: h.clock.now() });
      const item = h.secrets.inspect(NS, 'tls');
      assert.ok(item);
      const status = buildStatus(item, () => undefined, 20, h.clock.now() - 60_000, undefined);
      h.resources.put(owned('Secret', 'tls', { ...status, observedAt: '2024-12-31T23:59:00Z' }));

      await h.publisher.resync([]);
      h.publisher.start();
      await advance(h.clock, 5000, 500);

      assert.deepEqual(h.resources.summary(), ['list /']);
    });

    void it('does not rewrite an up-to-date status listed with the server’s key order', async (t) => {
      const h = setup(t);
      h.pods.set('u1', { name: 'web', uid: 'u1', nodeName: 'node-1' });
      cacheSecret(h, 'tls', { pods: ['u1'] });
      const item = h.secrets.inspect(NS, 'tls');
      assert.ok(item);
      const status = buildStatus(item, (uid) => h.pods.get(uid), 20, h.clock.now(), undefined);
      h.resources.put(serverOrder(owned('Secret', 'tls', status)));

      await h.publisher.resync([]);
      h.publisher.start();
      await advance(h.clock, 5000, 500);

      assert.deepEqual(h.resources.summary(), ['list /']);
    });

    void it('does not rewrite an adopted status whose only difference is in its times', async (t) => {
      const h = setup(t);
      cacheSecret(h, 'tls', { found: true, lastChange: h.clock.now(), lastAccess: h.clock.now() });
      const item = h.secrets.inspect(NS, 'tls');
      assert.ok(item);
      const status = buildStatus(item, (uid) => h.pods.get(uid), 20, h.clock.now(), undefined);
      h.resources.put(
        owned('Secret', 'tls', {
          ...status,
          lastChangeTime: '2020-01-01T00:00:00Z',
          lastAccessTime: '2020-01-01T00:00:00Z',
        }),
      );

      await h.publisher.resync([]);
      h.publisher.start();
      await advance(h.clock, 5000, 500);

      assert.deepEqual(h.resources.summary(), ['list /']);
    });

    void it('waits for its own list before rewriting an adopted status', async (t) => {
      const h = setup(t);
      cacheSecret(h, 'tls', { found: undefined, synced: false });
      h.resources.put(owned('Secret', 'tls', { referenceCount: 3, found: true, synced: true }));

      await h.publisher.resync([]);
      h.publisher.start();
      await advance(h.clock, 2000, 500);
      assert.deepEqual(h.resources.summary(), ['list /'], 'nothing written before the list');

      cacheSecret(h, 'tls', { found: true, synced: true });
      h.publisher.markDirty('Secret', NS, 'tls');
      await advance(h.clock, 2000, 500);
      assert.deepEqual(h.resources.summary(), ['list /', 'applyStatus apps/secret-tls']);
    });

    void it('deletes owned resources that do not match their spec, with a warning naming them', async (t) => {
      const h = setup(t);
      const base = owned('Secret', 'x');
      const malformed = [
        { name: 'no-spec', spec: undefined },
        { name: 'wrong-kind', spec: { kind: 'Pod', name: 'x' } },
        { name: 'numeric-name', spec: { kind: 'Secret', name: 5 } },
        { name: 'secret-other-name', spec: { kind: 'Secret', name: 'x' } },
      ];
      for (const { name, spec } of malformed) {
        h.resources.put({
          ...base,
          metadata: { ...base.metadata, name },
          spec: spec as unknown as CachedObjectStatus['spec'],
        });
      }
      h.resources.put(owned('ConfigMap', 'gone'));

      await h.publisher.resync([]);
      h.publisher.start();
      await flush();

      const warnings = h.logger.find(
        'Deleting a CachedObjectStatus that does not match its spec',
        'warn',
      );
      assert.deepEqual(
        warnings.map((w) => w.fields).sort((a, b) => String(a.name).localeCompare(String(b.name))),
        [
          { namespace: NS, name: 'no-spec' },
          { namespace: NS, name: 'numeric-name' },
          { namespace: NS, name: 'secret-other-name' },
          { namespace: NS, name: 'wrong-kind' },
        ],
      );
      assert.deepEqual(h.resources.summary().slice(1).sort(), [
        'delete apps/configmap-gone',
        'delete apps/no-spec',
        'delete apps/numeric-name',
        'delete apps/secret-other-name',
        'delete apps/wrong-kind',
      ]);
    });

    void it('creates again a resource deleted by hand, and repairs one edited by hand', async (t) => {
      const h = setup(t);
      h.publisher.start();
      await published(h, 'deleted');
      await published(h, 'edited');
      h.resources.objects.delete(`${NS}/secret-deleted`);
      const edited = h.resources.objects.get(`${NS}/secret-edited`);
      assert.ok(edited);
      h.resources.put({ ...edited, status: { ...edited.status, referenceCount: 42 } });

      await h.publisher.resync([]);
      await advance(h.clock, 2000);

      assert.ok(h.resources.objects.has(`${NS}/secret-deleted`), 'created again');
      assert.equal(h.resources.lastStatus(NS, 'secret-edited')?.referenceCount, 0);
    });

    void it('rejects when the list fails, so that the caller can retry', async (t) => {
      const h = setup(t);
      h.resources.fail('list', 500);

      await assert.rejects(h.publisher.resync([]), { name: 'StatusError', code: 500 });
    });
  });

  void describe('failures', () => {
    void it('does not retry a write the server refuses as invalid', async (t) => {
      const h = setup(t);
      h.resources.fail('apply', 422, 1);
      h.publisher.start();

      await published(h, 'x'.repeat(300));
      await advance(h.clock, 120_000, 1000);

      assert.deepEqual(h.resources.summary(), [
        `apply apps/${statusName('Secret', 'x'.repeat(300))}`,
      ]);
      assert.equal(
        h.logger.find('The API server refused a status; not retrying', 'warn').length,
        1,
      );
    });

    void it('spends no write from the rate limit on a status that is already up to date', async (t) => {
      const h = setup(t, { writesPerSecond: 1, burst: 1 });
      h.publisher.start();
      await published(h, 'tls');
      for (let i = 0; i < 5; i++) h.publisher.markDirty('Secret', NS, 'tls');
      await advance(h.clock, 1100);
      await published(h, 'other');

      assert.deepEqual(h.resources.summary().slice(-2), [
        'apply apps/secret-other',
        'applyStatus apps/secret-other',
      ]);
    });

    void it('retries a failed write after a backoff of 0.5 to 1 s, and logs why', async (t) => {
      const h = setup(t);
      h.resources.fail('applyStatus', 500);
      h.publisher.start();

      await published(h, 'tls');
      assert.deepEqual(h.resources.summary(), [
        'apply apps/secret-tls',
        'applyStatus apps/secret-tls',
      ]);
      assert.deepEqual(h.publisher.metrics, { writes: 0, deletes: 0, failures: 1, pending: 1 });
      const [warning] = h.logger.find('Failed to publish status, will retry', 'warn');
      const { delayMs, ...fields } = warning?.fields ?? {};
      assert.deepEqual(fields, {
        kind: 'Secret',
        namespace: NS,
        name: 'tls',
        err: 'StatusError: scripted failure 500',
      });
      assert.ok(typeof delayMs === 'number' && delayMs >= 500 && delayMs <= 1000, String(delayMs));

      await advance(h.clock, 499);
      assert.equal(h.resources.calls.length, 2);
      await advance(h.clock, 501);

      assert.deepEqual(h.resources.summary().slice(2), [
        'apply apps/secret-tls',
        'applyStatus apps/secret-tls',
      ]);
      assert.deepEqual(h.publisher.metrics, { writes: 1, deletes: 0, failures: 1, pending: 0 });
    });

    void it('waits longer after each failure in a row', async (t) => {
      const h = setup(t);
      h.resources.fail('applyStatus', 503, 3);
      h.publisher.start();

      await published(h, 'tls');
      await advance(h.clock, 8000, 50);

      const delays = h.logger
        .find('Failed to publish status, will retry')
        .map((r) => Number(r.fields.delayMs));
      assert.equal(delays.length, 3);
      assert.ok(delays[0]! >= 500 && delays[0]! <= 1000, `${delays[0]}`);
      assert.ok(delays[1]! >= 1000 && delays[1]! <= 2000, `${delays[1]}`);
      assert.ok(delays[2]! >= 2000 && delays[2]! <= 4000, `${delays[2]}`);
      assert.equal(h.publisher.metrics.writes, 1);
    });

    void it('retries a write whose request timed out', async (t) => {
      const h = setup(t);
      h.resources.fail(
        'apply',
        new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
      );
      h.publisher.start();

      await published(h, 'tls');
      assert.equal(h.publisher.metrics.failures, 1);
      await advance(h.clock, 1000);

      assert.deepEqual(h.resources.summary(), [
        'apply apps/secret-tls',
        'apply apps/secret-tls',
        'applyStatus apps/secret-tls',
      ]);
      assert.equal(h.publisher.metrics.writes, 1);
    });

    void it('retries a write that met a 409 Conflict at once', async (t) => {
      const h = setup(t);
      h.resources.fail('applyStatus', 409);
      h.publisher.start();

      await published(h, 'tls');

      assert.equal(statusWrites(h), 2);
      assert.equal(h.publisher.metrics.writes, 1);
      assert.equal(h.publisher.metrics.failures, 1);
    });

    void it('retries a failed delete', async (t) => {
      const h = setup(t);
      h.publisher.start();
      await published(h, 'tls');
      h.resources.fail('delete', 500);
      h.secrets.remove(NS, 'tls');
      h.publisher.markDirty('Secret', NS, 'tls');

      await advance(h.clock, 1000);
      assert.equal(h.resources.summary('delete').length, 1);
      await advance(h.clock, 1000);

      assert.equal(h.resources.summary('delete').length, 2);
      assert.equal(h.resources.objects.size, 0);
      assert.equal(h.publisher.metrics.deletes, 1);
    });

    void it('creates the resource again when its status apply meets a 404', async (t) => {
      const h = setup(t);
      h.publisher.start();
      await published(h, 'tls');
      h.resources.objects.clear();

      cacheSecret(h, 'tls', { pods: ['u1'] });
      h.publisher.markDirty('Secret', NS, 'tls');
      await advance(h.clock, 1000);

      assert.deepEqual(h.resources.summary().slice(2), [
        'applyStatus apps/secret-tls',
        'apply apps/secret-tls',
        'applyStatus apps/secret-tls',
      ]);
      assert.equal(h.resources.objects.get(`${NS}/secret-tls`)?.status?.referenceCount, 1);
      assert.equal(h.publisher.metrics.failures, 0);
    });
  });

  void describe('stop', () => {
    void it('writes what is pending at once, ignoring the interval, then stops', async (t) => {
      const h = setup(t, { minWriteIntervalMs: 60_000 });
      h.publisher.start();
      await published(h, 'tls');
      const startedAt = h.clock.now();
      cacheSecret(h, 'tls', { pods: ['u1'] });
      h.publisher.markDirty('Secret', NS, 'tls');

      await drive(h.clock, h.publisher.stop(), { maxMs: 0 });

      assert.equal(h.clock.now(), startedAt);
      assert.equal(statusWrites(h), 2);
      assert.equal(h.resources.lastStatus(NS, 'secret-tls')?.referenceCount, 1);
      assert.equal(h.publisher.metrics.pending, 0);
      assert.equal(h.clock.pendingTimers(), 0);
    });

    void it('writes nothing after stop', async (t) => {
      const h = setup(t);
      h.publisher.start();
      await drive(h.clock, h.publisher.stop(), { maxMs: 0 });

      await published(h, 'tls');
      await advance(h.clock, 5000, 500);

      assert.deepEqual(h.resources.calls, []);
      assert.equal(h.publisher.metrics.pending, 1);
    });

    void it('tries each pending write once while stopping, even when it fails', async (t) => {
      const h = setup(t);
      h.resources.fail('applyStatus', 500, 10);
      h.publisher.start();
      await published(h, 'tls');
      assert.equal(statusWrites(h), 1);

      await drive(h.clock, h.publisher.stop(), { maxMs: 0 });

      assert.equal(statusWrites(h), 2);
      assert.equal(h.publisher.metrics.writes, 0);
      assert.equal(h.publisher.metrics.failures, 2);
      assert.equal(h.logger.find('Failed to publish status while stopping', 'warn').length, 1);
    });

    void it('gives up after the flush timeout when the server does not answer', async (t) => {
      const h = setup(t);
      h.publisher.start();
      const hold = h.resources.holdApplies();
      t.after(() => hold.release());
      await published(h, 'tls');
      assert.equal(h.resources.calls.length, 1);

      await drive(h.clock, h.publisher.stop(2000), { maxMs: 2000, stepMs: 100 });

      assert.equal(h.publisher.metrics.writes, 0);
    });
  });
});
