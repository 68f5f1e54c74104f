import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';

import { startHttpServer } from '../../src/operator/http-server.ts';
import type { RunningHttpServer } from '../../src/operator/http-server.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { RecordingLogger } from '../support/recording-logger.ts';

const METRICS_TEXT = '# HELP up Up.\n# TYPE up gauge\nup 1\n';

/** What the server's callbacks answer; tests flip these between requests. */
interface State {
  live: boolean | Error;
  ready: boolean | Error;
  metrics: string | Error;
}

function answer<T>(value: T | Error): T {
  if (value instanceof Error) throw value;
  return value;
}

async function start(state: State, logger = silentLogger): Promise<RunningHttpServer> {
  return startHttpServer({
    host: '127.0.0.1',
    port: 0,
    logger,
    isLive: () => answer(state.live),
    isReady: () => answer(state.ready),
    metrics: () => answer(state.metrics),
  });
}

void describe('startHttpServer', () => {
  const state: State = { live: true, ready: true, metrics: METRICS_TEXT };
  let server: RunningHttpServer;
  let base: string;

  before(async () => {
    server = await start(state);
    base = `http://127.0.0.1:${server.port}`;
  });

  after(async () => {
    await server.close();
  });

  const cases: readonly {
    name: string;
    method?: string;
    path: string;
    given?: Partial<State>;
    status: number;
    contentType: string;
    body: string;
    allow?: string;
  }[] = [
    {
      name: 'answers /healthz with 200 ok while live',
      path: '/healthz',
      status: 200,
      contentType: 'text/plain; charset=utf-8',
      body: 'ok',
    },
    {
      name: 'answers /healthz with 500 when not live',
      path: '/healthz',
      given: { live: false },
      status: 500,
      contentType: 'text/plain; charset=utf-8',
      body: 'not live',
    },
    {
      name: 'answers /healthz with 500 when the liveness check throws',
      path: '/healthz',
      given: { live: new Error('boom') },
      status: 500,
      contentType: 'text/plain; charset=utf-8',
      body: 'not live',
    },
    {
      name: 'answers /readyz with 200 ok while ready',
      path: '/readyz',
      status: 200,
      contentType: 'text/plain; charset=utf-8',
      body: 'ok',
    },
    {
      name: 'answers /readyz with 503 when not ready',
      path: '/readyz',
      given: { ready: false },
      status: 503,
      contentType: 'text/plain; charset=utf-8',
      body: 'not ready',
    },
    {
      name: 'answers /readyz with 503 when the readiness check throws',
      path: '/readyz',
      given: { ready: new Error('boom') },
      status: 503,
      contentType: 'text/plain; charset=utf-8',
      body: 'not ready',
    },
    {
      name: 'ignores the query string',
      path: '/readyz?verbose=1',
      status: 200,
      contentType: 'text/plain; charset=utf-8',
      body: 'ok',
    },
    {
      name: 'serves /metrics in the Prometheus text format 0.0.4',
      path: '/metrics',
      status: 200,
      contentType: 'text/plain; version=0.0.4; charset=utf-8',
      body: METRICS_TEXT,
    },
    {
      name: 'answers /metrics with 500 when rendering throws',
      path: '/metrics',
      given: { metrics: new Error('boom') },
      status: 500,
      contentType: 'text/plain; charset=utf-8',
      body: 'metrics unavailable',
    },
    {
      name: 'answers an unknown path with 404',
      path: '/nope',
      status: 404,
      contentType: 'text/plain; charset=utf-8',
      body: 'not found',
    },
    {
      name: 'answers a path that only starts like a known one with 404',
      path: '/healthz/extra',
      status: 404,
      contentType: 'text/plain; charset=utf-8',
      body: 'not found',
    },
    {
      name: 'answers POST with 405 and the allowed methods',
      method: 'POST',
      path: '/healthz',
      status: 405,
      contentType: 'text/plain; charset=utf-8',
      body: 'method not allowed',
      allow: 'GET, HEAD',
    },
    {
      name: 'answers DELETE on an unknown path with 405 too',
      method: 'DELETE',
      path: '/nope',
      status: 405,
      contentType: 'text/plain; charset=utf-8',
      body: 'method not allowed',
      allow: 'GET, HEAD',
    },
    {
      name: 'answers HEAD like GET without a body',
      method: 'HEAD',
      path: '/readyz',
      given: { ready: false },
      status: 503,
      contentType: 'text/plain; charset=utf-8',
      body: '',
    },
  ];

  for (const c of cases) {
    void it(c.name, async () => {
      Object.assign(state, { live: true, ready: true, metrics: METRICS_TEXT }, c.given);

      const response = await fetch(base + c.path, { method: c.method ?? 'GET' });

      assert.equal(response.status, c.status);
      assert.equal(response.headers.get('content-type'), c.contentType);
      assert.equal(await response.text(), c.body);
      assert.equal(response.headers.get('allow'), c.allow ?? null);
    });
  }

  void it('sends a Content-Length that counts bytes, not characters', async () => {
    Object.assign(state, { metrics: '# HELP m caf\u00e9.\n# TYPE m gauge\nm 1\n' });

    const response = await fetch(`${base}/metrics`);

    const body = await response.text();
    assert.equal(response.headers.get('content-length'), String(Buffer.byteLength(body)));
    assert.equal(body, '# HELP m caf\u00e9.\n# TYPE m gauge\nm 1\n');
  });
});

void describe('startHttpServer failures and logs', () => {
  void it('logs a throwing metrics callback by error class and message', async () => {
    const logger = new RecordingLogger();
    const server = await start({ live: true, ready: true, metrics: new Error('boom') }, logger);

    try {
      await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    } finally {
      await server.close();
    }

    const [record] = logger.find('Rendering metrics failed', 'error');
    assert.deepEqual(record?.fields, { err: 'Error: boom' });
  });

  void it('rejects when the port is taken', async () => {
    const first = await start({ live: true, ready: true, metrics: '' });

    try {
      await assert.rejects(
        startHttpServer({
          host: '127.0.0.1',
          port: first.port,
          logger: silentLogger,
          isLive: () => true,
          isReady: () => true,
          metrics: () => '',
        }),
        { code: 'EADDRINUSE' },
      );
    } finally {
      await first.close();
    }
  });
});

void describe('RunningHttpServer.close', () => {
  void it('resolves while a client holds a keep-alive connection and stops accepting', async () => {
    const server = await start({ live: true, ready: true, metrics: '' });
    const url = `http://127.0.0.1:${server.port}/healthz`;
    const response = await fetch(url, { keepalive: true });
    await response.text();

    await server.close();

    await assert.rejects(fetch(url));
  });

  void it('can be called twice, both calls resolving', async () => {
    const server = await start({ live: true, ready: true, metrics: '' });

    await Promise.all([server.close(), server.close()]);
  });

  void it('answers a request begun before close, with Connection: close, then closes', async () => {
    const server = await start({ live: true, ready: true, metrics: '' });
    const socket = connect(server.port, '127.0.0.1');
    socket.setEncoding('utf8');
    let received = '';
    socket.on('data', (chunk: string) => (received += chunk));
    const socketClosed = once(socket, 'close');
    await once(socket, 'connect');

    // Half a request before close() and the rest after it: the request is being read while
    // the server shuts down.
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    await new Promise((resolve) => setTimeout(resolve, 20));
    const closed = server.close();
    socket.write('Connection: keep-alive\r\n\r\n');

    await closed;
    await socketClosed;
    assert.match(received, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(received, /\r\nconnection: close\r\n/i);
    assert.match(received, /\r\n\r\nok$/);
  });
});
