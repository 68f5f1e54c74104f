/**
 * The operator's config file: YAML, validated against `config-schema.ts`, defaulted, and turned
 * into a typed object with durations in milliseconds. A bad file is refused as a whole with a
 * {@link ConfigError} that names every bad field by its JSON pointer.
 */
import { readFile } from 'node:fs/promises';

import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject } from 'ajv/dist/2020.js';
import { parseDocument } from 'yaml';

import { configSchema } from './config-schema.ts';
import type { LOG_LEVELS } from './config-schema.ts';

/** Namespace of the Lease when neither the config, POD_NAMESPACE nor the pod says otherwise. */
export const DEFAULT_OPERATOR_NAMESPACE = 'objectcache-system';

/** The file in which Kubernetes tells a Pod its namespace. */
export const SERVICE_ACCOUNT_NAMESPACE_FILE =
  '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** Longest accepted duration: the longest delay a Node.js timer honours (2^31 - 1 ms). */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** A log level of the config file, most severe first. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The fully defaulted configuration. Every duration is in milliseconds. */
export interface OperatorConfig {
  /** Namespaces whose Pods are watched; empty means all namespaces. Default: []. */
  readonly namespaces: readonly string[];
  readonly cache: {
    /** Default 5m. As configured: the cache itself raises values below 1m to 1m (rule 15). */
    readonly maxIdleTimeMs: number;
    /** Period of the idle sweep. Default 1m. */
    readonly sweepPeriodMs: number;
    /** How often a read checks whether the store synced. Default 10ms. */
    readonly syncPollIntervalMs: number;
    /** How long a read waits for the store to sync. Default 1s. */
    readonly syncTimeoutMs: number;
  };
  readonly access: {
    /** How often objects mounted as volumes are read again. Default 60s. */
    readonly volumeSyncPeriodMs: number;
  };
  readonly status: {
    /** Most Pods listed in `status.pods`, 0 to 100. Default 20. */
    readonly maxPods: number;
    /** Least time between two writes of the same resource. Default 1s. */
    readonly minWriteIntervalMs: number;
    /** How often resources are listed and repaired where they differ. Default 10m. */
    readonly resyncPeriodMs: number;
    /** Sustained writes per second over all resources. Default 20. */
    readonly writesPerSecond: number;
    /** Writes allowed at once above the sustained rate. Default 40. */
    readonly burst: number;
  };
  readonly leaderElection: {
    /** Default true. When false, the process acts as leader from the start. */
    readonly enabled: boolean;
    /** Namespace of the Lease. Default: the operator's own namespace. */
    readonly namespace: string;
    /** Default `objectcache-operator`. */
    readonly leaseName: string;
    /** Default 15s; always more than `renewDeadlineMs`. */
    readonly leaseDurationMs: number;
    /** Default 10s; always more than `retryPeriodMs`. */
    readonly renewDeadlineMs: number;
    /** Default 2s. */
    readonly retryPeriodMs: number;
  };
  readonly client: {
    /**
     * Multiplex requests and watches over HTTP/2 (a few connections in all) instead of one
     * HTTP/1.1 connection per watch. Default true.
     */
    readonly http2: boolean;
  };
  readonly server: {
    /** Port of /healthz, /readyz and /metrics; 0 picks a free port. Default 8080. */
    readonly port: number;
    /** Address to listen on; undefined (the default) means every address of the host. */
    readonly host: string | undefined;
  };
  /** Default `info`. */
  readonly logLevel: LogLevel;
}

/**
 * One problem of a config file: where and what. `path` is the JSON pointer of the field (`/` for
 * the whole file), or `line <l>, column <c>` for a YAML syntax error.
 */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

/**
 * A config file that cannot be used: unreadable, not YAML, or not valid against the schema.
 * The message has one line per issue, `<source>: <path>: <message>`; YAML syntax errors carry
 * their line and column. The caller exits with status 2.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** The file the issues are about, as given by the caller. */
  readonly source: string;
  readonly issues: readonly ConfigIssue[];

  constructor(source: string, issues: readonly ConfigIssue[], options?: ErrorOptions) {
    super(issues.map((issue) => `${source}: ${issue.path}: ${issue.message}`).join('\n'), options);
    this.source = source;
    this.issues = issues;
  }
}

