import { type Clock, sleep } from '../util/clock.ts';

/**
 * A token bucket: `burst` writes at once, then `perSecond` on average. `take` resolves when a
 * token is available and rejects when `signal` aborts first.
 */
export class TokenBucket {
  readonly #clock: Clock;
  readonly #perSecond: number;
  readonly #burst: number;
  #tokens: number;
  #updated: number;

  constructor(clock: Clock, perSecond: number, burst: number) {
    this.#clock = clock;
    this.#perSecond = perSecond;
    this.#burst = Math.max(1, burst);
    this.#tokens = this.#burst;
    this.#updated = clock.now();
  }

  /** Waits for one token and takes it. */
  async take(signal?: AbortSignal): Promise<void> {
    for (;;) {
      this.#refill();
      if (this.#tokens >= 1) {
        this.#tokens -= 1;
        return;
      }
      const waitMs = Math.ceil(((1 - this.#tokens) / this.#perSecond) * 1000);
      await sleep(this.#clock, waitMs, signal);
    }
  }

  #refill(): void {
    const now = this.#clock.now();
    const earned = ((now - this.#updated) / 1000) * this.#perSecond;
    this.#tokens = Math.min(this.#burst, this.#tokens + earned);
    this.#updated = now;
  }
}
