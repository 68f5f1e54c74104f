import type { KubeConfig } from '@kubernetes/client-node';
import { Agent, request } from 'undici';
import { statusErrorFrom } from '../apimachinery/errors.ts';

/** Settings of the API client. */
export interface KubeClientOptions {
  /** Sent as User-Agent. Default `objectcache-operator`. */
  readonly userAgent?: string;
  /** Bound on a whole non-watch request. Default 60 s. */
  readonly requestTimeoutMs?: number;
  /**
   * A watch that receives no byte for this long is ended as if the server had closed it, so a
   * half-open connection is noticed and the watch resumed. The API server's watch cache sends
   * a bookmark every one or two minutes to watchers that ask for them. Default 5 min.
   */
  readonly watchIdleTimeoutMs?: number;
  /** Multiplex requests over HTTP/2 where the server offers it. Default false. */
  readonly http2?: boolean;
}

/** A JSON request. */
export interface RequestOptions {
  readonly query?: Record<string, string | number | boolean | undefined>;
  readonly body?: unknown;
  /** Content type of `body`. Default `application/json`. */
  readonly contentType?: string;
  readonly signal?: AbortSignal;
}

interface Authenticated {
  readonly origin: string;
  readonly basePath: string;
  readonly headers: Record<string, string>;
}

/**
 * A small client of the Kubernetes REST API on top of `@kubernetes/client-node`'s kubeconfig
 * handling (contexts, certificates, tokens, exec and in-cluster credentials).
 *
 * All requests share one connection pool: each open watch holds one connection, and short
 * requests reuse idle ones instead of paying a TCP and TLS handshake each. A failed request
 * rejects with a StatusError built from the server's `Status`; aborting rejects with an
 * AbortError. The constructor does no I/O; `close` releases every connection.
 */
export class KubeClient {
  readonly #config: KubeConfig;
  readonly #options: KubeClientOptions;
  #agent: Promise<Agent> | undefined;
  #closed = false;

  constructor(config: KubeConfig, options: KubeClientOptions = {}) {
    this.#config = config;
    this.#options = options;
  }

  /** Sends one request and parses the JSON answer. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const auth = await this.#authenticate();
    const timeout = AbortSignal.timeout(this.#options.requestTimeoutMs ?? 60_000);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;

    const response = await request(auth.origin + auth.basePath + path, {
      method: method as 'GET',
      dispatcher: await this.#dispatcher(),
      query: compactQuery(options.query),
      headers: {
        ...auth.headers,
        accept: 'application/json',
        ...(options.body === undefined
          ? {}
          : { 'content-type': options.contentType ?? 'application/json' }),
      },
      body: options.body === undefined ? null : JSON.stringify(options.body),
      signal,
    });

    const text = await response.body.text();
    if (response.statusCode < 200 || response.statusCode >= 300) {
      throw statusErrorFrom(response.statusCode, parseJson(text));
    }
    if (text === '') return undefined as T;

    const body = parseJson(text);
    if (body === undefined) {
      // Never quote the body: it may hold an object's content.
      const type = response.headers['content-type'] ?? 'no content type';
      throw new Error(
        `the server answered ${path} with ${text.length} bytes that are not JSON (${String(type)})`,
      );
    }
    return body as T;
  }

  /**
   * Opens a watch (or any streaming GET) and yields each JSON line the server sends. The
   * iterator ends when the server closes the stream or no byte arrives within the idle timeout,
   * and throws when the request fails or `signal` aborts. Leaving the loop early releases the
   * connection.
   */
  async *stream(
    path: string,
    query: RequestOptions['query'],
    signal: AbortSignal,
  ): AsyncGenerator<unknown> {
    const auth = await this.#authenticate();
    const response = await request(auth.origin + auth.basePath + path, {
      method: 'GET',
      dispatcher: await this.#dispatcher(),
      query: compactQuery(query),
      headers: { ...auth.headers, accept: 'application/json' },
      signal,
      bodyTimeout: this.#options.watchIdleTimeoutMs ?? 300_000,
      headersTimeout: this.#options.requestTimeoutMs ?? 60_000,
    });

    if (response.statusCode !== 200) {
      const text = await response.body.text();
      throw statusErrorFrom(response.statusCode, parseJson(text));
    }

    try {
      yield* jsonLines(response.body);
    } catch (err) {
      // A watch silent for the whole idle timeout may sit on a dead connection. Ending it like
      // a server close lets the caller resume from its last resourceVersion at once.
      if (!isBodyTimeout(err)) throw err;
    } finally {
      // A consumer that stops early (or an error) must not leave the socket half read.
      if (!response.body.destroyed) response.body.destroy();
    }
  }

