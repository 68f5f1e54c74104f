// KubeClient and ResourceClient against a fake API server on 127.0.0.1.
import { KubeConfig } from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, it, type TestContext } from 'node:test';

import {
  isConflict,
  isForbidden,
  isGone,
  isNotFound,
  isTooManyRequests,
  StatusError,
} from '../../src/apimachinery/errors.ts';
import type { KubeObject, WatchEvent } from '../../src/apimachinery/types.ts';
import { KubeClient, type KubeClientOptions } from '../../src/kube/client.ts';
import { ResourceClient } from '../../src/kube/resource.ts';
import { isAbortError } from '../../src/util/clock.ts';
import { FAKE_TOKEN, FakeApiServer, sendJson, statusBody } from '../support/fake-api-server.ts';

interface Harness {
  readonly server: FakeApiServer;
  readonly client: KubeClient;
  readonly configMaps: ResourceClient<KubeObject>;
}

const CONFIGMAPS = '/api/v1/namespaces/apps/configmaps';

/** A server and a client of it; both closed when the test ends. */
async function setup(
  t: TestContext,
  options: KubeClientOptions & { basePath?: string; pageSize?: number } = {},
): Promise<Harness> {
  const server = await FakeApiServer.start();
  const client = new KubeClient(server.kubeConfig(options.basePath), options);
  t.after(async () => {
    await client.close();
    await server.close();
  });
  const configMaps = new ResourceClient<KubeObject>(
    client,
    { group: '', version: 'v1', plural: 'configmaps' },
    options.pageSize,
  );
  return { server, client, configMaps };
}

function configMap(name: string): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'apps' } };
}

/** Writes `chunks` one by one, pausing so that each arrives as its own read. */
async function writeSlowly(response: ServerResponse, chunks: readonly Buffer[]): Promise<void> {
  response.writeHead(200, { 'content-type': 'application/json' });
  response.flushHeaders();
  for (const chunk of chunks) {
    response.write(chunk);
    await delay(5);
  }
}

/** Cuts `bytes` at every offset in `cuts` (sorted, deduplicated, inside the buffer). */
function cutAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const offsets = [...new Set(cuts)].filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const offset of [...offsets, bytes.length]) {
    chunks.push(bytes.subarray(start, offset));
    start = offset;
  }
  return chunks;
}

/** One turn of the event loop. */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const value of iterable) out.push(value);
  return out;
}

function watchOptions(signal: AbortSignal, resourceVersion = '10') {
  return {
    namespace: 'apps',
    fieldSelector: 'metadata.name=cfg',
    resourceVersion,
    timeoutSeconds: 1800,
    allowWatchBookmarks: true,
    signal,
  };
}

