/**
 * Bounded waiting for the demo: poll a check until it is satisfied, the time is up, or the demo
 * is interrupted.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** The answer of one check: done with a value, or still waiting for the reason given. */
export type PollResult<T> =
  | { readonly done: true; readonly value: T }
  | { readonly done: false; readonly waitingFor: string };

/** A wait ran out of time; the message says what it waited for and what was still missing. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
}

/** Options of {@link pollUntil}. */
export interface PollOptions {
  readonly timeoutMs: number;
  /** Pause between two checks. Default 250 ms. */
  readonly intervalMs?: number;
  /** Aborts the wait: it rejects with the signal's reason. */
  readonly signal: AbortSignal;
}

/**
 * Runs `check` until it reports done and resolves with its value. Rejects with
 * {@link WaitTimeoutError} (naming `what` and the last reason) after `timeoutMs`, with the
 * signal's reason when it aborts, and with whatever `check` throws: a check throws only for
 * failures that waiting cannot cure.
 */
export async function pollUntil<T>(
  what: string,
  check: () => Promise<PollResult<T>>,
  options: PollOptions,
): Promise<T> {
  const deadline = performance.now() + options.timeoutMs;
  for (;;) {
    options.signal.throwIfAborted();
    const result = await check();
    if (result.done) {
      return result.value;
    }

    if (performance.now() >= deadline) {
      const seconds = Math.round(options.timeoutMs / 1000);
      throw new WaitTimeoutError(
        `gave up after ${seconds} s waiting for ${what}: ${result.waitingFor}`,
      );
    }
    await sleep(options.intervalMs ?? 250, undefined, { signal: options.signal });
  }
}

/** A {@link PollResult} that is done. */
export function done<T>(value: T): PollResult<T> {
  return { done: true, value };
}

/** A {@link PollResult} that is still waiting. */
export function waiting<T>(waitingFor: string): PollResult<T> {
  return { done: false, waitingFor };
}
