/**
 * JSON Schema (2020-12) of the operator's YAML config file. Every field is optional and has a
 * documented default that ajv inserts (`useDefaults`); unknown fields are refused at every
 * level. Durations are strings in the `duration` format that `config.ts` registers: one or more
 * `<number><unit>` parts with units `h`, `m`, `s`, `ms` (`90s`, `5m`, `1h30m`), at least 1ms.
 */
import type { SchemaObject } from 'ajv/dist/2020.js';

import { MAX_LISTED_PODS } from '../status/types.ts';

/** Log levels, most severe first; each level includes the ones before it. */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'trace'] as const;

const duration = (defaultValue: string, description: string): SchemaObject => ({
  type: 'string',
  format: 'duration',
  maxLength: 32,
  default: defaultValue,
  description,
});

const section = (description: string, properties: Record<string, SchemaObject>): SchemaObject => ({
  type: 'object',
  description,
  additionalProperties: false,
  // An absent section becomes {} so that ajv fills in the defaults of its fields.
  default: {},
  properties,
});

/** The schema; `config.ts` compiles it with `allErrors`, `useDefaults` and strict mode. */
export const configSchema: SchemaObject = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://objectcache.dev/schemas/operator-config.json',
  title: 'objectcache-operator configuration',
  type: 'object',
  additionalProperties: false,
  properties: {
    namespaces: {
      type: 'array',
      description: 'Namespaces whose Pods are watched; empty means all namespaces.',
      uniqueItems: true,
      default: [],
      items: {
        type: 'string',
        minLength: 1,
        maxLength: 63,
        pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
      },
    },
    cache: section('The object cache (one per kind).', {
      maxIdleTime: duration(
        '5m',
        'A reflector not read for this long is stopped at the next sweep; the cache raises ' +
          'values below 1m to 1m.',
      ),
      sweepPeriod: duration('1m', 'How often idle reflectors are looked for.'),
      syncPollInterval: duration('10ms', 'How often a read checks whether the store synced.'),
      syncTimeout: duration('1s', 'How long a read waits for the store to sync.'),
    }),
    access: section('How the operator reads cached objects, the way kubelets do.', {
      volumeSyncPeriod: duration(
        '60s',
        'How often objects mounted as volumes are read again (the kubelet sync period).',
      ),
    }),
    status: section('Publishing CachedObjectStatus resources.', {
      maxPods: {
        type: 'integer',
        minimum: 0,
        maximum: MAX_LISTED_PODS,
        default: 20,
        description: 'Most Pods listed in status.pods; the reference count stays exact.',
      },
      minWriteInterval: duration('1s', 'Least time between two writes of the same resource.'),
      resyncPeriod: duration(
        '10m',
        'How often resources are listed and compared with the cache, so that resources deleted ' +
          'or edited by hand are repaired.',
      ),
      writesPerSecond: {
        type: 'number',
        exclusiveMinimum: 0,
        maximum: 10000,
        default: 20,
        description: 'Sustained rate of writes to the API server, over all resources.',
      },
      burst: {
        type: 'integer',
        minimum: 1,
        maximum: 100000,
        default: 40,
        description: 'Writes allowed at once above the sustained rate.',
      },
    }),
    leaderElection: section('Lease-based leader election; only the leader watches and writes.', {
      enabled: { type: 'boolean', default: true },
      namespace: {
        type: 'string',
        minLength: 1,
        maxLength: 63,
        pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
        description:
          'Namespace of the Lease; default: POD_NAMESPACE, else the service account ' +
          'namespace, else objectcache-system.',
      },
      leaseName: {
        type: 'string',
        minLength: 1,
        maxLength: 253,
        pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
        default: 'objectcache-operator',
      },
      leaseDuration: duration('15s', 'How long followers wait before taking over the lease.'),
      renewDeadline: duration('10s', 'How long the leader tries to renew before it steps down.'),
      retryPeriod: duration('2s', 'How often candidates try to acquire or renew.'),
    }),
    client: section('How the operator talks to the API server.', {
      http2: {
        type: 'boolean',
        default: true,
        description:
          'Multiplex every request and watch over a few HTTP/2 connections; false holds one ' +
          'HTTP/1.1 connection per watch.',
      },
    }),
    server: section('The HTTP server for /healthz, /readyz and /metrics.', {
      port: {
        type: 'integer',
        minimum: 0,
        maximum: 65535,
        default: 8080,
        description: 'TCP port; 0 picks a free port.',
      },
      host: {
        type: 'string',
        minLength: 1,
        maxLength: 253,
        description: 'Address to listen on; default: every address of the host.',
      },
    }),
    logLevel: { enum: LOG_LEVELS, default: 'info' },
  },
};
