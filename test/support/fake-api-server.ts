/**
 * A small HTTP server on 127.0.0.1 that plays the Kubernetes API for client tests: routes by
 * method and path, records every request with its body, counts TCP connections, and answers
 * unknown routes with a NotFound `Status`. `kubeConfig()` points a KubeConfig at it.
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

/** A request as the server received it. */
export interface ReceivedRequest {
  readonly method: string;
  /** Path without the query. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  /** The body as text; empty when there was none. */
  readonly body: string;
  /** Resolves when the client closed the request's connection or the response finished. */
  readonly closed: Promise<void>;
}

/** Answers one request. May write a streaming response over time. */
export type Handler = (request: ReceivedRequest, response: ServerResponse) => void | Promise<void>;

/** Token the KubeConfig of `kubeConfig()` sends. */
export const FAKE_TOKEN = 'fake-bearer-token';

/** Writes `body` as JSON with `code`. */
export function sendJson(response: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(code, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

/** A failure `metav1.Status`. */
export function statusBody(code: number, reason: string, message: string): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Status', status: 'Failure', code, reason, message };
}

/** The fake API server. Start it with `FakeApiServer.start()`; `close()` when done. */
export class FakeApiServer {
  readonly requests: ReceivedRequest[] = [];
  readonly #server: Server;
  readonly #routes = new Map<string, Handler>();
  readonly #sockets = new Set<Socket>();
  #connections = 0;

  private constructor(server: Server) {
    this.#server = server;
    server.on('connection', (socket: Socket) => {
      this.#connections++;
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://fake');
        const closed = new Promise<void>((resolve) => res.on('close', () => resolve()));
        const request: ReceivedRequest = {
          method: req.method ?? 'GET',
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          closed,
        };
        this.requests.push(request);
        void this.#dispatch(request, res);
      });
    });
  }

  /** Starts a server on 127.0.0.1 on a free port. */
  static async start(): Promise<FakeApiServer> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new FakeApiServer(server);
  }

  /** `http://127.0.0.1:<port>`. */
  get url(): string {
    const { port } = this.#server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** TCP connections accepted so far. */
  get connections(): number {
    return this.#connections;
  }

  /** TCP connections open now. */
  get openConnections(): number {
    return this.#sockets.size;
  }

  /** Answers `method path` (path without query) with `handler`. */
  route(method: string, path: string, handler: Handler): void {
    this.#routes.set(`${method} ${path}`, handler);
  }

  /**
   * A KubeConfig whose current context is this server with a bearer token. Plain HTTP needs
   * `skipTLSVerify` in client-node 2.x. `basePath` is appended to the server URL.
   */
  kubeConfig(basePath = ''): KubeConfig {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url + basePath, skipTLSVerify: true }],
      users: [{ name: 'fake', token: FAKE_TOKEN }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
      currentContext: 'fake',
    });
    return kubeConfig;
  }

  /** Ends every connection and stops listening. */
  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #dispatch(request: ReceivedRequest, response: ServerResponse): Promise<void> {
    const handler = this.#routes.get(`${request.method} ${request.path}`);
    try {
      if (handler === undefined) {
        sendJson(response, 404, statusBody(404, 'NotFound', `no route ${request.path}`));
        return;
      }
      await handler(request, response);
    } catch {
      // A test that ended mid-stream: the socket is gone, nothing to answer.
      response.destroy();
    }
  }
}
