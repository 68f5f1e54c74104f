import type { Clock } from './clock.ts';

/** Settings of an exponential backoff. */
export interface BackoffOptions {
  /** First delay. Default 800 ms, as client-go's reflector. */
  readonly initialMs?: number;
  /** Largest delay before jitter. Default 30 s. */
  readonly maxMs?: number;
  /** Growth per failure. Default 2. */
  readonly factor?: number;
  /** Each delay is stretched by a random fraction up to this. Default 1 (up to twice). */
  readonly jitter?: number;
  /**
   * After this long without a failure the next failure starts again from `initialMs`.
   * Default 2 min.
   */
  readonly resetAfterMs?: number;
  /** Source of randomness in [0, 1). Default Math.random. */
  readonly random?: () => number;
}

/**
 * Jittered exponential backoff. `next()` returns the delay before the next attempt; calling
 * `reset()` after a success makes the next failure start small again.
 */
export class Backoff {
  readonly #clock: Clock;
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #factor: number;
  readonly #jitter: number;
  readonly #resetAfterMs: number;
  readonly #random: () => number;
  #currentMs = 0;
  #lastFailure = Number.NEGATIVE_INFINITY;

  constructor(clock: Clock, options: BackoffOptions = {}) {
    this.#clock = clock;
    this.#initialMs = options.initialMs ?? 800;
    this.#maxMs = options.maxMs ?? 30_000;
    this.#factor = options.factor ?? 2;
    this.#jitter = options.jitter ?? 1;
    this.#resetAfterMs = options.resetAfterMs ?? 120_000;
    this.#random = options.random ?? Math.random;
  }

  /** The delay before the next attempt, growing with each call until `reset()`. */
  next(): number {
    const now = this.#clock.now();
    if (now - this.#lastFailure > this.#resetAfterMs) {
      this.#currentMs = 0;
    }
    this.#lastFailure = now;

    this.#currentMs =
      this.#currentMs === 0
        ? this.#initialMs
        : Math.min(this.#currentMs * this.#factor, this.#maxMs);
    return this.#currentMs * (1 + this.#jitter * this.#random());
  }

  /** Forgets past failures. */
  reset(): void {
    this.#currentMs = 0;
  }
}
