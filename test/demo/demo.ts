/**
 * `npm run demo`: the operator on a local control plane, end to end, in well under a minute
 * once the control plane is built.
 *
 * It starts etcd and kube-apiserver on 127.0.0.1, applies `crds/` and `manifests/` with kubectl,
 * runs the operator as a local process with a token of its own ServiceAccount, creates a small
 * workload, prints `kubectl get cachedobjectstatuses -A`, changes the workload, prints the table
 * again, and stops everything it started. Exit code 0 on success; 1 with the reason and the
 * operator's last log lines on a failure; 130 when interrupted (SIGINT or SIGTERM). Everything
 * started is stopped in every case.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { BinariesMissingError, buildBinaries, locateBinaries } from '../cluster/binaries.ts';
import type { ControlPlaneBinaries } from '../cluster/binaries.ts';
import { startControlPlane } from '../cluster/control-plane.ts';
import type { ControlPlane } from '../cluster/control-plane.ts';
import type { OperatorProcess } from '../support/operator-process.ts';
import { GROUP, PLURAL } from '../../src/status/types.ts';
import { Narrator, secondsSince } from './narrator.ts';
import {
  LEASE_NAME,
  OPERATOR_SERVICE_ACCOUNT,
  cacheSummary,
  isExited,
  startOperator,
  stopOperator,
  waitUntilLeading,
} from './operator.ts';
import { waitForResources } from './settle.ts';
import {
  DELETED_POD,
  EXPECTED_AFTER,
  EXPECTED_BEFORE,
  FINISHED_POD,
  LATE_SECRET,
  NODES,
  lateSecretManifest,
  namespaceManifests,
  workloadManifests,
} from './workload.ts';
import type { ExpectedResource, Manifest } from './workload.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const STEPS = 7;
const SETTLE_TIMEOUT_MS = 30_000;
const LEADER_TIMEOUT_MS = 30_000;
const OPERATOR_STOP_GRACE_MS = 20_000;
const LOG_TAIL_LINES = 20;

/** The demo was interrupted by a signal; the message names it. */
export class DemoInterruptedError extends Error {
  override readonly name = 'DemoInterruptedError';
}

/** The operator did not exit 0 after SIGTERM. */
export class OperatorShutdownError extends Error {
  override readonly name = 'OperatorShutdownError';
}

/** What the demo started, so that it can stop it whatever happens. */
interface Started {
  plane?: ControlPlane;
  operator?: OperatorProcess;
  /** Control-plane log lines, shown only when the demo fails. */
  readonly planeLog: string[];
}

