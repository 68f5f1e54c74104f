// Kubeconfig resolution: --kubeconfig, then $KUBECONFIG, then in-cluster, then ~/.kube/config.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';

import { KubeConfigError, loadKubeConfig } from '../../src/operator/kubeconfig.ts';

/** Where a real Pod has its service-account token; tests never create it. */
const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

interface Place {
  /** A fresh directory, removed when the test ends. */
  readonly dir: string;
  /** An empty home directory inside `dir`, for `HOME`. */
  readonly home: string;
}

function place(t: TestContext): Place {
  const dir = mkdtempSync(join(tmpdir(), 'kubeconfig-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const home = join(dir, 'home');
  mkdirSync(home);
  return { dir, home };
}

/** A kubeconfig whose one context points at `server`, with `current-context` unless omitted. */
function kubeconfig(server: string, options: { current?: string | null; suffix?: string } = {}) {
  const suffix = options.suffix ?? 'main';
  const current = options.current === undefined ? `ctx-${suffix}` : options.current;
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: cluster-${suffix}`,
    '  cluster:',
    `    server: ${server}`,
    'users:',
    `- name: user-${suffix}`,
    '  user:',
    '    token: not-a-real-token',
    'contexts:',
    `- name: ctx-${suffix}`,
    '  context:',
    `    cluster: cluster-${suffix}`,
    `    user: user-${suffix}`,
    ...(current === null ? [] : [`current-context: ${current}`]),
    '',
  ].join('\n');
}

function write(path: string, content: string): string {
  writeFileSync(path, content);
  return path;
}

/** Writes `~/.kube/config` under the fake home. */
function writeHomeConfig(p: Place, server: string): string {
  mkdirSync(join(p.home, '.kube'));
  return write(join(p.home, '.kube', 'config'), kubeconfig(server));
}

function serverOf(result: ReturnType<typeof loadKubeConfig>): string | undefined {
  return result.kubeConfig.getCurrentCluster()?.server;
}

void describe('loadKubeConfig', () => {
  void it('takes the --kubeconfig flag over everything else', (t) => {
    const p = place(t);
    const flag = write(join(p.dir, 'flag'), kubeconfig('https://flag.test:6443'));
    const env = write(join(p.dir, 'env'), kubeconfig('https://env.test:6443'));
    writeHomeConfig(p, 'https://home.test:6443');

    const result = loadKubeConfig(flag, {
      HOME: p.home,
      KUBECONFIG: env,
      KUBERNETES_SERVICE_HOST: '10.0.0.1',
      KUBERNETES_SERVICE_PORT: '443',
    });

    assert.equal(serverOf(result), 'https://flag.test:6443');
    assert.equal(result.source, flag);
  });

  void it('takes $KUBECONFIG over in-cluster and home', (t) => {
    const p = place(t);
    const env = write(join(p.dir, 'env'), kubeconfig('https://env.test:6443'));
    writeHomeConfig(p, 'https://home.test:6443');

    const result = loadKubeConfig(undefined, {
      HOME: p.home,
      KUBECONFIG: env,
      KUBERNETES_SERVICE_HOST: '10.0.0.1',
    });

    assert.equal(serverOf(result), 'https://env.test:6443');
    assert.equal(result.source, `$KUBECONFIG (${env})`);
  });

  void it('ignores an empty $KUBECONFIG and empty entries in it', (t) => {
    const p = place(t);
    const home = writeHomeConfig(p, 'https://home.test:6443');
    const env = write(join(p.dir, 'env'), kubeconfig('https://env.test:6443'));

    const empty = loadKubeConfig(undefined, { HOME: p.home, KUBECONFIG: '' });
    const colons = loadKubeConfig(undefined, { HOME: p.home, KUBECONFIG: `::${env}:` });

    assert.equal(empty.source, home);
    assert.equal(serverOf(colons), 'https://env.test:6443');
  });

  void it(
    'falls back to ~/.kube/config when the service host is set but no token is mounted',
    { skip: existsSync(IN_CLUSTER_TOKEN) ? 'this machine has a service-account token' : false },
    (t) => {
      const p = place(t);
      const home = writeHomeConfig(p, 'https://home.test:6443');

      const result = loadKubeConfig(undefined, {
        HOME: p.home,
        KUBERNETES_SERVICE_HOST: '10.0.0.1',
        KUBERNETES_SERVICE_PORT: '443',
      });

      assert.equal(result.source, home);
      assert.equal(serverOf(result), 'https://home.test:6443');
    },
  );

  void it(
    'refuses to start when nothing is configured, naming every option',
    { skip: existsSync(IN_CLUSTER_TOKEN) ? 'this machine has a service-account token' : false },
    (t) => {
      const p = place(t);

      assert.throws(
        () => loadKubeConfig(undefined, { HOME: p.home }),
        (err: unknown) => {
          assert.ok(err instanceof KubeConfigError);
          assert.equal(err.name, 'KubeConfigError');
          for (const option of ['--kubeconfig', '$KUBECONFIG', 'in a cluster']) {
            assert.ok(err.message.includes(option), `${err.message} names ${option}`);
          }
          assert.ok(err.message.includes(join(p.home, '.kube', 'config')), err.message);
          assert.ok(!/localhost|127\.0\.0\.1/.test(err.message), err.message);
          return true;
        },
      );
    },
  );

  const refused = [
    { name: 'without current-context', content: kubeconfig('https://a.test', { current: null }) },
    {
      name: 'whose current-context names no context',
      content: kubeconfig('https://a.test', { current: 'missing' }),
    },
  ];
  for (const { name, content } of refused) {
    void it(`refuses a kubeconfig ${name}`, (t) => {
      const p = place(t);
      const flag = write(join(p.dir, 'config'), content);

      assert.throws(() => loadKubeConfig(flag, { HOME: p.home }), {
        name: 'KubeConfigError',
        message: `the kubeconfig from ${flag} has no current cluster`,
      });
    });
  }

  void it('wraps a missing or unreadable file in a KubeConfigError with its cause', (t) => {
    const p = place(t);
    const missing = join(p.dir, 'missing');
    const broken = write(join(p.dir, 'broken'), 'clusters: [unterminated\n');

    for (const flag of [missing, broken]) {
      assert.throws(
        () => loadKubeConfig(flag, { HOME: p.home }),
        (err: unknown) =>
          err instanceof KubeConfigError &&
          err.message.startsWith(`cannot load the kubeconfig ${flag}: `) &&
          err.cause instanceof Error,
      );
    }
  });

  void it('does not read a home kubeconfig when a flag is given that fails', (t) => {
    const p = place(t);
    writeHomeConfig(p, 'https://home.test:6443');

    assert.throws(() => loadKubeConfig(join(p.dir, 'missing'), { HOME: p.home }), KubeConfigError);
  });

  void it('merges the files of $KUBECONFIG as kubectl does: the first to set a value wins', (t) => {
    const p = place(t);
    const first = write(join(p.dir, 'first'), kubeconfig('https://first.test', { suffix: 'a' }));
    const second = write(
      join(p.dir, 'second'),
      kubeconfig('https://second.test', { suffix: 'b', current: null }),
    );

    const result = loadKubeConfig(undefined, {
      HOME: p.home,
      KUBECONFIG: `${first}:${second}`,
    });

    assert.equal(serverOf(result), 'https://first.test');
    assert.deepEqual(
      result.kubeConfig.getClusters().map((c) => c.name),
      ['cluster-a', 'cluster-b'],
    );
  });
});

void describe('loadKubeConfig: errors never quote the file', () => {
  void it('names the line of a YAML error without showing the token next to it', (t) => {
    const p = place(t);
    const token = 'token-marker-5b1e0d2c';
    const path = write(
      join(p.dir, 'broken'),
      `apiVersion: v1\nusers:\n- name: u\n  user:\n    token: ${token}\n    bogus: [1,\n`,
    );

    assert.throws(
      () => loadKubeConfig(path, { HOME: p.home }),
      (err: unknown) =>
        err instanceof KubeConfigError &&
        /invalid YAML at line \d+/.test(err.message) &&
        !err.message.includes(token),
    );
  });
});
