/**
 * `npm run bench`: the TypeScript cache side by side with the kubelet's own watching managers
 * on one local control plane. Builds what is missing, starts the control plane, creates the
 * workload, runs each runner as its own process one after the other on the same objects, runs
 * the operator end to end, and writes `bench/results/<date>-<time>.{json,md}`; the Markdown
 * goes to standard output, progress to standard error.
 *
 * Benchmarks never fail on speed: the exit code is 0 unless something broke (1) or the run was
 * interrupted (130). Every process started here is stopped, also on failure and on SIGINT.
 *
 *   npm run bench -- [--scale N] [--repeat N] [--churn-seconds S] [--churn-rate R]
 *     [--propagation-count N] [--propagation-interval-ms MS] [--idle-seconds S]
 *     [--operator-idle-seconds S] [--no-variants] [--no-informer] [--no-operator] [--out DIR]
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../src/kube/client.ts';
import { describeError } from '../../src/util/logger.ts';
import { buildBinaries, readVersions } from '../cluster/binaries.ts';
import { type ControlPlane, startControlPlane } from '../cluster/control-plane.ts';
import { readRequestCounts } from './apiserver-metrics.ts';
import type { BenchContext, BenchLog, BenchOptions } from './context.ts';
import { CRDS_DIR, type OperatorResult, runOperator } from './operator-scenario.ts';
import {
  type BenchReport,
  derivedNotes,
  type Environment,
  METHOD_NOTES,
  renderMarkdown,
} from './report.ts';
import type { RunnerSpec } from './runner-process.ts';
import { runSession, type SessionResult } from './session.ts';
import { benchResources, createWorkload, planObjects, workloadShape } from './workload.ts';

const execFileAsync = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..', '..');

const GO: RunnerSpec = {
  key: 'go',
  label: 'kubelet (Go)',
  implementation: 'go',
  mode: 'perObject',
};
const TS: RunnerSpec = {
  key: 'ts',
  label: 'TypeScript',
  implementation: 'ts',
  mode: 'perObject',
  keepContent: true,
  http2: true,
};
const VARIANTS: readonly RunnerSpec[] = [
  {
    key: 'ts-default',
    label: 'TS, content dropped',
    implementation: 'ts',
    mode: 'perObject',
    http2: true,
  },
  { ...TS, key: 'ts-http1', label: 'TS, HTTP/1.1', http2: false },
];
const INFORMERS: readonly RunnerSpec[] = [
  { key: 'go-informer', label: 'Go informer', implementation: 'go', mode: 'informer' },
  { ...TS, key: 'ts-informer', label: 'TS informer', mode: 'informer' },
];

const log: BenchLog = (message, fields = {}) => {
  process.stderr.write(
    `${JSON.stringify({ ts: new Date().toISOString(), msg: message, ...fields })}\n`,
  );
};

function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      scale: { type: 'string', default: '1' },
      repeat: { type: 'string', default: '1' },
      'churn-seconds': { type: 'string', default: '60' },
      'churn-rate': { type: 'string', default: '10' },
      'propagation-count': { type: 'string' },
      'propagation-interval-ms': { type: 'string', default: '50' },
      'idle-seconds': { type: 'string', default: '5' },
      'operator-idle-seconds': { type: 'string', default: '30' },
      'no-variants': { type: 'boolean', default: false },
      'no-informer': { type: 'boolean', default: false },
      'no-operator': { type: 'boolean', default: false },
      out: { type: 'string', default: join(ROOT, 'bench', 'results') },
    },
    strict: true,
  });
  const number = (name: string, text: string, min: number, max: number): number => {
    const value = Number(text);
    if (!Number.isFinite(value) || value < min || value > max) {
      throw new Error(`--${name} must be a number from ${min} to ${max}`);
    }
    return value;
  };
  const scale = number('scale', values.scale, 0.05, 50);
  return {
    scale,
    repeat: Math.round(number('repeat', values.repeat, 1, 20)),
    churnSeconds: number('churn-seconds', values['churn-seconds'], 1, 3600),
    churnRate: number('churn-rate', values['churn-rate'], 0.1, 1000),
    propagationCount: Math.round(
      number('propagation-count', values['propagation-count'] ?? String(200 * scale), 1, 100_000),
    ),
    propagationIntervalMs: number(
      'propagation-interval-ms',
      values['propagation-interval-ms'],
      1,
      60_000,
    ),
    idleSeconds: number('idle-seconds', values['idle-seconds'], 1, 3600),
    operatorIdleSeconds: number('operator-idle-seconds', values['operator-idle-seconds'], 1, 3600),
    variants: !values['no-variants'],
    informer: !values['no-informer'],
    operator: !values['no-operator'],
    outDir: resolve(values.out),
  };
}

async function environment(client: KubeClient): Promise<Environment> {
  const versions = await readVersions();
  const go = await execFileAsync('go', ['version']).then(
    (out) => out.stdout.trim().replace(/^go version /, ''),
    () => 'go (unknown)',
  );
  const server = await client.request<{ gitVersion?: string }>('GET', '/version').then(
    (body) => body.gitVersion ?? 'unknown',
    () => 'unknown',
  );
  const cpuList = cpus();
  return {
    date: new Date().toISOString(),
    machine: {
      cpus: cpuList.length,
      cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
      memoryBytes: totalmem(),
      kernel: release(),
    },
    versions: {
      node: process.version,
      go,
      kubernetes: versions.kubernetes,
      etcd: versions.etcd,
      apiServer: server,
    },
  };
}

/** Every session of the run, in order; the pair alternates which goes first. */
async function runSessions(context: BenchContext): Promise<SessionResult[]> {
  const sessions: SessionResult[] = [];
  const full = { propagation: true, churn: true };
  for (let repeat = 0; repeat < context.options.repeat; repeat++) {
    const pair = repeat % 2 === 0 ? [GO, TS] : [TS, GO];
    for (const spec of pair) sessions.push(await runSession(context, spec, full, repeat));
  }
  if (context.options.variants) {
    for (const spec of VARIANTS) {
      sessions.push(await runSession(context, spec, { propagation: true, churn: false }, 0));
    }
  }
  if (context.options.informer) {
    for (const spec of INFORMERS) {
      sessions.push(await runSession(context, spec, { propagation: false, churn: false }, 0));
    }
  }
  return sessions;
}

