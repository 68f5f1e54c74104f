import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Backoff } from '../../src/util/backoff.ts';
import { FakeClock } from '../support/fake-clock.ts';

/** The next `count` delays, one second apart on the clock. */
function delays(backoff: Backoff, clock: FakeClock, count: number): number[] {
  const result: number[] = [];
  for (let i = 0; i < count; i++) {
    result.push(backoff.next());
    clock.step(1000);
  }
  return result;
}

void describe('Backoff', () => {
  void it('starts at 800 ms and doubles up to 30 s by default', () => {
    const clock = new FakeClock();
    const backoff = new Backoff(clock, { random: () => 0 });

    assert.deepEqual(
      delays(backoff, clock, 8),
      [800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000],
    );
  });

  const jitterCases = [
    { name: 'adds nothing when random() is 0', jitter: undefined, random: 0, delay: 800 },
    { name: 'stretches by half when random() is 0.5', jitter: undefined, random: 0.5, delay: 1200 },
    { name: 'stays under twice the delay', jitter: undefined, random: 0.999, delay: 1599.2 },
    { name: 'scales with the jitter option', jitter: 0.25, random: 0.5, delay: 900 },
    { name: 'adds nothing with jitter 0', jitter: 0, random: 0.999, delay: 800 },
  ];
  for (const c of jitterCases) {
    void it(`jitter ${c.name}`, () => {
      const backoff = new Backoff(new FakeClock(), { jitter: c.jitter, random: () => c.random });

      assert.ok(Math.abs(backoff.next() - c.delay) < 1e-9, `delay ${c.delay}`);
    });
  }

  void it('jitters the capped delay too, to at most twice the cap', () => {
    const clock = new FakeClock();
    const backoff = new Backoff(clock, { random: () => 0.999 });

    const last = delays(backoff, clock, 10).at(-1) ?? 0;

    assert.ok(last > 30_000 && last < 60_000, `delay ${last}`);
  });

  void it('starts small again after reset()', () => {
    const clock = new FakeClock();
    const backoff = new Backoff(clock, { random: () => 0 });
    delays(backoff, clock, 4);

    backoff.reset();

    assert.deepEqual(delays(backoff, clock, 2), [800, 1600]);
  });

  void it('starts small again after more than 2 min without a failure', () => {
    const clock = new FakeClock();
    const backoff = new Backoff(clock, { random: () => 0 });
    assert.deepEqual(delays(backoff, clock, 3), [800, 1600, 3200]);

    clock.step(120_000 - 1000);
    assert.equal(backoff.next(), 6400, 'exactly 2 min after the last failure still grows');

    clock.step(120_001);
    assert.equal(backoff.next(), 800);
  });

  void it('honours every option', () => {
    const clock = new FakeClock();
    const backoff = new Backoff(clock, {
      initialMs: 100,
      maxMs: 1000,
      factor: 3,
      jitter: 0,
      resetAfterMs: 5000,
    });

    assert.deepEqual(delays(backoff, clock, 4), [100, 300, 900, 1000]);
    clock.step(5001);
    assert.equal(backoff.next(), 100);
  });
});
