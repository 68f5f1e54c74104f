/**
 * One runner's session: start the process, measure its cold start (scenario 1), an idle window,
 * and, when asked, propagation (scenario 2) and churn (scenario 3), then stop it. Memory and
 * connections are read from outside the process, requests from the API server's metrics, the
 * heap by the runner itself after a full collection.
 */
import { describeError } from '../../src/util/logger.ts';
import { type RequestCounts, type RequestDelta, requestDelta } from './apiserver-metrics.ts';
import { type ChurnResult, runChurn } from './churn.ts';
import { type BenchContext, pause } from './context.ts';
import { connectionsTo, processMemory } from './proc.ts';
import { type PropagationResult, runPropagation } from './propagation.ts';
import type { MemoryAnswer, OpenAnswer } from './protocol.ts';
import { RunnerProcess, type RunnerSpec } from './runner-process.ts';

/** What a session runs besides the cold start and the idle window. */
export interface SessionPlan {
  readonly propagation: boolean;
  readonly churn: boolean;
}

/** Figures of the cold start. */
export interface ColdStartResult {
  readonly pods: number;
  /** From the runner's start to its Pod watch's first list. */
  readonly podSyncMs: number;
  /** From opening the caches to every referenced object served or found missing. */
  readonly syncedMs: number;
  readonly open: OpenAnswer;
  /** Distinct referenced objects (cache items in per-object mode). */
  readonly items: number;
  /**
   * Requests on Secrets and ConfigMaps from the runner's start to a settling window after the
   * sync (watches may open after their list synced the object).
   */
  readonly requests: RequestDelta;
  /** Established TCP connections to the API server right after the sync. */
  readonly connectionsAtSync: number;
  /** The same after the idle window, once connections left idle by lists have closed. */
  readonly connections: number;
  /** Heap with the Pods known and the caches empty, after a settling pause. */
  readonly heapBaselineBytes: number;
  /** Heap with every object synced, after the idle window. */
  readonly heapAfterBytes: number;
  /** Everything the runner reported of its memory before the caches opened. */
  readonly memoryBaseline: MemoryAnswer;
  /** The same after the idle window. */
  readonly memoryAfter: MemoryAnswer;
  readonly rssBaselineBytes: number;
  readonly rssAfterBytes: number;
  /** Peak RSS up to the end of the idle window. */
  readonly peakRssBytes: number;
}

/** Figures of the idle window after the cold start. */
export interface IdleResult {
  readonly seconds: number;
  /** Requests on Secrets and ConfigMaps while nothing changed (should all be 0). */
  readonly requests: RequestDelta;
}

/** Everything one session measured. */
export interface SessionResult {
  readonly runner: string;
  readonly label: string;
  readonly implementation: 'go' | 'ts';
  readonly mode: string;
  readonly repeat: number;
  readonly coldStart?: ColdStartResult;
  readonly idle?: IdleResult;
  readonly propagation?: PropagationResult;
  readonly churn?: ChurnResult;
  /** Peak RSS over the whole session. */
  readonly peakRssBytes?: number;
  /** Requests on Secrets and ConfigMaps over the whole session, after the runner stopped. */
  readonly totalRequests?: RequestDelta;
  /** Set when the session broke; the figures above are what was measured before. */
  readonly error?: string;
}

const POD_SYNC_TIMEOUT_MS = 120_000;
const OPEN_TIMEOUT_MS = 180_000;
const QUIET_TIMEOUT_MS = 15_000;
/** Pause before the heap baseline: a fresh process frees its first buffers within seconds. */
const SETTLE_MS = 5_000;

