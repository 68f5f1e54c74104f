/**
 * The control-plane binaries built by `test/cluster/build.sh`: where they are, whether they are
 * all there, and how to build the missing ones. The folder is whatever `build.sh --print` says,
 * so the cache key (versions and go.sum hash) and `OBJECTCACHE_BIN_DIR` live in one place.
 */
import { execFile, spawn } from 'node:child_process';
import { access, constants, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The folder of the Go module that builds the control plane. */
export const clusterDir: string = dirname(fileURLToPath(import.meta.url));

/** The build script; run it to build missing binaries. */
export const buildScript: string = join(clusterDir, 'build.sh');

/** Paths of the built control-plane binaries. */
export interface ControlPlaneBinaries {
  readonly dir: string;
  readonly etcd: string;
  readonly kubeApiServer: string;
  readonly kubectl: string;
}

/** Versions pinned in `test/cluster/versions.env`. */
export interface ControlPlaneVersions {
  /** e.g. `v1.37.2`. */
  readonly kubernetes: string;
  /** e.g. `v3.7.3`. */
  readonly etcd: string;
}

/** Some binaries are not built yet; the message says which and how to build them. */
export class BinariesMissingError extends Error {
  override readonly name = 'BinariesMissingError';
  readonly missing: readonly string[];

  constructor(dir: string, missing: readonly string[]) {
    super(
      `control-plane binaries missing in ${dir}: ${missing.join(', ')}; ` +
        `build them with test/cluster/build.sh (takes minutes the first time)`,
    );
    this.missing = missing;
  }
}

/**
 * Finds the binaries with `build.sh --print`. Builds nothing; throws
 * {@link BinariesMissingError} when one of them is absent.
 */
export async function locateBinaries(): Promise<ControlPlaneBinaries> {
  const { stdout } = await execFileAsync(buildScript, ['--print'], { cwd: clusterDir });
  const binaries = binariesIn(lastLine(stdout));

  const missing: string[] = [];
  for (const path of [binaries.etcd, binaries.kubeApiServer, binaries.kubectl]) {
    if (!(await isExecutable(path))) {
      missing.push(path.slice(binaries.dir.length + 1));
    }
  }
  if (missing.length > 0) {
    throw new BinariesMissingError(binaries.dir, missing);
  }
  return binaries;
}

/**
 * Runs `build.sh`, which builds only what is missing (seconds when everything is there), with
 * its progress lines on this process's stderr. Resolves with the binaries; rejects if the build
 * fails.
 */
export async function buildBinaries(): Promise<ControlPlaneBinaries> {
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = spawn(buildScript, [], { cwd: clusterDir, stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      output += chunk;
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) {
        resolve(output);
      } else {
        reject(new Error(`test/cluster/build.sh failed (${signal ?? `exit code ${code}`})`));
      }
    });
  });
  return binariesIn(lastLine(stdout));
}

/** Reads the pinned versions from `versions.env`. */
export async function readVersions(): Promise<ControlPlaneVersions> {
  const text = await readFile(join(clusterDir, 'versions.env'), 'utf8');
  const value = (key: string): string => {
    const match = new RegExp(`^${key}=(\\S+)$`, 'm').exec(text);
    if (match?.[1] === undefined) {
      throw new Error(`test/cluster/versions.env has no ${key}`);
    }
    return match[1];
  };
  return { kubernetes: value('KUBERNETES_VERSION'), etcd: value('ETCD_VERSION') };
}

function binariesIn(dir: string): ControlPlaneBinaries {
  return {
    dir,
    etcd: join(dir, 'etcd'),
    kubeApiServer: join(dir, 'kube-apiserver'),
    kubectl: join(dir, 'kubectl'),
  };
}

function lastLine(output: string): string {
  const line = output.trimEnd().split('\n').pop()?.trim() ?? '';
  if (line === '') {
    throw new Error('test/cluster/build.sh printed no binary folder');
  }
  return line;
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
