// The token bucket that bounds status writes over all resources.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { isAbortError } from '../../src/util/clock.ts';
import { TokenBucket } from '../../src/status/rate-limiter.ts';
import { FakeClock, flush } from '../support/fake-clock.ts';

/** Starts `count` takes at once and returns how many have resolved so far, live. */
function takeMany(bucket: TokenBucket, count: number): { readonly resolved: number } {
  const state = { resolved: 0 };
  for (let i = 0; i < count; i++) void bucket.take().then(() => state.resolved++);
  return state;
}

void describe('TokenBucket', () => {
  const cases = [
    { perSecond: 10, burst: 5 },
    { perSecond: 20, burst: 40 },
    { perSecond: 2, burst: 1 },
  ];

  for (const { perSecond, burst } of cases) {
    void it(`lets ${burst} through at once, then ${perSecond} per second`, async () => {
      const clock = new FakeClock();
      const bucket = new TokenBucket(clock, perSecond, burst);
      const intervalMs = 1000 / perSecond;

      const takes = takeMany(bucket, burst + 3 * perSecond);
      await flush();
      assert.equal(takes.resolved, burst);

      clock.step(intervalMs - 1);
      await flush();
      assert.equal(takes.resolved, burst);

      for (let i = 1; i <= 3 * perSecond; i++) {
        clock.step(i === 1 ? 1 : intervalMs);
        await flush();
        assert.equal(takes.resolved, burst + i, `after ${i} intervals`);
      }
    });
  }

  void it('saves up to the burst while idle, and no more', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(clock, 10, 5);
    await Promise.all([1, 2, 3, 4, 5].map(() => bucket.take()));

    clock.step(60_000);
    const takes = takeMany(bucket, 8);
    await flush();

    assert.equal(takes.resolved, 5);
  });

  void it('treats a burst below one as one', async () => {
    const clock = new FakeClock();
    const takes = takeMany(new TokenBucket(clock, 1, 0), 2);
    await flush();

    assert.equal(takes.resolved, 1);
  });

  void it('rejects a waiting take with an AbortError when its signal aborts', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(clock, 1, 1);
    await bucket.take();
    const controller = new AbortController();

    const waiting = bucket.take(controller.signal);
    controller.abort();

    await assert.rejects(waiting, (err: unknown) => isAbortError(err));
    assert.equal(clock.pendingTimers(), 0);
  });

  void it('does not spend a token on an aborted take', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(clock, 1, 1);
    await bucket.take();
    const controller = new AbortController();
    const aborted = bucket.take(controller.signal);
    controller.abort();
    await assert.rejects(aborted);

    const next = takeMany(bucket, 1);
    clock.step(1000);
    await flush();

    assert.equal(next.resolved, 1);
  });
});
