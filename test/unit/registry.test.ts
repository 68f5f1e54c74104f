// The Pod registry: semantics rules 18 to 21, malformed Pods, and the access model of design.md.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';

import { NotFoundError } from '../../src/apimachinery/errors.ts';
import { PodRegistry, type ReferencedObject } from '../../src/pods/registry.ts';
import { FakeClock, flush } from '../support/fake-clock.ts';
import { makePod, POD_NAMESPACE as NS, type PodShape } from '../support/fake-pods.ts';
import { RecordingLogger } from '../support/recording-logger.ts';
import { RecordingSink } from '../support/recording-sink.ts';

interface Harness {
  readonly registry: PodRegistry;
  readonly secrets: RecordingSink;
  readonly configMaps: RecordingSink;
  readonly clock: FakeClock;
  readonly logger: RecordingLogger;
  /** Every notification, as `Kind/namespace/name`, in order. */
  readonly notified: string[];
}

/** A registry over two recording sinks on a fake clock; volume sync stopped when the test ends. */
function setup(t: TestContext, volumeSyncPeriodMs?: number): Harness {
  const secrets = new RecordingSink();
  const configMaps = new RecordingSink();
  const clock = new FakeClock();
  const logger = new RecordingLogger();
  const registry = new PodRegistry({ secrets, configMaps, clock, logger, volumeSyncPeriodMs });
  const notified: string[] = [];
  registry.subscribe((o: ReferencedObject) => notified.push(`${o.kind}/${o.namespace}/${o.name}`));
  t.after(() => registry.stopVolumeSync());
  return { registry, secrets, configMaps, clock, logger, notified };
}

/** Registers a Pod of `shape` and forgets the sink calls it caused. */
function registered(h: Harness, shape: PodShape): V1Pod {
  const pod = makePod(shape);
  h.registry.register(pod);
  h.secrets.clear();
  h.configMaps.clear();
  h.notified.length = 0;
  return pod;
}

