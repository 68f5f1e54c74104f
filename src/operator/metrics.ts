/**
 * The Prometheus text exposition format, version 0.0.4: just enough of it for gauges and
 * counters, without a client library. Metrics carry names, counts and states only; never the
 * content of a Secret or ConfigMap, and label values are names, never data.
 */

/** The Content-Type of a response rendered by {@link renderMetrics}. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The two metric types this renderer knows. */
export type MetricType = 'gauge' | 'counter';

/** One value of a family, told apart from its siblings by its labels. */
export interface MetricSample {
  /** Label names and values, rendered in this order. Default: no labels. */
  readonly labels?: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A metric family: one HELP line, one TYPE line, then its samples. */
export interface MetricFamily {
  /**
   * The metric name. A counter whose name does not end in `_total` is exposed with that suffix
   * added, as Prometheus naming asks.
   */
  readonly name: string;
  /** One line of help; backslashes and line breaks are escaped. */
  readonly help: string;
  readonly type: MetricType;
  /** May be empty: the family is then announced with no sample. */
  readonly samples: readonly MetricSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Renders `families` in the Prometheus text format 0.0.4, in the order given, each line ended
 * by a line feed (an empty list renders as the empty string). Throws a TypeError for an invalid
 * metric or label name, a label name starting with `__` (reserved), or two families exposed
 * under the same name: those are programming errors, and a scraper would refuse the output.
 */
export function renderMetrics(families: readonly MetricFamily[]): string {
  const seen = new Set<string>();
  const lines: string[] = [];

  for (const family of families) {
    const name = exposedName(family);
    if (seen.has(name)) {
      throw new TypeError(`metric family "${name}" is listed twice`);
    }
    seen.add(name);

    lines.push(`# HELP ${name} ${escapeHelp(family.help)}`);
    lines.push(`# TYPE ${name} ${family.type}`);
    for (const sample of family.samples) {
      lines.push(`${name}${renderLabels(name, sample.labels)} ${renderValue(sample.value)}`);
    }
  }

  return lines.map((line) => `${line}\n`).join('');
}

/** The name a family is exposed under: checked, and with `_total` for counters. */
function exposedName(family: MetricFamily): string {
  if (!METRIC_NAME.test(family.name)) {
    throw new TypeError(`invalid metric name "${family.name}"`);
  }
  if (family.type === 'counter' && !family.name.endsWith('_total')) {
    return `${family.name}_total`;
  }
  return family.name;
}

function renderLabels(metric: string, labels: Readonly<Record<string, string>> = {}): string {
  const pairs = Object.entries(labels).map(([label, value]) => {
    if (!LABEL_NAME.test(label) || label.startsWith('__')) {
      throw new TypeError(`invalid label name "${label}" on metric "${metric}"`);
    }
    return `${label}="${escapeLabelValue(value)}"`;
  });
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

/** Go's float formatting, as far as Prometheus parses it: NaN and signed infinities by name. */
function renderValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

function escapeHelp(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');
}

function escapeLabelValue(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}
