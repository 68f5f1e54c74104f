/**
 * A local Kubernetes control plane for tests: one etcd and one kube-apiserver, built from Go
 * modules by `test/cluster/build.sh`, listening on 127.0.0.1 only, with a throwaway CA, an admin
 * client certificate in `system:masters`, RBAC authorization and service-account tokens. No
 * controller-manager and no scheduler run: Pods are stored and stay unscheduled, namespaces are
 * not cleaned up by a controller, and no ServiceAccount is created automatically.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ControlPlaneAccess } from './access.ts';
import { locateBinaries } from './binaries.ts';
import type { ControlPlaneBinaries } from './binaries.ts';
import { compactToCurrentRevision, etcdArgs, etcdClientUrl } from './etcd.ts';
import type { EtcdLayout } from './etcd.ts';
import { httpGetStatus, httpsGetStatus, pollUntilReady } from './health.ts';
import type { ProbeTls } from './health.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { createControlPlanePki } from './pki.ts';
import type { CertifiedKey, ControlPlanePki } from './pki.ts';
import { freeLoopbackPorts } from './ports.ts';
import { ManagedProcess, describeExit, onProcessExit } from './process.ts';
import { createScratchDir, removeStaleScratchDirs } from './scratch.ts';

/** Receives the control plane's structured log lines. */
export type ControlPlaneLogger = (message: string, fields: Record<string, unknown>) => void;

/** Options of {@link startControlPlane}. Every field is optional. */
export interface ControlPlaneOptions {
  /**
   * Extra kube-apiserver flags, appended after the defaults so that they win, e.g.
   * `['--watch-cache-sizes=secrets#0']`. Default: none.
   */
  readonly apiServerFlags?: readonly string[];
  /** A fixed port for kube-apiserver. Default: a free loopback port. */
  readonly apiServerPort?: number;
  /** How long etcd plus kube-apiserver may take to become ready. Default: 60 s. */
  readonly readyTimeoutMs?: number;
  /** Parent of the scratch folder. Default: the OS temporary folder. */
  readonly tmpDir?: string;
  /** Binaries to run. Default: those `build.sh --print` names, which must exist. */
  readonly binaries?: ControlPlaneBinaries;
  /** Clock for certificate validity. Default: the system clock. */
  readonly now?: () => Date;
  /** Default: JSON lines on standard error. */
  readonly log?: ControlPlaneLogger;
  /** Aborts start-up: everything started so far is stopped and the start rejects. */
  readonly signal?: AbortSignal;
}

/**
 * The control plane did not start (or restart): the message carries the cause and the tail of
 * the etcd and kube-apiserver logs.
 */
export class ControlPlaneStartError extends Error {
  override readonly name = 'ControlPlaneStartError';
}

const DEFAULT_READY_TIMEOUT_MS = 60_000;
const POLL_INTERVAL_MS = 100;
const STOP_GRACE_MS = 5_000;
const MAX_START_ATTEMPTS = 3;
const LOG_TAIL_LINES = 30;
const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

/**
 * Starts etcd and kube-apiserver in a fresh scratch folder, waits until `/readyz` answers 200
 * (at most `readyTimeoutMs`), and resolves with the handle. On failure everything started is
 * stopped and the scratch folder removed before the promise rejects. Retries with new ports
 * (up to three attempts) when a chosen port was taken in the meantime.
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const startedAt = performance.now();
  const log = options.log ?? logToStderr;
  const binaries = options.binaries ?? (await locateBinaries());
  const parentDir = options.tmpDir ?? tmpdir();
  const stale = await removeStaleScratchDirs(parentDir);
  if (stale.length > 0) {
    log('removed scratch folders of control planes whose process is gone', { dirs: stale });
  }
  const workDir = await createScratchDir(parentDir);
  const unregisterExitCleanup = onProcessExit(() =>
    rmSync(workDir, { recursive: true, force: true }),
  );

  try {
    const files = await prepareWorkDir(workDir, options.now?.() ?? new Date());
    for (let attempt = 1; ; attempt += 1) {
      const plane = await startAttempt({ options, binaries, workDir, files, log });
      if (plane instanceof ControlPlane) {
        plane.onStopped(unregisterExitCleanup);
        log('control plane ready', {
          server: plane.server,
          etcd: plane.etcdUrl,
          workDir,
          startupMs: Math.round(performance.now() - startedAt),
          attempt,
        });
        return plane;
      }
      if (attempt >= MAX_START_ATTEMPTS || options.apiServerPort !== undefined) {
        throw plane.error;
      }
      log('port taken while starting, retrying with new ports', { attempt });
    }
  } catch (error) {
    await rm(workDir, { recursive: true, force: true });
    unregisterExitCleanup();
    throw error;
  }
}

/**
 * A running control plane started by {@link startControlPlane}. Besides kubectl and tokens
 * (inherited from {@link ControlPlaneAccess}), it can restart kube-apiserver, compact etcd, and
 * stop everything it started.
 */
