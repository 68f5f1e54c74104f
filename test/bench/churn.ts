/**
 * Scenario 3, churn: create Pods at a fixed rate and delete each one after a short life (some
 * first turn terminal), for a fixed time; then compare the runner's references with the ground
 * truth computed from the API server, and its running watches with the watches the API server
 * holds open. A difference is a failure of the scenario, reported, not thrown.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { isNotFound } from '../../src/apimachinery/errors.ts';
import { describeError } from '../../src/util/logger.ts';
import { type BenchContext, pause, settlesWithin } from './context.ts';
import type { RunnerProcess } from './runner-process.ts';
import { compareWithTruth, referenceTruth, type TruthComparison } from './truth.ts';
import { churnPodNames, podManifest, ROLE_LABEL } from './workload.ts';

/** Figures of one churn run. */
export interface ChurnResult {
  readonly seconds: number;
  readonly created: number;
  readonly deleted: number;
  /** Pods turned Succeeded before their deletion. */
  readonly terminal: number;
  /** Pods alive when the churn stopped. */
  readonly survivors: number;
  /** Writes that failed (not counted above). */
  readonly writeErrors: number;
  /** How long the runner took to match the truth after the churn stopped. */
  readonly settleMs: number;
  readonly comparison: TruthComparison | undefined;
  /** Watches on Secrets and ConfigMaps the API server holds open at the end. */
  readonly apiServerWatches: number;
  /** True when references match the truth and open watches equal running items. */
  readonly ok: boolean;
  readonly failures: readonly string[];
}

/** One planned churn Pod. */
interface ChurnPod {
  readonly namespace: string;
  readonly name: string;
  readonly bornAt: number;
  readonly terminalAt: number | undefined;
  readonly deleteAt: number;
}

/** Lifetimes of churn Pods spread over [1 s, 4 s). */
const MIN_LIFE_MS = 1_000;
const LIFE_SPREAD_MS = 3_000;
/** Every fourth Pod turns Succeeded halfway through its life. */
const TERMINAL_EVERY = 4;
/** At most this many writes in flight; the schedule waits beyond. */
const MAX_IN_FLIGHT = 64;
/** How long the runner may take to match the truth after the churn. */
const SETTLE_TIMEOUT_MS = 20_000;

let churnRun = 0;

/** Runs the scenario against `runner`, then deletes the Pods it left. */
export async function runChurn(context: BenchContext, runner: RunnerProcess): Promise<ChurnResult> {
  const run = ++churnRun;
  const counters = { created: 0, deleted: 0, terminal: 0, writeErrors: 0 };
  const { options, signal } = context;
  const alive = new Map<string, ChurnPod>();
  const inFlight = new Set<Promise<void>>();
  const track = (work: Promise<void>): void => {
    const settled = work.catch((err: unknown) => {
      counters.writeErrors++;
      context.log('churn write failed', { err: describeError(err) });
    });
    inFlight.add(settled);
    void settled.finally(() => inFlight.delete(settled));
  };

  const startedAt = performance.now();
  const endAt = startedAt + options.churnSeconds * 1000;
  const intervalMs = 1000 / options.churnRate;
  const maxPods = Math.ceil(options.churnSeconds * options.churnRate) + 1;

  for (let index = 0; index < maxPods && performance.now() < endAt; index++) {
    const due = startedAt + index * intervalMs;
    if (due > performance.now()) await pause(due - performance.now(), signal);
    while (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);

    const now = performance.now();
    for (const pod of alive.values()) {
      track(advance(context, pod, now, alive, counters));
    }
    const pod = plan(context, run, index, now);
    alive.set(pod.name, pod);
    track(create(context, pod, index, counters));
  }
  await settlesWithin(Promise.all(inFlight), 30_000);

  const settledAt = performance.now();
  const outcome = await settle(context, runner);
  const result: ChurnResult = {
    seconds: (settledAt - startedAt) / 1000,
    ...counters,
    survivors: alive.size,
    settleMs: performance.now() - settledAt,
    ...outcome,
  };
  await deleteChurnPods(context);
  return result;
}

