/**
 * The operator end to end at the cold-start scale: `node src/main.ts` with a config file and
 * the admin kubeconfig, the CRD applied. Measures the time from its start until every
 * `CachedObjectStatus` is published and agrees with the ground truth (synced, found as the
 * object exists, reference count), then the status writes per second while nothing changes.
 */
import { join } from 'node:path';
import { describeError } from '../../src/util/logger.ts';
import { ResourceClient } from '../../src/kube/resource.ts';
import { statusName } from '../../src/status/naming.ts';
import { type CachedObjectStatus, GROUP, PLURAL, VERSION } from '../../src/status/types.ts';
import type { CachedObjectKind } from '../../src/status/types.ts';
import { OperatorProcess } from '../support/operator-process.ts';
import { type BenchContext, pause } from './context.ts';
import { connectionsTo, processMemory } from './proc.ts';
import { referenceTruth } from './truth.ts';

/** Figures of the operator run. */
export interface OperatorResult {
  /** Objects the truth says must be published. */
  readonly expected: number;
  /** Resources that agreed with the truth at the end of the wait. */
  readonly published: number;
  /** From the process start until every resource agreed; undefined if it never did. */
  readonly publishedMs: number | undefined;
  /** The configured sustained write rate, which bounds the time above. */
  readonly writesPerSecond: number;
  readonly writesAtPublished: number | undefined;
  /** From the process start until the publisher had nothing pending. */
  readonly drainedMs: number | undefined;
  /**
   * Writes after everything was published and before the idle window, which starts once the
   * first volume-sync re-read (60 s after start) is over: reads that timed out while the cache
   * was starting are retried then, and what they find (an immutable object) is published.
   */
  readonly lateWrites: number | undefined;
  /** Reads of the operator's caches by result, summed over both kinds, before the idle window. */
  readonly gets: Record<string, number> | undefined;
  readonly idleSeconds: number;
  /** Status writes per second while nothing changed (expected 0). */
  readonly idleWritesPerSecond: number | undefined;
  readonly peakRssBytes: number | undefined;
  readonly connections: number | undefined;
  readonly error?: string;
}

const PUBLISH_TIMEOUT_MS = 300_000;
const POLL_MS = 1_000;
const WRITES_PER_SECOND = 20;
/** The operator's default volume sync period, plus a margin for the re-reads to finish. */
const FIRST_RESYNC_DONE_MS = 65_000;
const GET_RESULTS = ['hit', 'notFound', 'syncTimeout', 'notRegistered'] as const;

const ROOT = join(import.meta.dirname, '..', '..');

/** The operator's config for the bench: defaults, except no leader election and a free port. */
function operatorConfig(): string {
  return [
    'namespaces: []',
    'leaderElection:',
    '  enabled: false',
    'server:',
    '  port: 0',
    '  host: 127.0.0.1',
    '',
  ].join('\n');
}

