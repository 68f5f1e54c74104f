/**
 * The operator as the demo runs it: a local process (`node src/main.ts`) with a token of its own
 * ServiceAccount and a config for a quick demo.
 */
import type { ControlPlaneAccess } from '../cluster/access.ts';
import { OperatorProcess } from '../support/operator-process.ts';
import { done, pollUntil, waiting } from './poll.ts';

/** Namespace and name of the operator's ServiceAccount, as `manifests/` creates it. */
export const OPERATOR_SERVICE_ACCOUNT = {
  namespace: 'objectcache-system',
  name: 'objectcache-operator',
} as const;

/** Name of the operator's Lease, in its ServiceAccount's namespace (the config's default). */
export const LEASE_NAME = 'objectcache-operator';

/**
 * The demo's config: the defaults of `manifests/config.yaml`, except quick status writes, a
 * short Lease, and health and metrics on a free loopback port.
 */
export const DEMO_CONFIG = [
  'status:',
  '  minWriteInterval: 200ms',
  '  writesPerSecond: 100',
  '  burst: 100',
  'leaderElection:',
  '  leaseDuration: 6s',
  '  renewDeadline: 4s',
  '  retryPeriod: 1s',
  'server:',
  '  port: 0',
  '  host: 127.0.0.1',
  '',
].join('\n');

/** The operator ended while the demo still needed it; the message has its exit code. */
export class OperatorExitedError extends Error {
  override readonly name = 'OperatorExitedError';
}

/**
 * Issues a one-hour token of the operator's ServiceAccount, writes a kubeconfig for it, and
 * starts the operator with that kubeconfig and {@link DEMO_CONFIG}. Resolves once the process is
 * spawned; see {@link waitUntilLeading}.
 */
export async function startOperator(plane: ControlPlaneAccess): Promise<OperatorProcess> {
  const { namespace, name } = OPERATOR_SERVICE_ACCOUNT;
  const token = await plane.createToken(namespace, name, { durationSeconds: 3600 });
  const kubeconfigPath = await plane.kubeconfigForToken(token);
  return OperatorProcess.start({
    kubeconfigPath,
    config: DEMO_CONFIG,
    podName: 'objectcache-operator-demo',
  });
}

/**
 * Waits until the operator serves `/readyz` with 200 and reports `objectcache_leader 1`, and
 * resolves with its health port. Rejects with {@link OperatorExitedError} as soon as the
 * process ends, and with a `WaitTimeoutError` after `timeoutMs`.
 */
export async function waitUntilLeading(
  operator: OperatorProcess,
  options: { readonly timeoutMs: number; readonly signal: AbortSignal },
): Promise<number> {
  const exited = operator.exited.then((code) => {
    throw new OperatorExitedError(`the operator exited with code ${String(code)}`);
  });
  // Only one of the two promises settles first; the other one's rejection is expected.
  exited.catch(() => undefined);
  const port = await Promise.race([operator.port(), exited]);

  await pollUntil(
    'the operator to be ready and hold the Lease',
    async () => {
      if (isExited(operator)) {
        await exited;
      }
      const ready = await operator.http('/readyz').catch(() => ({ status: 0 }));
      const leader = await operator.metric('objectcache_leader').catch(() => undefined);
      if (ready.status !== 200) {
        return waiting(`/readyz answers ${ready.status === 0 ? 'nothing' : ready.status}`);
      }
      return leader === 1 ? done(undefined) : waiting(`objectcache_leader is ${String(leader)}`);
    },
    options,
  );
  return port;
}

/** True once the operator process has ended. */
export function isExited(operator: OperatorProcess): boolean {
  return operator.child.exitCode !== null || operator.child.signalCode !== null;
}

/**
 * Sends SIGTERM and resolves with the exit code once the operator has exited, or undefined when
 * it was still running after `graceMs` and had to be killed. Resolves at once with the code of
 * an operator that already exited.
 */
export async function stopOperator(
  operator: OperatorProcess,
  graceMs: number,
): Promise<number | null | undefined> {
  if (!isExited(operator)) {
    operator.child.kill('SIGTERM');
  }

  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), graceMs);
  });
  const outcome = await Promise.race([operator.exited, timedOut]);
  clearTimeout(timer);
  if (outcome !== 'timeout') {
    return outcome;
  }

  await operator.dispose();
  return undefined;
}

/** A one-line account of the operator's cache from its `/metrics` page. */
export async function cacheSummary(operator: OperatorProcess): Promise<string> {
  const metric = (sample: string): Promise<number> => operator.metric(sample);
  const [secrets, configMaps, runningSecrets, runningConfigMaps, pods] = await Promise.all([
    metric('objectcache_cache_items{kind="Secret"}'),
    metric('objectcache_cache_items{kind="ConfigMap"}'),
    metric('objectcache_cache_running_reflectors{kind="Secret"}'),
    metric('objectcache_cache_running_reflectors{kind="ConfigMap"}'),
    metric('objectcache_registered_pods'),
  ]);
  return (
    `/metrics: ${pods} Pods registered, ${secrets} Secrets and ` +
    `${configMaps} ConfigMaps cached, ${runningSecrets + runningConfigMaps} watches running`
  );
}
