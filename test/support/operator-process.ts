/**
 * Runs the operator as a separate process, exactly as a user would (`node src/main.ts`), and
 * gives tests its exit code, its JSON log lines, its metrics and its readiness.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MAIN = join(ROOT, 'src', 'main.ts');

/** Options of one operator process. */
export interface OperatorProcessOptions {
  readonly kubeconfigPath: string;
  /** Config file text (YAML). `server.port: 0` is advised so that processes never clash. */
  readonly config: string;
  /** Pod name the process reports (becomes part of its Lease identity). */
  readonly podName?: string;
  readonly logLevel?: string;
  readonly extraArgs?: readonly string[];
}

/** A running (or finished) operator process. */
export class OperatorProcess {
  readonly child: ChildProcess;
  /** Every line written to standard error and output, in order. */
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  #port: Promise<number>;
  #dir: string;

  private constructor(child: ChildProcess, dir: string) {
    this.child = child;
    this.#dir = dir;
    let portFound: (port: number) => void = () => undefined;
    this.#port = new Promise((resolvePort) => (portFound = resolvePort));

    const onData = (chunk: Buffer): void => {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue;
        this.lines.push(line);
        const port = portOf(line);
        if (port !== undefined) portFound(port);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    this.exited = new Promise((resolveExit) => {
      child.on('exit', (code) => {
        resolveExit(code);
        void rm(dir, { recursive: true, force: true });
      });
    });
  }

  /** Starts the operator with a config file written to a scratch folder. */
  static async start(options: OperatorProcessOptions): Promise<OperatorProcess> {
    const dir = await mkdtemp(join(tmpdir(), 'objectcache-operator-'));
    const configPath = join(dir, 'config.yaml');
    await writeFile(configPath, options.config);
    const child = spawn(
      process.execPath,
      [
        MAIN,
        `--kubeconfig=${options.kubeconfigPath}`,
        `--config=${configPath}`,
        ...(options.logLevel === undefined ? [] : [`--log-level=${options.logLevel}`]),
        ...(options.extraArgs ?? []),
      ],
      {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          POD_NAMESPACE: 'objectcache-system',
          POD_NAME: options.podName ?? 'objectcache-operator-test',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    return new OperatorProcess(child, dir);
  }

  /** Runs the operator to completion with these raw arguments (e.g. a bad config). */
  static async runToExit(
    args: readonly string[],
  ): Promise<{ code: number | null; output: string }> {
    const child = spawn(process.execPath, [MAIN, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((done) => child.on('exit', done));
    return { code, output };
  }

  /** The port of /healthz, /readyz and /metrics, once the process has logged it. */
  port(): Promise<number> {
    return withTimeout(this.#port, 30_000, () => `no port logged; output:\n${this.output()}`);
  }

  /** GET of one of the process's HTTP endpoints. */
  async http(path: string): Promise<{ status: number; body: string }> {
    const response = await fetch(`http://127.0.0.1:${await this.port()}${path}`);
    return { status: response.status, body: await response.text() };
  }

  /**
   * The value of one metric sample, e.g. `objectcache_leader` or `name{kind="Secret"}`. Throws
   * when the page has no such sample.
   */
  async metric(sample: string): Promise<number> {
    const { body } = await this.http('/metrics');
    for (const line of body.split('\n')) {
      if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
    }
    throw new Error(`no sample ${sample} in the metrics page`);
  }

  /** Everything the process printed so far. */
  output(): string {
    return this.lines.join('\n');
  }

  /** Sends SIGTERM and resolves with the exit code. */
  async terminate(): Promise<number | null> {
    this.child.kill('SIGTERM');
    return withTimeout(this.exited, 30_000, () => `no exit after SIGTERM:\n${this.output()}`);
  }

  /** Kills the process at once, as a crash would, and waits for it to be gone. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Ends the process if it still runs. For test teardown. */
  async dispose(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) await this.kill();
    await rm(this.#dir, { recursive: true, force: true });
  }
}

function portOf(line: string): number | undefined {
  try {
    const entry = JSON.parse(line) as { message?: string; port?: number };
    return entry.message === 'Serving health and metrics' ? entry.port : undefined;
  } catch {
    return undefined;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, describe: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(describe())), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A config file for tests: fast leader election, quick writes, a free port. */
export function testConfig(
  overrides: { namespaces?: readonly string[]; leaderElection?: boolean } = {},
): string {
  return [
    `namespaces: ${JSON.stringify(overrides.namespaces ?? [])}`,
    'status:',
    '  minWriteInterval: 200ms',
    '  resyncPeriod: 2s',
    '  writesPerSecond: 100',
    '  burst: 100',
    'leaderElection:',
    `  enabled: ${overrides.leaderElection ?? true}`,
    '  leaseDuration: 4s',
    '  renewDeadline: 3s',
    '  retryPeriod: 500ms',
    'server:',
    '  port: 0',
    '  host: 127.0.0.1',
    '',
  ].join('\n');
}
