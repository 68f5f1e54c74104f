/**
 * The object cache against a real kube-apiserver and etcd: rules 2 to 16 where the network is
 * real. Each test uses its own namespace; the restart and 410 tests use a control plane of
 * their own.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import type { KubeConfig, V1Secret } from '@kubernetes/client-node';

import { isNotFound } from '../../src/apimachinery/errors.ts';
import { ObjectCache, type ObjectCacheOptions } from '../../src/cache/object-cache.ts';
import { configMapAdapter } from '../../src/kinds/configmap.ts';
import type { KindAdapter } from '../../src/kinds/kind.ts';
import { secretAdapter } from '../../src/kinds/secret.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { ResourceClient } from '../../src/kube/resource.ts';
import { createLogger } from '../../src/operator/logging.ts';
import type { KubeObject } from '../../src/apimachinery/types.ts';
import { eventually, GatedSource, JumpingClock } from '../support/real-source.ts';
import { connectionsTo } from '../support/sockets.ts';
import {
  adminKubeConfig,
  createTestNamespace,
  loadKubeConfig,
  sharedControlPlane,
  startDedicatedControlPlane,
} from './harness.ts';

interface Fixture<T extends KubeObject> {
  readonly client: KubeClient;
  readonly api: ResourceClient<T>;
  readonly source: GatedSource<T>;
  readonly cache: ObjectCache<T>;
}

/** A cache of one kind on `kubeConfig`, torn down after the test. */
function fixture<T extends KubeObject>(
  t: TestContext,
  kubeConfig: KubeConfig,
  adapter: KindAdapter<T>,
  options: Partial<ObjectCacheOptions<T>> = {},
  http2 = false,
): Fixture<T> {
  const client = new KubeClient(kubeConfig, { http2 });
  const api = new ResourceClient<T>(client, adapter.resource, 0);
  const source = new GatedSource<T>(api);
  const cache = new ObjectCache<T>({
    listerWatcher: source,
    isImmutable: (object) => adapter.isImmutable(object),
    groupResource: adapter.groupResource,
    transform: (object) => adapter.transform(object),
    backoff: { initialMs: 200, maxMs: 2000 },
    ...options,
  });
  t.after(async () => {
    await cache.stop();
    await client.close();
  });
  return { client, api, source, cache };
}

function secret(namespace: string, name: string, data: Record<string, string> = {}): V1Secret {
  const encoded = Object.fromEntries(
    Object.entries(data).map(([key, value]) => [key, Buffer.from(value).toString('base64')]),
  );
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, data: encoded };
}