/** Runs the operator scenario; never throws for an operator failure (reported in `error`). */
export async function runOperator(context: BenchContext): Promise<OperatorResult> {
  const pods = await context.resources.pods.list({ namespace: '', signal: context.signal });
  const truth = referenceTruth(pods.items);
  const existing = new Set(context.versions.keys());
  const statuses = new ResourceClient<CachedObjectStatus>(context.client, {
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
  });

  const startedAt = performance.now();
  const operator = await OperatorProcess.start({
    kubeconfigPath: context.kubeconfigPath,
    config: operatorConfig(),
    podName: 'objectcache-operator-bench',
  });
  const result = {
    expected: truth.size,
    published: 0,
    publishedMs: undefined as number | undefined,
    writesPerSecond: WRITES_PER_SECOND,
    writesAtPublished: undefined as number | undefined,
    drainedMs: undefined as number | undefined,
    lateWrites: undefined as number | undefined,
    gets: undefined as Record<string, number> | undefined,
    idleSeconds: context.options.operatorIdleSeconds,
    idleWritesPerSecond: undefined as number | undefined,
    peakRssBytes: undefined as number | undefined,
    connections: undefined as number | undefined,
    error: undefined as string | undefined,
  };

  try {
    await operator.port();
    const deadline = startedAt + PUBLISH_TIMEOUT_MS;
    while (performance.now() < deadline) {
      const list = await statuses.list({ namespace: '', signal: context.signal });
      result.published = countAgreeing(list.items, truth, existing);
      if (result.published === truth.size) {
        result.publishedMs = performance.now() - startedAt;
        break;
      }
      await pause(POLL_MS, context.signal);
    }
    context.log('operator published', { published: result.published, expected: truth.size });

    const pid = operator.child.pid ?? -1;
    result.connections = await connectionsTo(pid, context.apiServerPort);
    result.writesAtPublished = await operator.metric('objectcache_status_writes_total');
    result.drainedMs = await waitForDrain(context, operator, startedAt + PUBLISH_TIMEOUT_MS);
    const idleFrom = startedAt + FIRST_RESYNC_DONE_MS;
    if (performance.now() < idleFrom) await pause(idleFrom - performance.now(), context.signal);

    result.gets = await getsByResult(operator);
    const writesBefore = await operator.metric('objectcache_status_writes_total');
    result.lateWrites = writesBefore - result.writesAtPublished;
    await pause(result.idleSeconds * 1000, context.signal);
    const writesAfter = await operator.metric('objectcache_status_writes_total');
    result.idleWritesPerSecond = (writesAfter - writesBefore) / result.idleSeconds;
    result.peakRssBytes = (await processMemory(pid)).peakRssBytes;
  } catch (err) {
    if (context.signal.aborted) throw err;
    result.error = describeError(err);
    context.log('operator scenario failed', { err: result.error });
  } finally {
    const code = await operator.terminate().catch(() => undefined);
    if (code !== 0) await operator.dispose();
  }
  return result;
}

/** Waits until the publisher has nothing pending; returns the time since start, if it did. */
async function waitForDrain(
  context: BenchContext,
  operator: OperatorProcess,
  deadline: number,
): Promise<number | undefined> {
  const startedAt = deadline - PUBLISH_TIMEOUT_MS;
  while (performance.now() < deadline) {
    if ((await operator.metric('objectcache_status_pending')) === 0) {
      return performance.now() - startedAt;
    }
    await pause(POLL_MS, context.signal);
  }
  return undefined;
}

/** The operator's cache reads by result, summed over both kinds. */
async function getsByResult(operator: OperatorProcess): Promise<Record<string, number>> {
  const gets: Record<string, number> = {};
  for (const result of GET_RESULTS) {
    gets[result] = 0;
    for (const kind of ['Secret', 'ConfigMap']) {
      gets[result] += await operator.metric(
        `objectcache_cache_gets_total{kind="${kind}",result="${result}"}`,
      );
    }
  }
  return gets;
}

/** Counts the resources that agree with the truth: synced, found as expected, right count. */
function countAgreeing(
  items: readonly CachedObjectStatus[],
  truth: ReadonlyMap<string, ReadonlySet<string>>,
  existing: ReadonlySet<string>,
): number {
  const byName = new Map(
    items.map((item) => [`${item.metadata.namespace}/${item.metadata.name}`, item]),
  );
  let agreeing = 0;
  for (const [key, uids] of truth) {
    const [kind, namespace, name] = key.split('/') as [string, string, string];
    const cosKind: CachedObjectKind = kind === 'secret' ? 'Secret' : 'ConfigMap';
    const status = byName.get(`${namespace}/${statusName(cosKind, name)}`)?.status;
    if (
      status?.synced === true &&
      status.found === existing.has(key) &&
      status.referenceCount === uids.size
    ) {
      agreeing++;
    }
  }
  return agreeing;
}

/** Path of the CRD folder, for `kubectl apply -f`. */
export const CRDS_DIR = join(ROOT, 'crds');
