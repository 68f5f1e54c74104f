/**
 * The operator end to end on a real control plane: the CRD and manifests applied with kubectl,
 * the operator running as a separate process with a token of its own ServiceAccount (which
 * proves the RBAC), Pods and objects changed through the API, CachedObjectStatus read back.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { V1ConfigMap, V1Lease, V1Pod, V1Secret } from '@kubernetes/client-node';

import { isNotFound } from '../../src/apimachinery/errors.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { ResourceClient } from '../../src/kube/resource.ts';
import { statusName } from '../../src/status/naming.ts';
import {
  type CachedObjectKind,
  type CachedObjectStatus,
  GROUP,
  PLURAL,
  VERSION,
} from '../../src/status/types.ts';
import { OperatorProcess, testConfig } from '../support/operator-process.ts';
import { eventually } from '../support/real-source.ts';
import {
  adminKubeConfig,
  createTestNamespace,
  kubectl,
  sharedControlPlane,
  startDedicatedControlPlane,
} from './harness.ts';

const SYSTEM_NAMESPACE = 'objectcache-system';
const SERVICE_ACCOUNT = 'objectcache-operator';

const client = new KubeClient(adminKubeConfig());
const pods = new ResourceClient<V1Pod>(client, { group: '', version: 'v1', plural: 'pods' });
const secrets = new ResourceClient<V1Secret>(client, {
  group: '',
  version: 'v1',
  plural: 'secrets',
});
const configMaps = new ResourceClient<V1ConfigMap>(client, {
  group: '',
  version: 'v1',
  plural: 'configmaps',
});
const statuses = new ResourceClient<CachedObjectStatus>(client, {
  group: GROUP,
  version: VERSION,
  plural: PLURAL,
});
const leases = new ResourceClient<V1Lease>(client, {
  group: 'coordination.k8s.io',
  version: 'v1',
  plural: 'leases',
});

/** Installs the product the way the README says, and returns a kubeconfig of its SA token. */
async function install(): Promise<string> {
  await kubectl(['apply', '-f', 'crds/']);
  await kubectl(['apply', '-k', 'manifests/']);
  await kubectl(['wait', '--for=condition=Established', '--timeout=30s', `crd/${PLURAL}.${GROUP}`]);
  const token = await sharedControlPlane().createToken(SYSTEM_NAMESPACE, SERVICE_ACCOUNT, {
    durationSeconds: 3600,
  });
  return sharedControlPlane().kubeconfigForToken(token);
}

function pod(namespace: string, name: string, spec: Partial<V1Pod['spec']> = {}): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: {
      containers: [{ name: 'app', image: 'registry.example/app:1' }],
      ...spec,
    },
  };
}

function secretVolumePod(
  namespace: string,
  name: string,
  secretName: string,
  node?: string,
): V1Pod {
  return pod(namespace, name, {
    ...(node === undefined ? {} : { nodeName: node }),
    volumes: [{ name: 'creds', secret: { secretName } }],
  });
}

