/**
 * Unit tests of the bench's pure parts: /proc parsing, Prometheus parsing and request deltas,
 * percentiles, the workload plan and the ground-truth comparison. Run with
 * `node --test 'test/bench/*.test.ts'` (the bench itself is `npm run bench`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { parseSamples, requestCounts, requestDelta } from './apiserver-metrics.ts';
import { parseProcNetTcp, statusKilobytes, TCP_ESTABLISHED } from './proc.ts';
import type { ItemState } from './protocol.ts';
import { median, percentile, ratio } from './stats.ts';
import { compareWithTruth, referenceTruth } from './truth.ts';
import {
  basePods,
  objectKey,
  planObjects,
  propagationTargets,
  ROOT_CA_CONFIG_MAP,
  workloadShape,
} from './workload.ts';

describe('proc parsing', () => {
  it('reads VmRSS and VmHWM in kB and gives 0 for an absent key', () => {
    const status = 'Name:\tnode\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n';
    assert.equal(statusKilobytes(status, 'VmHWM'), 204800);
    assert.equal(statusKilobytes(status, 'VmRSS'), 102400);
    assert.equal(statusKilobytes(status, 'VmSwap'), 0);
  });

  it('parses ports, state and inode of /proc/net/tcp rows', () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:A1B2 0100007F:1A0B 01 00000000:00000000 00:00000000 00000000     0        0 4242 1',
      '   1: 0100007F:1A0B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 77 1',
    ].join('\n');
    assert.deepEqual(parseProcNetTcp(text), [
      { localPort: 0xa1b2, remotePort: 0x1a0b, state: TCP_ESTABLISHED, inode: 4242 },
      { localPort: 0x1a0b, remotePort: 0, state: 10, inode: 77 },
    ]);
  });
});

describe('API server metrics', () => {
  const page = (lists: number, watches: number, open: number): string =>
    [
      '# HELP apiserver_request_total x',
      `apiserver_request_total{code="200",resource="secrets",verb="LIST"} ${lists}`,
      `apiserver_request_total{code="200",resource="configmaps",verb="LIST"} 1`,
      `apiserver_request_total{code="200",resource="pods",verb="LIST"} 100`,
      `apiserver_request_total{code="200",resource="secrets",verb="WATCH"} ${watches}`,
      `apiserver_longrunning_requests{resource="configmaps",verb="WATCH"} ${open}`,
      `apiserver_longrunning_requests{resource="pods",verb="WATCH"} 7`,
    ].join('\n');

  it('sums requests on Secrets and ConfigMaps only', () => {
    const counts = requestCounts(parseSamples(page(4, 2, 3)));
    assert.deepEqual(counts, { lists: 5, watchesClosed: 2, gets: 0, watchesOpen: 3 });
  });

  it('counts watches opened as those closed plus the growth of those open', () => {
    const before = requestCounts(parseSamples(page(4, 2, 3)));
    const after = requestCounts(parseSamples(page(6, 5, 10)));
    assert.deepEqual(requestDelta(before, after), {
      lists: 2,
      gets: 0,
      watchesOpened: 10,
      watchesOpen: 10,
    });
  });

  it('unescapes label values', () => {
    const [sample] = parseSamples('m{a="x\\"y"} 1');
    assert.equal(sample?.labels.a, 'x"y');
  });
});

describe('statistics', () => {
  const cases: { name: string; values: number[]; p: number; want: number | undefined }[] = [
    { name: 'p50 of 1..100 is 50', values: range(100), p: 50, want: 50 },
    { name: 'p99 of 1..100 is 99', values: range(100), p: 99, want: 99 },
    { name: 'p100 is the maximum', values: [3, 9, 1], p: 100, want: 9 },
    { name: 'nothing has no percentile', values: [], p: 50, want: undefined },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(percentile(c.values, c.p), c.want));
  }

  it('takes the median of defined values and refuses a ratio to zero', () => {
    assert.equal(median([4, undefined, 1, 3]), 3);
    assert.equal(median([1, 2, 3, 4]), 2.5);
    assert.equal(ratio(1, 0), undefined);
  });
});

describe('workload', () => {
  const shape = workloadShape(1);
  const planned = planObjects(shape);

  it('references 1,000 distinct objects plus each namespace’s kube-root-ca.crt at scale 1', () => {
    const referenced = planned.filter((o) => o.referenced);
    assert.equal(shape.namespaces.length, 20);
    assert.equal(referenced.filter((o) => o.name !== ROOT_CA_CONFIG_MAP).length, 1000);
    assert.equal(referenced.filter((o) => o.name === ROOT_CA_CONFIG_MAP).length, 20);
  });

  it('has base Pods that reference exactly the referenced objects', () => {
    const truth = referenceTruth(withUids(basePods(shape)));
    const referenced = planned
      .filter((o) => o.referenced)
      .map((o) => objectKey(o.kind, o.namespace, o.name));
    assert.equal(truth.size, 1020);
    assert.deepEqual([...truth.keys()].sort(), referenced.sort());
    assert.equal(truth.get(objectKey('configmap', 'bench-000', ROOT_CA_CONFIG_MAP))?.size, 100);
  });

  it('picks existing, mutable, referenced objects of both kinds to update', () => {
    const targets = propagationTargets(shape, 200);
    assert.equal(targets.length, 200);
    assert.ok(targets.every((o) => o.exists && !o.immutable && o.referenced));
    assert.equal(targets.filter((o) => o.kind === 'secret').length, 100);
    assert.equal(new Set(targets.map((o) => objectKey(o.kind, o.namespace, o.name))).size, 200);
  });
});

describe('ground truth', () => {
  const shape = workloadShape(0.05);
  const pods = withUids(basePods(shape).slice(0, 2));
  const truth = referenceTruth(pods);
  const itemsOf = (edit: (items: ItemState[]) => void): ItemState[] => {
    const items: ItemState[] = [...truth].map(([key, uids]) => {
      const [kind, namespace, name] = key.split('/') as ['secret', string, string];
      return {
        kind,
        namespace,
        name,
        refs: Object.fromEntries([...uids].map((uid) => [uid, 1])),
        running: true,
      };
    });
    edit(items);
    return items;
  };

  it('agrees with items equal to the truth', () => {
    assert.equal(
      compareWithTruth(
        truth,
        itemsOf(() => undefined),
      ).ok,
      true,
    );
  });

  it('ignores terminal Pods', () => {
    const terminal = { ...pods[0], status: { phase: 'Succeeded' } } as V1Pod;
    const truthWithoutFirst = referenceTruth([terminal, pods[1] as V1Pod]);
    assert.ok(truthWithoutFirst.size < truth.size);
  });

  const failures: { name: string; edit: (items: ItemState[]) => void; field: string }[] = [
    { name: 'a missing item', edit: (items) => void items.pop(), field: 'missingItems' },
    {
      name: 'an extra item for an unreferenced object',
      edit: (items) =>
        void items.push({
          kind: 'secret',
          namespace: 'x',
          name: 'y',
          refs: { u: 1 },
          running: true,
        }),
      field: 'extraRunning',
    },
    {
      name: 'a count above one',
      edit: (items) => {
        const first = items[0] as ItemState;
        items[0] = {
          ...first,
          refs: Object.fromEntries(Object.keys(first.refs).map((u) => [u, 2])),
        };
      },
      field: 'referenceMismatches',
    },
  ];
  for (const failure of failures) {
    it(`reports ${failure.name}`, () => {
      const comparison = compareWithTruth(truth, itemsOf(failure.edit));
      assert.equal(comparison.ok, false);
      assert.equal(comparison[failure.field as keyof typeof comparison], 1);
    });
  }
});

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}

function withUids(pods: V1Pod[]): V1Pod[] {
  return pods.map((pod, i) => ({ ...pod, metadata: { ...pod.metadata, uid: `uid-${i}` } }));
}
