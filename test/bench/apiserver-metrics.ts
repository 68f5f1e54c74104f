/**
 * Requests as the API server counts them, from its own `/metrics`: the same yardstick for both
 * runners. `apiserver_request_total` counts a request when it ends (a watch when it closes),
 * and `apiserver_longrunning_requests` is the number of watches open now, so the watches a
 * client opened over a period is the growth of the first plus the growth of the second.
 */
import { request } from 'node:https';

/** TLS material of a client allowed to read `/metrics` (the admin of the control plane). */
export interface ScrapeTls {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** One sample of the Prometheus text format. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Requests on the cached kinds, summed over Secrets and ConfigMaps. */
export interface RequestCounts {
  /** Completed LIST requests. */
  readonly lists: number;
  /** Completed (closed) WATCH requests. */
  readonly watchesClosed: number;
  /** WATCH requests open now. */
  readonly watchesOpen: number;
  /** Completed GET requests of single objects. */
  readonly gets: number;
}

/** The resources whose requests are counted. */
export const CACHED_RESOURCES: readonly string[] = ['secrets', 'configmaps'];

/** GETs `/metrics` from the API server at `server` (https://127.0.0.1:port). */
export function scrapeMetrics(server: string, tls: ScrapeTls): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${server}/metrics`,
      { ca: tls.caPem, cert: tls.certPem, key: tls.keyPem, timeout: 30_000 },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => {
          if (response.statusCode === 200) resolve(body);
          else reject(new Error(`GET /metrics answered ${response.statusCode}`));
        });
        response.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('GET /metrics timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** Parses the samples of a Prometheus text page; comments and malformed lines are skipped. */
export function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  const line = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
  for (const raw of text.split('\n')) {
    if (raw.startsWith('#')) continue;
    const match = line.exec(raw);
    if (match === null) continue;
    const [, name = '', labelText = '', value = ''] = match;
    samples.push({ name, labels: parseLabels(labelText), value: Number(value) });
  }
  return samples;
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const pair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const match of text.matchAll(pair)) {
    const [, key = '', value = ''] = match;
    labels[key] = value.replace(/\\(.)/g, (_, escaped: string) =>
      escaped === 'n' ? '\n' : escaped,
    );
  }
  return labels;
}

/** Sums the samples named `name` whose labels include every pair of `match`. */
export function sumSamples(
  samples: readonly Sample[],
  name: string,
  match: (labels: Readonly<Record<string, string>>) => boolean,
): number {
  let sum = 0;
  for (const sample of samples) {
    if (sample.name === name && match(sample.labels)) sum += sample.value;
  }
  return sum;
}

/** The request figures for `resources` (default: Secrets and ConfigMaps). */
export function requestCounts(
  samples: readonly Sample[],
  resources: readonly string[] = CACHED_RESOURCES,
): RequestCounts {
  const total = (verb: string): number =>
    sumSamples(
      samples,
      'apiserver_request_total',
      (labels) => labels.verb === verb && resources.includes(labels.resource ?? ''),
    );
  return {
    lists: total('LIST'),
    watchesClosed: total('WATCH'),
    gets: total('GET'),
    watchesOpen: sumSamples(
      samples,
      'apiserver_longrunning_requests',
      (labels) => labels.verb === 'WATCH' && resources.includes(labels.resource ?? ''),
    ),
  };
}

/** What happened between two counts: lists and gets sent, watches opened, watches open now. */
export interface RequestDelta {
  readonly lists: number;
  readonly gets: number;
  /** Watches opened in between: those closed meanwhile plus the growth of those open. */
  readonly watchesOpened: number;
  readonly watchesOpen: number;
}

/** The requests between `before` and `after`. */
export function requestDelta(before: RequestCounts, after: RequestCounts): RequestDelta {
  return {
    lists: after.lists - before.lists,
    gets: after.gets - before.gets,
    watchesOpened:
      after.watchesClosed - before.watchesClosed + (after.watchesOpen - before.watchesOpen),
    watchesOpen: after.watchesOpen,
  };
}

/** Reads the request counts of the cached kinds from the API server now. */
export async function readRequestCounts(server: string, tls: ScrapeTls): Promise<RequestCounts> {
  return requestCounts(parseSamples(await scrapeMetrics(server, tls)));
}