export class ControlPlane extends ControlPlaneAccess {
  /** `http://127.0.0.1:<port>` of etcd. */
  readonly etcdUrl: string;
  /** Port of kube-apiserver; it stays the same across restarts. */
  readonly apiServerPort: number;
  /** Admin client certificate (`system:masters`), for clients that take PEM directly. */
  readonly admin: CertifiedKey;
  /** Path of the JSON file with the connection details (see `ControlPlaneAccess`). */
  readonly connectionFilePath: string;
  #etcd: ManagedProcess;
  #apiServer: ManagedProcess | undefined;
  readonly #apiServerCommand: ProcessCommand;
  readonly #tls: ProbeTls;
  readonly #readyTimeoutMs: number;
  readonly #log: ControlPlaneLogger;
  readonly #onStopped: (() => void)[] = [];
  #stopping: Promise<void> | undefined;

  /** Use {@link startControlPlane}. */
  constructor(init: ControlPlaneInit) {
    super(init.access);
    this.etcdUrl = init.etcdUrl;
    this.apiServerPort = init.apiServerPort;
    this.admin = init.admin;
    this.connectionFilePath = join(init.access.workDir, 'connection.json');
    this.#etcd = init.etcd;
    this.#apiServer = init.apiServer;
    this.#apiServerCommand = init.apiServerCommand;
    this.#tls = init.tls;
    this.#readyTimeoutMs = init.readyTimeoutMs;
    this.#log = init.log;
  }

