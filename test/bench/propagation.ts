/**
 * Scenario 2, propagation: update objects one every interval and measure, for each, the time
 * from the moment the write was sent to the moment the runner's cache first served the new
 * resourceVersion. Before each write the runner is told to start reading that object every
 * millisecond, so the figure includes at most a millisecond of polling on either side.
 */
import { type BenchContext, pause } from './context.ts';
import type { RunnerProcess } from './runner-process.ts';
import { percentile } from './stats.ts';
import { objectKey, type PlannedObject, propagationTargets } from './workload.ts';
import { type Sighting, wallClockMs } from './protocol.ts';
import { type RequestDelta, requestDelta } from './apiserver-metrics.ts';

/** Figures of one propagation run. */
export interface PropagationResult {
  readonly updates: number;
  /** Length of the scenario, from the first write to the last sighting. */
  readonly seconds: number;
  /** Updates the runner served in time. */
  readonly seen: number;
  /** Updates not served within the wait. */
  readonly pending: number;
  /** Served with a resourceVersion other than the one written (should be 0). */
  readonly wrongVersion: number;
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
  readonly maxMs: number | undefined;
  /** Round trip of the writes themselves, for scale. */
  readonly writeP50Ms: number | undefined;
  /** Requests on Secrets and ConfigMaps during the scenario (the runner's reads send none). */
  readonly requests: RequestDelta;
}

interface Write {
  readonly key: string;
  readonly sentAtMs: number;
  readonly doneAtMs: number;
  readonly resourceVersion: string;
}

/** How long the runner may take to serve the last update before it counts as pending. */
const FINAL_WAIT_MS = 10_000;

let writeCounter = 0;

/** Runs the scenario against `runner`. */
export async function runPropagation(
  context: BenchContext,
  runner: RunnerProcess,
): Promise<PropagationResult> {
  const { options, signal } = context;
  const targets = propagationTargets(context.shape, options.propagationCount);
  const before = await context.readRequests();
  const writes = new Map<string, Write>();
  const startedAt = performance.now();

  for (const [index, target] of targets.entries()) {
    const due = startedAt + index * options.propagationIntervalMs;
    const wait = due - performance.now();
    if (wait > 0) await pause(wait, signal);

    const key = objectKey(target.kind, target.namespace, target.name);
    await runner.track({
      op: 'track',
      kind: target.kind,
      namespace: target.namespace,
      name: target.name,
      resourceVersion: context.versions.get(key) ?? '',
    });
    const sentAtMs = wallClockMs();
    const resourceVersion = await update(context, target);
    writes.set(key, { key, sentAtMs, doneAtMs: wallClockMs(), resourceVersion });
    context.versions.set(key, resourceVersion);
  }

  const tracked = await runner.tracked(FINAL_WAIT_MS);
  const after = await context.readRequests();
  return {
    ...summarize(writes, tracked.seen ?? [], tracked.pending, requestDelta(before, after)),
    seconds: (performance.now() - startedAt) / 1000,
  };
}

function summarize(
  writes: ReadonlyMap<string, Write>,
  seen: readonly Sighting[],
  pending: number,
  requests: RequestDelta,
): Omit<PropagationResult, 'seconds'> {
  const latencies: number[] = [];
  let wrongVersion = 0;
  for (const sighting of seen) {
    const write = writes.get(`${sighting.kind}/${sighting.namespace}/${sighting.name}`);
    if (write === undefined) continue;
    if (sighting.resourceVersion !== write.resourceVersion) wrongVersion++;
    latencies.push(sighting.seenAtMs - write.sentAtMs);
  }
  const writeTimes = [...writes.values()].map((write) => write.doneAtMs - write.sentAtMs);
  return {
    updates: writes.size,
    seen: latencies.length,
    pending,
    wrongVersion,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: percentile(latencies, 100),
    writeP50Ms: percentile(writeTimes, 50),
    requests,
  };
}

/** Changes the object's content with a merge patch; returns the new resourceVersion. */
async function update(context: BenchContext, target: PlannedObject): Promise<string> {
  const revision = `rev-${++writeCounter}`;
  const data =
    target.kind === 'secret'
      ? { rev: Buffer.from(revision).toString('base64') }
      : { rev: revision };
  const client =
    target.kind === 'secret' ? context.resources.secrets : context.resources.configMaps;
  const updated = await context.client.request<{ metadata?: { resourceVersion?: string } }>(
    'PATCH',
    client.objectPath(target.namespace, target.name),
    { body: { data }, contentType: 'application/merge-patch+json', signal: context.signal },
  );
  return updated.metadata?.resourceVersion ?? '';
}
