/**
 * The TypeScript side of the benchmarks: this project's cache (or the informer alternative),
 * fed by this project's Pod watch and Pod registry, driven over the line protocol of
 * `protocol.ts` exactly as the Go reference runner is. Run it with `--expose-gc` so that heap
 * figures are measured after a full collection.
 *
 *   node --expose-gc test/bench/ts-runner.ts --kubeconfig FILE [--mode perObject|informer]
 *     [--keep-content] [--http2]
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { V1Pod } from '@kubernetes/client-node';
import { KubeConfig } from '@kubernetes/client-node';
import { isNotFound } from '../../src/apimachinery/errors.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { ResourceClient } from '../../src/kube/resource.ts';
import { PodWatch } from '../../src/pods/pod-watch.ts';
import { PodRegistry } from '../../src/pods/registry.ts';
import { describeError } from '../../src/util/logger.ts';
import type {
  CachedKind,
  MemoryAnswer,
  OpenAnswer,
  RunnerCommand,
  RunnerMode,
  WaitPodsAnswer,
} from './protocol.ts';
import { type CacheUnderTest, cacheUnderTest } from './ts-caches.ts';
import { ChangeTracker } from './ts-tracker.ts';

interface Flags {
  readonly kubeconfig: string;
  readonly mode: RunnerMode;
  readonly keepContent: boolean;
  readonly http2: boolean;
}

/** An object some registered Pod references. */
interface ObjectRef {
  readonly kind: CachedKind;
  readonly namespace: string;
  readonly name: string;
}

/** The runner: a Pod watch feeding a registry feeding the cache under test. */
class Runner {
  readonly #startedAt = performance.now();
  readonly #client: KubeClient;
  readonly #cache: CacheUnderTest;
  readonly #registry: PodRegistry;
  readonly #podWatch: PodWatch;
  readonly tracker: ChangeTracker;

  constructor(flags: Flags) {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(flags.kubeconfig);
    this.#client = new KubeClient(kubeConfig, { userAgent: 'ts-runner', http2: flags.http2 });
    this.#cache = cacheUnderTest({
      client: this.#client,
      mode: flags.mode,
      keepContent: flags.keepContent,
    });
    this.#registry = new PodRegistry({
      secrets: this.#cache.sinks.secret,
      configMaps: this.#cache.sinks.configmap,
    });
    this.#podWatch = new PodWatch({
      listerWatcher: new ResourceClient<V1Pod>(this.#client, {
        group: '',
        version: 'v1',
        plural: 'pods',
      }),
      registry: this.#registry,
    });
    this.tracker = new ChangeTracker((kind, namespace, name) =>
      this.#cache.resourceVersion(kind, namespace, name),
    );
  }

  start(): void {
    this.#podWatch.start();
  }

  async waitPods(timeoutMs: number): Promise<WaitPodsAnswer> {
    await withTimeout(this.#podWatch.whenSynced(), timeoutMs, 'the Pod watch did not sync');
    return {
      pods: this.#registry.size,
      podSyncMs: performance.now() - this.#startedAt,
      heapBytes: memory().heapBytes,
    };
  }

  async open(timeoutMs: number): Promise<OpenAnswer> {
    const openedAt = performance.now();
    await this.#cache.open(this.#registry, timeoutMs);
    const result = await this.#syncAll(openedAt + timeoutMs);
    return { ...result, syncedMs: performance.now() - openedAt };
  }

  /**
   * Gets every referenced object in parallel, in rounds, until each one was served or found
   * missing, or the deadline passed; a get that timed out waiting for its watch is retried in
   * the next round.
   */
  async #syncAll(deadline: number): Promise<Omit<OpenAnswer, 'syncedMs'>> {
    let pending = this.#referenced();
    const items: Record<CachedKind, number> = { secret: 0, configmap: 0 };
    for (const ref of pending) items[ref.kind]++;

    let found = 0;
    let notFound = 0;
    let rounds = 0;
    let failedGets = 0;
    while (pending.length > 0 && performance.now() < deadline) {
      rounds++;
      const outcomes = await Promise.allSettled(
        pending.map((ref) => this.#cache.resourceVersion(ref.kind, ref.namespace, ref.name)),
      );
      const retry: ObjectRef[] = [];
      outcomes.forEach((outcome, index) => {
        if (outcome.status === 'fulfilled') found++;
        else if (isNotFound(outcome.reason)) notFound++;
        else {
          failedGets++;
          retry.push(pending[index] as ObjectRef);
        }
      });
      pending = retry;
    }
    return { items, found, notFound, unsynced: pending.length, rounds, failedGets };
  }

  #referenced(): ObjectRef[] {
    const seen = new Map<string, ObjectRef>();
    for (const uid of this.#registry.uids()) {
      const pod = this.#registry.pod(uid);
      if (pod === undefined) continue;
      const { namespace } = pod;
      for (const name of pod.references.secrets) {
        seen.set(`secret/${namespace}/${name}`, { kind: 'secret', namespace, name });
      }
      for (const name of pod.references.configMaps) {
        seen.set(`configmap/${namespace}/${name}`, { kind: 'configmap', namespace, name });
      }
    }
    return [...seen.values()];
  }

  state(): { items: ReturnType<CacheUnderTest['state']> } {
    return { items: this.#cache.state() };
  }

  async stop(): Promise<void> {
    await this.#podWatch.stop();
    await this.#cache.stop();
    await this.#client.close();
  }
}

