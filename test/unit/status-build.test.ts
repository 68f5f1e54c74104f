// Building a CachedObjectStatus from a cache item: Pods, counts, flags and conditions.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { CacheItemSnapshot } from '../../src/cache/object-cache.ts';
import { buildStatus, isoTime, type PodInfo, resourceBody } from '../../src/status/build.ts';
import type { Condition } from '../../src/status/types.ts';
import { FAKE_EPOCH_MS } from '../support/fake-clock.ts';
import { itemSnapshot, type SnapshotShape } from '../support/fake-cache-view.ts';

const NOW = FAKE_EPOCH_MS + 3_600_000;
const NOW_ISO = '2025-01-01T01:00:00Z';
const EARLIER_ISO = '2024-12-31T00:00:00Z';

/** Pods known by uid; any other uid is unknown. */
function podsOf(pods: readonly PodInfo[]): (uid: string) => PodInfo | undefined {
  const byUid = new Map(pods.map((pod) => [pod.uid, pod]));
  return (uid) => byUid.get(uid);
}

function build(
  shape: Partial<SnapshotShape>,
  options: { pods?: readonly PodInfo[]; maxPods?: number; previous?: Condition[] } = {},
): ReturnType<typeof buildStatus> {
  const item = itemSnapshot({ namespace: 'apps', name: 'tls', ...shape });
  return buildStatus(
    item,
    podsOf(options.pods ?? []),
    options.maxPods ?? 20,
    NOW,
    options.previous,
  );
}

function conditionOf(status: ReturnType<typeof buildStatus>, type: string): Condition {
  const condition = status.conditions?.find((c) => c.type === type);
  assert.ok(condition, `condition ${type}`);
  return condition;
}

void describe('resourceBody', () => {
  void it('names the resource after the object and labels it as the operator’s own', () => {
    assert.deepEqual(resourceBody('ConfigMap', 'apps', 'kube-root-ca.crt'), {
      apiVersion: 'objectcache.dev/v1alpha1',
      kind: 'CachedObjectStatus',
      metadata: {
        name: 'configmap-kube-root-ca.crt',
        namespace: 'apps',
        labels: { 'app.kubernetes.io/managed-by': 'objectcache-operator' },
      },
      spec: { kind: 'ConfigMap', name: 'kube-root-ca.crt' },
    });
  });
});

