/**
 * A reference sink (the part of an object cache the Pod registry drives) that records every
 * call in order, so tests can assert exactly which references were added, deleted and read.
 */
import type { ReferenceSink } from '../../src/pods/registry.ts';

/** One call the sink received. */
export interface SinkCall {
  readonly op: 'add' | 'delete' | 'get';
  readonly namespace: string;
  readonly name: string;
  /** Absent for `get`. */
  readonly podUID?: string;
}

/**
 * Records `addReference`, `deleteReference` and `get`. Reads resolve by default; `failReads`
 * makes every later read reject, as reads of missing objects or unsynced caches do.
 */
export class RecordingSink implements ReferenceSink {
  readonly calls: SinkCall[] = [];
  #readError: Error | undefined;

  addReference(namespace: string, name: string, podUID: string): void {
    this.calls.push({ op: 'add', namespace, name, podUID });
  }

  deleteReference(namespace: string, name: string, podUID: string): void {
    this.calls.push({ op: 'delete', namespace, name, podUID });
  }

  get(namespace: string, name: string): Promise<unknown> {
    this.calls.push({ op: 'get', namespace, name });
    const error = this.#readError;
    return error === undefined ? Promise.resolve({}) : Promise.reject(error);
  }

  /** Makes every later read reject with `error`. */
  failReads(error: Error): void {
    this.#readError = error;
  }

  /** The calls of `op`, as `name@podUID` (or `name` for reads), in order. */
  ops(op: SinkCall['op']): string[] {
    return this.calls
      .filter((call) => call.op === op)
      .map((call) => (call.podUID === undefined ? call.name : `${call.name}@${call.podUID}`));
  }

  /** Every add and delete, as `+name@uid` and `-name@uid`, in order; reads left out. */
  changes(): string[] {
    return this.calls
      .filter((call) => call.op !== 'get')
      .map((call) => `${call.op === 'add' ? '+' : '-'}${call.name}@${call.podUID ?? ''}`);
  }

  /** Forgets the calls so far. */
  clear(): void {
    this.calls.length = 0;
  }
}
