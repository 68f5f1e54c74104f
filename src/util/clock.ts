/**
 * Time as the rest of the code sees it. Nothing outside this module reads the system time or
 * arms a timer directly, so that tests can step a fake clock instead of waiting.
 */

/** A timer that can be cancelled. */
export interface Timer {
  cancel(): void;
}

/** The current time and timers. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;

  /** Runs `callback` once after `delayMs`. */
  setTimer(delayMs: number, callback: () => void): Timer;
}

/** The system clock. Timers do not keep the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(delayMs, callback) {
    const handle = setTimeout(callback, delayMs);
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

/**
 * Resolves after `delayMs` on `clock`, or rejects with the signal's reason as soon as `signal`
 * aborts (at once if it already has).
 */
export function sleep(clock: Clock, delayMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }

    const onAbort = (): void => {
      timer.cancel();
      reject(abortReason(signal));
    };
    const timer = clock.setTimer(delayMs, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `callback` every `periodMs` until the returned timer is cancelled. The next run is
 * armed after the previous one returned, so runs never overlap.
 */
export function every(clock: Clock, periodMs: number, callback: () => void): Timer {
  let current: Timer | undefined;
  let cancelled = false;

  const arm = (): void => {
    current = clock.setTimer(periodMs, () => {
      if (cancelled) return;
      callback();
      arm();
    });
  };

  arm();
  return {
    cancel() {
      cancelled = true;
      current?.cancel();
    },
  };
}

function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error
    ? reason
    : new DOMException('This operation was aborted', 'AbortError');
}

/** True for the error an aborted request or sleep rejects with. */
export function isAbortError(err: unknown): boolean {
  return (
    (err instanceof Error || err instanceof DOMException) &&
    (err.name === 'AbortError' || err.name === 'TimeoutError')
  );
}
