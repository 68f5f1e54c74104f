/**
 * The ground truth of references, computed from the Pods the API server holds, and its
 * comparison with what a runner's cache holds: every referenced object is an item whose Pod
 * UIDs are exactly the referencing Pods, each counted once, and no item exists that no Pod
 * references (such an item would keep a watch on an unreferenced object).
 */
import type { V1Pod } from '@kubernetes/client-node';
import { podReferences } from '../../src/pods/references.ts';
import { isMirror, isTerminal } from '../../src/pods/registry.ts';
import type { ItemState } from './protocol.ts';
import { objectKey } from './workload.ts';

/** Pod UIDs per referenced object, by `objectKey`. */
export type ReferenceTruth = Map<string, Set<string>>;

/** The references the kubelet's rules derive from `pods` (terminal and mirror Pods hold none). */
export function referenceTruth(pods: readonly V1Pod[]): ReferenceTruth {
  const truth: ReferenceTruth = new Map();
  const add = (key: string, uid: string): void => {
    const uids = truth.get(key) ?? new Set<string>();
    uids.add(uid);
    truth.set(key, uids);
  };

  for (const pod of pods) {
    const namespace = pod.metadata?.namespace;
    const uid = pod.metadata?.uid;
    if (namespace === undefined || uid === undefined || isMirror(pod) || isTerminal(pod)) continue;
    const references = podReferences(pod);
    for (const name of references.secrets) add(objectKey('secret', namespace, name), uid);
    for (const name of references.configMaps) add(objectKey('configmap', namespace, name), uid);
  }
  return truth;
}

/** How a runner's items differ from the truth. Lists hold at most a few examples. */
export interface TruthComparison {
  readonly ok: boolean;
  readonly truthItems: number;
  readonly runnerItems: number;
  /** Referenced objects the runner does not hold. */
  readonly missingItems: number;
  /** Items no Pod references. */
  readonly extraItems: number;
  /** Of those, items whose watch still runs. */
  readonly extraRunning: number;
  /** Items whose Pod UIDs or counts differ from the truth. */
  readonly referenceMismatches: number;
  /** Items whose watch runs. */
  readonly runningItems: number;
  readonly examples: readonly string[];
}

const MAX_EXAMPLES = 10;

/** Compares a runner's items with the truth. */
export function compareWithTruth(
  truth: ReferenceTruth,
  items: readonly ItemState[],
): TruthComparison {
  const examples: string[] = [];
  const note = (text: string): void => {
    if (examples.length < MAX_EXAMPLES) examples.push(text);
  };

  const held = new Map(
    items.map((item) => [objectKey(item.kind, item.namespace, item.name), item]),
  );
  let missingItems = 0;
  let referenceMismatches = 0;
  for (const [key, uids] of truth) {
    const item = held.get(key);
    if (item === undefined) {
      missingItems++;
      note(`missing item ${key} (${uids.size} Pods reference it)`);
      continue;
    }
    if (!sameReferences(uids, item.refs)) {
      referenceMismatches++;
      note(`${key}: ${Object.keys(item.refs).length} Pod UIDs held, ${uids.size} in the truth`);
    }
  }

  let extraItems = 0;
  let extraRunning = 0;
  for (const [key, item] of held) {
    if (truth.has(key)) continue;
    extraItems++;
    if (item.running) extraRunning++;
    note(`extra item ${key}${item.running ? ' with a running watch' : ''}`);
  }

  return {
    ok: missingItems === 0 && referenceMismatches === 0 && extraItems === 0,
    truthItems: truth.size,
    runnerItems: items.length,
    missingItems,
    extraItems,
    extraRunning,
    referenceMismatches,
    runningItems: items.filter((item) => item.running).length,
    examples,
  };
}

function sameReferences(
  uids: ReadonlySet<string>,
  refs: Readonly<Record<string, number>>,
): boolean {
  const held = Object.entries(refs);
  return held.length === uids.size && held.every(([uid, count]) => count === 1 && uids.has(uid));
}
