import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

/** Where the in-cluster service-account token lives. */
const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** The kubeconfig could not be found or loaded. */
export class KubeConfigError extends Error {
  override readonly name = 'KubeConfigError';
}

/**
 * Loads the credentials in this order: the `--kubeconfig` flag, `$KUBECONFIG`, in-cluster
 * (service host variables and a mounted token), `~/.kube/config`. Nothing found is an error:
 * there is never a silent fallback to a server on localhost. Returns where it loaded from.
 */
export function loadKubeConfig(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
): { kubeConfig: KubeConfig; source: string } {
  const kubeConfig = new KubeConfig();
  const fromEnv = env.KUBECONFIG?.split(':').filter((path) => path !== '');
  const home = join(env.HOME ?? homedir(), '.kube', 'config');

  let attempted = '';
  try {
    if (flag !== undefined) {
      attempted = flag;
      kubeConfig.loadFromFile(flag);
      return checked(kubeConfig, flag);
    }
    if (fromEnv !== undefined && fromEnv.length > 0) {
      attempted = '$KUBECONFIG';
      return checked(mergeFiles(fromEnv), `$KUBECONFIG (${fromEnv.join(':')})`);
    }
    if (env.KUBERNETES_SERVICE_HOST && existsSync(IN_CLUSTER_TOKEN)) {
      attempted = 'in-cluster service account';
      kubeConfig.loadFromCluster();
      return checked(kubeConfig, 'in-cluster service account');
    }
    if (existsSync(home)) {
      attempted = home;
      kubeConfig.loadFromFile(home);
      return checked(kubeConfig, home);
    }
  } catch (err) {
    if (err instanceof KubeConfigError) throw err;
    throw new KubeConfigError(
      `cannot load the kubeconfig ${attempted}: ${describeLoadError(err)}`,
      {
        cause: err,
      },
    );
  }
  throw new KubeConfigError(
    'no kubeconfig: pass --kubeconfig, set $KUBECONFIG, run in a cluster, or create ' + home,
  );
}

/**
 * Merges kubeconfig files the way kubectl merges `$KUBECONFIG`: files that do not exist are
 * skipped, the first file to name a cluster, user or context wins, and so does the first
 * current context.
 */
function mergeFiles(paths: readonly string[]): KubeConfig {
  const merged = { clusters: [] as Named[], users: [] as Named[], contexts: [] as Named[] };
  let currentContext = '';

  for (const path of paths) {
    if (!existsSync(path)) continue;
    const file = new KubeConfig();
    file.loadFromFile(path);
    addNew(merged.clusters, file.clusters);
    addNew(merged.users, file.users);
    addNew(merged.contexts, file.contexts);
    currentContext ||= file.currentContext;
  }

  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({ ...merged, currentContext });
  return kubeConfig;
}

interface Named {
  readonly name: string;
}

function addNew(into: Named[], from: readonly Named[]): void {
  for (const entry of from) {
    if (!into.some((existing) => existing.name === entry.name)) into.push(entry);
  }
}

/**
 * Why a kubeconfig did not load, without quoting it: a YAML parser's message shows the lines
 * around the error, and those can hold a token or a key.
 */
function describeLoadError(err: unknown): string {
  const yaml = err as {
    name?: unknown;
    reason?: unknown;
    mark?: { line?: number; column?: number };
  };
  if (yaml.name === 'YAMLException') {
    const where =
      yaml.mark?.line === undefined
        ? ''
        : ` at line ${yaml.mark.line + 1}, column ${(yaml.mark.column ?? 0) + 1}`;
    return `invalid YAML${where}: ${typeof yaml.reason === 'string' ? yaml.reason : 'syntax error'}`;
  }
  return err instanceof Error ? err.message : String(err);
}

function checked(
  kubeConfig: KubeConfig,
  source: string,
): { kubeConfig: KubeConfig; source: string } {
  if (kubeConfig.getCurrentCluster() === null) {
    throw new KubeConfigError(`the kubeconfig from ${source} has no current cluster`);
  }
  return { kubeConfig, source };
}
