import type { Clock, Timer } from '../../src/util/clock.ts';

/** A fixed instant tests start from unless they choose another: 2025-01-01T00:00:00Z. */
export const FAKE_EPOCH_MS = Date.UTC(2025, 0, 1);

interface PendingTimer {
  readonly dueAt: number;
  readonly order: number;
  readonly callback: () => void;
}

/**
 * A clock that moves only when a test steps it. Timers fire in the order they fall due, timers
 * due at the same instant in the order they were armed.
 */
export class FakeClock implements Clock {
  #now: number;
  #armed = 0;
  readonly #timers = new Set<PendingTimer>();

  constructor(startMs: number = FAKE_EPOCH_MS) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimer(delayMs: number, callback: () => void): Timer {
    const timer: PendingTimer = {
      dueAt: this.#now + Math.max(0, delayMs),
      order: this.#armed++,
      callback,
    };
    this.#timers.add(timer);
    return { cancel: () => this.#timers.delete(timer) };
  }

  /**
   * Moves the time forward by `ms`, running every timer that falls due on the way with the
   * clock set to its due time. Timers armed by those callbacks fire too if they fall due before
   * the end of the step. Promise continuations run only after `step` returns.
   */
  step(ms: number): void {
    const target = this.#now + ms;

    for (let timer = this.#nextDue(target); timer !== undefined; timer = this.#nextDue(target)) {
      this.#timers.delete(timer);
      this.#now = timer.dueAt;
      timer.callback();
    }

    this.#now = target;
  }

  /** How many timers are armed and not yet fired or cancelled. */
  pendingTimers(): number {
    return this.#timers.size;
  }

  #nextDue(limit: number): PendingTimer | undefined {
    let next: PendingTimer | undefined;
    for (const timer of this.#timers) {
      if (timer.dueAt > limit) continue;
      if (next === undefined || earlier(timer, next)) next = timer;
    }
    return next;
  }
}

function earlier(a: PendingTimer, b: PendingTimer): boolean {
  return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.order < b.order);
}

/**
 * Lets every pending promise continuation and I/O callback run: a few turns of the event loop.
 * Fake sources settle through promises only, so this is enough for them to deliver.
 */
export async function flush(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** How `drive` and `advance` move the fake clock. */
export interface DriveOptions {
  /** Fake time added between two flushes. Default 10 ms, the cache's sync poll interval. */
  readonly stepMs?: number;
  /** Fake time after which `drive` gives up. Default 5 s. */
  readonly maxMs?: number;
}

/**
 * Settles `promise` by alternately flushing and stepping `clock`, and returns its value or
 * rethrows its error. Fails with a plain Error when it has not settled after `maxMs` of fake
 * time; `maxMs: 0` checks that it settles without the clock moving at all.
 */
export async function drive<T>(
  clock: FakeClock,
  promise: Promise<T>,
  options: DriveOptions = {},
): Promise<T> {
  const stepMs = options.stepMs ?? 10;
  const maxMs = options.maxMs ?? 5000;
  const startMs = clock.now();
  let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  void promise.then(
    (value) => (outcome = { ok: true, value }),
    (error: unknown) => (outcome = { ok: false, error }),
  );

  for (;;) {
    await flush();
    if (outcome?.ok === true) return outcome.value;
    if (outcome?.ok === false) throw outcome.error;
    if (clock.now() - startMs >= maxMs) {
      throw new Error(`promise did not settle within ${maxMs} ms of fake time`);
    }
    clock.step(Math.min(stepMs, maxMs - (clock.now() - startMs)));
  }
}

/** Moves `clock` forward by `ms` in steps of `stepMs`, flushing before and after each step. */
export async function advance(clock: FakeClock, ms: number, stepMs = 10): Promise<void> {
  const target = clock.now() + ms;

  await flush();
  while (clock.now() < target) {
    clock.step(Math.min(stepMs, target - clock.now()));
    await flush();
  }
}
