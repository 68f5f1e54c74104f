/**
 * Kubeconfig files for the local control plane: one for the admin client certificate and one
 * per bearer token. Written as JSON (a subset of YAML, which every Kubernetes client reads),
 * with mode 0600 because they hold credentials.
 */
import { writeFile } from 'node:fs/promises';

/** The credentials a kubeconfig user entry carries: a client certificate or a bearer token. */
export type KubeconfigCredentials =
  { readonly clientCertPem: string; readonly clientKeyPem: string } | { readonly token: string };

/** What a kubeconfig for the local control plane needs. */
export interface KubeconfigSpec {
  readonly server: string;
  readonly caPem: string;
  /** Name of the user entry, e.g. `admin`. */
  readonly user: string;
  readonly credentials: KubeconfigCredentials;
}

const CLUSTER_NAME = 'objectcache-test';

/** Renders a kubeconfig with one cluster, one user and one current context. */
export function renderKubeconfig(spec: KubeconfigSpec): string {
  const context = `${spec.user}@${CLUSTER_NAME}`;
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: CLUSTER_NAME,
        cluster: { server: spec.server, 'certificate-authority-data': base64(spec.caPem) },
      },
    ],
    users: [{ name: spec.user, user: userEntry(spec.credentials) }],
    contexts: [{ name: context, context: { cluster: CLUSTER_NAME, user: spec.user } }],
    'current-context': context,
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** Writes {@link renderKubeconfig}'s output to `path`, readable by the owner only. */
export async function writeKubeconfig(path: string, spec: KubeconfigSpec): Promise<void> {
  await writeFile(path, renderKubeconfig(spec), { mode: 0o600 });
}

function userEntry(credentials: KubeconfigCredentials): Record<string, string> {
  if ('token' in credentials) {
    return { token: credentials.token };
  }
  return {
    'client-certificate-data': base64(credentials.clientCertPem),
    'client-key-data': base64(credentials.clientKeyPem),
  };
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
