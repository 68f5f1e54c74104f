/**
 * The ground the operator stands on, checked against the real API server of this test run:
 * the pinned versions, the core objects and a field-selected watch through
 * `@kubernetes/client-node`, and ServiceAccount tokens with RBAC.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ApiException, AuthenticationV1Api, CoreV1Api, Watch } from '@kubernetes/client-node';
import type { KubeConfig, V1Pod, V1Secret } from '@kubernetes/client-node';

import { readVersions } from '../cluster/binaries.ts';
import {
  adminKubeConfig,
  createTestNamespace,
  deleteNamespace,
  kubectl,
  loadKubeConfig,
  sharedControlPlane,
  startDedicatedControlPlane,
} from './harness.ts';

const EVENT_TIMEOUT_MS = 10_000;

void describe('the local control plane', () => {
  void it('runs the kube-apiserver version of versions.env, seen by its kubectl', async () => {
    const pinned = await readVersions();

    const version = JSON.parse(await kubectl(['version', '--output=json'])) as {
      clientVersion?: { gitVersion?: string };
      serverVersion?: { gitVersion?: string };
    };

    assert.equal(pinned.kubernetes, 'v1.37.2');
    assert.equal(version.serverVersion?.gitVersion, pinned.kubernetes);
    assert.equal(version.clientVersion?.gitVersion, pinned.kubernetes);
  });

  void it('stores a Pod using a Secret and a ConfigMap, unscheduled, and lists all', async (t) => {
    const namespace = await createTestNamespace(t);
    const core = adminKubeConfig().makeApiClient(CoreV1Api);

    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 'db-credentials' }, stringData: { password: 'not-a-secret' } },
    });
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'app-settings' }, data: { mode: 'test' } },
    });
    await core.createNamespacedPod({ namespace, body: podUsing('db-credentials', 'app-settings') });

    const secrets = await core.listNamespacedSecret({ namespace });
    const configMaps = await core.listNamespacedConfigMap({ namespace });
    const pods = await core.listNamespacedPod({ namespace });
    assert.deepEqual(names(secrets.items), ['db-credentials']);
    assert.deepEqual(names(configMaps.items), ['app-settings']);
    assert.deepEqual(names(pods.items), ['web']);
    const pod = pods.items[0];
    assert.equal(pod?.spec?.nodeName, undefined);
    assert.equal(pod?.spec?.volumes?.[0]?.secret?.secretName, 'db-credentials');
    assert.equal(pod?.spec?.containers[0]?.envFrom?.[0]?.configMapRef?.name, 'app-settings');
  });

  void it('gives a metadata.name watch the update and delete of that Secret only', async (t) => {
    const namespace = await createTestNamespace(t);
    const config = adminKubeConfig();
    const core = config.makeApiClient(CoreV1Api);
    for (const name of ['watched', 'neighbour']) {
      await core.createNamespacedSecret({ namespace, body: labelledSecret(name, '1') });
    }
    const fieldSelector = 'metadata.name=watched';
    const listed = await core.listNamespacedSecret({ namespace, fieldSelector });
    const events = await watchSecrets(t, config, namespace, {
      fieldSelector,
      resourceVersion: listed.metadata?.resourceVersion,
    });

    // The neighbour changes first: a watch that ignored the selector would report it first.
    await relabel(core, namespace, 'neighbour', '2');
    await relabel(core, namespace, 'watched', '2');
    const modified = await events.next();
    assert.equal(modified.type, 'MODIFIED');
    assert.equal(modified.object.metadata?.name, 'watched');
    assert.equal(modified.object.metadata?.labels?.revision, '2');

    await core.deleteNamespacedSecret({ namespace, name: 'neighbour' });
    await core.deleteNamespacedSecret({ namespace, name: 'watched' });
    const deleted = await events.next();
    assert.equal(deleted.type, 'DELETED');
    assert.equal(deleted.object.metadata?.name, 'watched');
    assert.equal(events.pending(), 0);
  });

  void it('authenticates a ServiceAccount token and denies it Secrets without RBAC', async (t) => {
    const namespace = await createTestNamespace(t);
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespacedServiceAccount({
      namespace,
      body: { metadata: { name: 'reader' } },
    });

    const plane = sharedControlPlane();
    const token = await plane.createToken(namespace, 'reader');
    const asReader = loadKubeConfig(await plane.kubeconfigForToken(token));

    const review = await asReader.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    assert.equal(review.status?.userInfo?.username, `system:serviceaccount:${namespace}:reader`);
    await assert.rejects(
      asReader.makeApiClient(CoreV1Api).listNamespacedSecret({ namespace }),
      (error: unknown) => error instanceof ApiException && error.code === 403,
    );
  });

  void it('deletes a test namespace with its content, Pods bound to a node included', async (t) => {
    const namespace = await createTestNamespace(t);
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespacedSecret({ namespace, body: labelledSecret('leftover', '1') });
    await core.createNamespacedPod({ namespace, body: podUsing('leftover', 'absent', 'node-a') });

    await deleteNamespace(sharedControlPlane(), namespace);

    await assert.rejects(
      core.readNamespace({ name: namespace }),
      (error: unknown) => error instanceof ApiException && error.code === 404,
    );
    const pods = await core.listPodForAllNamespaces({
      fieldSelector: `metadata.namespace=${namespace}`,
    });
    const secrets = await core.listSecretForAllNamespaces({
      fieldSelector: `metadata.namespace=${namespace}`,
    });
    assert.deepEqual([...names(pods.items), ...names(secrets.items)], []);
  });

  void it('restarts a dedicated API server on its port, and compacts etcd to 410', async (t) => {
    const plane = await startDedicatedControlPlane(t);
    const core = loadKubeConfig(plane.kubeconfigPath).makeApiClient(CoreV1Api);
    const created = await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'before-compaction' } },
    });
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'after-it' } },
    });

    const compactedAt = await plane.compactEtcd();
    await plane.stopApiServer();
    await plane.startApiServer();

    assert.ok(compactedAt > Number(created.metadata?.resourceVersion));
    const listed = await core.listNamespacedConfigMap({ namespace: 'default' });
    assert.deepEqual(names(listed.items), ['after-it', 'before-compaction']);
    await assert.rejects(
      core.listNamespacedConfigMap({
        namespace: 'default',
        resourceVersion: created.metadata?.resourceVersion,
        resourceVersionMatch: 'Exact',
      }),
      (error: unknown) => error instanceof ApiException && error.code === 410,
    );
  });
});

interface WatchEvent {
  readonly type: string;
  readonly object: V1Secret;
}

interface WatchEvents {
  /** The next event, waiting at most {@link EVENT_TIMEOUT_MS}. */
  next(): Promise<WatchEvent>;
  /** Events received and not yet taken. */
  pending(): number;
}