void describe('KubeClient', () => {
  void it('sends JSON with the credentials and parses the JSON answer', async (t) => {
    const h = await setup(t);
    h.server.route('POST', CONFIGMAPS, (req, res) => sendJson(res, 201, JSON.parse(req.body)));

    const created = await h.client.request<KubeObject>('POST', CONFIGMAPS, {
      query: { dryRun: 'All', fieldManager: undefined, limit: 5, pretty: false },
      body: configMap('cfg'),
    });

    assert.deepEqual(created, configMap('cfg'));
    const [req] = h.server.requests;
    assert.equal(req?.method, 'POST');
    assert.equal(req?.path, CONFIGMAPS);
    assert.deepEqual(Object.fromEntries(req?.query ?? []), {
      dryRun: 'All',
      limit: '5',
      pretty: 'false',
    });
    assert.equal(req?.headers.authorization, `Bearer ${FAKE_TOKEN}`);
    assert.equal(req?.headers.accept, 'application/json');
    assert.equal(req?.headers['content-type'], 'application/json');
    assert.equal(req?.headers['user-agent'], 'objectcache-operator');
  });

  void it('keeps the path of the server URL and sends a configured user agent', async (t) => {
    const h = await setup(t, { basePath: '/k8s/clusters/one', userAgent: 'tester/1' });
    h.server.route('GET', `/k8s/clusters/one${CONFIGMAPS}/cfg`, (_req, res) =>
      sendJson(res, 200, configMap('cfg')),
    );

    await h.configMaps.get('apps', 'cfg');

    assert.equal(h.server.requests[0]?.headers['user-agent'], 'tester/1');
    assert.equal(h.server.requests[0]?.headers['content-type'], undefined);
  });

  void describe('a failure Status becomes a typed StatusError', () => {
    const cases = [
      { code: 404, reason: 'NotFound', guard: isNotFound },
      { code: 409, reason: 'AlreadyExists', guard: isConflict },
      { code: 410, reason: 'Expired', guard: isGone },
      { code: 403, reason: 'Forbidden', guard: isForbidden },
      { code: 429, reason: 'TooManyRequests', guard: isTooManyRequests },
    ];
    const guards = [isNotFound, isConflict, isGone, isForbidden, isTooManyRequests];

    for (const { code, reason, guard } of cases) {
      void it(`${code} ${reason}: code, reason and message, and only its own guard`, async (t) => {
        const h = await setup(t);
        const message = `configmaps "cfg" failed with ${reason}`;
        h.server.route('GET', `${CONFIGMAPS}/cfg`, (_req, res) =>
          sendJson(res, code, statusBody(code, reason, message)),
        );

        const err = await h.configMaps.get('apps', 'cfg').then(
          () => assert.fail('expected a StatusError'),
          (e: unknown) => e,
        );

        assert.ok(err instanceof StatusError);
        assert.deepEqual([err.code, err.reason, err.message], [code, reason, message]);
        assert.deepEqual(
          guards.map((g) => g(err)),
          guards.map((g) => g === guard),
        );
      });
    }

    void it('a 500 with a Status keeps its reason and message', async (t) => {
      const h = await setup(t);
      h.server.route('GET', CONFIGMAPS, (_req, res) =>
        sendJson(res, 500, statusBody(500, 'InternalError', 'etcdserver: request timed out')),
      );

      await assert.rejects(
        h.configMaps.list({ namespace: 'apps', signal: AbortSignal.timeout(2000) }),
        {
          name: 'StatusError',
          code: 500,
          reason: 'InternalError',
          message: 'etcdserver: request timed out',
        },
      );
    });
  });

  void it('turns a non-JSON error body into a StatusError that does not quote it', async (t) => {
    const h = await setup(t);
    h.server.route('GET', `${CONFIGMAPS}/cfg`, (_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>upstream said: password=hunter2</html>');
    });

    const err = await h.configMaps.get('apps', 'cfg').catch((e: unknown) => e);

    assert.ok(err instanceof StatusError);
    assert.equal(err.code, 502);
    assert.equal(err.reason, 'InternalError');
    assert.equal(err.message, 'the server responded with status 502 (InternalError)');
  });

  void it('rejects a successful answer that is not JSON', async (t) => {
    const h = await setup(t);
    h.server.route('GET', `${CONFIGMAPS}/cfg`, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>login</html>');
    });

    await assert.rejects(h.client.request('GET', `${CONFIGMAPS}/cfg`));
  });

  void it('rejects with an AbortError when the caller aborts', async (t) => {
    const h = await setup(t);
    h.server.route('GET', `${CONFIGMAPS}/cfg`, () => undefined);
    const controller = new AbortController();

    const request = h.configMaps.get('apps', 'cfg', controller.signal);
    await delay(20);
    controller.abort();

    await assert.rejects(request, (err: unknown) => isAbortError(err));
  });

  void it('gives up on a request after requestTimeoutMs', async (t) => {
    const h = await setup(t, { requestTimeoutMs: 100 });
    h.server.route('GET', `${CONFIGMAPS}/cfg`, () => undefined);

    await assert.rejects(h.configMaps.get('apps', 'cfg'), (err: unknown) => isAbortError(err));
  });

  void it('reuses one connection for requests one after another', async (t) => {
    const h = await setup(t);
    h.server.route('GET', `${CONFIGMAPS}/cfg`, (_req, res) => sendJson(res, 200, configMap('cfg')));
    h.server.route('GET', `${CONFIGMAPS}/missing`, (_req, res) =>
      sendJson(res, 404, statusBody(404, 'NotFound', 'configmaps "missing" not found')),
    );

    for (let i = 0; i < 5; i++) {
      await h.configMaps.get('apps', 'cfg');
      await turn();
      await assert.rejects(h.configMaps.get('apps', 'missing'));
      await turn();
    }

    assert.equal(h.server.requests.length, 10);
    assert.equal(h.server.connections, 1);
  });

  void it('opens at most two connections for requests sent back to back', async (t) => {
    // The pool takes a connection back one event-loop turn after its response was read, so a
    // request sent in the same turn opens a second one; from then on the two alternate.
    const h = await setup(t);
    h.server.route('GET', `${CONFIGMAPS}/cfg`, (_req, res) => sendJson(res, 200, configMap('cfg')));

    for (let i = 0; i < 10; i++) await h.configMaps.get('apps', 'cfg');

    assert.ok(h.server.connections <= 2, `${h.server.connections} connections`);
  });

  void it('closes its connections on close', async (t) => {
    const h = await setup(t);
    h.server.route('GET', `${CONFIGMAPS}/cfg`, (_req, res) => sendJson(res, 200, configMap('cfg')));
    await h.configMaps.get('apps', 'cfg');
    assert.equal(h.server.openConnections, 1);

    await h.client.close();
    await delay(20);

    assert.equal(h.server.openConnections, 0);
  });

  void it('fails requests made after close', async (t) => {
    const h = await setup(t);
    h.server.route('GET', `${CONFIGMAPS}/cfg`, (_req, res) => sendJson(res, 200, configMap('cfg')));
    await h.client.close();

    await assert.rejects(h.configMaps.get('apps', 'cfg'));
  });
});

