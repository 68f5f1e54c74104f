// Differential test of reference extraction (semantics rules 22 to 25): the kubelet's own visitor
// functions (`VisitPodSecretNames`, `VisitPodConfigmapNames`, built into the Go tool `podrefs`)
// and `podReferences` must give the same sets of names for every Pod of the shared corpus and
// for generated Pods. Needs the binaries of `test/cluster/build.sh`, no API server.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { podReferences } from '../../src/pods/references.ts';
import { readCorpus, type Corpus } from '../support/corpus.ts';
import { generatePods, REFERENCE_FIELDS, type GeneratedPod } from '../support/pod-generator.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Fixed, so that a run is reproducible; any failing Pod is named by (seed, index). */
const GENERATOR_SEED = 22_23_24;
const GENERATED_COUNT = 2_000;

/** The corpus holds 172 files and several hundred Pods; far fewer means it was misread. */
const MIN_CORPUS_PODS = 200;

/** One line of `podrefs` output. */
interface KubeletAnswer {
  readonly secrets?: readonly string[];
  readonly configMaps?: readonly string[];
  readonly error?: string;
}

/** A Pod to compare, with a label that finds it again. */
interface Subject {
  readonly label: string;
  readonly pod: Record<string, unknown>;
}

/** The kubelet's answers for one Pod: all references, and those of its volumes alone. */
interface Verdict {
  readonly subject: Subject;
  readonly all: KubeletAnswer;
  readonly volumesOnly: KubeletAnswer;
}

const execFileAsync = promisify(execFile);

/** The podrefs binary that `test/cluster/build.sh` builds; fails if it is not built yet. */
async function podrefsPath(): Promise<string> {
  const { stdout } = await execFileAsync(path.join(ROOT, 'test/cluster/build.sh'), ['--print']);
  const binary = path.join(stdout.trim(), 'podrefs');

  try {
    await access(binary, constants.X_OK);
  } catch (error) {
    throw new Error(`${binary} is missing: run npm run cluster:build`, { cause: error });
  }
  return binary;
}

/** Runs podrefs once over `pods` (one JSON line each) and returns its answers in order. */
async function runPodrefs(binary: string, pods: readonly unknown[]): Promise<KubeletAnswer[]> {
  const child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'] });
  // Both settle to a value, never reject, so that an early failure of one (podrefs missing,
  // exiting mid-stream) cannot go unhandled while the other is being awaited.
  const exited = new Promise<number | Error | null>((resolve) => {
    child.once('error', resolve);
    child.once('close', resolve);
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));

  const lines = (function* () {
    for (const pod of pods) {
      yield `${JSON.stringify(pod)}\n`;
    }
  })();
  const written = pipeline(Readable.from(lines), child.stdin).catch((error: unknown) => error);
  const answers: KubeletAnswer[] = [];
  for await (const line of createInterface({ input: child.stdout })) {
    answers.push(JSON.parse(line) as KubeletAnswer);
  }

  const [writeError, code] = await Promise.all([written, exited]);
  assert.equal(code, 0, `podrefs exited with ${String(code)}: ${stderr}`);
  assert.equal(writeError, undefined, 'podrefs must read every Pod');
  assert.equal(answers.length, pods.length, 'podrefs must answer once per Pod');
  return answers;
}

/**
 * The Pod with every reference outside volumes removed: the kubelet's answer for it is then
 * exactly the names the Pod references through volumes.
 */
function volumesOnly(pod: Record<string, unknown>): Record<string, unknown> {
  const spec = pod.spec;
  if (typeof spec !== 'object' || spec === null) {
    return pod;
  }
  const kept = { ...spec, imagePullSecrets: [], initContainers: [], containers: [] };
  return { ...pod, spec: { ...kept, ephemeralContainers: [] } };
}

/** Asks the kubelet about every subject, in a single podrefs run. */
async function kubeletVerdicts(subjects: readonly Subject[]): Promise<Verdict[]> {
  const inputs = subjects.flatMap(({ pod }) => [pod, volumesOnly(pod)]);
  const answers = await runPodrefs(await podrefsPath(), inputs);

  return subjects.map((subject, index) => ({
    subject,
    all: answers[2 * index] ?? { error: 'no answer' },
    volumesOnly: answers[2 * index + 1] ?? { error: 'no answer' },
  }));
}

/** How one set differs from the kubelet's, or undefined when they are equal. */
function setDifference(
  what: string,
  kubelet: readonly string[] | undefined,
  ours: ReadonlySet<string>,
): string | undefined {
  const expected = new Set(kubelet ?? []);
  const missing = [...expected].filter((name) => !ours.has(name));
  const extra = [...ours].filter((name) => !expected.has(name));
  if (missing.length === 0 && extra.length === 0) {
    return undefined;
  }
  return `${what}: kubelet only ${JSON.stringify(missing)}, ours only ${JSON.stringify(extra)}`;
}

