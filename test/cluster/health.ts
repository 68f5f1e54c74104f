/**
 * Readiness polling for the local control plane: one probe function, one loop that polls it
 * until it passes, a deadline passes, a fail-fast check trips, or the caller aborts.
 */
import { request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';

/** TLS material for probing the API server: the CA to trust and a client certificate. */
export interface ProbeTls {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** What {@link pollUntilReady} polls: resolves true once ready; may reject while not ready. */
export type ReadinessProbe = () => Promise<boolean>;

/** Options of {@link pollUntilReady}. */
export interface PollOptions {
  readonly timeoutMs: number;
  readonly intervalMs: number;
  /** Called before each attempt; an error it returns ends the wait at once with that error. */
  readonly failFast?: () => Error | undefined;
  readonly signal?: AbortSignal;
}

/** The readiness deadline passed; the message ends with what the last failed probe said. */
export class ReadinessTimeoutError extends Error {
  override readonly name = 'ReadinessTimeoutError';
}

/**
 * Polls `probe` every `intervalMs` until it resolves true. Rejects with the fail-fast error,
 * with a {@link ReadinessTimeoutError} after `timeoutMs`, or with the abort reason.
 */
export async function pollUntilReady(probe: ReadinessProbe, options: PollOptions): Promise<void> {
  const deadline = performance.now() + options.timeoutMs;
  let lastError = 'not ready';

  for (;;) {
    options.signal?.throwIfAborted();
    const fatal = options.failFast?.();
    if (fatal !== undefined) {
      throw fatal;
    }

    try {
      if (await probe()) {
        return;
      }
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }

    if (performance.now() >= deadline) {
      throw new ReadinessTimeoutError(
        `not ready after ${Math.round(options.timeoutMs / 1000)} s (last probe: ${lastError})`,
      );
    }
    await sleep(options.intervalMs, undefined, { signal: options.signal });
  }
}

/** GETs an HTTPS URL with client-certificate TLS; resolves with the status code. */
export function httpsGetStatus(url: string, tls: ProbeTls, timeoutMs = 2_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'GET', ca: tls.caPem, cert: tls.certPem, key: tls.keyPem, agent: false },
      (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
        res.once('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.once('error', reject);
    req.end();
  });
}

/** GETs a plain-HTTP loopback URL; resolves with the status code. */
export async function httpGetStatus(url: string, timeoutMs = 2_000): Promise<number> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  await response.body?.cancel();
  return response.status;
}
