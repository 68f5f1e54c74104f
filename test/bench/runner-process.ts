/**
 * A cache runner as a child process of the bench (the Go reference runner or the TypeScript
 * runner), driven over the line protocol of `protocol.ts`. Each runner is its own process so
 * that its memory and connections are its own. Children are started under `setpriv
 * --pdeathsig KILL` where available and are killed when the bench exits, so none outlives it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type {
  MemoryAnswer,
  OpenAnswer,
  RunnerCommand,
  RunnerMode,
  StateAnswer,
  TrackedAnswer,
  WaitPodsAnswer,
} from './protocol.ts';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH_DIR, '..', '..');
const SETPRIV = '/usr/bin/setpriv';
const STDERR_TAIL_LINES = 20;
const STOP_GRACE_MS = 10_000;

/** Which implementation a runner runs, and how it is configured. */
export interface RunnerSpec {
  /** Stable key in reports, e.g. `go`, `ts`, `ts-http1`. */
  readonly key: string;
  /** Shown in tables. */
  readonly label: string;
  readonly implementation: 'go' | 'ts';
  readonly mode: RunnerMode;
  /** TypeScript only: keep Secret and ConfigMap content (as the kubelet does). */
  readonly keepContent?: boolean;
  /** TypeScript only: multiplex over HTTP/2. */
  readonly http2?: boolean;
}

/** A runner reported a failure, exited, or did not answer in time. */
export class RunnerError extends Error {
  override readonly name = 'RunnerError';
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** One running runner process. */
export class RunnerProcess {
  readonly spec: RunnerSpec;
  readonly pid: number;
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, (answer: Record<string, unknown>) => void>();
  readonly #stderr: string[] = [];
  readonly #exited: Promise<number | null>;
  #nextId = 1;

  private constructor(spec: RunnerSpec, child: ChildProcess) {
    this.spec = spec;
    this.#child = child;
    this.pid = child.pid ?? -1;
    this.#exited = new Promise((done) => child.once('exit', (code) => done(code)));
    void this.#exited.then(() => {
      live.delete(child);
      for (const waiter of this.#waiting.values()) {
        waiter({ ok: false, error: `runner exited; stderr:\n${this.stderrTail()}` });
      }
      this.#waiting.clear();
    });

    if (child.stdout !== null) {
      createInterface({ input: child.stdout }).on('line', (line) => this.#onAnswer(line));
    }
    if (child.stderr !== null) {
      createInterface({ input: child.stderr }).on('line', (line) => {
        this.#stderr.push(line);
        if (this.#stderr.length > STDERR_TAIL_LINES) this.#stderr.shift();
      });
    }
  }

  /**
   * Starts a runner. `refcachePath` is the built Go runner; `kubeconfigPath` the admin
   * kubeconfig of the control plane.
   */
  static start(spec: RunnerSpec, refcachePath: string, kubeconfigPath: string): RunnerProcess {
    const [command, args] =
      spec.implementation === 'go'
        ? [refcachePath, [`-kubeconfig=${kubeconfigPath}`, `-mode=${spec.mode}`]]
        : [
            process.execPath,
            [
              '--expose-gc',
              join(BENCH_DIR, 'ts-runner.ts'),
              `--kubeconfig=${kubeconfigPath}`,
              `--mode=${spec.mode}`,
              ...(spec.keepContent === true ? ['--keep-content'] : []),
              ...(spec.http2 === true ? ['--http2'] : []),
            ],
          ];
    const [file, argv] = existsSync(SETPRIV)
      ? [SETPRIV, ['--pdeathsig', 'KILL', '--', command, ...args]]
      : [command, args];

    const child = spawn(file, argv, {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    if (child.pid === undefined) throw new RunnerError(`could not start the ${spec.key} runner`);
    live.add(child);
    installExitHook();
    return new RunnerProcess(spec, child);
  }

  waitPods(timeoutMs: number): Promise<WaitPodsAnswer> {
    return this.#send({ op: 'waitPods', timeoutMs }, timeoutMs + 5_000);
  }

  open(timeoutMs: number): Promise<OpenAnswer> {
    return this.#send({ op: 'open', timeoutMs }, timeoutMs + 5_000);
  }

  memory(): Promise<MemoryAnswer> {
    return this.#send({ op: 'memory' }, 30_000);
  }

  track(command: Extract<RunnerCommand, { op: 'track' }>): Promise<unknown> {
    return this.#send(command, 5_000);
  }

  tracked(timeoutMs: number): Promise<TrackedAnswer> {
    return this.#send({ op: 'tracked', timeoutMs }, timeoutMs + 5_000);
  }

  state(): Promise<StateAnswer> {
    return this.#send({ op: 'state' }, 30_000);
  }

  /** The last lines the runner wrote to standard error. */
  stderrTail(): string {
    return this.#stderr.join('\n');
  }

  /**
   * Asks the runner to stop, then sends SIGTERM and SIGKILL if it lingers. Idempotent; never
   * rejects. Resolves with the exit code.
   */
  async stop(): Promise<number | null> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return this.#exited;

    await this.#send({ op: 'stop' }, 5_000).catch(() => undefined);
    this.#child.stdin?.end();
    if (await settlesWithin(this.#exited, STOP_GRACE_MS)) return this.#exited;

    this.#child.kill('SIGTERM');
    if (await settlesWithin(this.#exited, STOP_GRACE_MS)) return this.#exited;
    this.#child.kill('SIGKILL');
    return this.#exited;
  }

  #send<T>(command: RunnerCommand, timeoutMs: number): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolveAnswer, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new RunnerError(`${this.spec.key} runner: no answer to ${command.op} in time`));
      }, timeoutMs);
      this.#waiting.set(id, (answer) => {
        clearTimeout(timer);
        if (answer.ok === true) resolveAnswer(answer as T);
        else {
          const error = typeof answer.error === 'string' ? answer.error : 'unknown error';
          reject(new RunnerError(`${this.spec.key} runner: ${command.op}: ${error}`));
        }
      });
      this.#child.stdin?.write(`${JSON.stringify({ id, ...command })}\n`);
    });
  }

  #onAnswer(line: string): void {
    let answer: Record<string, unknown>;
    try {
      answer = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const id = typeof answer.id === 'number' ? answer.id : -1;
    const waiter = this.#waiting.get(id);
    this.#waiting.delete(id);
    waiter?.(answer);
  }
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((done) => (timer = setTimeout(() => done(false), ms)));
  const settled = await Promise.race([promise.then(() => true), timeout]);
  clearTimeout(timer);
  return settled;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}