/** Every difference between the kubelet's verdict and `podReferences` for one Pod. */
function differences(verdict: Verdict): string[] {
  const ours = podReferences(verdict.subject.pod);
  const found = [
    setDifference('secrets', verdict.all.secrets, ours.secrets),
    setDifference('configMaps', verdict.all.configMaps, ours.configMaps),
    setDifference('mountedSecrets', verdict.volumesOnly.secrets, ours.mountedSecrets),
    setDifference('mountedConfigMaps', verdict.volumesOnly.configMaps, ours.mountedConfigMaps),
  ];
  return found.filter((difference) => difference !== undefined);
}

/** Fails with every Pod whose references differ, each named by its label. */
function assertParity(verdicts: readonly Verdict[]): void {
  const mismatches = verdicts
    .map((verdict) => ({ label: verdict.subject.label, found: differences(verdict) }))
    .filter(({ found }) => found.length > 0);

  const report = mismatches
    .slice(0, 25)
    .map(({ label, found }) => `  ${label}\n    ${found.join('\n    ')}`)
    .join('\n');
  assert.equal(
    mismatches.length,
    0,
    `${mismatches.length} Pods differ from the kubelet:\n${report}`,
  );
}

function rejected(verdicts: readonly Verdict[]): Verdict[] {
  return verdicts.filter(({ all, volumesOnly }) => all.error !== undefined || volumesOnly.error);
}

function decoded(verdicts: readonly Verdict[]): Verdict[] {
  const bad = new Set(rejected(verdicts));
  return verdicts.filter((verdict) => !bad.has(verdict));
}

void describe('reference extraction matches the kubelet', () => {
  let corpus: Corpus;
  let generated: GeneratedPod[];
  let corpusVerdicts: Verdict[];
  let generatedVerdicts: Verdict[];

  before(async () => {
    corpus = await readCorpus();
    generated = generatePods(GENERATOR_SEED, GENERATED_COUNT);

    const corpusSubjects = corpus.pods.map(({ source, pod }) => ({ label: source, pod }));
    const generatedSubjects = generated.map(({ seed, index, pod }) => ({
      label: `generated seed=${seed} index=${index}`,
      pod,
    }));
    const verdicts = await kubeletVerdicts([...corpusSubjects, ...generatedSubjects]);

    corpusVerdicts = verdicts.slice(0, corpusSubjects.length);
    generatedVerdicts = verdicts.slice(corpusSubjects.length);
  });

  void it('reads a sensible number of Pods from the corpus, some with each kind', (t) => {
    const usable = decoded(corpusVerdicts);
    const withSecrets = usable.filter(({ all }) => (all.secrets ?? []).length > 0).length;
    const withConfigMaps = usable.filter(({ all }) => (all.configMaps ?? []).length > 0).length;
    t.diagnostic(
      `corpus: ${corpus.files} files, ${corpus.documents} documents ` +
        `(${corpus.unparsable.length} unparsable), ${corpus.pods.length} Pods, ` +
        `${usable.length} decoded by Go, ${withSecrets} with secrets, ` +
        `${withConfigMaps} with configmaps`,
    );
    for (const { file, index, reason } of corpus.unparsable) {
      t.diagnostic(`unparsable: ${file}#${index}: ${reason}`);
    }

    assert.ok(corpus.pods.length >= MIN_CORPUS_PODS, `only ${corpus.pods.length} corpus Pods`);
    assert.ok(withSecrets >= 50, `only ${withSecrets} corpus Pods reference a secret`);
    assert.ok(withConfigMaps >= 50, `only ${withConfigMaps} corpus Pods reference a configmap`);
  });

  void it('decodes nearly every corpus Pod in Go, so that the comparison covers them', (t) => {
    const bad = rejected(corpusVerdicts);
    for (const { subject, all, volumesOnly } of bad) {
      t.diagnostic(`rejected by Go: ${subject.label}: ${all.error ?? volumesOnly.error}`);
    }

    // A Pod Go cannot decode would be refused by the API server too; a few sloppy manifests
    // (a number where a string belongs) are expected, a large share means a reading bug.
    assert.ok(bad.length <= corpus.pods.length / 20, `${bad.length} corpus Pods rejected`);
  });

  void it('gives every corpus Pod the kubelet’s secrets and configmaps, mounted apart', () => {
    assertParity(decoded(corpusVerdicts));
  });

  void it('generates Pods that use every reference field and edge case', (t) => {
    const used = new Set(generated.flatMap(({ fields }) => [...fields]));
    const missing = REFERENCE_FIELDS.filter((field) => !used.has(field));
    t.diagnostic(`generated: ${generated.length} Pods, seed ${GENERATOR_SEED}`);

    assert.deepEqual(missing, [], 'reference fields no generated Pod uses');
  });

  void it('has every generated Pod decoded by Go', () => {
    const labels = rejected(generatedVerdicts).map(({ subject, all }) => {
      return `${subject.label}: ${all.error}`;
    });
    assert.deepEqual(labels, []);
  });

  void it('gives every generated Pod the kubelet’s secrets and configmaps, mounted apart', () => {
    assertParity(generatedVerdicts);
  });
});
