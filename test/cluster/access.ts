/**
 * Client-side access to a running local control plane: the built kubectl with the admin
 * kubeconfig, service-account tokens, and kubeconfigs for those tokens. It needs only the
 * connection details, so a test process can use a control plane another process started.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { writeKubeconfig } from './kubeconfig.ts';

/**
 * Environment variable holding the path of a connection file (see
 * {@link ControlPlaneAccess.writeConnectionFile}) of a control plane shared by test processes.
 */
export const CONNECTION_FILE_ENV = 'OBJECTCACHE_TEST_CONTROL_PLANE';

/** Environment variable holding the admin kubeconfig path of the shared control plane. */
export const KUBECONFIG_ENV = 'OBJECTCACHE_TEST_KUBECONFIG';

/** Everything a client needs to reach a running control plane. Serializable as JSON. */
export interface ControlPlaneConnection {
  /** `https://127.0.0.1:<port>`. */
  readonly server: string;
  /** The CA that signed the serving certificate and the admin client certificate. */
  readonly caPem: string;
  /** Kubeconfig of the admin user (`system:masters`). */
  readonly kubeconfigPath: string;
  /** The kubectl built at the same version as the API server. */
  readonly kubectlPath: string;
  /** Scratch folder of the control plane, removed when it stops. */
  readonly workDir: string;
}

/** Options of {@link ControlPlaneAccess.kubectl}. */
export interface KubectlOptions {
  /** Written to kubectl's standard input (e.g. a manifest for `apply -f -`). */
  readonly input?: string;
  /** Use this kubeconfig instead of the admin one. */
  readonly kubeconfigPath?: string;
  /** Give up after this long; kubectl is killed. Default: 60 s. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** Options of {@link ControlPlaneAccess.createToken}. */
export interface TokenOptions {
  /** Requested lifetime in seconds; the server may shorten it. Default: the server's (1 h). */
  readonly durationSeconds?: number;
  /** Audiences of the token. Default: the API server's. */
  readonly audiences?: readonly string[];
}

/**
 * kubectl exited with a failure. The message names the kubectl verb (the first two arguments
 * only, since later ones may carry values) and the tail of its standard error.
 */
export class KubectlError extends Error {
  override readonly name = 'KubectlError';
  readonly exitCode: number | null;
  readonly stderr: string;

  constructor(verb: string, exitCode: number | null, stderr: string, options?: ErrorOptions) {
    const reason = exitCode === null ? 'was killed' : `exited with code ${exitCode}`;
    super(`kubectl ${verb} ${reason}: ${stderr.trim().slice(-2_000)}`, options);
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

const DEFAULT_KUBECTL_TIMEOUT_MS = 60_000;

/** kubectl, tokens and kubeconfigs against one running control plane. */
export class ControlPlaneAccess {
  readonly connection: ControlPlaneConnection;

  constructor(connection: ControlPlaneConnection) {
    this.connection = connection;
  }

  /**
   * Reads connection details written by {@link ControlPlaneAccess.writeConnectionFile}.
   * Synchronous, so that test modules can call it while they load.
   */
  static fromConnectionFile(path: string): ControlPlaneAccess {
    const connection = JSON.parse(readFileSync(path, 'utf8')) as ControlPlaneConnection;
    return new ControlPlaneAccess(connection);
  }

  /** `https://127.0.0.1:<port>`. */
  get server(): string {
    return this.connection.server;
  }

  /** PEM of the cluster CA. */
  get caPem(): string {
    return this.connection.caPem;
  }

  /** Path of the admin kubeconfig. */
  get kubeconfigPath(): string {
    return this.connection.kubeconfigPath;
  }

  /**
   * Writes the connection details as JSON to `path` (mode 0600), for other processes to open
   * with {@link ControlPlaneAccess.fromConnectionFile}.
   */
  async writeConnectionFile(path: string): Promise<void> {
    await writeFile(path, `${JSON.stringify(this.connection, null, 2)}\n`, { mode: 0o600 });
  }

  /**
   * Runs the built kubectl with the admin kubeconfig (or `options.kubeconfigPath`) and resolves
   * with its standard output. Rejects with {@link KubectlError} on a non-zero exit, and kills
   * kubectl when the timeout passes or the signal aborts.
   */
  kubectl(args: readonly string[], options: KubectlOptions = {}): Promise<string> {
    const timeout = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_KUBECTL_TIMEOUT_MS);
    const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
    const fullArgs = [
      `--kubeconfig=${options.kubeconfigPath ?? this.connection.kubeconfigPath}`,
      `--cache-dir=${join(this.connection.workDir, 'kubectl-cache')}`,
      ...args,
    ];
    return runKubectl(this.connection.kubectlPath, fullArgs, args.slice(0, 2).join(' '), {
      input: options.input,
      signal,
    });
  }

  /** Issues a token for a ServiceAccount with `kubectl create token`. */
  async createToken(
    namespace: string,
    serviceAccount: string,
    options: TokenOptions = {},
  ): Promise<string> {
    const args = ['create', 'token', serviceAccount, `--namespace=${namespace}`];
    if (options.durationSeconds !== undefined) {
      args.push(`--duration=${options.durationSeconds}s`);
    }
    for (const audience of options.audiences ?? []) {
      args.push(`--audience=${audience}`);
    }
    return (await this.kubectl(args)).trim();
  }

  /**
   * Writes a kubeconfig that authenticates with `token` (and trusts the cluster CA) into the
   * control plane's scratch folder, and resolves with its path. Each call writes a new file.
   */
  async kubeconfigForToken(token: string): Promise<string> {
    const dir = join(this.connection.workDir, 'kubeconfigs');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, `token-${randomUUID()}.kubeconfig`);
    await writeKubeconfig(path, {
      server: this.connection.server,
      caPem: this.connection.caPem,
      user: 'token',
      credentials: { token },
    });
    return path;
  }
}

function runKubectl(
  kubectlPath: string,
  args: readonly string[],
  verb: string,
  options: { input: string | undefined; signal: AbortSignal },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(kubectlPath, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      signal: options.signal,
      killSignal: 'SIGKILL',
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    // kubectl may exit before reading its input; that is its answer, not ours to report.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');

    child.once('error', (error) => {
      reject(new KubectlError(verb, null, Buffer.concat(stderr).toString(), { cause: error }));
    });
    child.once('close', (code) => {
      if (code === 0) {
        resolve(Buffer.concat(stdout).toString());
      } else {
        reject(new KubectlError(verb, code, Buffer.concat(stderr).toString()));
      }
    });
  });
}