void describe('PodRegistry', () => {
  void it('adds every Secret and ConfigMap a Pod references under its uid', (t) => {
    const h = setup(t);

    h.registry.register(
      makePod({ name: 'web', secretVolumes: ['tls'], secretEnv: ['db'], configMapEnv: ['cfg'] }),
    );

    assert.deepEqual(h.secrets.changes().sort(), ['+db@uid-web', '+tls@uid-web']);
    assert.deepEqual(h.configMaps.changes(), ['+cfg@uid-web']);
    assert.ok(h.secrets.calls.every((call) => call.namespace === NS));
    assert.equal(h.registry.size, 1);
    assert.deepEqual([...h.registry.uids()], ['uid-web']);
    assert.equal(h.registry.pod('uid-web')?.name, 'web');
    assert.deepEqual(h.notified.sort(), [
      `ConfigMap/${NS}/cfg`,
      `Secret/${NS}/db`,
      `Secret/${NS}/tls`,
    ]);
  });

  void describe('rule 18: Pods are registered by namespace, name and uid', () => {
    void it('counts a recreated Pod of the same name apart until the old one is unregistered', (t) => {
      const h = setup(t);
      h.registry.register(makePod({ name: 'web', uid: 'old', secretEnv: ['db'] }));

      h.registry.register(makePod({ name: 'web', uid: 'new', secretEnv: ['db'] }));
      assert.equal(h.registry.size, 2);
      assert.deepEqual(h.secrets.changes(), ['+db@old', '+db@new']);

      h.registry.unregister('old');
      assert.deepEqual(h.secrets.changes(), ['+db@old', '+db@new', '-db@old']);
      assert.deepEqual([...h.registry.uids()], ['new']);
    });
  });

  void describe('rule 19: an update adds what it gained, then deletes what it lost', () => {
    const kinds = [
      {
        kind: 'Secrets',
        before: { secretEnv: ['kept', 'lost-1', 'lost-2'] },
        after: { secretEnv: ['kept', 'gained-1', 'gained-2'] },
        sink: (h: Harness) => h.secrets,
      },
      {
        kind: 'ConfigMaps',
        before: { configMapEnv: ['kept', 'lost-1', 'lost-2'] },
        after: { configMapEnv: ['kept', 'gained-1', 'gained-2'] },
        sink: (h: Harness) => h.configMaps,
      },
    ];

    for (const { kind, before, after, sink } of kinds) {
      void it(`adds gained ${kind} before deleting lost ones and leaves kept ones alone`, (t) => {
        const h = setup(t);
        registered(h, { uid: 'u', ...before });

        h.registry.register(makePod({ uid: 'u', ...after }));

        const changes = sink(h).changes();
        assert.deepEqual(changes.slice(0, 2).sort(), ['+gained-1@u', '+gained-2@u']);
        assert.deepEqual(changes.slice(2).sort(), ['-lost-1@u', '-lost-2@u']);
        assert.equal(changes.length, 4);
        assert.ok(!changes.some((change) => change.includes('kept')));
      });
    }

    void it('keeps the add-before-delete order when a Pod swaps a volume for another', (t) => {
      const h = setup(t);
      registered(h, { uid: 'u', secretVolumes: ['v1'], configMapVolumes: ['c1'] });

      h.registry.register(makePod({ uid: 'u', secretVolumes: ['v2'], configMapVolumes: ['c2'] }));

      assert.deepEqual(h.secrets.changes(), ['+v2@u', '-v1@u']);
      assert.deepEqual(h.configMaps.changes(), ['+c2@u', '-c1@u']);
    });

    void it('makes no call and sends no notification for an update without change', (t) => {
      const h = setup(t);
      const shape = { uid: 'u', nodeName: 'n1', secretVolumes: ['v'], configMapEnv: ['c'] };
      registered(h, shape);

      h.registry.register(makePod(shape));
      h.registry.register(makePod({ ...shape, phase: 'Pending' }));

      assert.deepEqual(h.secrets.calls, []);
      assert.deepEqual(h.configMaps.calls, []);
      assert.deepEqual(h.notified, []);
      assert.equal(h.registry.size, 1);
    });
  });

  void describe('rule 20: unregistering uses the registered version', () => {
    void it('deletes exactly the references of the version that was registered', (t) => {
      const h = setup(t);
      registered(h, { uid: 'u', secretEnv: ['a'] });
      h.registry.register(makePod({ uid: 'u', secretEnv: ['b'] }));
      h.secrets.clear();

      h.registry.unregister('u');

      assert.deepEqual(h.secrets.changes(), ['-b@u']);
      assert.equal(h.registry.pod('u'), undefined);
      assert.equal(h.registry.size, 0);
    });

    void it('ignores an unknown uid', (t) => {
      const h = setup(t);
      registered(h, { uid: 'u', secretEnv: ['a'] });

      h.registry.unregister('someone-else');

      assert.deepEqual(h.secrets.calls, []);
      assert.deepEqual(h.notified, []);
      assert.equal(h.registry.size, 1);
    });

    void it('deletes the references once however often the Pod is unregistered', (t) => {
      const h = setup(t);
      registered(h, { uid: 'u', secretEnv: ['a'], configMapEnv: ['c'] });

      h.registry.unregister('u');
      h.registry.unregister('u');

      assert.deepEqual(h.secrets.changes(), ['-a@u']);
      assert.deepEqual(h.configMaps.changes(), ['-c@u']);
      assert.deepEqual(h.notified.sort(), [`ConfigMap/${NS}/c`, `Secret/${NS}/a`]);
    });
  });

  void describe('rule 21: terminal, deleted and mirror Pods', () => {
    for (const phase of ['Succeeded', 'Failed']) {
      void it(`unregisters a registered Pod that reached ${phase}`, (t) => {
        const h = setup(t);
        registered(h, { uid: 'u', secretEnv: ['a'] });

        h.registry.register(makePod({ uid: 'u', secretEnv: ['a'], phase }));

        assert.deepEqual(h.secrets.changes(), ['-a@u']);
        assert.equal(h.registry.size, 0);
      });

      void it(`never registers a Pod first seen as ${phase}`, (t) => {
        const h = setup(t);

        h.registry.register(makePod({ uid: 'u', secretEnv: ['a'], configMapEnv: ['c'], phase }));

        assert.deepEqual(h.secrets.calls, []);
        assert.deepEqual(h.configMaps.calls, []);
        assert.equal(h.registry.size, 0);
      });
    }

    void it('keeps a Pod that is being deleted registered until it is gone', (t) => {
      const h = setup(t);
      registered(h, { uid: 'u', secretEnv: ['a'] });

      h.registry.register(
        makePod({ uid: 'u', secretEnv: ['a'], deletionTimestamp: '2025-01-01T00:00:00Z' }),
      );

      assert.deepEqual(h.secrets.calls, []);
      assert.equal(h.registry.size, 1);
    });

    for (const value of ['0123456789abcdef', '']) {
      void it(`never registers a mirror Pod (annotation value ${JSON.stringify(value)})`, (t) => {
        const h = setup(t);

        h.registry.register(
          makePod({
            uid: 'u',
            secretEnv: ['a'],
            configMapVolumes: ['c'],
            annotations: { 'kubernetes.io/config.mirror': value },
          }),
        );

        assert.deepEqual(h.secrets.calls, []);
        assert.deepEqual(h.configMaps.calls, []);
        assert.equal(h.registry.size, 0);
      });
    }
  });

  void describe('malformed Pods are logged with namespace and name and skipped', () => {
    const base = makePod({ name: 'web', secretEnv: ['a'] });
    const cases: { name: string; metadata: unknown; logged: Record<string, unknown> }[] = [
      {
        name: 'a Pod without uid',
        metadata: { namespace: NS, name: 'web' },
        logged: { namespace: NS, name: 'web' },
      },
      {
        name: 'a Pod without name',
        metadata: { namespace: NS, uid: 'u' },
        logged: { namespace: NS, name: undefined },
      },
      {
        name: 'a Pod without namespace',
        metadata: { name: 'web', uid: 'u' },
        logged: { namespace: undefined, name: 'web' },
      },
      {
        name: 'a Pod with an empty uid',
        metadata: { namespace: NS, name: 'web', uid: '' },
        logged: { namespace: NS, name: 'web' },
      },
      {
        name: 'a Pod whose uid is a number',
        metadata: { namespace: NS, name: 'web', uid: 42 },
        logged: { namespace: NS, name: 'web' },
      },
      {
        name: 'a Pod whose name is an object',
        metadata: { namespace: NS, name: { first: 'web' }, uid: 'u' },
        logged: { namespace: NS, name: { first: 'web' } },
      },
      { name: 'a Pod without metadata', metadata: undefined, logged: {} },
      { name: 'a Pod whose metadata is null', metadata: null, logged: {} },
      { name: 'a Pod whose metadata is a string', metadata: 'web', logged: {} },
    ];

    for (const { name, metadata, logged } of cases) {
      void it(`skips ${name} without throwing`, (t) => {
        const h = setup(t);
        const pod = { ...base, metadata } as V1Pod;

        h.registry.register(pod);

        assert.deepEqual(h.secrets.calls, []);
        assert.equal(h.registry.size, 0);
        const warnings = h.logger.find('Skipping malformed Pod', 'warn');
        assert.equal(warnings.length, 1);
        assert.deepEqual(
          { namespace: warnings[0]?.fields.namespace, name: warnings[0]?.fields.name },
          { namespace: undefined, name: undefined, ...logged },
        );
      });
    }

    void it('skips a Pod with a wrongly typed spec and node without throwing', (t) => {
      const h = setup(t);
      const pod = {
        ...base,
        spec: { nodeName: 7, volumes: 'tls', containers: {} },
      } as unknown as V1Pod;

      h.registry.register(pod);

      assert.equal(h.registry.size, 1);
      assert.equal(h.registry.pod('uid-web')?.nodeName, '');
      assert.deepEqual(h.secrets.calls, []);
    });

    void it('skips a watch event whose Pod is null without throwing', (t) => {
      const h = setup(t);

      assert.doesNotThrow(() => h.registry.register(null as unknown as V1Pod));
      assert.equal(h.logger.find('Skipping malformed Pod', 'warn').length, 1);
    });
  });

  void describe('access model: reads like a kubelet', () => {
    void it('reads each newly referenced object once, when the Pod is registered', (t) => {
      const h = setup(t);

      h.registry.register(
        makePod({ uid: 'u', secretVolumes: ['v'], secretEnv: ['e'], configMapEnv: ['c'] }),
      );
      h.registry.register(
        makePod({ uid: 'u', secretVolumes: ['v'], secretEnv: ['e'], configMapEnv: ['c'] }),
      );
      h.registry.register(
        makePod({ uid: 'u', secretVolumes: ['v'], secretEnv: ['e', 'new'], configMapEnv: ['c'] }),
      );

      assert.deepEqual(h.secrets.ops('get').sort(), ['e', 'new', 'v']);
      assert.deepEqual(h.configMaps.ops('get'), ['c']);
    });

    void it('reads an object again for each new Pod that references it', (t) => {
      const h = setup(t);

      h.registry.register(makePod({ name: 'a', secretEnv: ['shared'] }));
      h.registry.register(makePod({ name: 'b', secretEnv: ['shared'] }));

      assert.deepEqual(h.secrets.ops('get'), ['shared', 'shared']);
    });

    void it('re-reads volume-mounted objects every volume sync period, and only those', (t) => {
      const h = setup(t, 30_000);
      h.registry.register(
        makePod({
          uid: 'u',
          secretVolumes: ['vol', 'both'],
          secretEnv: ['env', 'both'],
          secretEnvFrom: ['from'],
          imagePullSecrets: ['pull'],
          configMapVolumes: ['cvol'],
          configMapEnv: ['cenv'],
        }),
      );
      assert.deepEqual(h.secrets.ops('get').sort(), ['both', 'env', 'from', 'pull', 'vol']);
      assert.deepEqual(h.configMaps.ops('get').sort(), ['cenv', 'cvol']);
      h.secrets.clear();
      h.configMaps.clear();

      h.registry.startVolumeSync();
      h.registry.startVolumeSync();
      h.clock.step(29_999);
      assert.deepEqual(h.secrets.calls, []);

      h.clock.step(1);
      assert.deepEqual(h.secrets.ops('get').sort(), ['both', 'vol']);
      assert.deepEqual(h.configMaps.ops('get'), ['cvol']);

      h.clock.step(30_000 * 3);
      assert.deepEqual(h.secrets.ops('get').sort(), [
        'both',
        'both',
        'both',
        'both',
        'vol',
        'vol',
        'vol',
        'vol',
      ]);
      assert.deepEqual(h.secrets.changes(), []);
    });

    void it('re-reads every 60 s by default and stops when asked or when the Pod is gone', (t) => {
      const h = setup(t);
      registered(h, { uid: 'u', secretVolumes: ['vol'] });
      h.registry.startVolumeSync();

      h.clock.step(60_000);
      assert.deepEqual(h.secrets.ops('get'), ['vol']);

      h.registry.unregister('u');
      h.clock.step(60_000);
      assert.deepEqual(h.secrets.ops('get'), ['vol']);

      registered(h, { uid: 'v', secretVolumes: ['vol'] });
      h.registry.stopVolumeSync();
      h.registry.stopVolumeSync();
      h.clock.step(600_000);
      assert.deepEqual(h.secrets.calls, []);
      assert.equal(h.clock.pendingTimers(), 0);
    });

    void it('swallows failed reads: traced, never an unhandled rejection', async (t) => {
      const rejections: unknown[] = [];
      const onRejection = (reason: unknown): void => void rejections.push(reason);
      process.on('unhandledRejection', onRejection);
      t.after(() => process.off('unhandledRejection', onRejection));
      const h = setup(t);
      h.secrets.failReads(new NotFoundError({ group: '', resource: 'secret' }, 'tls'));

      assert.doesNotThrow(() => h.registry.register(makePod({ uid: 'u', secretVolumes: ['tls'] })));
      h.registry.syncVolumes();
      await flush();

      assert.deepEqual(rejections, []);
      const traces = h.logger.find('Read of referenced object failed', 'trace');
      assert.equal(traces.length, 2);
      assert.deepEqual(traces[0]?.fields, {
        kind: 'Secret',
        namespace: NS,
        name: 'tls',
        err: 'NotFoundError: secret "tls" not found',
      });
      assert.equal(h.logger.records.filter((r) => r.level !== 'trace').length, 0);
    });
  });

  void describe('notifications', () => {
    void it('tells subscribers about every object when a Pod moves to a node', (t) => {
      const h = setup(t);
      registered(h, { uid: 'u', secretVolumes: ['tls'], configMapEnv: ['cfg'] });

      h.registry.register(
        makePod({ uid: 'u', nodeName: 'node-1', secretVolumes: ['tls'], configMapEnv: ['cfg'] }),
      );

      assert.deepEqual(h.notified.sort(), [`ConfigMap/${NS}/cfg`, `Secret/${NS}/tls`]);
      assert.deepEqual(h.secrets.calls, []);
      assert.equal(h.registry.pod('u')?.nodeName, 'node-1');
    });

    void it('stops calling a listener once it unsubscribed', (t) => {
      const h = setup(t);
      const seen: string[] = [];
      const unsubscribe = h.registry.subscribe((o) => seen.push(o.name));

      h.registry.register(makePod({ name: 'a', secretEnv: ['first'] }));
      unsubscribe();
      h.registry.register(makePod({ name: 'b', secretEnv: ['second'] }));

      assert.deepEqual(seen, ['first']);
      assert.deepEqual(h.notified, [`Secret/${NS}/first`, `Secret/${NS}/second`]);
    });
  });
});