async function countObjects(context: BenchContext): Promise<number> {
  const lists = await Promise.all([
    context.resources.secrets.list({ namespace: '', signal: context.signal }),
    context.resources.configMaps.list({ namespace: '', signal: context.signal }),
  ]);
  return lists[0].items.length + lists[1].items.length;
}

async function writeReport(report: BenchReport, outDir: string): Promise<string> {
  const markdown = renderMarkdown(report);
  const stamp = report.environment.date
    .replace(/\.\d+Z$/, '')
    .replace(/:/g, '')
    .replace('T', '-');
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, `${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(outDir, `${stamp}.md`), markdown);
  log('report written', {
    json: join(outDir, `${stamp}.json`),
    markdown: join(outDir, `${stamp}.md`),
  });
  return markdown;
}

async function run(options: BenchOptions, signal: AbortSignal): Promise<void> {
  const binaries = await buildBinaries();
  let plane: ControlPlane | undefined;
  let client: KubeClient | undefined;
  try {
    plane = await startControlPlane({ binaries, signal });
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(plane.kubeconfigPath);
    client = new KubeClient(kubeConfig, { userAgent: 'bench' });
    const shape = workloadShape(options.scale);
    const resources = benchResources(client);

    log('creating the workload', { namespaces: shape.namespaces.length });
    const created = await createWorkload(resources, shape, plane.caPem, signal);
    log('workload created', {
      objects: created.objects,
      pods: created.pods,
      elapsedMs: Math.round(created.elapsedMs),
    });

    const server = plane.server;
    const tls = { caPem: plane.caPem, ...plane.admin };
    const ownWatches = (await readRequestCounts(server, tls)).watchesOpen;
    log('API server watches of its own on Secrets and ConfigMaps', { watches: ownWatches });
    const context: BenchContext = {
      server,
      apiServerPort: plane.apiServerPort,
      kubeconfigPath: plane.kubeconfigPath,
      tls,
      readRequests: async () => {
        const counts = await readRequestCounts(server, tls);
        return { ...counts, watchesOpen: counts.watchesOpen - ownWatches };
      },
      refcachePath: join(binaries.dir, 'refcache'),
      client,
      resources,
      shape,
      versions: created.versions,
      options,
      signal,
      log,
    };
    const env = await environment(client);
    const sessions = await runSessions(context);
    const informerObjectsHeld = options.informer ? await countObjects(context) : undefined;

    let operator: OperatorResult | undefined;
    if (options.operator) {
      await plane.kubectl(['apply', '-f', CRDS_DIR]);
      operator = await runOperator(context);
    }

    const planned = planObjects(shape);
    const report: BenchReport = {
      environment: env,
      options: { ...options },
      workload: {
        namespaces: shape.namespaces.length,
        pods: created.pods,
        referencedObjects: planned.filter((o) => o.referenced).length,
        missingReferenced: planned.filter((o) => o.referenced && !o.exists).length,
        immutableReferenced: planned.filter((o) => o.referenced && o.immutable).length,
        objectsCreated: created.objects,
        apiServerOwnWatches: ownWatches,
      },
      sessions,
      informerObjectsHeld,
      operator,
      notes: [...derivedNotes(sessions), ...METHOD_NOTES],
    };
    process.stdout.write(await writeReport(report, options.outDir));
  } finally {
    await client?.close();
    await plane?.stop();
  }
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${describeError(err)}\n`);
    return 2;
  }

  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    log('interrupted, stopping everything', { signal });
    controller.abort(new Error(`interrupted by ${signal}`));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    await run(options, controller.signal);
    return 0;
  } catch (err) {
    if (controller.signal.aborted) return 130;
    process.stderr.write(`bench: ${describeError(err)}\n`);
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${describeError(err)}\n`);
    process.exit(1);
  },
);