function plan(context: BenchContext, run: number, index: number, now: number): ChurnPod {
  const namespaces = context.shape.namespaces;
  const life = MIN_LIFE_MS + ((index * 7919) % LIFE_SPREAD_MS);
  return {
    namespace: namespaces[index % namespaces.length] as string,
    name: `churn-${run}-${index}`,
    bornAt: now,
    terminalAt: index % TERMINAL_EVERY === 0 ? now + life / 2 : undefined,
    deleteAt: now + life,
  };
}

async function create(
  context: BenchContext,
  pod: ChurnPod,
  index: number,
  counters: { created: number },
): Promise<void> {
  const manifest = podManifest(
    pod.namespace,
    pod.name,
    `node-${index % context.shape.nodes}`,
    churnPodNames(context.shape, index),
    'churn',
  );
  await context.resources.pods.create(pod.namespace, manifest, context.signal);
  counters.created++;
}

/** Turns a Pod terminal or deletes it when its time has come. */
async function advance(
  context: BenchContext,
  pod: ChurnPod,
  now: number,
  alive: Map<string, ChurnPod>,
  counters: { deleted: number; terminal: number },
): Promise<void> {
  if (now >= pod.deleteAt) {
    alive.delete(pod.name);
    await deletePod(context, pod.namespace, pod.name);
    counters.deleted++;
    return;
  }
  if (pod.terminalAt !== undefined && now >= pod.terminalAt) {
    alive.set(pod.name, { ...pod, terminalAt: undefined });
    await context.client.request(
      'PATCH',
      context.resources.pods.objectPath(pod.namespace, pod.name, 'status'),
      {
        body: { status: { phase: 'Succeeded' } },
        contentType: 'application/merge-patch+json',
        signal: context.signal,
      },
    );
    counters.terminal++;
  }
}

/** Deletes at once (no kubelet runs to finish a graceful deletion); absent is fine. */
async function deletePod(context: BenchContext, namespace: string, name: string): Promise<void> {
  try {
    await context.resources.pods.delete(namespace, name, {
      gracePeriodSeconds: 0,
      signal: context.signal,
    });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/**
 * Waits until the runner's items equal the truth and the API server holds as many watches as
 * the runner has running items, or the settle timeout passes; returns the last comparison.
 */
async function settle(
  context: BenchContext,
  runner: RunnerProcess,
): Promise<Pick<ChurnResult, 'comparison' | 'apiServerWatches' | 'ok' | 'failures'>> {
  const pods = await context.resources.pods.list({ namespace: '', signal: context.signal });
  const truth = referenceTruth(pods.items);
  const deadline = performance.now() + SETTLE_TIMEOUT_MS;

  for (;;) {
    const state = await runner.state();
    const comparison = compareWithTruth(truth, state.items ?? []);
    const counts = await context.readRequests();
    const failures = failuresOf(comparison, counts.watchesOpen);
    if (failures.length === 0 || performance.now() > deadline) {
      return {
        comparison,
        apiServerWatches: counts.watchesOpen,
        ok: failures.length === 0,
        failures,
      };
    }
    await pause(500, context.signal);
  }
}

function failuresOf(comparison: TruthComparison, apiServerWatches: number): string[] {
  const failures: string[] = [];
  if (comparison.missingItems > 0)
    failures.push(`${comparison.missingItems} referenced objects not held`);
  if (comparison.referenceMismatches > 0) {
    failures.push(`${comparison.referenceMismatches} items with wrong Pod references`);
  }
  if (comparison.extraItems > 0) {
    failures.push(
      `${comparison.extraItems} items no Pod references (${comparison.extraRunning} still watched)`,
    );
  }
  if (apiServerWatches !== comparison.runningItems) {
    failures.push(
      `API server holds ${apiServerWatches} watches, the runner runs ${comparison.runningItems}`,
    );
  }
  return failures;
}

/** Deletes every churn Pod left, so that the next runner starts from the base workload. */
export async function deleteChurnPods(context: BenchContext): Promise<void> {
  const pods = await context.resources.pods.list({
    namespace: '',
    labelSelector: `${ROLE_LABEL}=churn`,
    signal: context.signal,
  });
  const list: V1Pod[] = [...pods.items];
  await Promise.all(
    list.map((pod) => deletePod(context, pod.metadata?.namespace ?? '', pod.metadata?.name ?? '')),
  );
}
