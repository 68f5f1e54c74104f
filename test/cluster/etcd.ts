/**
 * The local etcd: its command line, and compaction through its HTTP/JSON gRPC gateway (the
 * same `KV.Range` and `KV.Compact` calls etcdctl makes, over plain HTTP on loopback).
 */

/** Where a local single-member etcd keeps data and listens. */
export interface EtcdLayout {
  readonly dataDir: string;
  readonly clientPort: number;
  readonly peerPort: number;
}

/** The client URL of a local etcd, `http://127.0.0.1:<clientPort>`. */
export function etcdClientUrl(layout: EtcdLayout): string {
  return `http://127.0.0.1:${layout.clientPort}`;
}

/**
 * Command-line flags for a throwaway single-member etcd on loopback. `--unsafe-no-fsync`
 * trades durability (irrelevant for a test cluster) for speed.
 */
export function etcdArgs(layout: EtcdLayout): string[] {
  const clientUrl = etcdClientUrl(layout);
  const peerUrl = `http://127.0.0.1:${layout.peerPort}`;
  return [
    '--name=objectcache-test',
    `--data-dir=${layout.dataDir}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=objectcache-test=${peerUrl}`,
    '--initial-cluster-state=new',
    '--unsafe-no-fsync',
    '--enable-grpc-gateway=true',
    '--log-level=warn',
  ];
}

/** etcd answered a gateway call with a failure. */
export class EtcdRequestError extends Error {
  override readonly name = 'EtcdRequestError';
}

/**
 * Compacts etcd's key-value history up to its current revision, so that every older revision
 * (and the resourceVersions built from them) is gone. Resolves with that revision.
 */
export async function compactToCurrentRevision(clientUrl: string): Promise<number> {
  // A range read of any key, even a missing one, returns the store's current revision.
  const probeKey = Buffer.from('/objectcache-test/revision-probe').toString('base64');
  const range = await callGateway(clientUrl, '/v3/kv/range', { key: probeKey, limit: 1 });
  const revision = Number(readRevision(range));

  await callGateway(clientUrl, '/v3/kv/compaction', { revision: String(revision), physical: true });
  return revision;
}

async function callGateway(clientUrl: string, path: string, body: unknown): Promise<unknown> {
  const response = await fetch(`${clientUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (!response.ok) {
    throw new EtcdRequestError(`etcd ${path} answered ${response.status}: ${text.slice(0, 500)}`);
  }
  return JSON.parse(text) as unknown;
}

function readRevision(rangeResponse: unknown): string {
  const header = (rangeResponse as { header?: { revision?: unknown } }).header;
  const revision = header?.revision;
  if (typeof revision !== 'string' && typeof revision !== 'number') {
    throw new EtcdRequestError('etcd range response has no header.revision');
  }
  return String(revision);
}
