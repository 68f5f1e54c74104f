import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { METRICS_CONTENT_TYPE, renderMetrics } from '../../src/operator/metrics.ts';
import type { MetricFamily } from '../../src/operator/metrics.ts';

void describe('renderMetrics', () => {
  const cases: readonly { name: string; families: MetricFamily[]; text: string }[] = [
    {
      name: 'renders nothing for no families',
      families: [],
      text: '',
    },
    {
      name: 'renders a gauge without labels',
      families: [
        { name: 'objectcache_items', help: 'Items in the cache.', type: 'gauge', samples: [] },
      ],
      text: '# HELP objectcache_items Items in the cache.\n# TYPE objectcache_items gauge\n',
    },
    {
      name: 'renders a gauge with one sample per label set, labels in the order given',
      families: [
        {
          name: 'objectcache_watches',
          help: 'Open watches.',
          type: 'gauge',
          samples: [
            { labels: { kind: 'Secret', state: 'running' }, value: 3 },
            { labels: { kind: 'ConfigMap', state: 'running' }, value: 0.5 },
          ],
        },
      ],
      text:
        '# HELP objectcache_watches Open watches.\n' +
        '# TYPE objectcache_watches gauge\n' +
        'objectcache_watches{kind="Secret",state="running"} 3\n' +
        'objectcache_watches{kind="ConfigMap",state="running"} 0.5\n',
    },
    {
      name: 'adds the _total suffix to a counter on every line',
      families: [
        {
          name: 'objectcache_lists',
          help: 'Lists sent.',
          type: 'counter',
          samples: [{ value: 7 }],
        },
      ],
      text:
        '# HELP objectcache_lists_total Lists sent.\n' +
        '# TYPE objectcache_lists_total counter\n' +
        'objectcache_lists_total 7\n',
    },
    {
      name: 'keeps a counter name that already ends in _total',
      families: [
        { name: 'writes_total', help: 'Writes.', type: 'counter', samples: [{ value: 1 }] },
      ],
      text: '# HELP writes_total Writes.\n# TYPE writes_total counter\nwrites_total 1\n',
    },
    {
      name: 'escapes backslashes, quotes and line feeds in label values',
      families: [
        {
          name: 'm',
          help: 'h',
          type: 'gauge',
          samples: [{ labels: { name: 'a\\b"c\nd' }, value: 1 }],
        },
      ],
      text: '# HELP m h\n# TYPE m gauge\nm{name="a\\\\b\\"c\\nd"} 1\n',
    },
    {
      name: 'escapes backslashes and line feeds in help but leaves quotes alone',
      families: [{ name: 'm', help: 'a "b" \\ c\nd', type: 'gauge', samples: [] }],
      text: '# HELP m a "b" \\\\ c\\nd\n# TYPE m gauge\n',
    },
    {
      name: 'writes NaN and infinities by name, and large or small numbers as parsable floats',
      families: [
        {
          name: 'm',
          help: 'h',
          type: 'gauge',
          samples: [
            { labels: { v: 'nan' }, value: Number.NaN },
            { labels: { v: 'inf' }, value: Number.POSITIVE_INFINITY },
            { labels: { v: '-inf' }, value: Number.NEGATIVE_INFINITY },
            { labels: { v: 'big' }, value: 1e21 },
            { labels: { v: 'small' }, value: -2.5e-7 },
          ],
        },
      ],
      text:
        '# HELP m h\n# TYPE m gauge\n' +
        'm{v="nan"} NaN\nm{v="inf"} +Inf\nm{v="-inf"} -Inf\nm{v="big"} 1e+21\n' +
        'm{v="small"} -2.5e-7\n',
    },
    {
      name: 'renders families in the order given',
      families: [
        { name: 'b', help: 'B.', type: 'gauge', samples: [{ value: 2 }] },
        { name: 'a', help: 'A.', type: 'counter', samples: [{ value: 1 }] },
      ],
      text:
        '# HELP b B.\n# TYPE b gauge\nb 2\n' +
        '# HELP a_total A.\n# TYPE a_total counter\na_total 1\n',
    },
  ];

  for (const c of cases) {
    void it(c.name, () => {
      assert.equal(renderMetrics(c.families), c.text);
    });
  }

  const invalid: readonly { name: string; families: MetricFamily[]; message: RegExp }[] = [
    {
      name: 'refuses a metric name with a dash',
      families: [{ name: 'bad-name', help: 'h', type: 'gauge', samples: [] }],
      message: /invalid metric name "bad-name"/,
    },
    {
      name: 'refuses a metric name starting with a digit',
      families: [{ name: '1m', help: 'h', type: 'gauge', samples: [] }],
      message: /invalid metric name "1m"/,
    },
    {
      name: 'refuses a label name with a dot',
      families: [
        { name: 'm', help: 'h', type: 'gauge', samples: [{ labels: { 'a.b': 'x' }, value: 1 }] },
      ],
      message: /invalid label name "a.b" on metric "m"/,
    },
    {
      name: 'refuses a reserved label name',
      families: [
        { name: 'm', help: 'h', type: 'gauge', samples: [{ labels: { __name__: 'x' }, value: 1 }] },
      ],
      message: /invalid label name "__name__"/,
    },
    {
      name: 'refuses two families exposed under the same name',
      families: [
        { name: 'writes', help: 'h', type: 'counter', samples: [] },
        { name: 'writes_total', help: 'h', type: 'counter', samples: [] },
      ],
      message: /metric family "writes_total" is listed twice/,
    },
  ];

  for (const c of invalid) {
    void it(c.name, () => {
      assert.throws(() => renderMetrics(c.families), { name: 'TypeError', message: c.message });
    });
  }
});

void describe('METRICS_CONTENT_TYPE', () => {
  void it('names text format version 0.0.4', () => {
    assert.equal(METRICS_CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8');
  });
});