  /** Closes every connection. Requests after this fail. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const agent = this.#agent;
    this.#agent = undefined;
    // An agent that could not be made has no connection to close.
    if (agent !== undefined)
      await agent.then(
        (a) => a.close(),
        () => undefined,
      );
  }

  /**
   * Headers and server for one request. Asked anew each time so that rotated tokens (projected
   * service-account tokens, exec plugins) are picked up.
   */
  async #authenticate(): Promise<Authenticated> {
    const cluster = this.#config.getCurrentCluster();
    if (cluster === null) {
      throw new Error('the kubeconfig has no current cluster');
    }

    const options: { headers?: Record<string, string>; auth?: string } = {};
    await this.#config.applyToHTTPSOptions(options);
    const headers: Record<string, string> = {
      'user-agent': this.#options.userAgent ?? 'objectcache-operator',
    };
    for (const [key, value] of Object.entries(options.headers ?? {})) {
      headers[key.toLowerCase()] = String(value);
    }
    if (options.auth !== undefined) {
      headers.authorization = `Basic ${Buffer.from(options.auth).toString('base64')}`;
    }

    const url = new URL(cluster.server);
    return { origin: url.origin, basePath: url.pathname.replace(/\/$/, ''), headers };
  }

  #dispatcher(): Promise<Agent> {
    if (this.#closed) return Promise.reject(new Error('the API client is closed'));
    this.#agent ??= this.#newAgent();
    return this.#agent;
  }

  async #newAgent(): Promise<Agent> {
    const cluster = this.#config.getCurrentCluster();
    // TODO: connect through the kubeconfig's proxy-url (undici's ProxyAgent for HTTP proxies).
    // Until then, refuse it rather than bypass the proxy without a word.
    if (cluster?.proxyUrl) {
      throw new Error('the kubeconfig sets proxy-url, which this client does not support yet');
    }
    const tls: {
      ca?: Buffer;
      cert?: Buffer;
      key?: Buffer;
      servername?: string;
      rejectUnauthorized?: boolean;
    } = {};
    await this.#config.applyToHTTPSOptions(tls);

    // TODO: certificate files are read once per client; a rotated client certificate needs a
    // restart. In-cluster credentials are tokens, which are re-read per request.
    return new Agent({
      allowH2: this.#options.http2 ?? false,
      connect: {
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        servername: tls.servername,
        rejectUnauthorized: cluster?.skipTLSVerify === true ? false : tls.rejectUnauthorized,
        keepAlive: true,
        keepAliveInitialDelay: 30_000,
      },
    });
  }
}

function isBodyTimeout(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'UND_ERR_BODY_TIMEOUT';
}

function compactQuery(
  query: RequestOptions['query'],
): Record<string, string | number | boolean> | undefined {
  if (query === undefined) return undefined;
  const out: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) out[key] = value;
  }
  return out;
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Splits a byte stream into JSON values, one per line. */
async function* jsonLines(body: AsyncIterable<Buffer>): AsyncGenerator<unknown> {
  const decoder = new TextDecoder();
  let pending = '';

  for await (const chunk of body) {
    pending += decoder.decode(chunk, { stream: true });
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (line !== '') yield parseLine(line);
      newline = pending.indexOf('\n');
    }
  }

  const rest = (pending + decoder.decode()).trim();
  if (rest !== '') yield parseLine(rest);
}

/**
 * Parses one line of a stream. The error never quotes the line: it may hold an object's
 * content.
 */
function parseLine(line: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch {
    throw new Error(`malformed JSON line of ${line.length} bytes in a watch stream`);
  }
}