// Starts a watch that lives until the test ends, queueing its events for `next()`.
async function watchSecrets(
  t: { after(fn: () => void): void },
  config: KubeConfig,
  namespace: string,
  query: Record<string, string | undefined>,
): Promise<WatchEvents> {
  const queue: WatchEvent[] = [];
  const waiters: ((event: WatchEvent) => void)[] = [];
  let ended: unknown;

  const controller = await new Watch(config).watch(
    `/api/v1/namespaces/${namespace}/secrets`,
    query,
    (type, object: V1Secret) => {
      const event = { type, object };
      const waiter = waiters.shift();
      if (waiter === undefined) {
        queue.push(event);
      } else {
        waiter(event);
      }
    },
    (error: unknown) => {
      ended = error ?? new Error('watch ended');
    },
  );
  t.after(() => controller.abort());

  return {
    pending: () => queue.length,
    next: () => {
      const queued = queue.shift();
      if (queued !== undefined) {
        return Promise.resolve(queued);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const reason = ended instanceof Error ? `: watch ended (${ended.message})` : '';
          reject(new Error(`no watch event within ${EVENT_TIMEOUT_MS} ms${reason}`));
        }, EVENT_TIMEOUT_MS);
        waiters.push((event) => {
          clearTimeout(timer);
          resolve(event);
        });
      });
    },
  };
}

async function relabel(
  core: CoreV1Api,
  namespace: string,
  name: string,
  revision: string,
): Promise<void> {
  const current = await core.readNamespacedSecret({ namespace, name });
  await core.replaceNamespacedSecret({
    namespace,
    name,
    body: { ...current, metadata: { ...current.metadata, labels: { revision } } },
  });
}

function labelledSecret(name: string, revision: string): V1Secret {
  return { metadata: { name, labels: { revision } }, stringData: { token: `value-${revision}` } };
}

function podUsing(secretName: string, configMapName: string, nodeName?: string): V1Pod {
  return {
    metadata: { name: 'web' },
    spec: {
      nodeName,
      containers: [
        {
          name: 'web',
          image: 'registry.k8s.io/pause:3.10',
          envFrom: [{ configMapRef: { name: configMapName } }],
          volumeMounts: [{ name: 'credentials', mountPath: '/etc/credentials' }],
        },
      ],
      volumes: [{ name: 'credentials', secret: { secretName } }],
    },
  };
}

function names(items: readonly { metadata?: { name?: string } }[]): string[] {
  return items.map((item) => item.metadata?.name ?? '').sort();
}