async function statusOf(
  namespace: string,
  kind: CachedObjectKind,
  name: string,
): Promise<CachedObjectStatus | undefined> {
  try {
    return await statuses.get(namespace, statusName(kind, name));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Waits until the resource of the object satisfies `check`. */
function statusWhere(
  namespace: string,
  kind: CachedObjectKind,
  name: string,
  what: string,
  check: (status: CachedObjectStatus) => boolean,
): Promise<CachedObjectStatus> {
  return eventually(
    `${kind} ${namespace}/${name}: ${what}`,
    async () => {
      const resource = await statusOf(namespace, kind, name);
      return resource !== undefined && check(resource) ? resource : undefined;
    },
    20_000,
  );
}

function statusGone(namespace: string, kind: CachedObjectKind, name: string): Promise<true> {
  return eventually(
    `${kind} ${namespace}/${name} to have no resource`,
    async () => ((await statusOf(namespace, kind, name)) === undefined ? true : undefined),
    20_000,
  );
}

describe('operator end to end, as its own ServiceAccount', () => {
  let kubeconfigPath = '';
  let operator: OperatorProcess;

  before(async () => {
    kubeconfigPath = await install();
    operator = await OperatorProcess.start({ kubeconfigPath, config: testConfig() });
    await eventually(
      'the operator to lead and be ready',
      async () => {
        const ready = await operator.http('/readyz').catch(() => ({ status: 0 }));
        const leader = await operator.metric('objectcache_leader').catch(() => undefined);
        return ready.status === 200 && leader === 1 ? true : undefined;
      },
      30_000,
    );
  });

  after(async () => {
    await operator.dispose();
  });

  it('counts two Pods sharing a Secret, and removes the resource when both are gone', async (t) => {
    const namespace = await createTestNamespace(t);
    await secrets.create(namespace, { metadata: { name: 'shared', namespace } });
    await pods.create(namespace, secretVolumePod(namespace, 'a', 'shared', 'node-1'));
    await pods.create(namespace, secretVolumePod(namespace, 'b', 'shared', 'node-2'));

    const both = await statusWhere(
      namespace,
      'Secret',
      'shared',
      'refs 2',
      (s) => s.status?.referenceCount === 2,
    );
    assert.equal(both.spec.kind, 'Secret');
    assert.equal(both.spec.name, 'shared');
    assert.equal(both.status?.nodeCount, 2);
    assert.deepEqual(
      both.status?.pods?.map((p) => [p.name, p.node]),
      [
        ['a', 'node-1'],
        ['b', 'node-2'],
      ],
    );
    assert.equal(both.status?.found, true);
    assert.equal(both.status?.reflector?.state, 'Running');

    await pods.delete(namespace, 'a', { gracePeriodSeconds: 0 });
    await statusWhere(
      namespace,
      'Secret',
      'shared',
      'refs 1',
      (s) => s.status?.referenceCount === 1,
    );

    await pods.delete(namespace, 'b', { gracePeriodSeconds: 0 });
    await statusGone(namespace, 'Secret', 'shared');
  });

  it('reports a missing Secret as not found, then found once created, without a restart', async (t) => {
    const namespace = await createTestNamespace(t);
    await pods.create(namespace, secretVolumePod(namespace, 'waiting', 'late'));

    const missing = await statusWhere(
      namespace,
      'Secret',
      'late',
      'found false',
      (s) => s.status?.found === false,
    );
    assert.equal(missing.status?.conditions?.find((c) => c.type === 'Found')?.status, 'False');
    const restarts = await operator.metric('objectcache_cache_watch_restarts_total{kind="Secret"}');

    await secrets.create(namespace, { metadata: { name: 'late', namespace } });
    const found = await statusWhere(
      namespace,
      'Secret',
      'late',
      'found true',
      (s) => s.status?.found === true,
    );
    assert.equal(found.status?.reflector?.state, 'Running');
    assert.equal(
      await operator.metric('objectcache_cache_watch_restarts_total{kind="Secret"}'),
      restarts,
      'no watch restart',
    );
  });

  it('follows an added ephemeral container (rule 19) and a recreated Pod (rules 18, 20)', async (t) => {
    const namespace = await createTestNamespace(t);
    const created = await pods.create(namespace, secretVolumePod(namespace, 'debugged', 'base'));
    await statusWhere(namespace, 'Secret', 'base', 'refs 1', (s) => s.status?.referenceCount === 1);

    await client.request('PATCH', `${pods.objectPath(namespace, 'debugged')}/ephemeralcontainers`, {
      contentType: 'application/strategic-merge-patch+json',
      body: {
        spec: {
          ephemeralContainers: [
            {
              name: 'debug',
              image: 'registry.example/debug:1',
              envFrom: [{ secretRef: { name: 'debug-token' } }],
            },
          ],
        },
      },
    });
    const gained = await statusWhere(
      namespace,
      'Secret',
      'debug-token',
      'refs 1',
      (s) => s.status?.referenceCount === 1,
    );
    assert.equal(gained.status?.pods?.[0]?.uid, created.metadata?.uid);
    const base = await statusOf(namespace, 'Secret', 'base');
    assert.equal(base?.status?.referenceCount, 1, 'unchanged references are untouched');

    await pods.delete(namespace, 'debugged', { gracePeriodSeconds: 0 });
    const recreated = await pods.create(namespace, secretVolumePod(namespace, 'debugged', 'other'));
    await statusWhere(
      namespace,
      'Secret',
      'other',
      'the new Pod',
      (s) => s.status?.pods?.[0]?.uid === recreated.metadata?.uid,
    );
    await statusGone(namespace, 'Secret', 'base');
    await statusGone(namespace, 'Secret', 'debug-token');
  });

  it('drops the references of a Succeeded Pod and never registers a mirror Pod', async (t) => {
    const namespace = await createTestNamespace(t);
    const created = await pods.create(namespace, secretVolumePod(namespace, 'job', 'job-creds'));
    await statusWhere(
      namespace,
      'Secret',
      'job-creds',
      'refs 1',
      (s) => s.status?.referenceCount === 1,
    );

    await client.request('PUT', `${pods.objectPath(namespace, 'job')}/status`, {
      body: { ...created, status: { phase: 'Succeeded' } },
    });
    await statusGone(namespace, 'Secret', 'job-creds');

    const mirror = secretVolumePod(namespace, 'static-web', 'mirror-creds', 'node-1');
    mirror.metadata = {
      ...mirror.metadata,
      annotations: { 'kubernetes.io/config.mirror': 'hash' },
    };
    await pods.create(namespace, mirror);
    // Events of one watch arrive in order: once a later Pod is published, the mirror Pod has
    // been seen and skipped.
    await pods.create(namespace, secretVolumePod(namespace, 'after-mirror', 'sentinel'));
    await statusWhere(namespace, 'Secret', 'sentinel', 'published', (s) => s.status !== undefined);
    assert.equal(await statusOf(namespace, 'Secret', 'mirror-creds'), undefined);
  });

  it('shows an immutable ConfigMap with its reflector Stopped (Immutable)', async (t) => {
    const namespace = await createTestNamespace(t);
    await configMaps.create(namespace, {
      metadata: { name: 'frozen', namespace },
      data: { mode: 'fixed' },
      immutable: true,
    });
    await pods.create(
      namespace,
      pod(namespace, 'reader', { volumes: [{ name: 'cfg', configMap: { name: 'frozen' } }] }),
    );

    const frozen = await statusWhere(
      namespace,
      'ConfigMap',
      'frozen',
      'stopped immutable',
      (s) => s.status?.reflector?.state === 'Stopped',
    );
    assert.equal(frozen.status?.reflector?.reason, 'Immutable');
    assert.equal(frozen.status?.immutable, true);
    assert.equal(frozen.status?.found, true);
  });

  it('prints the printer columns with kubectl get cos -A', async (t) => {
    const namespace = await createTestNamespace(t);
    await configMaps.create(namespace, { metadata: { name: 'settings', namespace } });
    await pods.create(
      namespace,
      pod(namespace, 'reader', {
        nodeName: 'node-7',
        volumes: [{ name: 'cfg', configMap: { name: 'settings' } }],
      }),
    );
    await statusWhere(namespace, 'ConfigMap', 'settings', 'found', (s) => s.status?.found === true);

    const table = await kubectl(['get', 'cos', '-A']);
    const [header = '', ...rows] = table.trim().split('\n');
    assert.deepEqual(header.split(/\s+/), [
      'NAMESPACE',
      'NAME',
      'KIND',
      'OBJECT',
      'REFS',
      'NODES',
      'REFLECTOR',
      'FOUND',
      'IMMUTABLE',
      'AGE',
    ]);
    const row = rows.find((line) => line.startsWith(`${namespace} `));
    assert.deepEqual(row?.split(/\s+/).slice(0, 9), [
      namespace,
      'configmap-settings',
      'ConfigMap',
      'settings',
      '1',
      '1',
      'Running',
      'true',
      'false',
    ]);
  });

  it('repairs a resource deleted or edited by hand at the next resync', async (t) => {
    const namespace = await createTestNamespace(t);
    await secrets.create(namespace, { metadata: { name: 'kept', namespace } });
    await pods.create(namespace, secretVolumePod(namespace, 'user', 'kept'));
    const first = await statusWhere(
      namespace,
      'Secret',
      'kept',
      'refs 1',
      (s) => s.status?.referenceCount === 1,
    );

    await statuses.delete(namespace, statusName('Secret', 'kept'));
    const recreated = await statusWhere(
      namespace,
      'Secret',
      'kept',
      'created again',
      (s) => s.metadata.uid !== first.metadata.uid && s.status?.referenceCount === 1,
    );

    await client.request(
      'PATCH',
      statuses.objectPath(namespace, recreated.metadata.name ?? '', 'status'),
      {
        contentType: 'application/merge-patch+json',
        body: { status: { referenceCount: 42, found: false } },
      },
    );
    await statusWhere(
      namespace,
      'Secret',
      'kept',
      'repaired',
      (s) => s.status?.referenceCount === 1 && s.status.found === true,
    );
  });

  it('publishes an object whose name is too long for a readable resource name', async (t) => {
    const namespace = await createTestNamespace(t);
    // imagePullSecrets accepts any string; the kubelet registers it like any other name.
    const pullSecret = 'p'.repeat(300);
    await pods.create(
      namespace,
      pod(namespace, 'puller', { imagePullSecrets: [{ name: pullSecret }] }),
    );

    const resource = await statusWhere(
      namespace,
      'Secret',
      pullSecret,
      'found false',
      (s) => s.status?.found === false,
    );
    assert.match(resource.metadata.name ?? '', /^secret\.p+-[0-9a-f]{10}$/);
    assert.equal(resource.spec.name, pullSecret);
  });

  it('never writes a Secret value to a resource, a log line or a metric', async (t) => {
    const namespace = await createTestNamespace(t);
    const marker = `marker-${Math.random().toString(36).slice(2)}${Date.now()}`;
    await secrets.create(namespace, {
      metadata: { name: 'sensitive', namespace },
      stringData: { password: marker },
    });
    await pods.create(namespace, secretVolumePod(namespace, 'consumer', 'sensitive'));
    const resource = await statusWhere(
      namespace,
      'Secret',
      'sensitive',
      'found',
      (s) => s.status?.found === true,
    );

    const encoded = Buffer.from(marker).toString('base64');
    const metrics = (await operator.http('/metrics')).body;
    for (const [where, text] of [
      ['resource', JSON.stringify(resource)],
      ['logs', operator.output()],
      ['metrics', metrics],
    ] as const) {
      assert.ok(!text.includes(marker), `marker found in the ${where}`);
      assert.ok(!text.includes(encoded), `base64 marker found in the ${where}`);
    }
  });
});

describe('installation and RBAC', () => {
  it('applies with kubectl, and the ServiceAccount cannot write Secrets or ConfigMaps', async () => {
    await install();
    const subject = `--as=system:serviceaccount:${SYSTEM_NAMESPACE}:${SERVICE_ACCOUNT}`;
    const canI = async (
      verb: string,
      resource: string,
      namespace = 'default',
    ): Promise<boolean> => {
      try {
        await kubectl(['auth', 'can-i', verb, resource, `--namespace=${namespace}`, subject, '-q']);
        return true;
      } catch {
        return false;
      }
    };

    for (const resource of ['secrets', 'configmaps']) {
      for (const verb of ['create', 'update', 'patch', 'delete', 'deletecollection']) {
        assert.equal(await canI(verb, resource), false, `${verb} ${resource} must be denied`);
      }
      for (const verb of ['get', 'list', 'watch']) {
        assert.equal(await canI(verb, resource), true, `${verb} ${resource} must be allowed`);
      }
    }
    for (const verb of ['create', 'update', 'patch', 'delete']) {
      assert.equal(await canI(verb, 'pods'), false, `${verb} pods must be denied`);
    }
    assert.equal(await canI('patch', `${PLURAL}.${GROUP}`), true);
    assert.equal(await canI('update', 'leases.coordination.k8s.io', 'default'), false);
  });

  it('refuses a bad config file with the field path and exit code 2', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'objectcache-bad-config-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'config.yaml');
    await writeFile(path, 'cache:\n  maxIdleTime: soon\nstatus:\n  maxPods: many\n');

    const { code, output } = await OperatorProcess.runToExit([`--config=${path}`]);
    assert.equal(code, 2, output);
    assert.match(output, /\/cache\/maxIdleTime/);
    assert.match(output, /\/status\/maxPods/);
  });
});

describe('restarts and high availability', () => {
  it('keeps the same resources across a crash and removes the stale ones', async (t) => {
    const kubeconfigPath = await install();
    const namespace = await createTestNamespace(t);
    await pods.create(namespace, secretVolumePod(namespace, 'stays', 'kept'));
    await pods.create(namespace, secretVolumePod(namespace, 'leaves', 'dropped'));

    const first = await OperatorProcess.start({
      kubeconfigPath,
      config: testConfig({ namespaces: [namespace] }),
      podName: 'crashing',
    });
    t.after(() => first.dispose());
    const kept = await statusWhere(
      namespace,
      'Secret',
      'kept',
      'published',
      (s) => s.status !== undefined,
    );
    await statusWhere(namespace, 'Secret', 'dropped', 'published', (s) => s.status !== undefined);
    await first.kill();

    await pods.delete(namespace, 'leaves', { gracePeriodSeconds: 0 });
    await pods.create(namespace, secretVolumePod(namespace, 'arrives', 'added'));

    const second = await OperatorProcess.start({
      kubeconfigPath,
      config: testConfig({ namespaces: [namespace] }),
      podName: 'restarted',
    });
    t.after(() => second.dispose());
    await statusWhere(namespace, 'Secret', 'added', 'published', (s) => s.status !== undefined);
    await statusGone(namespace, 'Secret', 'dropped');
    const again = await statusWhere(
      namespace,
      'Secret',
      'kept',
      'refs 1',
      (s) => s.status?.referenceCount === 1,
    );
    assert.equal(again.metadata.uid, kept.metadata.uid, 'the same resource, not a new one');
    assert.equal(await second.terminate(), 0);
  });

  it('exits 0 on SIGTERM while the API server is down, and 1 when it loses the Lease', async (t) => {
    const plane = await startDedicatedControlPlane(t);
    await plane.kubectl(['apply', '-f', 'crds/']);
    await plane.kubectl(['apply', '-k', 'manifests/']);
    const token = await plane.createToken(SYSTEM_NAMESPACE, SERVICE_ACCOUNT);
    const kubeconfigPath = await plane.kubeconfigForToken(token);
    const single = await OperatorProcess.start({
      kubeconfigPath,
      config: testConfig({ leaderElection: false }),
      podName: 'single',
    });
    t.after(() => single.dispose());
    const elected = await OperatorProcess.start({
      kubeconfigPath,
      config: testConfig(),
      podName: 'elected',
    });
    t.after(() => elected.dispose());
    for (const operator of [single, elected]) {
      await eventually('the operator to lead', async () =>
        (await operator.metric('objectcache_leader').catch(() => 0)) === 1 ? true : undefined,
      );
    }

    await plane.stopApiServer();
    assert.equal(await single.terminate(), 0, single.output());
    // One that never synced its Pod watch stops just as cleanly.
    const unsynced = await OperatorProcess.start({
      kubeconfigPath,
      config: testConfig({ leaderElection: false }),
      podName: 'unsynced',
    });
    t.after(() => unsynced.dispose());
    assert.equal(
      (await unsynced.http('/readyz')).status,
      503,
      'not ready before the Pod watch synced',
    );
    assert.equal(await unsynced.terminate(), 0, unsynced.output());
    // Renewals fail for the renew deadline (3 s): the process gives up leading and exits 1 so
    // that it restarts as a fresh candidate.
    assert.equal(await elected.exited, 1, elected.output());
    assert.match(elected.output(), /"outcome":"leadershipLost"/);
  });

  it('lets exactly one of two instances write, and the other take over when it dies', async (t) => {
    const kubeconfigPath = await install();
    const namespace = await createTestNamespace(t);
    const start = (podName: string): Promise<OperatorProcess> =>
      OperatorProcess.start({
        kubeconfigPath,
        config: testConfig({ namespaces: [namespace] }),
        podName,
      });
    const one = await start('replica-one');
    t.after(() => one.dispose());
    const two = await start('replica-two');
    t.after(() => two.dispose());

    const leaderOf = async (): Promise<[OperatorProcess, OperatorProcess] | undefined> => {
      const [a, b] = await Promise.all([
        one.metric('objectcache_leader').catch(() => undefined),
        two.metric('objectcache_leader').catch(() => undefined),
      ]);
      if (a === 1 && b === 0) return [one, two];
      if (a === 0 && b === 1) return [two, one];
      return undefined;
    };
    const [leader, follower] = await eventually('one leader and one follower', leaderOf, 30_000);
    assert.equal((await follower.http('/readyz')).status, 200, 'a follower is ready');

    await pods.create(namespace, secretVolumePod(namespace, 'first', 'before-failover'));
    // The resource exists a moment before its status: wait for the status itself.
    await statusWhere(
      namespace,
      'Secret',
      'before-failover',
      'refs 1',
      (s) => s.status?.referenceCount === 1,
    );
    await eventually('the leader to count its writes', async () =>
      (await leader.metric('objectcache_status_writes_total')) > 0 ? true : undefined,
    );
    assert.equal(
      await follower.metric('objectcache_status_writes_total'),
      0,
      'the follower writes nothing',
    );

    await leader.kill();
    await eventually(
      'the follower to lead',
      async () => ((await follower.metric('objectcache_leader')) === 1 ? true : undefined),
      20_000,
    );
    await pods.create(namespace, secretVolumePod(namespace, 'second', 'after-failover'));
    await statusWhere(
      namespace,
      'Secret',
      'after-failover',
      'published',
      (s) => s.status !== undefined,
    );

    const lease = await leases.get(SYSTEM_NAMESPACE, 'objectcache-operator');
    assert.match(lease.spec?.holderIdentity ?? '', /^replica-(one|two)_/);
    assert.equal(await follower.terminate(), 0, 'SIGTERM exits 0');
    const released = await leases.get(SYSTEM_NAMESPACE, 'objectcache-operator');
    assert.notEqual(released.spec?.holderIdentity, lease.spec?.holderIdentity, 'lease released');
  });
});

after(async () => {
  await client.close();
});