/** Runs one session; never throws for a runner failure (it is reported in `error`). */
export async function runSession(
  context: BenchContext,
  spec: RunnerSpec,
  plan: SessionPlan,
  repeat: number,
): Promise<SessionResult> {
  const base = {
    runner: spec.key,
    label: spec.label,
    implementation: spec.implementation,
    mode: spec.mode,
    repeat,
  };
  const result: { -readonly [K in keyof SessionResult]: SessionResult[K] } = { ...base };
  await waitForQuiet(context);
  const before = await context.readRequests();
  context.log('starting runner', { runner: spec.key, repeat });
  const runner = RunnerProcess.start(spec, context.refcachePath, context.kubeconfigPath);

  try {
    const measured = await coldStartAndIdle(context, runner, before);
    result.coldStart = measured.coldStart;
    result.idle = measured.idle;
    context.log('cold start done', {
      runner: spec.key,
      syncedMs: Math.round(result.coldStart.syncedMs),
      items: result.coldStart.items,
    });
    if (plan.propagation) {
      result.propagation = await runPropagation(context, runner);
      context.log('propagation done', { runner: spec.key, p99Ms: result.propagation.p99Ms });
    }
    if (plan.churn) {
      result.churn = await runChurn(context, runner);
      context.log('churn done', { runner: spec.key, ok: result.churn.ok });
    }
    result.peakRssBytes = (await processMemory(runner.pid)).peakRssBytes;
  } catch (err) {
    if (context.signal.aborted) throw err;
    result.error = `${describeError(err)}\n${runner.stderrTail()}`;
    context.log('session failed', { runner: spec.key, err: describeError(err) });
  } finally {
    await runner.stop();
  }

  if (!context.signal.aborted) {
    await waitForQuiet(context);
    result.totalRequests = requestDelta(before, await context.readRequests());
  }
  return result;
}

/**
 * The cold start, a settling window, then the idle window: memory is measured after a pause
 * before the caches open (a fresh process frees buffers of its first requests for a few
 * seconds) and after the idle window, so that both measures see a process at rest.
 */
async function coldStartAndIdle(
  context: BenchContext,
  runner: RunnerProcess,
  before: RequestCounts,
): Promise<{ coldStart: ColdStartResult; idle: IdleResult }> {
  const pods = await runner.waitPods(POD_SYNC_TIMEOUT_MS);
  await pause(SETTLE_MS, context.signal);
  const heapBaseline = await runner.memory();
  const rssBaseline = await processMemory(runner.pid);

  const open = await runner.open(OPEN_TIMEOUT_MS);
  const connectionsAtSync = await connectionsTo(runner.pid, context.apiServerPort);

  // Watches may open a while after their list synced an object: count the cold start's
  // requests once a settling window has passed, then watch an idle window of the same length.
  const seconds = context.options.idleSeconds;
  await pause(seconds * 1000, context.signal);
  const settled = await context.readRequests();
  await pause(seconds * 1000, context.signal);
  const afterIdle = await context.readRequests();
  const heapAfter = await runner.memory();
  const rssAfter = await processMemory(runner.pid);

  const coldStart: ColdStartResult = {
    pods: pods.pods,
    podSyncMs: pods.podSyncMs,
    syncedMs: open.syncedMs,
    open,
    items: open.items.secret + open.items.configmap,
    requests: requestDelta(before, settled),
    connectionsAtSync,
    connections: await connectionsTo(runner.pid, context.apiServerPort),
    heapBaselineBytes: heapBaseline.heapBytes,
    heapAfterBytes: heapAfter.heapBytes,
    memoryBaseline: heapBaseline,
    memoryAfter: heapAfter,
    rssBaselineBytes: rssBaseline.rssBytes,
    rssAfterBytes: rssAfter.rssBytes,
    peakRssBytes: rssAfter.peakRssBytes,
  };
  return { coldStart, idle: { seconds, requests: requestDelta(settled, afterIdle) } };
}

/**
 * Waits until the API server holds no watch on Secrets or ConfigMaps but its own (the previous
 * runner's closed watches are counted when they end), at most a few seconds.
 */
async function waitForQuiet(context: BenchContext): Promise<void> {
  const deadline = performance.now() + QUIET_TIMEOUT_MS;
  while (performance.now() < deadline) {
    const counts = await context.readRequests();
    if (counts.watchesOpen === 0) return;
    await pause(200, context.signal);
  }
  context.log('watches still open before the next session');
}