/** Resolves with the error `promise` rejects with; fails if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected a rejection');
}

describe('object cache on a real API server', () => {
  it('serves NotFound, then an object created after addReference, without a restart', async (t) => {
    const namespace = await createTestNamespace(t);
    const { api, source, cache } = fixture(t, adminKubeConfig(), secretAdapter());

    cache.addReference(namespace, 'later', 'pod-1');
    const missing = await rejection(cache.get(namespace, 'later'));
    assert.ok(isNotFound(missing), `expected NotFound, got ${String(missing)}`);
    assert.equal((missing as Error).message, 'secret "later" not found');

    await api.create(namespace, secret(namespace, 'later', { key: 'value' }));
    const found = await eventually('the created secret', async () => {
      try {
        return await cache.get(namespace, 'later');
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    });

    assert.equal(found.metadata?.name, 'later');
    assert.equal(source.lists, 1, 'one list');
    assert.equal(source.watches, 1, 'one watch');
    assert.equal(cache.metrics().watchRestarts, 0);
  });

  it('sees an update within a second and a delete as NotFound', async (t) => {
    const namespace = await createTestNamespace(t);
    const { api, cache } = fixture(t, adminKubeConfig(), secretAdapter());
    const created = await api.create(namespace, secret(namespace, 'changing', { v: '1' }));
    cache.addReference(namespace, 'changing', 'pod-1');
    const first = await cache.get(namespace, 'changing');
    assert.equal(first.metadata?.resourceVersion, created.metadata?.resourceVersion);

    const updated = await api.replace(namespace, 'changing', {
      ...created,
      data: { v: Buffer.from('2').toString('base64') },
    });
    const wanted = updated.metadata?.resourceVersion;
    await eventually(
      'the update through get',
      async () =>
        (await cache.get(namespace, 'changing')).metadata?.resourceVersion === wanted
          ? true
          : undefined,
      1000,
    );

    await api.delete(namespace, 'changing');
    const gone = await eventually(
      'NotFound after the delete',
      async () => {
        const err = await rejection(cache.get(namespace, 'changing')).catch(() => undefined);
        return isNotFound(err) ? err : undefined;
      },
      1000,
    );
    assert.equal((gone as Error).message, 'secret "changing" not found');
  });

  it('stops watching an immutable ConfigMap and serves later gets without a request', async (t) => {
    const namespace = await createTestNamespace(t);
    const { api, source, cache } = fixture(t, adminKubeConfig(), configMapAdapter());
    await api.create(namespace, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'frozen', namespace },
      data: { key: 'value' },
      immutable: true,
    });

    cache.addReference(namespace, 'frozen', 'pod-1');
    await cache.get(namespace, 'frozen');
    await eventually('the watch to close', () => (source.openWatches === 0 ? true : undefined));
    const item = cache.inspect(namespace, 'frozen');
    assert.equal(item?.reflector, 'Stopped');
    assert.equal(item?.stopReason, 'Immutable');
    assert.equal(item?.synced, true);

    const requests = source.lists + source.watches;
    for (let i = 0; i < 5; i++) await cache.get(namespace, 'frozen');
    assert.equal(source.lists + source.watches, requests, 'no request after the stop');
  });

  it('stops an idle item at the sweep and restarts it on the next get', async (t) => {
    const namespace = await createTestNamespace(t);
    const clock = new JumpingClock();
    const { api, source, cache } = fixture(t, adminKubeConfig(), secretAdapter(), { clock });
    await api.create(namespace, secret(namespace, 'idle'));
    cache.addReference(namespace, 'idle', 'pod-1');
    await cache.get(namespace, 'idle');

    assert.equal(cache.sweep(), 0, 'a fresh read keeps the watch');
    clock.jump(5 * 60_000 + 1);
    assert.equal(cache.sweep(), 1, 'idle for longer than maxIdleTime');
    await eventually('the watch to close', () => (source.openWatches === 0 ? true : undefined));
    assert.equal(cache.inspect(namespace, 'idle')?.stopReason, 'Idle');
    assert.equal(cache.inspect(namespace, 'idle')?.synced, false);

    const again = await cache.get(namespace, 'idle');
    assert.equal(again.metadata?.name, 'idle');
    assert.equal(source.lists, 2, 'the restart lists again');
    assert.equal(cache.inspect(namespace, 'idle')?.reflector, 'Running');
  });

  for (const http2 of [false, true]) {
    const protocol = http2 ? 'HTTP/2' : 'HTTP/1.1';
    it(`survives an API server restart over ${protocol} and sees a later change`, async (t) => {
      const plane = await startDedicatedControlPlane(t);
      const kubeConfig = loadKubeConfig(plane.kubeconfigPath);
      const { api, cache } = fixture(t, kubeConfig, secretAdapter(), {}, http2);
      const namespace = 'default';
      const created = await api.create(namespace, secret(namespace, 'survivor', { v: '1' }));
      cache.addReference(namespace, 'survivor', 'pod-1');
      await cache.get(namespace, 'survivor');

      await plane.stopApiServer();
      await plane.startApiServer();
      const updated = await api.replace(namespace, 'survivor', {
        ...created,
        data: { v: Buffer.from('2').toString('base64') },
      });

      const wanted = updated.metadata?.resourceVersion;
      await eventually(
        'the change made after the restart',
        async () =>
          (await cache.get(namespace, 'survivor')).metadata?.resourceVersion === wanted
            ? true
            : undefined,
        60_000,
      );
      assert.ok(cache.metrics().watchRestarts >= 1, 'the watch was re-established');
      assert.equal(cache.inspect(namespace, 'survivor')?.reflector, 'Running');
    });
  }

  it('lists again after 410 Gone and loses no change', async (t) => {
    // Without the watch cache, watches are served by etcd, so a compacted resourceVersion is
    // answered with 410 Gone.
    const plane = await startDedicatedControlPlane(t, { apiServerFlags: ['--watch-cache=false'] });
    const kubeConfig = loadKubeConfig(plane.kubeconfigPath);
    const { api, source, cache } = fixture(t, kubeConfig, secretAdapter());
    const namespace = 'default';
    const created = await api.create(namespace, secret(namespace, 'expiring', { v: '1' }));
    cache.addReference(namespace, 'expiring', 'pod-1');
    await cache.get(namespace, 'expiring');

    source.disconnect();
    const updated = await api.replace(namespace, 'expiring', {
      ...created,
      data: { v: Buffer.from('2').toString('base64') },
    });
    await api.create(namespace, secret(namespace, 'bystander'));
    await plane.compactEtcd();
    source.open();

    const wanted = updated.metadata?.resourceVersion;
    await eventually(
      'the change made while disconnected',
      async () =>
        (await cache.get(namespace, 'expiring')).metadata?.resourceVersion === wanted
          ? true
          : undefined,
      30_000,
    );
    assert.equal(cache.metrics().relists, 1, 'one relist after 410');
    assert.equal(source.lists, 2);
  });

  it('holds one connection per watch and leaks none across twenty reconnects', async (t) => {
    const namespace = await createTestNamespace(t);
    const { api, source, cache } = fixture(t, adminKubeConfig(), secretAdapter(), {
      backoff: { initialMs: 10, maxMs: 20 },
    });
    const port = Number(new URL(sharedControlPlane().server).port);
    for (const name of ['one', 'two', 'three']) {
      await api.create(namespace, secret(namespace, name));
      cache.addReference(namespace, name, 'pod-1');
      await cache.get(namespace, name);
    }
    await eventually('three open watches', () => (source.openWatches === 3 ? true : undefined));
    const before = await connectionsTo(port);

    for (let round = 0; round < 20; round++) {
      const watches = source.watches;
      source.disconnect();
      source.open();
      await eventually('the watches to reopen', () =>
        source.watches >= watches + 3 && source.openWatches === 3 ? true : undefined,
      );
    }

    const after = await eventually('idle sockets to settle', async () => {
      const count = await connectionsTo(port);
      return count <= before ? count : undefined;
    });
    assert.ok(before >= 3, `a connection per watch, found ${before}`);
    assert.ok(after <= before, `${after} connections after reconnects, ${before} before`);
    assert.equal(cache.metrics().lists, 3, 'reconnects resume without a list');
  });

  it('multiplexes every watch over one HTTP/2 connection', async (t) => {
    const namespace = await createTestNamespace(t);
    const { api, source, cache } = fixture(t, adminKubeConfig(), secretAdapter(), {}, true);
    const port = Number(new URL(sharedControlPlane().server).port);
    // Other clients of this process (the namespace helper's) hold connections of their own.
    const others = await connectionsTo(port);
    const names = Array.from({ length: 20 }, (_, i) => `many-${i}`);
    for (const name of names) {
      await api.create(namespace, secret(namespace, name));
      cache.addReference(namespace, name, 'pod-1');
    }
    for (const name of names) await cache.get(namespace, name);
    await eventually('twenty open watches', () => (source.openWatches === 20 ? true : undefined));

    const ours = (await connectionsTo(port)) - others;
    assert.ok(ours <= 1, `${ours} connections for twenty watches`);
  });

  it('never writes a Secret value to the logs, even at trace level', async (t) => {
    const namespace = await createTestNamespace(t);
    const marker = `marker-${Math.random().toString(36).slice(2)}-${Date.now()}`;
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logging = createLogger('trace', sink);
    const { api, cache } = fixture(t, adminKubeConfig(), secretAdapter({ keepContent: true }), {
      logger: logging.logger,
    });

    const created = await api.create(namespace, secret(namespace, 'sensitive', { token: marker }));
    cache.addReference(namespace, 'sensitive', 'pod-1');
    const cached = await cache.get(namespace, 'sensitive');
    assert.equal(Buffer.from(cached.data?.token ?? '', 'base64').toString(), marker);
    await api.replace(namespace, 'sensitive', {
      ...created,
      data: { token: Buffer.from(`${marker}-2`).toString('base64') },
    });
    await eventually('the update', async () =>
      (await cache.get(namespace, 'sensitive')).data?.token ===
      Buffer.from(`${marker}-2`).toString('base64')
        ? true
        : undefined,
    );
    cache.deleteReference(namespace, 'sensitive', 'pod-1');
    await cache.stop();
    await logging.close();

    assert.ok(lines.length > 0, 'trace logging produced lines');
    const encoded = Buffer.from(marker).toString('base64');
    for (const line of lines) {
      assert.ok(!line.includes(marker), `marker in a log line: ${line.length} bytes`);
      assert.ok(!line.includes(encoded.slice(0, 16)), 'encoded marker in a log line');
    }
  });
});