/** True for a {@link ConfigError}. */
export function isConfigError(err: unknown): err is ConfigError {
  return err instanceof ConfigError;
}

const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|h|m|s))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration such as `90s`, `5m`, `1h30m`, `1.5s` or `10ms` (units `h`, `m`, `s`, `ms`,
 * no sign, no spaces) into whole milliseconds. Returns undefined when the text is not such a
 * duration or it is under 1ms or over {@link MAX_DURATION_MS}.
 */
export function parseDuration(text: string): number | undefined {
  if (!DURATION.test(text)) {
    return undefined;
  }

  let total = 0;
  for (const [, amount, unit] of text.matchAll(DURATION_PART)) {
    total += Number(amount) * (UNIT_MS[unit ?? ''] ?? Number.NaN);
  }

  const ms = Math.round(total);
  return ms >= 1 && ms <= MAX_DURATION_MS ? ms : undefined;
}

/**
 * Reads, validates and defaults the config file at `path`; with no path, returns the defaults.
 * The Lease namespace, unless the file sets it, is the first of: `env.POD_NAMESPACE`, the
 * content of `namespaceFile`, {@link DEFAULT_OPERATOR_NAMESPACE}. Rejects with a
 * {@link ConfigError} when the file cannot be read or is not valid; never with anything else.
 */
export async function loadConfig(
  path: string | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
  namespaceFile: string = SERVICE_ACCOUNT_NAMESPACE_FILE,
): Promise<OperatorConfig> {
  const text = path === undefined ? '' : await readConfigFile(path);

  const namespace = await operatorNamespace(env, namespaceFile);

  return parseConfig(text, path ?? '<defaults>', namespace);
}

/**
 * The namespace the operator runs in: `env.POD_NAMESPACE` (set by the Deployment through the
 * downward API), else the trimmed content of `namespaceFile`, else
 * {@link DEFAULT_OPERATOR_NAMESPACE}. A missing or unreadable file is not an error.
 */
export async function operatorNamespace(
  env: Readonly<Record<string, string | undefined>>,
  namespaceFile: string = SERVICE_ACCOUNT_NAMESPACE_FILE,
): Promise<string> {
  const fromEnv = env['POD_NAMESPACE']?.trim();
  if (fromEnv) {
    return fromEnv;
  }

  const fromFile = await readFile(namespaceFile, 'utf8').then(
    (content) => content.trim(),
    () => '',
  );
  return fromFile || DEFAULT_OPERATOR_NAMESPACE;
}

/**
 * Parses and validates config file text. `source` names the file in error messages;
 * `namespace` is the Lease namespace when the text does not set one. An empty document (or
 * one of comments only) yields the defaults. Throws a {@link ConfigError} listing every issue.
 */
export function parseConfig(text: string, source: string, namespace: string): OperatorConfig {
  const data = parseYaml(text, source);

  const issues = [...validate(data), ...crossFieldIssues(data)];
  if (issues.length > 0) {
    throw new ConfigError(source, issues);
  }

  return toOperatorConfig(data as RawConfig, namespace);
}

async function readConfigFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new ConfigError(path, [{ path: '/', message: `cannot read the file (${reason})` }], {
      cause: err,
    });
  }
}

function parseYaml(text: string, source: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const issues = doc.errors.map((err) => ({
      path: err.linePos ? `line ${err.linePos[0].line}, column ${err.linePos[0].col}` : '/',
      // The first line, without the position and the excerpt that prettyErrors appends.
      message: (err.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, ''),
    }));
    throw new ConfigError(source, issues, { cause: doc.errors[0] });
  }

  try {
    // An empty file, or one with comments only, is an empty config.
    return doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new ConfigError(source, [{ path: '/', message }], { cause: err });
  }
}

/** The data after validation with defaults inserted: durations are still strings. */
interface RawConfig {
  namespaces: string[];
  cache: {
    maxIdleTime: string;
    sweepPeriod: string;
    syncPollInterval: string;
    syncTimeout: string;
  };
  access: { volumeSyncPeriod: string };
  status: {
    maxPods: number;
    minWriteInterval: string;
    resyncPeriod: string;
    writesPerSecond: number;
    burst: number;
  };
  leaderElection: {
    enabled: boolean;
    namespace?: string;
    leaseName: string;
    leaseDuration: string;
    renewDeadline: string;
    retryPeriod: string;
  };
  client: { http2: boolean };
  server: { port: number; host?: string };
  logLevel: LogLevel;
}

