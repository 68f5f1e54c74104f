import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  ConfigError,
  DEFAULT_OPERATOR_NAMESPACE,
  MAX_DURATION_MS,
  isConfigError,
  loadConfig,
  operatorNamespace,
  parseConfig,
  parseDuration,
} from '../../src/operator/config.ts';
import type { OperatorConfig } from '../../src/operator/config.ts';

const DEFAULTS: OperatorConfig = {
  namespaces: [],
  cache: {
    maxIdleTimeMs: 300_000,
    sweepPeriodMs: 60_000,
    syncPollIntervalMs: 10,
    syncTimeoutMs: 1000,
  },
  access: { volumeSyncPeriodMs: 60_000 },
  status: {
    maxPods: 20,
    minWriteIntervalMs: 1000,
    resyncPeriodMs: 600_000,
    writesPerSecond: 20,
    burst: 40,
  },
  leaderElection: {
    enabled: true,
    namespace: 'operator-ns',
    leaseName: 'objectcache-operator',
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2000,
  },
  client: { http2: true },
  server: { port: 8080, host: undefined },
  logLevel: 'info',
};

/** Parses `text` as `config.yaml`, expecting a ConfigError, and returns it. */
function configErrorOf(text: string): ConfigError {
  try {
    parseConfig(text, 'config.yaml', 'operator-ns');
  } catch (err) {
    assert.ok(isConfigError(err), `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the config to be refused');
}

void describe('parseDuration', () => {
  const cases: readonly { text: string; ms: number | undefined }[] = [
    { text: '10ms', ms: 10 },
    { text: '90s', ms: 90_000 },
    { text: '5m', ms: 300_000 },
    { text: '2h', ms: 7_200_000 },
    { text: '1h30m', ms: 5_400_000 },
    { text: '1m30s250ms', ms: 90_250 },
    { text: '1.5s', ms: 1500 },
    { text: '596h', ms: 2_145_600_000 },
    { text: '1ms', ms: 1 },
    { text: '0s', ms: undefined },
    { text: '0.1ms', ms: undefined },
    { text: '597h', ms: undefined },
    { text: '', ms: undefined },
    { text: '5', ms: undefined },
    { text: '5 m', ms: undefined },
    { text: '-5m', ms: undefined },
    { text: '5min', ms: undefined },
    { text: '5M', ms: undefined },
    { text: 'PT5M', ms: undefined },
    { text: '.5s', ms: undefined },
  ];
  for (const c of cases) {
    void it(`reads ${JSON.stringify(c.text)} as ${String(c.ms)}`, () => {
      assert.equal(parseDuration(c.text), c.ms);
    });
  }

  void it('accepts exactly the longest timer delay', () => {
    assert.equal(parseDuration(`${MAX_DURATION_MS}ms`), MAX_DURATION_MS);
    assert.equal(parseDuration(`${MAX_DURATION_MS + 1}ms`), undefined);
  });
});

void describe('parseConfig', () => {
  const empty: readonly { name: string; text: string }[] = [
    { name: 'an empty file', text: '' },
    { name: 'a file of whitespace', text: '\n  \n' },
    { name: 'a file of comments only', text: '# nothing to change\n# really\n' },
    { name: 'an empty mapping', text: '{}\n' },
    { name: 'empty sections', text: 'cache: {}\naccess: {}\nstatus: {}\nserver: {}\n' },
  ];
  for (const c of empty) {
    void it(`returns every default for ${c.name}`, () => {
      assert.deepEqual(parseConfig(c.text, 'config.yaml', 'operator-ns'), DEFAULTS);
    });
  }

  void it('takes every field of a complete file, with durations in milliseconds', () => {
    const text = [
      'namespaces: [team-a, team-b]',
      'cache:',
      '  maxIdleTime: 10m',
      '  sweepPeriod: 30s',
      '  syncPollInterval: 5ms',
      '  syncTimeout: 2s',
      'access:',
      '  volumeSyncPeriod: 1m30s',
      'status:',
      '  maxPods: 100',
      '  minWriteInterval: 500ms',
      '  resyncPeriod: 2m',
      '  writesPerSecond: 2.5',
      '  burst: 5',
      'leaderElection:',
      '  enabled: false',
      '  namespace: elsewhere',
      '  leaseName: my-lease',
      '  leaseDuration: 30s',
      '  renewDeadline: 20s',
      '  retryPeriod: 5s',
      'client:',
      '  http2: false',
      'server:',
      '  port: 9090',
      '  host: 127.0.0.1',
      'logLevel: debug',
    ].join('\n');

    assert.deepEqual(parseConfig(text, 'config.yaml', 'operator-ns'), {
      namespaces: ['team-a', 'team-b'],
      cache: {
        maxIdleTimeMs: 600_000,
        sweepPeriodMs: 30_000,
        syncPollIntervalMs: 5,
        syncTimeoutMs: 2000,
      },
      access: { volumeSyncPeriodMs: 90_000 },
      status: {
        maxPods: 100,
        minWriteIntervalMs: 500,
        resyncPeriodMs: 120_000,
        writesPerSecond: 2.5,
        burst: 5,
      },
      leaderElection: {
        enabled: false,
        namespace: 'elsewhere',
        leaseName: 'my-lease',
        leaseDurationMs: 30_000,
        renewDeadlineMs: 20_000,
        retryPeriodMs: 5000,
      },
      client: { http2: false },
      server: { port: 9090, host: '127.0.0.1' },
      logLevel: 'debug',
    } satisfies OperatorConfig);
  });

  void it('fills in the defaults of a section that sets only some fields', () => {
    const config = parseConfig('cache:\n  maxIdleTime: 30s\n', 'config.yaml', 'operator-ns');

    assert.deepEqual(config.cache, { ...DEFAULTS.cache, maxIdleTimeMs: 30_000 });
    assert.deepEqual(config.status, DEFAULTS.status);
  });

  void it('keeps a maxIdleTime under one minute as written, for the cache to raise', () => {
    const config = parseConfig('cache: {maxIdleTime: 10s}\n', 'config.yaml', 'operator-ns');

    assert.equal(config.cache.maxIdleTimeMs, 10_000);
  });

  void it('accepts port 0 and maxPods 0', () => {
    const config = parseConfig('server: {port: 0}\nstatus: {maxPods: 0}\n', 'c.yaml', 'ns');

    assert.equal(config.server.port, 0);
    assert.equal(config.status.maxPods, 0);
  });

  const badFields: readonly { name: string; text: string; issue: string }[] = [
    { name: 'an unknown top-level field', text: 'foo: 1\n', issue: '/foo: unknown field' },
    {
      name: 'an unknown field in a section',
      text: 'cache:\n  maxIdle: 5m\n',
      issue: '/cache/maxIdle: unknown field',
    },
    {
      name: 'a duration without a unit',
      text: 'cache:\n  maxIdleTime: 300\n',
      issue: '/cache/maxIdleTime: must be string',
    },
    {
      name: 'a malformed duration',
      text: 'cache:\n  maxIdleTime: 5 minutes\n',
      issue: '/cache/maxIdleTime: must match format "duration"',
    },
    {
      name: 'a zero duration',
      text: 'cache:\n  sweepPeriod: 0s\n',
      issue: '/cache/sweepPeriod: must match format "duration"',
    },
    {
      name: 'a fractional pod count',
      text: 'status:\n  maxPods: 1.5\n',
      issue: '/status/maxPods: must be integer',
    },
    {
      name: 'a pod count above the CRD limit',
      text: 'status:\n  maxPods: 101\n',
      issue: '/status/maxPods: must be <= 100',
    },
    {
      name: 'a zero write rate',
      text: 'status:\n  writesPerSecond: 0\n',
      issue: '/status/writesPerSecond: must be > 0',
    },
    {
      name: 'a port given as a string',
      text: 'server:\n  port: "8080"\n',
      issue: '/server/port: must be integer',
    },
    {
      name: 'a port out of range',
      text: 'server:\n  port: 70000\n',
      issue: '/server/port: must be <= 65535',
    },
    {
      name: 'an unknown log level',
      text: 'logLevel: verbose\n',
      issue: '/logLevel: must be one of: error, warn, info, debug, trace',
    },
    {
      name: 'a boolean given as a string',
      text: 'leaderElection:\n  enabled: "yes"\n',
      issue: '/leaderElection/enabled: must be boolean',
    },
    {
      name: 'a namespace that is not a DNS label',
      text: 'namespaces: [Team_A]\n',
      issue: '/namespaces/0: must match pattern',
    },
    {
      name: 'namespaces given as a string',
      text: 'namespaces: team-a\n',
      issue: '/namespaces: must be array',
    },
    {
      name: 'a section given as a list',
      text: 'cache: [1]\n',
      issue: '/cache: must be object',
    },
    {
      name: 'a null leader election section',
      text: 'leaderElection: null\n',
      issue: '/leaderElection: must be object',
    },
    {
      name: 'a file that is a list',
      text: '- cache\n',
      issue: '/: must be object',
    },
    {
      name: 'a renew deadline not shorter than the lease',
      text: 'leaderElection:\n  renewDeadline: 15s\n',
      issue: '/leaderElection/renewDeadline: must be less than leaderElection.leaseDuration',
    },
    {
      name: 'a retry period not shorter than the renew deadline',
      text: 'leaderElection:\n  retryPeriod: 10s\n',
      issue: '/leaderElection/retryPeriod: must be less than leaderElection.renewDeadline',
    },
  ];
  for (const c of badFields) {
    void it(`refuses ${c.name}, naming the field`, () => {
      const err = configErrorOf(c.text);

      assert.equal(err.issues.length, 1, err.message);
      assert.ok(err.message.startsWith(`config.yaml: ${c.issue}`), err.message);
    });
  }

  void it('lists every bad field at once, one per line', () => {
    const err = configErrorOf('cache:\n  maxIdleTime: soon\nstatus:\n  maxPods: x\nfoo: 1\n');

    const lines = err.message.split('\n');
    assert.equal(lines.length, 3);
    assert.deepEqual(err.issues.map((issue) => issue.path).sort(), [
      '/cache/maxIdleTime',
      '/foo',
      '/status/maxPods',
    ]);
    for (const line of lines) {
      assert.match(line, /^config\.yaml: \/[a-zA-Z/]+: /);
    }
  });

  void it('escapes an unknown field name that contains a slash', () => {
    const err = configErrorOf('"a/b": 1\n');

    assert.equal(err.issues[0]?.path, '/a~1b');
  });

  const unparsable: readonly { name: string; text: string; position: string }[] = [
    { name: 'an unclosed flow sequence', text: 'namespaces: [a\n', position: 'line 2, column 1' },
    { name: 'a bad indentation', text: 'cache:\n  a: 1\n b: 2\n', position: 'line 3, column' },
    { name: 'a duplicate key', text: 'logLevel: info\nlogLevel: debug\n', position: 'line 2' },
    { name: 'a tab for indentation', text: 'cache:\n\tmaxIdleTime: 5m\n', position: 'line 2' },
  ];
  for (const c of unparsable) {
    void it(`refuses YAML with ${c.name}, with its line`, () => {
      const err = configErrorOf(c.text);

      assert.ok(err.issues.length >= 1);
      assert.ok(err.message.startsWith(`config.yaml: ${c.position}`), err.message);
    });
  }
});

void describe('ConfigError', () => {
  void it('is recognised by its guard, and nothing else is', () => {
    const err = new ConfigError('c.yaml', [{ path: '/a', message: 'is bad' }]);

    assert.equal(isConfigError(err), true);
    assert.equal(isConfigError(new Error('c.yaml: /a: is bad')), false);
    assert.equal(isConfigError(undefined), false);
    assert.equal(err.name, 'ConfigError');
    assert.equal(err.message, 'c.yaml: /a: is bad');
    assert.equal(err.source, 'c.yaml');
  });
});

void describe('loadConfig', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'objectcache-config-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  void it('reads and validates the file at the path', async () => {
    const path = join(dir, 'good.yaml');
    await writeFile(path, 'logLevel: warn\nleaderElection: {namespace: le}\n');

    const config = await loadConfig(path, {}, join(dir, 'absent'));

    assert.equal(config.logLevel, 'warn');
    assert.equal(config.leaderElection.namespace, 'le');
  });

  void it('returns the defaults without a path', async () => {
    const config = await loadConfig(undefined, { POD_NAMESPACE: 'operator-ns' });

    assert.deepEqual(config, DEFAULTS);
  });

  void it('refuses a bad file with a ConfigError naming the path given', async () => {
    const path = join(dir, 'bad.yaml');
    await writeFile(path, 'status:\n  maxPods: many\n');

    await assert.rejects(loadConfig(path, {}, join(dir, 'absent')), (err: unknown) => {
      assert.ok(isConfigError(err));
      assert.equal(err.message, `${path}: /status/maxPods: must be integer`);
      return true;
    });
  });

  void it('refuses a missing file with a ConfigError', async () => {
    const path = join(dir, 'missing.yaml');

    await assert.rejects(loadConfig(path, {}), (err: unknown) => {
      assert.ok(isConfigError(err));
      assert.equal(err.message, `${path}: /: cannot read the file (ENOENT)`);
      return true;
    });
  });

  void it('refuses a directory with a ConfigError', async () => {
    await assert.rejects(loadConfig(dir, {}), (err: unknown) => isConfigError(err));
  });
});

void describe('operatorNamespace', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'objectcache-namespace-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  void it('prefers POD_NAMESPACE over the namespace file', async () => {
    const file = join(dir, 'namespace');
    await writeFile(file, 'from-file');

    assert.equal(await operatorNamespace({ POD_NAMESPACE: 'from-env' }, file), 'from-env');
  });

  void it('reads the namespace file, trimmed, when POD_NAMESPACE is unset or empty', async () => {
    const file = join(dir, 'namespace');
    await writeFile(file, 'from-file\n');

    assert.equal(await operatorNamespace({}, file), 'from-file');
    assert.equal(await operatorNamespace({ POD_NAMESPACE: ' ' }, file), 'from-file');
  });

  void it('falls back to objectcache-system without either', async () => {
    const namespace = await operatorNamespace({}, join(dir, 'absent'));

    assert.equal(namespace, DEFAULT_OPERATOR_NAMESPACE);
    assert.equal(namespace, 'objectcache-system');
  });

  void it('falls back when the namespace file is empty', async () => {
    const file = join(dir, 'empty');
    await writeFile(file, '');

    assert.equal(await operatorNamespace({}, file), 'objectcache-system');
  });

  void it('is the Lease namespace unless the config sets one', async () => {
    const file = join(dir, 'namespace');
    await writeFile(file, 'from-file');

    const config = await loadConfig(undefined, {}, file);

    assert.equal(config.leaderElection.namespace, 'from-file');
  });
});
