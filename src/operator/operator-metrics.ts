import type { ObjectCacheMetrics } from '../cache/object-cache.ts';
import type { ReflectorCounters } from '../cache/reflector.ts';
import type { PublisherMetrics } from '../status/publisher.ts';
import { type MetricFamily, renderMetrics } from './metrics.ts';

/** The figures the operator exposes; parts are absent while following. */
export interface OperatorFigures {
  readonly leader: boolean;
  readonly secrets: ObjectCacheMetrics | undefined;
  readonly configMaps: ObjectCacheMetrics | undefined;
  readonly registeredPods: number;
  readonly podWatch: ReflectorCounters | undefined;
  readonly publisher: PublisherMetrics | undefined;
}

/** A per-kind figure of the object caches: metric name, help, type, and how to read it. */
type CacheFamily = readonly [
  string,
  string,
  'gauge' | 'counter',
  (m: ObjectCacheMetrics) => number,
];

const CACHE_GAUGES: readonly CacheFamily[] = [
  ['objectcache_cache_items', 'Objects held by the cache.', 'gauge', (m) => m.items],
  [
    'objectcache_cache_running_reflectors',
    'Cache items whose list+watch is running.',
    'gauge',
    (m) => m.runningReflectors,
  ],
  [
    'objectcache_cache_references',
    'Sum over items of the Pods referencing them.',
    'gauge',
    (m) => m.references,
  ],
];

const CACHE_COUNTERS: readonly CacheFamily[] = [
  ['objectcache_cache_lists_total', 'Lists sent by the cache.', 'counter', (m) => m.lists],
  ['objectcache_cache_watches_total', 'Watches opened by the cache.', 'counter', (m) => m.watches],
  [
    'objectcache_cache_watch_restarts_total',
    'Lists and watches retried after a failure.',
    'counter',
    (m) => m.watchRestarts,
  ],
  [
    'objectcache_cache_relists_total',
    'Lists sent again after 410 Gone.',
    'counter',
    (m) => m.relists,
  ],
];

/**
 * Renders the operator's figures in Prometheus text format. Labels carry kinds and results
 * only: never an object's name, and never its content.
 */
export function collectMetrics(figures: OperatorFigures): string {
  const caches = kinds(figures);
  const perKind = ([name, help, type, pick]: CacheFamily): MetricFamily => ({
    name,
    help,
    type,
    samples: caches.map(([kind, metrics]) => ({ labels: { kind }, value: pick(metrics) })),
  });
  const gets: MetricFamily = {
    name: 'objectcache_cache_gets_total',
    help: 'Reads of the cache by result.',
    type: 'counter',
    samples: caches.flatMap(([kind, metrics]) =>
      Object.entries(metrics.gets).map(([result, value]) => ({ labels: { kind, result }, value })),
    ),
  };
  const publisher = figures.publisher;

  const families: MetricFamily[] = [
    gauge(
      'objectcache_leader',
      'Whether this process leads (1) or follows (0).',
      figures.leader ? 1 : 0,
    ),
    ...CACHE_GAUGES.map(perKind),
    gets,
    ...CACHE_COUNTERS.map(perKind),
    gauge(
      'objectcache_registered_pods',
      'Pods registered with the caches.',
      figures.registeredPods,
    ),
    counter(
      'objectcache_pod_watch_restarts_total',
      'Pod lists and watches retried after a failure.',
      figures.podWatch?.watchRestarts ?? 0,
    ),
    counter(
      'objectcache_status_writes_total',
      'CachedObjectStatus writes.',
      publisher?.writes ?? 0,
    ),
    counter(
      'objectcache_status_deletes_total',
      'CachedObjectStatus deletions.',
      publisher?.deletes ?? 0,
    ),
    counter(
      'objectcache_status_write_failures_total',
      'Failed CachedObjectStatus writes (retried).',
      publisher?.failures ?? 0,
    ),
    gauge(
      'objectcache_status_pending',
      'CachedObjectStatus resources waiting to be written.',
      publisher?.pending ?? 0,
    ),
  ];
  return renderMetrics(families);
}

function kinds(figures: OperatorFigures): [string, ObjectCacheMetrics][] {
  const out: [string, ObjectCacheMetrics][] = [];
  if (figures.secrets) out.push(['Secret', figures.secrets]);
  if (figures.configMaps) out.push(['ConfigMap', figures.configMaps]);
  return out;
}

function gauge(name: string, help: string, value: number): MetricFamily {
  return { name, help, type: 'gauge', samples: [{ value }] };
}

function counter(name: string, help: string, value: number): MetricFamily {
  return { name, help, type: 'counter', samples: [{ value }] };
}