/** Validates `data` in place, inserting defaults, and returns its issues. */
function validate(data: unknown): ConfigIssue[] {
  const ajv = new Ajv2020({ allErrors: true, useDefaults: true, strict: true });
  ajv.addFormat('duration', { type: 'string', validate: (s) => parseDuration(s) !== undefined });
  const check = ajv.compile(configSchema);

  if (check(data)) {
    return [];
  }
  return (check.errors ?? []).map(toIssue);
}

function toIssue(error: ErrorObject): ConfigIssue {
  const path = error.instancePath;
  const params = error.params as Record<string, unknown>;

  switch (error.keyword) {
    case 'additionalProperties':
      return {
        path: `${path}/${escapePointer(String(params['additionalProperty']))}`,
        message: 'unknown field',
      };
    case 'enum':
      return {
        path: path || '/',
        message: `must be one of: ${(params['allowedValues'] as unknown[]).join(', ')}`,
      };
    case 'format':
      return {
        path: path || '/',
        message:
          `${error.message ?? 'is invalid'} (such as "90s", "5m" or "1h30m"; ` +
          'units h, m, s, ms; from 1ms to 596h)',
      };
    default:
      return { path: path || '/', message: error.message ?? `fails "${error.keyword}"` };
  }
}

function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** Relations between fields that the schema cannot state (checked on valid-looking fields). */
function crossFieldIssues(data: unknown): ConfigIssue[] {
  const election = (data as Partial<RawConfig> | null)?.leaderElection;
  if (election === undefined || election === null || typeof election !== 'object') {
    return [];
  }

  const lease = parseDuration(String(election.leaseDuration));
  const renew = parseDuration(String(election.renewDeadline));
  const retry = parseDuration(String(election.retryPeriod));
  const issues: ConfigIssue[] = [];
  if (lease !== undefined && renew !== undefined && renew >= lease) {
    issues.push({
      path: '/leaderElection/renewDeadline',
      message: 'must be less than leaderElection.leaseDuration',
    });
  }
  if (renew !== undefined && retry !== undefined && retry >= renew) {
    issues.push({
      path: '/leaderElection/retryPeriod',
      message: 'must be less than leaderElection.renewDeadline',
    });
  }
  return issues;
}

function toOperatorConfig(raw: RawConfig, namespace: string): OperatorConfig {
  return {
    namespaces: raw.namespaces,
    cache: {
      maxIdleTimeMs: ms(raw.cache.maxIdleTime),
      sweepPeriodMs: ms(raw.cache.sweepPeriod),
      syncPollIntervalMs: ms(raw.cache.syncPollInterval),
      syncTimeoutMs: ms(raw.cache.syncTimeout),
    },
    access: { volumeSyncPeriodMs: ms(raw.access.volumeSyncPeriod) },
    status: {
      maxPods: raw.status.maxPods,
      minWriteIntervalMs: ms(raw.status.minWriteInterval),
      resyncPeriodMs: ms(raw.status.resyncPeriod),
      writesPerSecond: raw.status.writesPerSecond,
      burst: raw.status.burst,
    },
    leaderElection: {
      enabled: raw.leaderElection.enabled,
      namespace: raw.leaderElection.namespace ?? namespace,
      leaseName: raw.leaderElection.leaseName,
      leaseDurationMs: ms(raw.leaderElection.leaseDuration),
      renewDeadlineMs: ms(raw.leaderElection.renewDeadline),
      retryPeriodMs: ms(raw.leaderElection.retryPeriod),
    },
    client: { http2: raw.client.http2 },
    server: { port: raw.server.port, host: raw.server.host },
    logLevel: raw.logLevel,
  };
}

/** A duration the schema already accepted, in milliseconds. */
function ms(text: string): number {
  const value = parseDuration(text);
  if (value === undefined) {
    throw new Error(`duration ${JSON.stringify(text)} passed validation but does not parse`);
  }
  return value;
}
