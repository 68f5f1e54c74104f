/**
 * The operator's own HTTP endpoint: liveness, readiness and Prometheus metrics, for the
 * kubelet's probes and for scrapers. It serves no object data.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { describeError } from '../util/logger.ts';
import type { Logger } from '../util/logger.ts';
import { METRICS_CONTENT_TYPE } from './metrics.ts';

/** What the server answers with; every callback is called once per request. */
export interface HttpServerOptions {
  /** Address to listen on. Default: every address of the host. */
  readonly host?: string | undefined;
  /** Port to listen on; 0 picks a free one. */
  readonly port: number;
  readonly logger: Logger;
  /** `/healthz` answers 200 while this returns true, 500 otherwise. */
  isLive(): boolean;
  /** `/readyz` answers 200 while this returns true, 503 otherwise. */
  isReady(): boolean;
  /** The body of `/metrics`, in the Prometheus text format 0.0.4. */
  metrics(): string;
}

/** A listening server. */
export interface RunningHttpServer {
  /** The port it listens on (the one picked when 0 was asked for). */
  readonly port: number;
  /**
   * Stops accepting connections, closes idle keep-alive connections, lets a request in flight
   * finish on a connection that then closes, and resolves once every connection is gone.
   * Idempotent.
   */
  close(): Promise<void>;
}

const TEXT = 'text/plain; charset=utf-8';

/** A response: status, content type and body. */
interface Reply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  readonly headers?: Record<string, string>;
}

/**
 * Starts serving on `host:port` and resolves once listening; rejects when it cannot listen
 * (port in use, address not available).
 *
 * `GET /healthz` answers 200 `ok` or 500; `GET /readyz` 200 `ok` or 503; `GET /metrics` 200
 * with `text/plain; version=0.0.4`. HEAD answers as GET without a body. Any other path is 404;
 * any other method is 405 with an `Allow` header. A callback that throws yields 500, logged.
 * The query string is ignored.
 */
export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  let closing = false;
  const server = createServer((request, response) => {
    respond(request, response, options, closing);
  });

  await listen(server, options.port, options.host);

  const port = (server.address() as AddressInfo).port;
  options.logger.info('Serving health and metrics', { host: options.host ?? '', port });

  let closed: Promise<void> | undefined;
  return {
    port,
    close() {
      closing = true;
      closed ??= shutDown(server, options.logger, port);
      return closed;
    },
  };
}

function listen(server: Server, port: number, host: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function shutDown(server: Server, logger: Logger, port: number): Promise<void> {
  // Node's `close` also ends idle keep-alive connections, which would otherwise hold it open
  // until the client hangs up. A busy connection ends after its response, which carries
  // `Connection: close` once `closing` is set.
  return new Promise((resolve) => {
    server.close(() => {
      logger.info('Stopped serving health and metrics', { port });
      resolve();
    });
  });
}

function respond(
  request: IncomingMessage,
  response: ServerResponse,
  options: HttpServerOptions,
  closing: boolean,
): void {
  const reply = route(request, options);

  response.statusCode = reply.status;
  response.setHeader('content-type', reply.contentType);
  response.setHeader('content-length', Buffer.byteLength(reply.body));
  response.setHeader('cache-control', 'no-store');
  for (const [name, value] of Object.entries(reply.headers ?? {})) {
    response.setHeader(name, value);
  }
  if (closing) {
    response.setHeader('connection', 'close');
  }

  // Node's server leaves the body out of an answer to HEAD.
  response.end(reply.body);
}

function route(request: IncomingMessage, options: HttpServerOptions): Reply {
  const method = request.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') {
    return { ...plain(405, 'method not allowed'), headers: { allow: 'GET, HEAD' } };
  }

  const path = (request.url ?? '/').split('?', 1)[0];
  switch (path) {
    case '/healthz':
      return probe(options, 'isLive', 500, 'not live');
    case '/readyz':
      return probe(options, 'isReady', 503, 'not ready');
    case '/metrics':
      return metrics(options);
    default:
      return plain(404, 'not found');
  }
}

function probe(
  options: HttpServerOptions,
  check: 'isLive' | 'isReady',
  failStatus: number,
  failBody: string,
): Reply {
  try {
    return options[check]() ? plain(200, 'ok') : plain(failStatus, failBody);
  } catch (err) {
    options.logger.error('Health check failed', { check, err: describeError(err) });
    return plain(failStatus, failBody);
  }
}

function metrics(options: HttpServerOptions): Reply {
  try {
    return { status: 200, contentType: METRICS_CONTENT_TYPE, body: options.metrics() };
  } catch (err) {
    options.logger.error('Rendering metrics failed', { err: describeError(err) });
    return plain(500, 'metrics unavailable');
  }
}

function plain(status: number, body: string): Reply {
  return { status, contentType: TEXT, body };
}