/** Live heap after full collections (requires `--expose-gc`). */
function memory(): MemoryAnswer {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run the TypeScript runner with --expose-gc');
  gc();
  gc();
  const usage = process.memoryUsage();
  return {
    heapBytes: usage.heapUsed,
    externalBytes: usage.external,
    heapHeldBytes: usage.heapTotal,
    arrayBuffersBytes: usage.arrayBuffers,
  };
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs one command; the answer's fields without `id` and `ok`. */
async function handle(runner: Runner, command: RunnerCommand): Promise<object> {
  switch (command.op) {
    case 'waitPods':
      return runner.waitPods(command.timeoutMs);
    case 'open':
      return runner.open(command.timeoutMs);
    case 'memory':
      return memory();
    case 'track':
      runner.tracker.track(command.kind, command.namespace, command.name, command.resourceVersion);
      return {};
    case 'tracked':
      return runner.tracker.results(command.timeoutMs);
    case 'state':
      return runner.state();
    case 'stop':
      return {};
  }
}

function answer(fields: object): void {
  process.stdout.write(`${JSON.stringify(fields)}\n`);
}

async function serve(runner: Runner): Promise<void> {
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    let command: RunnerCommand & { id: number };
    try {
      command = JSON.parse(line) as RunnerCommand & { id: number };
    } catch {
      answer({ id: 0, ok: false, error: 'malformed command' });
      continue;
    }
    try {
      const fields = await handle(runner, command);
      answer({ ...fields, id: command.id, ok: true });
    } catch (err) {
      answer({ id: command.id, ok: false, error: describeError(err) });
    }
    if (command.op === 'stop') return;
  }
}

function parseFlags(argv: string[]): Flags {
  const { values } = parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: 'string' },
      mode: { type: 'string', default: 'perObject' },
      'keep-content': { type: 'boolean', default: false },
      http2: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.kubeconfig === undefined) throw new Error('--kubeconfig is required');
  if (values.mode !== 'perObject' && values.mode !== 'informer') {
    throw new Error('--mode must be perObject or informer');
  }
  return {
    kubeconfig: values.kubeconfig,
    mode: values.mode,
    keepContent: values['keep-content'],
    http2: values.http2,
  };
}

async function main(): Promise<number> {
  const runner = new Runner(parseFlags(process.argv.slice(2)));
  const onSignal = (): void => process.exit(0);
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);

  runner.start();
  try {
    await serve(runner);
  } finally {
    await runner.stop();
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ts-runner: ${describeError(err)}\n`);
    process.exit(1);
  },
);
