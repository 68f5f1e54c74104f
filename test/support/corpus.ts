/**
 * Reads the Pods and pod templates of the shared manifest corpus (`<repo>/../shared/corpus`):
 * real public manifests, multi-document YAML, some rendered by Helm. Tests read the files in
 * place; nothing is copied into the repository.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, type Document } from 'yaml';

/** The corpus folder, resolved from the repository root. */
export const CORPUS_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../shared/corpus',
);

/** One Pod found in the corpus, with where it came from. */
export interface CorpusPod {
  /** `<file>#<document index>:<path in the document>`, enough to find the Pod again. */
  readonly source: string;
  /** A Pod: the document's own object, or a pod template wrapped as a Pod. */
  readonly pod: Record<string, unknown>;
}

/** A document the YAML parser refused, and the first reason it gave. */
export interface UnparsableDocument {
  readonly file: string;
  readonly index: number;
  readonly reason: string;
}

/** Everything read from the corpus. */
export interface Corpus {
  readonly files: number;
  /** Every YAML document read, empty ones included. */
  readonly documents: number;
  readonly pods: readonly CorpusPod[];
  readonly unparsable: readonly UnparsableDocument[];
}

type Fields = Record<string, unknown>;

/**
 * Parse manifests the way kubectl does: YAML 1.1 (`yes` is a boolean, `0644` is octal, `<<`
 * merges) and a repeated key keeps its last value instead of failing the document.
 */
const YAML_OPTIONS = { version: '1.1', uniqueKeys: false, prettyErrors: false } as const;

/**
 * Reads every `.yaml`/`.yml`/`.json` file under `dir` and returns the Pods in it: objects of kind
 * Pod, and every `template` (at any depth, in any kind, in Lists too) whose `spec.containers`
 * is an array, wrapped as a Pod. Empty documents are ignored; a document that does not parse is
 * listed in `unparsable` and skipped.
 */
export async function readCorpus(dir: string = CORPUS_DIR): Promise<Corpus> {
  const files = await manifestFiles(dir);
  const pods: CorpusPod[] = [];
  const unparsable: UnparsableDocument[] = [];
  let documents = 0;

  for (const file of files) {
    const text = await readFile(path.join(dir, file), 'utf8');
    const parsed = parseAllDocuments(text, YAML_OPTIONS);
    const list = Array.isArray(parsed) ? parsed : [];

    for (const [index, document] of list.entries()) {
      documents += 1;
      const [error] = document.errors;
      if (error !== undefined) {
        unparsable.push({ file, index, reason: error.message });
        continue;
      }
      const content = contentOf(document);
      if (content instanceof Error) {
        unparsable.push({ file, index, reason: content.message });
        continue;
      }
      collectPods(content, '', (at, pod) => pods.push({ source: `${file}#${index}:${at}`, pod }));
    }
  }

  return { files: files.length, documents, pods, unparsable };
}

/** The document as plain data, or the error that converting it raised (too many aliases). */
function contentOf(document: Document): unknown {
  try {
    return document.toJS() as unknown;
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

/** Relative paths of the manifest files under `dir`, sorted so that runs are reproducible. */
async function manifestFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && /\.(ya?ml|json)$/i.test(entry.name))
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

/** Walks `value`, calling `found` for each Pod and each pod template (wrapped as a Pod). */
function collectPods(
  value: unknown,
  at: string,
  found: (at: string, pod: Record<string, unknown>) => void,
): void {
  if (Array.isArray(value)) {
    value.forEach((item, index) => collectPods(item, `${at}[${index}]`, found));
    return;
  }
  if (!isFields(value)) {
    return;
  }

  if (value.kind === 'Pod' && hasContainers(value)) {
    found(at === '' ? '.' : at, value);
    return;
  }

  for (const [key, child] of Object.entries(value)) {
    const childAt = at === '' ? key : `${at}.${key}`;
    if (key === 'template' && isFields(child) && hasContainers(child)) {
      found(childAt, templateAsPod(child));
      continue;
    }
    collectPods(child, childAt, found);
  }
}

/** Wraps a pod template (`metadata`, `spec`) as a Pod. */
function templateAsPod(template: Fields): Record<string, unknown> {
  const pod: Fields = { apiVersion: 'v1', kind: 'Pod', spec: template.spec };
  if (template.metadata !== undefined) {
    pod.metadata = template.metadata;
  }
  return pod;
}

function hasContainers(value: Fields): boolean {
  return isFields(value.spec) && Array.isArray(value.spec.containers);
}

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