async function main(): Promise<number> {
  const startedAt = performance.now();
  const say = new Narrator((text) => process.stdout.write(text), STEPS);
  const started: Started = { planeLog: [] };
  const controller = new AbortController();
  const interrupt = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\n${signal}: stopping everything the demo started\n`);
    controller.abort(new DemoInterruptedError(`interrupted by ${signal}`));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  // Last resort if this process exits without the cleanup below (an uncaught error).
  process.once('exit', () => {
    if (started.operator !== undefined && !isExited(started.operator)) {
      started.operator.child.kill('SIGKILL');
    }
  });

  try {
    await runDemo(say, started, controller.signal);
    say.line(`Demo finished in ${secondsSince(startedAt)}.`);
    return 0;
  } catch (error) {
    reportFailure(error, started, controller.signal);
    return controller.signal.aborted ? 130 : 1;
  } finally {
    await cleanUp(started);
  }
}

async function runDemo(say: Narrator, started: Started, signal: AbortSignal): Promise<void> {
  say.line("objectcache-operator demo: the kubelet's Secret and ConfigMap cache, cluster-wide\n");

  const plane = await startPlane(say, started, signal);

  await install(say, plane, signal);

  const operator = await runOperator(say, plane, started, signal);

  await createWorkload(say, plane, signal);

  say.step('Waiting for the operator to publish one resource per referenced object');
  await settle(say, plane, EXPECTED_BEFORE, signal);
  await show(say, plane, ['get', 'cachedobjectstatuses', '-A'], signal);

  say.step('Changing things');
  await changeWorkload(say, plane, signal);
  await settle(say, plane, EXPECTED_AFTER, signal);
  say.detail('storefront-3 gone: its objects lost a reference, and node-c in shop; the missing');
  say.detail('Secret is found without a restart; ledger-db had only the finished Pod, so its');
  say.detail('resource is gone');
  await show(say, plane, ['get', 'cachedobjectstatuses', '-A'], signal);
  await show(say, plane, ['get', 'cos', '-n', 'shop', '-o', 'wide'], signal);
  say.detail(await cacheSummary(operator));

  await stop(say, started, signal);
}

async function startPlane(
  say: Narrator,
  started: Started,
  signal: AbortSignal,
): Promise<ControlPlane> {
  say.step('Starting a local control plane: etcd and kube-apiserver on 127.0.0.1');
  const binaries = await ensureBinaries(say);
  signal.throwIfAborted();

  const startedAt = performance.now();
  const plane = await startControlPlane({
    binaries,
    signal,
    log: (message, fields) => started.planeLog.push(`${message} ${JSON.stringify(fields)}`),
  });
  started.plane = plane;
  say.detail(`${plane.server} ready in ${secondsSince(startedAt)}`);
  return plane;
}

async function ensureBinaries(say: Narrator): Promise<ControlPlaneBinaries> {
  try {
    return await locateBinaries();
  } catch (error) {
    if (!(error instanceof BinariesMissingError)) {
      throw error;
    }
  }

  say.detail('building kube-apiserver, etcd and kubectl from Go modules (first run only,');
  say.detail('a few minutes; progress below)');
  return buildBinaries();
}

async function install(say: Narrator, plane: ControlPlane, signal: AbortSignal): Promise<void> {
  say.step("Installing the operator's CRD and manifests with kubectl");

  const crds = await plane.kubectl(['apply', '-f', join(ROOT, 'crds')], { signal });
  say.detail(`$ kubectl apply -f crds/         ${countObjects(crds)}`);
  const manifests = await plane.kubectl(['apply', '-k', join(ROOT, 'manifests')], { signal });
  say.detail(`$ kubectl apply -k manifests/    ${countObjects(manifests)}`);
  await plane.kubectl(
    ['wait', '--for=condition=Established', '--timeout=30s', `crd/${PLURAL}.${GROUP}`],
    { signal },
  );

  say.detail('(no controller-manager runs here, so the Deployment starts no Pods; instead the');
  say.detail('operator runs as a local process, with the same ServiceAccount and RBAC)');
}

async function runOperator(
  say: Narrator,
  plane: ControlPlane,
  started: Started,
  signal: AbortSignal,
): Promise<OperatorProcess> {
  const { namespace, name } = OPERATOR_SERVICE_ACCOUNT;
  say.step('Running the operator locally: node src/main.ts --kubeconfig=... --config=...');

  const startedAt = performance.now();
  const operator = await startOperator(plane);
  started.operator = operator;
  const port = await waitUntilLeading(operator, { timeoutMs: LEADER_TIMEOUT_MS, signal });

  say.detail(`with a token of ServiceAccount ${namespace}/${name}`);
  say.detail(`pid ${operator.child.pid}, ready and leading in ${secondsSince(startedAt)}`);
  say.detail(`health and metrics: http://127.0.0.1:${port}/readyz and /metrics`);
  return operator;
}

async function createWorkload(
  say: Narrator,
  plane: ControlPlane,
  signal: AbortSignal,
): Promise<void> {
  const namespaces = namespaceManifests();
  const workload = workloadManifests(plane.caPem);
  const pods = workload.filter((manifest) => manifest.kind === 'Pod').length;
  const objects = workload.length - pods;
  const counts = `${namespaces.length} namespaces, ${pods} Pods, ${objects} Secrets and ConfigMaps`;
  say.step(`Creating a workload: ${counts}`);
  say.detail(`Pods are bound to fake nodes ${NODES.join(', ')} and share Secrets and ConfigMaps`);
  say.detail('through volumes, env, envFrom, projected volumes (kube-root-ca.crt included) and');
  const late = `${LATE_SECRET.namespace}/cart-1 mounts Secret ${LATE_SECRET.name}`;
  say.detail(`imagePullSecrets; ${late}, which does not`);
  say.detail('exist; ConfigMap shop/feature-flags is immutable');

  await apply(plane, namespaces, signal);
  await apply(plane, workload, signal);
}

async function changeWorkload(
  say: Narrator,
  plane: ControlPlane,
  signal: AbortSignal,
): Promise<void> {
  // Grace period 0: no kubelet runs, so a graceful delete would never complete.
  await plane.kubectl(
    ['delete', 'pod', DELETED_POD.name, '-n', DELETED_POD.namespace, '--grace-period=0', '--force'],
    { signal },
  );
  say.detail(
    `deleted Pod ${DELETED_POD.namespace}/${DELETED_POD.name}, the only shop Pod on node-c`,
  );

  await apply(plane, [lateSecretManifest()], signal);
  say.detail(`created the missing Secret ${LATE_SECRET.namespace}/${LATE_SECRET.name}`);

  await markSucceeded(plane, FINISHED_POD.namespace, FINISHED_POD.name, signal);
  const finished = `${FINISHED_POD.namespace}/${FINISHED_POD.name}`;
  say.detail(`marked Pod ${finished} Succeeded (status subresource), as a kubelet would`);
}