void describe('ResourceClient', () => {
  void it('builds collection and object paths for core and named groups', async (t) => {
    const h = await setup(t);
    const statuses = new ResourceClient<KubeObject>(h.client, {
      group: 'objectcache.dev',
      version: 'v1alpha1',
      plural: 'cachedobjectstatuses',
    });

    assert.equal(h.configMaps.collectionPath(''), '/api/v1/configmaps');
    assert.equal(h.configMaps.collectionPath('apps'), CONFIGMAPS);
    assert.equal(h.configMaps.objectPath('apps', 'a b/c'), `${CONFIGMAPS}/a%20b%2Fc`);
    assert.equal(
      statuses.objectPath('apps', 'secret-tls', 'status'),
      '/apis/objectcache.dev/v1alpha1/namespaces/apps/cachedobjectstatuses/secret-tls/status',
    );
  });

  void it('reads every page of a list by following continue', async (t) => {
    const h = await setup(t, { pageSize: 2 });
    const names = ['a', 'b', 'c', 'd', 'e'];
    h.server.route('GET', CONFIGMAPS, (req, res) => {
      const start = Number(req.query.get('continue') ?? '0');
      const next = start + 2 < names.length ? String(start + 2) : '';
      sendJson(res, 200, {
        kind: 'ConfigMapList',
        metadata: { resourceVersion: '42', ...(next === '' ? {} : { continue: next }) },
        items: names.slice(start, start + 2).map(configMap),
      });
    });

    const list = await h.configMaps.list({
      namespace: 'apps',
      labelSelector: 'team=web',
      fieldSelector: 'metadata.name!=z',
      signal: AbortSignal.timeout(2000),
    });

    assert.deepEqual(
      list.items.map((item) => item.metadata?.name),
      names,
    );
    assert.equal(list.resourceVersion, '42');
    assert.deepEqual(
      h.server.requests.map((r) => Object.fromEntries(r.query)),
      [undefined, '2', '4'].map((token) => ({
        fieldSelector: 'metadata.name!=z',
        labelSelector: 'team=web',
        limit: '2',
        ...(token === undefined ? {} : { continue: token }),
      })),
    );
  });

  void it('asks for everything at once with page size 0, and takes null items as none', async (t) => {
    const h = await setup(t, { pageSize: 0 });
    h.server.route('GET', '/api/v1/configmaps', (_req, res) =>
      sendJson(res, 200, { metadata: { resourceVersion: '7' }, items: null }),
    );

    const list = await h.configMaps.list({ namespace: '', signal: AbortSignal.timeout(2000) });

    assert.deepEqual(list, { items: [], resourceVersion: '7' });
    assert.deepEqual(Object.fromEntries(h.server.requests[0]?.query ?? []), {});
  });

  void it('applies server-side with the field manager, force and the apply content type', async (t) => {
    const h = await setup(t);
    h.server.route('PATCH', `${CONFIGMAPS}/cfg/status`, (req, res) =>
      sendJson(res, 200, JSON.parse(req.body)),
    );

    await h.configMaps.apply('apps', 'cfg', configMap('cfg'), {
      fieldManager: 'objectcache-operator',
      force: true,
      subresource: 'status',
    });

    const [req] = h.server.requests;
    assert.equal(req?.headers['content-type'], 'application/apply-patch+yaml');
    assert.deepEqual(Object.fromEntries(req?.query ?? []), {
      fieldManager: 'objectcache-operator',
      force: 'true',
    });
    assert.deepEqual(JSON.parse(req?.body ?? ''), configMap('cfg'));
  });

  void it('sends delete options only when there are some', async (t) => {
    const h = await setup(t);
    h.server.route('DELETE', `${CONFIGMAPS}/cfg`, (_req, res) =>
      sendJson(res, 200, { kind: 'Status', status: 'Success' }),
    );

    await h.configMaps.delete('apps', 'cfg');
    await h.configMaps.delete('apps', 'cfg', { uid: 'u-1', gracePeriodSeconds: 0 });

    assert.deepEqual(
      h.server.requests.map((r) => r.body),
      ['', JSON.stringify({ preconditions: { uid: 'u-1' }, gracePeriodSeconds: 0 })],
    );
  });

  void it('gets, creates and replaces with the right verb and path', async (t) => {
    const h = await setup(t);
    const echo = (code: number) => (req: { body: string }, res: ServerResponse) =>
      sendJson(res, code, req.body === '' ? configMap('cfg') : JSON.parse(req.body));
    h.server.route('GET', `${CONFIGMAPS}/cfg`, echo(200));
    h.server.route('POST', CONFIGMAPS, echo(201));
    h.server.route('PUT', `${CONFIGMAPS}/cfg`, echo(200));

    await h.configMaps.get('apps', 'cfg');
    await h.configMaps.create('apps', configMap('cfg'));
    await h.configMaps.replace('apps', 'cfg', configMap('cfg'));

    assert.deepEqual(
      h.server.requests.map((r) => `${r.method} ${r.path}`),
      [`GET ${CONFIGMAPS}/cfg`, `POST ${CONFIGMAPS}`, `PUT ${CONFIGMAPS}/cfg`],
    );
  });

  void describe('watch', () => {
    void it('yields events from a stream cut at odd byte boundaries', async (t) => {
      const h = await setup(t);
      const events: WatchEvent<KubeObject>[] = [
        { type: 'ADDED', object: { ...configMap('café-🔑'), metadata: { name: 'café-🔑' } } },
        { type: 'MODIFIED', object: configMap('cfg') },
        { type: 'BOOKMARK', object: { metadata: { resourceVersion: '12' } } },
        { type: 'DELETED', object: configMap('cfg') },
      ];
      const bytes = Buffer.from(events.map((e) => JSON.stringify(e)).join('\n') + '\n');
      const key = bytes.indexOf(Buffer.from('🔑'));
      const accent = bytes.indexOf(Buffer.from('é'));
      const newlines = [...bytes.entries()].filter(([, b]) => b === 10).map(([i]) => i);
      const cuts = [
        ...Array.from({ length: Math.ceil(bytes.length / 7) }, (_, i) => i * 7 + 3),
        accent + 1,
        key + 1,
        key + 2,
        key + 3,
        ...newlines,
        ...newlines.map((i) => i + 1),
      ];
      h.server.route('GET', CONFIGMAPS, async (_req, res) => {
        await writeSlowly(res, cutAt(bytes, cuts));
        res.end();
      });

      const received = await collect(h.configMaps.watch(watchOptions(AbortSignal.timeout(2000))));

      assert.deepEqual(received, events);
      assert.deepEqual(Object.fromEntries(h.server.requests[0]?.query ?? []), {
        watch: 'true',
        fieldSelector: 'metadata.name=cfg',
        resourceVersion: '10',
        timeoutSeconds: '1800',
        allowWatchBookmarks: 'true',
      });
    });

    void it('takes a last line without a newline and skips blank lines', async (t) => {
      const h = await setup(t);
      const added = { type: 'ADDED', object: configMap('a') };
      h.server.route('GET', CONFIGMAPS, async (_req, res) => {
        await writeSlowly(res, [
          Buffer.from(`\n\r\n${JSON.stringify(added)}\n\n`),
          Buffer.from(JSON.stringify(added)),
        ]);
        res.end();
      });

      const received = await collect(h.configMaps.watch(watchOptions(AbortSignal.timeout(2000))));

      assert.deepEqual(received, [added, added]);
    });

    void it('leaves out an empty resourceVersion', async (t) => {
      const h = await setup(t);
      h.server.route('GET', CONFIGMAPS, (_req, res) => {
        res.writeHead(200);
        res.end();
      });

      await collect(h.configMaps.watch(watchOptions(AbortSignal.timeout(2000), '')));

      assert.equal(h.server.requests[0]?.query.has('resourceVersion'), false);
    });

    void it('fails on a malformed line without quoting it', async (t) => {
      const h = await setup(t);
      const good = JSON.stringify({ type: 'ADDED', object: configMap('a') });
      const bad = '{"type":"ADDED","object":{"data":{"password":"hunter2"}}';
      h.server.route('GET', CONFIGMAPS, async (_req, res) => {
        await writeSlowly(res, [Buffer.from(`${good}\n${bad}\n${good}\n`)]);
        res.end();
      });
      const received: unknown[] = [];

      const err = await (async () => {
        for await (const event of h.configMaps.watch(watchOptions(AbortSignal.timeout(2000)))) {
          received.push(event);
        }
      })().catch((e: unknown) => e);

      assert.equal(received.length, 1);
      assert.ok(err instanceof Error);
      assert.match(err.message, /malformed JSON line of \d+ bytes/);
      assert.ok(!err.message.includes('hunter2') && !err.message.includes('password'));
    });

    void it('fails on an event that is not { type, object }', async (t) => {
      const h = await setup(t);
      h.server.route('GET', CONFIGMAPS, (_req, res) => {
        res.writeHead(200);
        res.end(`${JSON.stringify({ kind: 'ConfigMap', data: { key: 'value' } })}\n`);
      });

      await assert.rejects(collect(h.configMaps.watch(watchOptions(AbortSignal.timeout(2000)))), {
        message: 'malformed watch event: expected { type, object }',
      });
    });

    void it('fails on an event whose object is null', async (t) => {
      const h = await setup(t);
      h.server.route('GET', CONFIGMAPS, (_req, res) => {
        res.writeHead(200);
        res.end(`${JSON.stringify({ type: 'ADDED', object: null })}\n`);
      });

      await assert.rejects(collect(h.configMaps.watch(watchOptions(AbortSignal.timeout(2000)))), {
        message: 'malformed watch event: expected { type, object }',
      });
    });

    void it('fails with the server’s StatusError when the watch is refused', async (t) => {
      const h = await setup(t);
      h.server.route('GET', CONFIGMAPS, (_req, res) =>
        sendJson(res, 410, statusBody(410, 'Expired', 'too old resource version: 10 (20)')),
      );

      const err = await collect(h.configMaps.watch(watchOptions(AbortSignal.timeout(2000)))).catch(
        (e: unknown) => e,
      );

      assert.ok(isGone(err));
      assert.equal((err as StatusError).message, 'too old resource version: 10 (20)');
    });

    void it('ends normally when the server closes the stream', async (t) => {
      const h = await setup(t);
      h.server.route('GET', CONFIGMAPS, async (_req, res) => {
        await writeSlowly(res, [
          Buffer.from(`${JSON.stringify({ type: 'ADDED', object: configMap('a') })}\n`),
        ]);
        await delay(20);
        res.end();
      });

      const received = await collect(h.configMaps.watch(watchOptions(AbortSignal.timeout(2000))));

      assert.equal(received.length, 1);
    });

    void it('ends with an AbortError when aborted, and releases the connection', async (t) => {
      const h = await setup(t);
      h.server.route('GET', CONFIGMAPS, async (_req, res) => {
        await writeSlowly(res, [
          Buffer.from(`${JSON.stringify({ type: 'ADDED', object: configMap('a') })}\n`),
        ]);
      });
      const controller = new AbortController();
      const received: unknown[] = [];

      const err = await (async () => {
        for await (const event of h.configMaps.watch(watchOptions(controller.signal))) {
          received.push(event);
          controller.abort();
        }
      })().catch((e: unknown) => e);

      assert.equal(received.length, 1);
      assert.ok(isAbortError(err), String(err));
      await h.server.requests[0]?.closed;
    });

    void it('releases the connection when the consumer leaves the loop early', async (t) => {
      const h = await setup(t);
      h.server.route('GET', CONFIGMAPS, async (_req, res) => {
        await writeSlowly(res, [
          Buffer.from(`${JSON.stringify({ type: 'ADDED', object: configMap('a') })}\n`),
        ]);
      });

      for await (const event of h.configMaps.watch(watchOptions(AbortSignal.timeout(2000)))) {
        assert.equal(event.type, 'ADDED');
        break;
      }

      await h.server.requests[0]?.closed;
    });

    void it('ends a watch that receives nothing for watchIdleTimeoutMs like a close', async (t) => {
      const h = await setup(t, { watchIdleTimeoutMs: 100 });
      const added = { type: 'ADDED', object: configMap('a') };
      h.server.route('GET', CONFIGMAPS, async (_req, res) => {
        await writeSlowly(res, [Buffer.from(`${JSON.stringify(added)}\n`)]);
      });

      const received = await collect(h.configMaps.watch(watchOptions(AbortSignal.timeout(2500))));

      assert.deepEqual(received, [added]);
      await h.server.requests[0]?.closed;
    });

    void it('reuses the connection of a watch the server ended', async (t) => {
      const h = await setup(t);
      const added = { type: 'ADDED', object: configMap('a') };
      h.server.route('GET', CONFIGMAPS, async (_req, res) => {
        await writeSlowly(res, [Buffer.from(`${JSON.stringify(added)}\n`)]);
        res.end();
      });
      h.server.route('GET', `${CONFIGMAPS}/cfg`, (_req, res) =>
        sendJson(res, 200, configMap('cfg')),
      );

      await collect(h.configMaps.watch(watchOptions(AbortSignal.timeout(2000))));
      await turn();
      await h.configMaps.get('apps', 'cfg');
      await turn();
      await collect(h.configMaps.watch(watchOptions(AbortSignal.timeout(2000))));

      assert.equal(h.server.requests.length, 3);
      assert.equal(h.server.connections, 1);
    });
  });
});

void describe('KubeClient: kubeconfig features it does not support', () => {
  void it('refuses a proxy-url instead of bypassing the proxy', async () => {
    const config = new KubeConfig();
    config.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:1', proxyUrl: 'http://127.0.0.1:3128' }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const client = new KubeClient(config);

    await assert.rejects(client.request('GET', '/api'), /proxy-url/);
    await client.close();
  });
});
