/**
 * What integration test files import: the control plane shared by the whole run (started by
 * global-setup.ts), admin clients for it, a namespace per test, and dedicated control planes
 * for tests that restart or compact (which would disturb the other tests on the shared one).
 *
 * The cluster has no controller-manager, so nothing deletes a namespace's content: the
 * namespace helper does that itself and then finalizes the namespace, the way the namespace
 * controller would.
 */
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';

import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

import { CONNECTION_FILE_ENV, ControlPlaneAccess } from '../cluster/access.ts';
import type { KubectlOptions } from '../cluster/access.ts';
import { startControlPlane } from '../cluster/control-plane.ts';
import type { ControlPlane, ControlPlaneOptions } from '../cluster/control-plane.ts';

/** Label set on every namespace made by {@link createTestNamespace}. */
export const TEST_NAMESPACE_LABEL = 'objectcache.dev/test-namespace';

let shared: ControlPlaneAccess | undefined;

/**
 * The control plane shared by this test run. Throws with instructions when the file runs
 * without the global setup (run it through `npm run test:integration`).
 */
export function sharedControlPlane(): ControlPlaneAccess {
  if (shared !== undefined) {
    return shared;
  }
  const path = process.env[CONNECTION_FILE_ENV];
  if (path === undefined || path === '') {
    throw new Error(
      `${CONNECTION_FILE_ENV} is not set: run integration tests with npm run test:integration ` +
        '(or node --test --test-global-setup=test/integration/global-setup.ts <files>)',
    );
  }
  shared = ControlPlaneAccess.fromConnectionFile(path);
  return shared;
}

/** Path of the shared control plane's admin kubeconfig (`system:masters`). */
export function sharedKubeconfigPath(): string {
  return sharedControlPlane().kubeconfigPath;
}

/** A new admin `KubeConfig` for the shared control plane. Each call returns a fresh object. */
export function adminKubeConfig(): KubeConfig {
  return loadKubeConfig(sharedKubeconfigPath());
}

/** A new `KubeConfig` loaded from a kubeconfig file, e.g. one for a ServiceAccount token. */
export function loadKubeConfig(path: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromFile(path);
  return config;
}

/** Runs the built kubectl as admin against the shared control plane; resolves with stdout. */
export function kubectl(args: readonly string[], options?: KubectlOptions): Promise<string> {
  return sharedControlPlane().kubectl(args, options);
}

/**
 * Creates a namespace with a unique name derived from the test's name, and registers its
 * deletion (content first, then the namespace itself) to run after the test, pass or fail.
 * Resolves with the name.
 */
export async function createTestNamespace(t: TestContext): Promise<string> {
  const name = uniqueNamespaceName(t.name);
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespace({
    body: { metadata: { name, labels: { [TEST_NAMESPACE_LABEL]: 'true' } } },
  });
  t.after(() => deleteNamespace(sharedControlPlane(), name));
  return name;
}

/**
 * Starts a control plane for this test alone and stops it after the test. Use it for
 * destructive steps (API server restarts, etcd compaction, extra API server flags).
 */
export async function startDedicatedControlPlane(
  t: TestContext,
  options: ControlPlaneOptions = {},
): Promise<ControlPlane> {
  const plane = await startControlPlane(options);
  t.after(() => plane.stop());
  return plane;
}

/**
 * Deletes a namespace and everything in it, without a namespace controller: marks it
 * terminating (which refuses new objects), force-deletes every namespaced object in it, then
 * clears its `kubernetes` finalizer so the API server removes it. Missing namespace: no-op.
 */
export async function deleteNamespace(access: ControlPlaneAccess, name: string): Promise<void> {
  const core = loadKubeConfig(access.kubeconfigPath).makeApiClient(CoreV1Api);
  if (!(await ignoreNotFound(core.deleteNamespace({ name })))) {
    return;
  }

  const types = await access.kubectl([
    'api-resources',
    '--namespaced=true',
    '--verbs=delete,list',
    '-o',
    'name',
  ]);
  await access.kubectl([
    'delete',
    types.trim().split('\n').join(','),
    '--all',
    `--namespace=${name}`,
    '--ignore-not-found',
    '--wait=false',
    '--grace-period=0',
    '--force',
  ]);

  const namespace = await ignoreNotFound(core.readNamespace({ name }));
  if (namespace !== undefined) {
    await ignoreNotFound(
      core.replaceNamespaceFinalize({ name, body: { ...namespace, spec: { finalizers: [] } } }),
    );
  }
}

// Kubernetes names: lowercase alphanumerics and '-', at most 63 characters, alphanumeric ends.
function uniqueNamespaceName(testName: string): string {
  const stem = testName
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, 48)
    .replace(/^-+|-+$/g, '');
  return `${stem === '' ? 'test' : stem}-${randomBytes(4).toString('hex')}`;
}

async function ignoreNotFound<T>(request: Promise<T>): Promise<T | undefined> {
  try {
    return await request;
  } catch (error) {
    if (typeof error === 'object' && error !== null && 'code' in error && error.code === 404) {
      return undefined;
    }
    throw error;
  }
}