void describe('buildStatus', () => {
  void describe('referencing Pods', () => {
    void it('lists Pods sorted by name, then uid, with their node when bound', () => {
      const status = build(
        { pods: ['u3', 'u1', 'u2', 'u0'] },
        {
          pods: [
            { name: 'web', uid: 'u3', nodeName: 'node-b' },
            { name: 'api', uid: 'u1', nodeName: '' },
            { name: 'web', uid: 'u2', nodeName: 'node-a' },
            { name: 'batch', uid: 'u0', nodeName: 'node-a' },
          ],
        },
      );

      assert.deepEqual(status.pods, [
        { name: 'api', uid: 'u1' },
        { name: 'batch', uid: 'u0', node: 'node-a' },
        { name: 'web', uid: 'u2', node: 'node-a' },
        { name: 'web', uid: 'u3', node: 'node-b' },
      ]);
      assert.equal(status.referenceCount, 4);
      assert.equal(status.nodeCount, 2);
      assert.equal(status.podsTruncated, false);
    });

    const caps = [
      { pods: 3, maxPods: 3, listed: 3, truncated: false },
      { pods: 4, maxPods: 3, listed: 3, truncated: true },
      { pods: 250, maxPods: 20, listed: 20, truncated: true },
      { pods: 5, maxPods: 0, listed: 0, truncated: true },
    ];
    for (const { pods, maxPods, listed, truncated } of caps) {
      void it(`lists ${listed} of ${pods} Pods at most ${maxPods}, with the count exact`, () => {
        const infos = Array.from({ length: pods }, (_, i) => ({
          name: `pod-${String(i).padStart(3, '0')}`,
          uid: `uid-${i}`,
          nodeName: `node-${i % 7}`,
        }));

        const status = build({ pods: infos.map((p) => p.uid).reverse() }, { pods: infos, maxPods });

        assert.equal(status.pods?.length, listed);
        assert.deepEqual(
          status.pods?.map((p) => p.name),
          infos.slice(0, listed).map((p) => p.name),
        );
        assert.equal(status.referenceCount, pods);
        assert.equal(status.podsTruncated, truncated);
        assert.equal(status.nodeCount, Math.min(pods, 7));
      });
    }

    void it('counts the nodes of every Pod, including those left out of the list', () => {
      const status = build(
        { pods: ['a', 'b', 'c'] },
        {
          pods: [
            { name: 'a', uid: 'a', nodeName: 'node-1' },
            { name: 'b', uid: 'b', nodeName: 'node-2' },
            { name: 'c', uid: 'c', nodeName: 'node-3' },
          ],
          maxPods: 1,
        },
      );

      assert.deepEqual(status.pods, [{ name: 'a', uid: 'a', node: 'node-1' }]);
      assert.equal(status.nodeCount, 3);
    });

    void it('counts a Pod once however many references it holds', () => {
      const item: CacheItemSnapshot = {
        ...itemSnapshot({ namespace: 'apps', name: 'tls' }),
        references: new Map([['u', 3]]),
      };

      const status = buildStatus(item, () => undefined, 20, NOW, undefined);

      assert.equal(status.referenceCount, 1);
    });

    void it('lists a Pod the registry does not know by uid alone, first, without a node', () => {
      const status = build(
        { pods: ['known', 'ghost'] },
        { pods: [{ name: 'web', uid: 'known', nodeName: 'node-1' }] },
      );

      assert.deepEqual(status.pods, [
        { name: '', uid: 'ghost' },
        { name: 'web', uid: 'known', node: 'node-1' },
      ]);
      assert.equal(status.referenceCount, 2);
      assert.equal(status.nodeCount, 1);
    });
  });

  void describe('flags and times', () => {
    void it('leaves out found, the resourceVersion and times the cache does not know', () => {
      const status = build({
        synced: false,
        found: undefined,
        resourceVersion: undefined,
        lastAccess: undefined,
        lastChange: undefined,
      });

      for (const key of ['found', 'resourceVersion', 'lastAccessTime', 'lastChangeTime']) {
        assert.equal(key in status, false, key);
      }
      assert.equal(status.synced, false);
      assert.deepEqual(
        [conditionOf(status, 'Found').status, conditionOf(status, 'Found').reason],
        ['Unknown', 'NotListed'],
      );
    });

    void it('reports found false after a list without the object', () => {
      const status = build({ found: false, resourceVersion: undefined });

      assert.equal(status.found, false);
      assert.equal(conditionOf(status, 'Found').status, 'False');
      assert.equal(conditionOf(status, 'Found').reason, 'NotFound');
    });

    void it('copies flags and the resourceVersion, and writes times to the second', () => {
      const status = build({
        immutable: true,
        reflector: 'Stopped',
        stopReason: 'Immutable',
        resourceVersion: '4711',
        lastAccess: FAKE_EPOCH_MS + 1_999,
        lastChange: FAKE_EPOCH_MS + 60_000,
      });

      assert.equal(status.immutable, true);
      assert.equal(status.synced, true);
      assert.equal(status.found, true);
      assert.equal(status.resourceVersion, '4711');
      assert.equal(status.lastAccessTime, '2025-01-01T00:00:01Z');
      assert.equal(status.lastChangeTime, '2025-01-01T00:01:00Z');
    });

    void it('formats times as RFC 3339 in UTC without fractions', () => {
      assert.equal(isoTime(FAKE_EPOCH_MS), '2025-01-01T00:00:00Z');
      assert.equal(isoTime(FAKE_EPOCH_MS + 999), '2025-01-01T00:00:00Z');
      assert.equal(isoTime(FAKE_EPOCH_MS - 1), '2024-12-31T23:59:59Z');
    });
  });

  void describe('reflector state and the Synced condition', () => {
    const cases: {
      name: string;
      shape: Partial<SnapshotShape>;
      reflector: { state: string; reason: string };
      synced: [string, string];
    }[] = [
      {
        name: 'a running, synced item',
        shape: {},
        reflector: { state: 'Running', reason: '' },
        synced: ['True', 'ListCompleted'],
      },
      {
        name: 'a running item still listing',
        shape: { synced: false, found: undefined },
        reflector: { state: 'Running', reason: '' },
        synced: ['False', 'Listing'],
      },
      {
        name: 'an item stopped as idle',
        shape: { reflector: 'Stopped', stopReason: 'Idle', synced: false },
        reflector: { state: 'Stopped', reason: 'Idle' },
        synced: ['False', 'Idle'],
      },
      {
        name: 'an immutable item',
        shape: { reflector: 'Stopped', stopReason: 'Immutable', immutable: true },
        reflector: { state: 'Stopped', reason: 'Immutable' },
        synced: ['True', 'ListCompleted'],
      },
    ];

    for (const { name, shape, reflector, synced } of cases) {
      void it(`reports ${name} as ${reflector.state}/${reflector.reason || '-'}, ${synced[1]}`, () => {
        const status = build(shape);

        assert.deepEqual(status.reflector, reflector);
        const condition = conditionOf(status, 'Synced');
        assert.deepEqual([condition.status, condition.reason], synced);
        assert.notEqual(condition.message, '');
      });
    }
  });

  void describe('conditions', () => {
    void it('sets both conditions, stamped now, when there is no previous status', () => {
      const status = build({});

      assert.deepEqual(
        status.conditions?.map((c) => [c.type, c.status, c.reason, c.lastTransitionTime]),
        [
          ['Synced', 'True', 'ListCompleted', NOW_ISO],
          ['Found', 'True', 'Found', NOW_ISO],
        ],
      );
    });

    void it('keeps lastTransitionTime while a status is unchanged, and moves it on a change', () => {
      const previous = build({}).conditions?.map((c) => ({
        ...c,
        lastTransitionTime: EARLIER_ISO,
      }));

      const status = build({ found: false }, { previous });

      assert.equal(conditionOf(status, 'Synced').lastTransitionTime, EARLIER_ISO);
      assert.equal(conditionOf(status, 'Found').lastTransitionTime, NOW_ISO);
    });

    void it('keeps lastTransitionTime when only the reason changed', () => {
      const previous: Condition[] = [
        {
          type: 'Synced',
          status: 'False',
          reason: 'Listing',
          message: '',
          lastTransitionTime: EARLIER_ISO,
        },
      ];

      const status = build(
        { synced: false, reflector: 'Stopped', stopReason: 'Idle' },
        { previous },
      );

      assert.equal(conditionOf(status, 'Synced').reason, 'Idle');
      assert.equal(conditionOf(status, 'Synced').lastTransitionTime, EARLIER_ISO);
      assert.equal(conditionOf(status, 'Found').lastTransitionTime, NOW_ISO);
    });
  });
});