/** Replaces the Pod's status through the status subresource (a PUT), with phase Succeeded. */
async function markSucceeded(
  plane: ControlPlane,
  namespace: string,
  name: string,
  signal: AbortSignal,
): Promise<void> {
  const pod = JSON.parse(
    await plane.kubectl(['get', 'pod', name, '-n', namespace, '-o', 'json'], { signal }),
  ) as { status?: Record<string, unknown> };
  const finished = { ...pod, status: { ...pod.status, phase: 'Succeeded' } };
  await plane.kubectl(['replace', '--subresource=status', '-f', '-'], {
    input: JSON.stringify(finished),
    signal,
  });
}

async function settle(
  say: Narrator,
  plane: ControlPlane,
  expected: readonly ExpectedResource[],
  signal: AbortSignal,
): Promise<void> {
  const startedAt = performance.now();
  await waitForResources(plane, expected, { timeoutMs: SETTLE_TIMEOUT_MS, signal });
  const count = `${expected.length} CachedObjectStatus resources`;
  say.detail(`${count} as expected after ${secondsSince(startedAt)}`);
}

async function stop(say: Narrator, started: Started, signal: AbortSignal): Promise<void> {
  say.step('Stopping');

  const operator = started.operator;
  started.operator = undefined;
  if (operator !== undefined) {
    const code = await stopOperator(operator, OPERATOR_STOP_GRACE_MS);
    if (code !== 0) {
      started.operator = operator;
      const outcome =
        code === undefined ? `still running after ${OPERATOR_STOP_GRACE_MS / 1000} s` : code;
      throw new OperatorShutdownError(`the operator did not exit 0 after SIGTERM: ${outcome}`);
    }
    await expectLeaseReleased(started.plane, signal);
    say.detail('the operator exited 0 after SIGTERM and released its Lease');
  }

  const plane = started.plane;
  started.plane = undefined;
  await plane?.stop();
  say.detail('the control plane stopped and its data folder is removed');
}

/** Fails unless the operator's Lease has no holder, as a released Lease has. */
async function expectLeaseReleased(
  plane: ControlPlane | undefined,
  signal: AbortSignal,
): Promise<void> {
  const { namespace } = OPERATOR_SERVICE_ACCOUNT;
  const holder = await plane?.kubectl(
    ['get', 'lease', LEASE_NAME, '-n', namespace, '-o', 'jsonpath={.spec.holderIdentity}'],
    { signal },
  );
  if (holder !== undefined && holder !== '') {
    throw new OperatorShutdownError(`the operator exited but the Lease is still held: ${holder}`);
  }
}

async function cleanUp(started: Started): Promise<void> {
  const { operator, plane } = started;
  started.operator = undefined;
  started.plane = undefined;
  if (operator !== undefined) {
    await stopOperator(operator, OPERATOR_STOP_GRACE_MS);
    await operator.dispose();
  }
  await plane?.stop();
}

function reportFailure(error: unknown, started: Started, signal: AbortSignal): void {
  if (signal.aborted) {
    // A signal also reaches the children of a terminal's process group, so whatever failed
    // next is a consequence of the interruption, not news.
    process.stderr.write(`demo stopped: ${describe(signal.reason)}\n`);
    return;
  }

  process.stderr.write(`\ndemo failed: ${describe(error)}\n`);
  const operatorTail = started.operator?.lines.slice(-LOG_TAIL_LINES) ?? [];
  if (operatorTail.length > 0) {
    process.stderr.write(`--- the operator's last ${operatorTail.length} log lines ---\n`);
    process.stderr.write(`${operatorTail.join('\n')}\n`);
  }
  const planeTail = started.plane === undefined ? [] : started.planeLog.slice(-5);
  if (planeTail.length > 0) {
    process.stderr.write(`--- the control plane's last ${planeTail.length} log lines ---\n`);
    process.stderr.write(`${planeTail.join('\n')}\n`);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function apply(
  plane: ControlPlane,
  manifests: readonly Manifest[],
  signal: AbortSignal,
): Promise<void> {
  const list = { apiVersion: 'v1', kind: 'List', items: manifests };
  await plane.kubectl(['apply', '-f', '-'], { input: JSON.stringify(list), signal });
}

/** Runs kubectl and prints the command with its output. */
async function show(
  say: Narrator,
  plane: ControlPlane,
  args: readonly string[],
  signal: AbortSignal,
): Promise<void> {
  say.command(`kubectl ${args.join(' ')}`, await plane.kubectl(args, { signal }));
}

/** `kubectl apply` prints one line per object: `<kind>/<name> created|configured|unchanged`. */
function countObjects(output: string): string {
  const lines = output
    .trim()
    .split('\n')
    .filter((line) => line !== '');
  return `${lines.length} object${lines.length === 1 ? '' : 's'} applied`;
}

const code = await main();
// Exit explicitly: everything this demo started has been stopped by now, and an idle keep-alive
// socket of a library must not hold the process open.
process.exit(code);
