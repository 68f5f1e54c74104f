/**
 * Waits until the CachedObjectStatus resources on the API server say what the demo expects,
 * reading them with kubectl as a user would.
 */
import type { ControlPlaneAccess } from '../cluster/access.ts';
import type { CachedObjectStatus } from '../../src/status/types.ts';
import { GROUP, PLURAL } from '../../src/status/types.ts';
import { done, pollUntil, waiting } from './poll.ts';
import type { ExpectedResource } from './workload.ts';

/** Options of {@link waitForResources}. */
export interface SettleOptions {
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
}

/**
 * Polls `kubectl get cachedobjectstatuses -A -o json` until the resources are exactly
 * `expected` (no more, no fewer, every count and flag as listed, every store synced). Rejects
 * with a `WaitTimeoutError` listing the differences still left when the time is up.
 */
export async function waitForResources(
  plane: ControlPlaneAccess,
  expected: readonly ExpectedResource[],
  options: SettleOptions,
): Promise<void> {
  await pollUntil(
    `${expected.length} CachedObjectStatus resources to match the workload`,
    async () => {
      const output = await plane.kubectl(['get', `${PLURAL}.${GROUP}`, '-A', '-o', 'json'], {
        signal: options.signal,
      });
      const { items } = JSON.parse(output) as { items: CachedObjectStatus[] };
      const problems = differences(expected, items);
      return problems.length === 0 ? done(undefined) : waiting(problems.join('; '));
    },
    { timeoutMs: options.timeoutMs, intervalMs: 300, signal: options.signal },
  );
}

/**
 * How `actual` differs from `expected`, one phrase per difference, in the order of `expected`
 * and then the unexpected resources. Empty when they match.
 */
export function differences(
  expected: readonly ExpectedResource[],
  actual: readonly CachedObjectStatus[],
): string[] {
  const byKey = new Map(actual.map((resource) => [keyOfResource(resource), resource]));
  const problems: string[] = [];

  for (const want of expected) {
    const key = keyOf(want.namespace, want.kind, want.name);
    const resource = byKey.get(key);
    byKey.delete(key);
    if (resource === undefined) {
      problems.push(`${key}: no resource yet`);
      continue;
    }
    const wrong = wrongFields(want, resource);
    if (wrong.length > 0) {
      problems.push(`${key}: ${wrong.join(', ')}`);
    }
  }

  for (const key of byKey.keys()) {
    problems.push(`${key}: resource still present`);
  }
  return problems;
}

function wrongFields(want: ExpectedResource, resource: CachedObjectStatus): string[] {
  const status = resource.status ?? {};
  const immutable = want.immutable === true;
  const checks: [string, unknown, unknown][] = [
    ['refs', status.referenceCount, want.refs],
    ['nodes', status.nodeCount, want.nodes],
    ['synced', status.synced, true],
    ['found', status.found, want.found],
    ['immutable', status.immutable ?? false, immutable],
    ['reflector', status.reflector?.state, immutable ? 'Stopped' : 'Running'],
  ];
  return checks
    .filter(([, got, wanted]) => got !== wanted)
    .map(([field, got, wanted]) => `${field} ${String(got)} (want ${String(wanted)})`);
}

function keyOfResource(resource: CachedObjectStatus): string {
  return keyOf(resource.metadata.namespace ?? '', resource.spec.kind, resource.spec.name);
}

function keyOf(namespace: string, kind: string, name: string): string {
  return `${namespace}/${kind}/${name}`;
}