  /** PIDs of the running etcd and kube-apiserver (undefined while it is stopped). */
  get pids(): { readonly etcd: number; readonly apiServer: number | undefined } {
    return { etcd: this.#etcd.pid, apiServer: this.#apiServer?.pid };
  }

  /**
   * Stops kube-apiserver (SIGTERM, SIGKILL after 5 s) and resolves once it has exited. etcd and
   * its data stay. Idempotent.
   */
  async stopApiServer(): Promise<void> {
    const apiServer = this.#apiServer;
    this.#apiServer = undefined;
    if (apiServer === undefined) {
      return;
    }
    const exit = await apiServer.stop(STOP_GRACE_MS);
    this.#log('api server stopped', { pid: apiServer.pid, exit: describeExit(exit) });
  }

  /**
   * Starts kube-apiserver again on the same port, with the same flags and the same etcd data,
   * and waits for `/readyz`. No-op when it is running. Rejects with
   * {@link ControlPlaneStartError} (and leaves it stopped) if it does not become ready.
   */
  async startApiServer(): Promise<void> {
    if (this.#apiServer !== undefined || this.#stopping !== undefined) {
      return;
    }

    const startedAt = performance.now();
    const apiServer = spawnProcess(this.#apiServerCommand);
    this.#apiServer = apiServer;
    try {
      await waitForApiServer(this.server, this.#tls, [this.#etcd, apiServer], this.#readyTimeoutMs);
    } catch (error) {
      this.#apiServer = undefined;
      await apiServer.stop(STOP_GRACE_MS);
      throw startError('kube-apiserver did not restart', error, [this.#etcd, apiServer]);
    }

    const restartMs = Math.round(performance.now() - startedAt);
    this.#log('api server started', { pid: apiServer.pid, restartMs });
  }

  /**
   * Compacts etcd to its current revision: every older resourceVersion is then gone, and a
   * list or watch from one fails with 410 Gone once it reaches etcd. Resolves with the revision.
   */
  async compactEtcd(): Promise<number> {
    const revision = await compactToCurrentRevision(this.etcdUrl);
    this.#log('etcd compacted', { revision });
    return revision;
  }

  /**
   * Stops kube-apiserver and then etcd (each by PID: SIGTERM, SIGKILL after 5 s), waits until
   * both have exited, and removes the scratch folder with all data, kubeconfigs and logs.
   * Idempotent: later calls resolve when the first one has finished.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stopAll();
    return this.#stopping;
  }

  /** Registers a callback run once after {@link ControlPlane.stop} has finished. */
  onStopped(callback: () => void): void {
    this.#onStopped.push(callback);
  }

  async #stopAll(): Promise<void> {
    await this.stopApiServer();

    const exit = await this.#etcd.stop(STOP_GRACE_MS);
    this.#log('etcd stopped', { pid: this.#etcd.pid, exit: describeExit(exit) });

    await rm(this.connection.workDir, { recursive: true, force: true });
    for (const callback of this.#onStopped.splice(0)) {
      callback();
    }
    this.#log('control plane stopped', { server: this.server });
  }
}

interface ControlPlaneInit {
  readonly access: ConstructorParameters<typeof ControlPlaneAccess>[0];
  readonly etcdUrl: string;
  readonly apiServerPort: number;
  readonly admin: CertifiedKey;
  readonly etcd: ManagedProcess;
  readonly apiServer: ManagedProcess;
  readonly apiServerCommand: ProcessCommand;
  readonly tls: ProbeTls;
  readonly readyTimeoutMs: number;
  readonly log: ControlPlaneLogger;
}

interface ProcessCommand {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly logPath: string;
  readonly cwd: string;
}

interface WorkDirFiles {
  readonly pki: ControlPlanePki;
  readonly caPath: string;
  readonly servingCertPath: string;
  readonly servingKeyPath: string;
  readonly serviceAccountKeyPath: string;
  readonly serviceAccountPublicKeyPath: string;
  readonly kubeconfigPath: string;
}

interface AttemptContext {
  readonly options: ControlPlaneOptions;
  readonly binaries: ControlPlaneBinaries;
  readonly workDir: string;
  readonly files: WorkDirFiles;
  readonly log: ControlPlaneLogger;
}

// A failed attempt that may be retried because a port was taken.
interface RetryableFailure {
  readonly error: Error;
}

async function prepareWorkDir(workDir: string, now: Date): Promise<WorkDirFiles> {
  const pki = createControlPlanePki({ now });
  const pkiDir = join(workDir, 'pki');
  await mkdir(pkiDir, { mode: 0o700 });

  const files = {
    pki,
    caPath: join(pkiDir, 'ca.crt'),
    servingCertPath: join(pkiDir, 'apiserver.crt'),
    servingKeyPath: join(pkiDir, 'apiserver.key'),
    serviceAccountKeyPath: join(pkiDir, 'sa.key'),
    serviceAccountPublicKeyPath: join(pkiDir, 'sa.pub'),
    kubeconfigPath: join(workDir, 'admin.kubeconfig'),
  };
  await Promise.all([
    writeFile(files.caPath, pki.ca.certPem),
    writeFile(files.servingCertPath, pki.serving.certPem),
    writeFile(files.servingKeyPath, pki.serving.keyPem, { mode: 0o600 }),
    writeFile(files.serviceAccountKeyPath, pki.serviceAccountKeyPem, { mode: 0o600 }),
    writeFile(files.serviceAccountPublicKeyPath, pki.serviceAccountPublicKeyPem),
  ]);
  return files;
}

async function startAttempt(context: AttemptContext): Promise<ControlPlane | RetryableFailure> {
  const { options, binaries, workDir, files } = context;
  const timeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const deadline = performance.now() + timeoutMs;

  const fixedPort = options.apiServerPort;
  const ports = await freeLoopbackPorts(fixedPort === undefined ? 3 : 2);
  const [clientPort = 0, peerPort = 0, freePort = 0] = ports;
  const apiServerPort = fixedPort ?? freePort;
  const server = `https://127.0.0.1:${apiServerPort}`;

  const dataDir = join(workDir, 'etcd-data');
  await rm(dataDir, { recursive: true, force: true });
  const layout: EtcdLayout = { dataDir, clientPort, peerPort };
  const etcd = spawnProcess({
    name: 'etcd',
    command: binaries.etcd,
    args: etcdArgs(layout),
    logPath: join(workDir, 'etcd.log'),
    cwd: workDir,
  });
  const started: ManagedProcess[] = [etcd];
  const tls = { caPem: files.pki.ca.certPem, ...files.pki.admin };

  try {
    await waitForEtcd(etcdClientUrl(layout), etcd, remaining(deadline), options.signal);

    const apiServerCommand = {
      name: 'kube-apiserver',
      command: binaries.kubeApiServer,
      args: apiServerArgs(files, etcdClientUrl(layout), apiServerPort, workDir, options),
      logPath: join(workDir, 'kube-apiserver.log'),
      cwd: workDir,
    };
    const apiServer = spawnProcess(apiServerCommand);
    started.push(apiServer);
    await waitForApiServer(server, tls, started, remaining(deadline), options.signal);

    const access = {
      server,
      caPem: files.pki.ca.certPem,
      kubeconfigPath: files.kubeconfigPath,
      kubectlPath: binaries.kubectl,
      workDir,
    };
    await writeKubeconfig(files.kubeconfigPath, {
      server,
      caPem: access.caPem,
      user: 'admin',
      credentials: { clientCertPem: files.pki.admin.certPem, clientKeyPem: files.pki.admin.keyPem },
    });
    const plane = new ControlPlane({
      access,
      etcdUrl: etcdClientUrl(layout),
      apiServerPort,
      admin: files.pki.admin,
      etcd,
      apiServer,
      apiServerCommand,
      tls,
      readyTimeoutMs: timeoutMs,
      log: context.log,
    });
    await plane.writeConnectionFile(plane.connectionFilePath);
    return plane;
  } catch (error) {
    await Promise.all(started.map((child) => child.stop(STOP_GRACE_MS)));
    const failure = startError('control plane did not start', error, started);
    if (options.signal?.aborted !== true && started.some(portWasTaken)) {
      return { error: failure };
    }
    throw failure;
  }
}

function apiServerArgs(
  files: WorkDirFiles,
  etcdUrl: string,
  port: number,
  workDir: string,
  options: ControlPlaneOptions,
): string[] {
  return [
    `--etcd-servers=${etcdUrl}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${port}`,
    `--cert-dir=${join(workDir, 'apiserver-certs')}`,
    `--tls-cert-file=${files.servingCertPath}`,
    `--tls-private-key-file=${files.servingKeyPath}`,
    `--client-ca-file=${files.caPath}`,
    '--authorization-mode=RBAC',
    `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
    `--service-account-key-file=${files.serviceAccountPublicKeyPath}`,
    `--service-account-signing-key-file=${files.serviceAccountKeyPath}`,
    '--disable-admission-plugins=ServiceAccount',
    '--endpoint-reconciler-type=none',
    '--service-cluster-ip-range=10.96.0.0/24',
    '--profiling=false',
    ...(options.apiServerFlags ?? []),
  ];
}

function spawnProcess(command: ProcessCommand): ManagedProcess {
  return ManagedProcess.start(command);
}

async function waitForEtcd(
  url: string,
  etcd: ManagedProcess,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  await pollUntilReady(async () => (await httpGetStatus(`${url}/health`)) === 200, {
    timeoutMs,
    intervalMs: POLL_INTERVAL_MS,
    failFast: () => exitedError([etcd]),
    signal,
  });
}

async function waitForApiServer(
  server: string,
  tls: ProbeTls,
  watched: readonly ManagedProcess[],
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  await pollUntilReady(async () => (await httpsGetStatus(`${server}/readyz`, tls)) === 200, {
    timeoutMs,
    intervalMs: POLL_INTERVAL_MS,
    failFast: () => exitedError(watched),
    signal,
  });
}

function exitedError(watched: readonly ManagedProcess[]): Error | undefined {
  const dead = watched.find((child) => child.exit !== undefined);
  if (dead?.exit === undefined) {
    return undefined;
  }
  return new Error(`${dead.name} ${describeExit(dead.exit)}`);
}

function portWasTaken(child: ManagedProcess): boolean {
  return child.logTail(LOG_TAIL_LINES).includes('address already in use');
}

function startError(
  what: string,
  cause: unknown,
  processes: readonly ManagedProcess[],
): ControlPlaneStartError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  const logs = processes.map(
    (child) =>
      `--- ${child.name} log (last ${LOG_TAIL_LINES} lines) ---\n${child.logTail(LOG_TAIL_LINES)}`,
  );
  return new ControlPlaneStartError([`${what}: ${reason}`, ...logs].join('\n'), { cause });
}

function remaining(deadline: number): number {
  return Math.max(0, deadline - performance.now());
}

function logToStderr(message: string, fields: Record<string, unknown>): void {
  const line = { level: 'info', ts: new Date().toISOString(), msg: message, ...fields };
  process.stderr.write(`${JSON.stringify(line)}\n`);
}
