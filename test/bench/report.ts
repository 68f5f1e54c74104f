/**
 * The bench report: every figure of every session as JSON, and Markdown tables that put the
 * TypeScript cache next to the kubelet's own managers with the ratio TS/kubelet. With several
 * repeats a table shows the median of each figure.
 */
import type { OperatorResult } from './operator-scenario.ts';
import type { SessionResult } from './session.ts';
import { median, perItem, ratio } from './stats.ts';

/** Where and on what the bench ran. */
export interface Environment {
  readonly date: string;
  readonly machine: {
    readonly cpus: number;
    readonly cpuModel: string;
    readonly memoryBytes: number;
    readonly kernel: string;
  };
  readonly versions: {
    readonly node: string;
    readonly go: string;
    readonly kubernetes: string;
    readonly etcd: string;
    readonly apiServer: string;
  };
}

/** The whole report. */
export interface BenchReport {
  readonly environment: Environment;
  readonly options: Record<string, unknown>;
  readonly workload: Record<string, unknown>;
  readonly sessions: readonly SessionResult[];
  readonly informerObjectsHeld: number | undefined;
  readonly operator: OperatorResult | undefined;
  readonly notes: readonly string[];
}

type Pick = (session: SessionResult) => number | undefined;

interface Row {
  readonly figure: string;
  readonly pick: Pick;
  readonly digits: number;
}

const MIB = 1024 * 1024;
const KIB = 1024;

function items(session: SessionResult): number {
  return session.coldStart?.items ?? 0;
}

/** Watch re-opens per open watch per hour over the idle and propagation windows. */
function reopensPerWatchHour(session: SessionResult): number | undefined {
  const open = session.coldStart?.requests.watchesOpen;
  const idle = session.idle;
  if (open === undefined || open === 0 || idle === undefined) return undefined;
  const reopened = idle.requests.watchesOpened + (session.propagation?.requests.watchesOpened ?? 0);
  const seconds = idle.seconds + (session.propagation?.seconds ?? 0);
  return reopened / open / (seconds / 3600);
}

const COLD_START_ROWS: readonly Row[] = [
  { figure: 'Pods registered', pick: (s) => s.coldStart?.pods, digits: 0 },
  { figure: 'Cached objects', pick: (s) => s.coldStart?.items, digits: 0 },
  {
    figure: 'Pod watch synced after process start (ms)',
    pick: (s) => s.coldStart?.podSyncMs,
    digits: 0,
  },
  {
    figure: 'Every object synced after registration (ms)',
    pick: (s) => s.coldStart?.syncedMs,
    digits: 0,
  },
  { figure: 'Rounds of gets until synced', pick: (s) => s.coldStart?.open.rounds, digits: 0 },
  {
    figure: 'LIST requests per object',
    pick: (s) => perItem(s.coldStart?.requests.lists, items(s)),
    digits: 2,
  },
  {
    figure: 'WATCH requests per object',
    pick: (s) => perItem(s.coldStart?.requests.watchesOpened, items(s)),
    digits: 2,
  },
  {
    figure: 'Watches open once settled',
    pick: (s) => s.coldStart?.requests.watchesOpen,
    digits: 0,
  },
  {
    figure: 'TCP connections right after sync',
    pick: (s) => s.coldStart?.connectionsAtSync,
    digits: 0,
  },
  { figure: 'TCP connections once idle', pick: (s) => s.coldStart?.connections, digits: 0 },
  {
    figure: 'Connections per open watch',
    pick: (s) => ratio(s.coldStart?.connections, s.coldStart?.requests.watchesOpen),
    digits: 3,
  },
  {
    figure: 'RSS before the caches open (MiB)',
    pick: (s) => perItem(s.coldStart?.rssBaselineBytes, MIB),
    digits: 1,
  },
  {
    figure: 'Peak RSS at cold start (MiB)',
    pick: (s) => perItem(s.coldStart?.peakRssBytes, MIB),
    digits: 1,
  },
  {
    figure: 'RSS growth per object (KiB)',
    pick: (s) =>
      s.coldStart === undefined
        ? undefined
        : perItem((s.coldStart.rssAfterBytes - s.coldStart.rssBaselineBytes) / KIB, items(s)),
    digits: 2,
  },
  {
    figure: 'Heap per object (KiB)',
    pick: (s) =>
      s.coldStart === undefined
        ? undefined
        : perItem((s.coldStart.heapAfterBytes - s.coldStart.heapBaselineBytes) / KIB, items(s)),
    digits: 2,
  },
  {
    figure: 'Heap held by the runtime, growth per object (KiB)',
    pick: (s) =>
      s.coldStart === undefined
        ? undefined
        : perItem(
            (s.coldStart.memoryAfter.heapHeldBytes - s.coldStart.memoryBaseline.heapHeldBytes) /
              KIB,
            items(s),
          ),
    digits: 2,
  },
];

const IDLE_ROWS: readonly Row[] = [
  {
    figure: 'Requests while idle (LIST + WATCH + GET)',
    pick: (s) =>
      s.idle === undefined
        ? undefined
        : s.idle.requests.lists + s.idle.requests.watchesOpened + s.idle.requests.gets,
    digits: 0,
  },
  { figure: 'Watch re-opens per watch per hour', pick: reopensPerWatchHour, digits: 2 },
];

const PROPAGATION_ROWS: readonly Row[] = [
  { figure: 'Updates sent', pick: (s) => s.propagation?.updates, digits: 0 },
  { figure: 'Updates served', pick: (s) => s.propagation?.seen, digits: 0 },
  { figure: 'Latency p50 (ms)', pick: (s) => s.propagation?.p50Ms, digits: 1 },
  { figure: 'Latency p99 (ms)', pick: (s) => s.propagation?.p99Ms, digits: 1 },
  { figure: 'Latency max (ms)', pick: (s) => s.propagation?.maxMs, digits: 1 },
  {
    figure: 'Write round trip p50 (ms, same for both)',
    pick: (s) => s.propagation?.writeP50Ms,
    digits: 1,
  },
  {
    figure: 'Requests sent for the polling gets (LIST + WATCH + GET)',
    pick: (s) =>
      s.propagation === undefined
        ? undefined
        : s.propagation.requests.lists +
          s.propagation.requests.watchesOpened +
          s.propagation.requests.gets,
    digits: 0,
  },
];

const CHURN_ROWS: readonly Row[] = [
  { figure: 'Pods created', pick: (s) => s.churn?.created, digits: 0 },
  { figure: 'Pods deleted', pick: (s) => s.churn?.deleted, digits: 0 },
  { figure: 'Pods turned terminal', pick: (s) => s.churn?.terminal, digits: 0 },
  { figure: 'Items in the truth', pick: (s) => s.churn?.comparison?.truthItems, digits: 0 },
  { figure: 'Items held', pick: (s) => s.churn?.comparison?.runnerItems, digits: 0 },
  { figure: 'Missing items', pick: (s) => s.churn?.comparison?.missingItems, digits: 0 },
  {
    figure: 'Items with wrong references',
    pick: (s) => s.churn?.comparison?.referenceMismatches,
    digits: 0,
  },
  {
    figure: 'Unreferenced items (still watched)',
    pick: (s) => s.churn?.comparison?.extraItems,
    digits: 0,
  },
  { figure: 'Watches open at the API server', pick: (s) => s.churn?.apiServerWatches, digits: 0 },
  {
    figure: 'Items with a running watch',
    pick: (s) => s.churn?.comparison?.runningItems,
    digits: 0,
  },
  { figure: 'Settle time after churn (ms)', pick: (s) => s.churn?.settleMs, digits: 0 },
  {
    figure: 'Peak RSS over the session (MiB)',
    pick: (s) => perItem(s.peakRssBytes, MIB),
    digits: 1,
  },
];

/** Median of a figure over the sessions of one runner. */
function figure(
  sessions: readonly SessionResult[],
  runner: string,
  pick: Pick,
): number | undefined {
  return median(sessions.filter((s) => s.runner === runner).map(pick));
}

function format(value: number | undefined, digits: number): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  return value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  const align = header.map((_, i) => (i === 0 ? '---' : '---:'));
  return [line(header), line(align), ...rows.map(line)].join('\n');
}

/** A table of `rows` for two runners and the ratio of the second to the first. */
function pairTable(
  sessions: readonly SessionResult[],
  rows: readonly Row[],
  reference: string,
  candidate: string,
): string {
  return table(
    ['Figure', 'kubelet (Go)', 'TypeScript', 'TS / kubelet'],
    rows.map((row) => {
      const ref = figure(sessions, reference, row.pick);
      const ts = figure(sessions, candidate, row.pick);
      return [
        row.figure,
        format(ref, row.digits),
        format(ts, row.digits),
        format(ratio(ts, ref), 2),
      ];
    }),
  );
}

/** A table of `rows` with one column per runner. */
function columnsTable(
  sessions: readonly SessionResult[],
  rows: readonly Row[],
  columns: readonly { readonly runner: string; readonly title: string }[],
): string {
  return table(
    ['Figure', ...columns.map((column) => column.title)],
    rows.map((row) => [
      row.figure,
      ...columns.map((column) => format(figure(sessions, column.runner, row.pick), row.digits)),
    ]),
  );
}

function churnVerdict(sessions: readonly SessionResult[], runner: string): string {
  const runs = sessions.filter((s) => s.runner === runner && s.churn !== undefined);
  if (runs.length === 0) return 'not run';
  const failed = runs.filter((s) => s.churn?.ok !== true);
  if (failed.length === 0) return `pass (${runs.length}/${runs.length})`;
  const reasons = failed.flatMap((s) => s.churn?.failures ?? []);
  return `FAIL (${failed.length}/${runs.length}): ${[...new Set(reasons)].join('; ')}`;
}

const INFORMER_ROWS: readonly Row[] = [
  { figure: 'Referenced objects', pick: (s) => s.coldStart?.items, digits: 0 },
  { figure: 'Synced after registration (ms)', pick: (s) => s.coldStart?.syncedMs, digits: 0 },
  { figure: 'LIST requests', pick: (s) => s.coldStart?.requests.lists, digits: 0 },
  { figure: 'WATCH requests', pick: (s) => s.coldStart?.requests.watchesOpened, digits: 0 },
  { figure: 'TCP connections', pick: (s) => s.coldStart?.connections, digits: 0 },
  {
    figure: 'Heap growth (MiB)',
    pick: (s) =>
      s.coldStart === undefined
        ? undefined
        : (s.coldStart.heapAfterBytes - s.coldStart.heapBaselineBytes) / MIB,
    digits: 2,
  },
  {
    figure: 'Heap per referenced object (KiB)',
    pick: (s) =>
      s.coldStart === undefined
        ? undefined
        : perItem((s.coldStart.heapAfterBytes - s.coldStart.heapBaselineBytes) / KIB, items(s)),
    digits: 2,
  },
  {
    figure: 'RSS growth (MiB)',
    pick: (s) =>
      s.coldStart === undefined
        ? undefined
        : (s.coldStart.rssAfterBytes - s.coldStart.rssBaselineBytes) / MIB,
    digits: 1,
  },
  {
    figure: 'RSS before the caches open (MiB)',
    pick: (s) => perItem(s.coldStart?.rssBaselineBytes, MIB),
    digits: 1,
  },
  {
    figure: 'Peak RSS at cold start (MiB)',
    pick: (s) => perItem(s.coldStart?.peakRssBytes, MIB),
    digits: 1,
  },
];

/** The rows of `rows` with these figures, in this order. */
function rowsNamed(rows: readonly Row[], figures: readonly string[]): Row[] {
  return figures.flatMap((name) => rows.filter((row) => row.figure === name));
}

const VARIANT_ROWS: readonly Row[] = rowsNamed(
  [...COLD_START_ROWS, ...PROPAGATION_ROWS],
  [
    'Every object synced after registration (ms)',
    'TCP connections once idle',
    'Connections per open watch',
    'RSS before the caches open (MiB)',
    'Peak RSS at cold start (MiB)',
    'RSS growth per object (KiB)',
    'Heap per object (KiB)',
    'Latency p99 (ms)',
  ],
);

function readsTimedOut(operator: OperatorResult): string {
  const gets = operator.gets;
  if (gets === undefined) return '–';
  const total = Object.values(gets).reduce((sum, value) => sum + value, 0);
  return `${format(gets.syncTimeout, 0)} of ${format(total, 0)}`;
}

function operatorTable(operator: OperatorResult): string {
  const rows: [string, string][] = [
    ['Objects to publish (truth)', format(operator.expected, 0)],
    ['Published and agreeing with the truth', format(operator.published, 0)],
    ['Time from start until all published (s)', format(perItem(operator.publishedMs, 1000), 1)],
    [
      'Lower bound set by writesPerSecond (s)',
      format(operator.expected / operator.writesPerSecond, 1),
    ],
    ['Status writes until then', format(operator.writesAtPublished, 0)],
    ['Time until nothing was pending (s)', format(perItem(operator.drainedMs, 1000), 1)],
    ['Writes after that, up to the end of the first volume sync', format(operator.lateWrites, 0)],
    ['Reads that timed out waiting for sync (of all reads)', readsTimedOut(operator)],
    [
      `Status writes per second while idle (${operator.idleSeconds} s)`,
      format(operator.idleWritesPerSecond, 2),
    ],
    ['TCP connections to the API server', format(operator.connections, 0)],
    ['Peak RSS (MiB)', format(perItem(operator.peakRssBytes, MIB), 1)],
  ];
  const text = table(['Figure', 'operator'], rows);
  return operator.error === undefined ? text : `${text}\n\nError: ${operator.error}`;
}

/** Renders the Markdown report. */
export function renderMarkdown(report: BenchReport): string {
  const { environment: env, sessions } = report;
  const has = (runner: string): boolean => sessions.some((s) => s.runner === runner);
  const out: string[] = [
    `# Benchmarks: TypeScript cache vs the kubelet's managers (${env.date})`,
    '',
    `Machine: ${env.machine.cpus} CPUs (${env.machine.cpuModel}), ` +
      `${format(env.machine.memoryBytes / MIB / 1024, 1)} GiB, Linux ${env.machine.kernel}. ` +
      `Versions: Node ${env.versions.node}, ${env.versions.go}, Kubernetes ` +
      `${env.versions.kubernetes} (API server ${env.versions.apiServer}), ` +
      `etcd ${env.versions.etcd}.`,
    '',
    `Workload: ${Object.entries(report.workload)
      .map(([key, value]) => `${key} ${String(value)}`)
      .join(', ')}.`,
    '',
    `Options: ${Object.entries(report.options)
      .map(([key, value]) => `${key}=${String(value)}`)
      .join(', ')}.`,
    '',
    ...(Number(report.options.repeat) > 1
      ? [`Each figure is the median over ${String(report.options.repeat)} repeats.`, '']
      : []),
    '## 1. Cold start',
    '',
    pairTable(sessions, COLD_START_ROWS, 'go', 'ts'),
    '',
    '## Idle after the cold start',
    '',
    pairTable(sessions, IDLE_ROWS, 'go', 'ts'),
    '',
    '## 2. Propagation',
    '',
    pairTable(sessions, PROPAGATION_ROWS, 'go', 'ts'),
    '',
    '## 3. Churn',
    '',
    pairTable(sessions, CHURN_ROWS, 'go', 'ts'),
    '',
    `Verdict: kubelet ${churnVerdict(sessions, 'go')}; TypeScript ${churnVerdict(sessions, 'ts')}.`,
  ];

  if (has('go-informer') || has('ts-informer')) {
    out.push(
      '',
      '## 4. The alternative: one cluster-wide informer per kind',
      '',
      `Objects held by the informers: ${format(report.informerObjectsHeld, 0)} (every Secret and ` +
        'ConfigMap of the cluster); the per-object caches hold only the referenced ones.',
      '',
      columnsTable(sessions, INFORMER_ROWS, [
        { runner: 'go', title: 'kubelet per-object' },
        { runner: 'go-informer', title: 'Go informer' },
        { runner: 'ts', title: 'TS per-object' },
        { runner: 'ts-informer', title: 'TS informer' },
      ]),
    );
  }

  if (has('ts-default') || has('ts-http1')) {
    out.push(
      '',
      '## TypeScript variants: content dropped (the operator default) and HTTP/1.1',
      '',
      columnsTable(sessions, VARIANT_ROWS, [
        { runner: 'go', title: 'kubelet (Go)' },
        { runner: 'ts', title: 'TS, content kept, HTTP/2' },
        { runner: 'ts-default', title: 'TS, content dropped' },
        { runner: 'ts-http1', title: 'TS, content kept, HTTP/1.1' },
      ]),
    );
  }

  if (report.operator !== undefined) {
    out.push('', '## The operator end to end', '', operatorTable(report.operator));
  }

  const errors = sessions.filter((s) => s.error !== undefined);
  if (errors.length > 0) {
    out.push('', '## Errors', '');
    for (const s of errors)
      out.push(`- ${s.runner} (repeat ${s.repeat}): ${s.error?.split('\n')[0] ?? ''}`);
  }

  out.push('', '## Notes', '', ...report.notes.map((note) => `- ${note}`), '');
  return out.join('\n');
}

/** Notes that depend on the figures: what the numbers say about connections and requests. */
export function derivedNotes(sessions: readonly SessionResult[]): string[] {
  const notes: string[] = [];
  const rssPerObject = (runner: string): number | undefined =>
    figure(sessions, runner, (s) =>
      s.coldStart === undefined
        ? undefined
        : perItem(s.coldStart.rssAfterBytes - s.coldStart.rssBaselineBytes, items(s)),
    );
  const connections = (runner: string): number | undefined =>
    figure(sessions, runner, (s) => s.coldStart?.connections);
  const watches = (runner: string): number | undefined =>
    figure(sessions, runner, (s) => s.coldStart?.requests.watchesOpen);

  const h1 = rssPerObject('ts-http1');
  const h2 = rssPerObject('ts');
  if (h1 !== undefined && h2 !== undefined) {
    notes.push(
      `Over HTTP/1.1 the TypeScript cache held ${format(connections('ts-http1'), 0)} ` +
        `connections for ${format(watches('ts-http1'), 0)} watches (one TLS connection per ` +
        `watch); over HTTP/2 (the default) it held ${format(connections('ts'), 0)}. RSS growth ` +
        `per object: ${format(h1 / KIB, 1)} KiB over HTTP/1.1, ${format(h2 / KIB, 1)} KiB over ` +
        `HTTP/2, so a connection per watch costs about ${format((h1 - h2) / KIB, 1)} KiB of RSS.`,
    );
  }
  const opened = (runner: string): number | undefined =>
    figure(sessions, runner, (s) => s.coldStart?.requests.watchesOpened);
  const tsOpened = opened('ts');
  const goOpened = opened('go');
  const objects = figure(sessions, 'ts', (s) => s.coldStart?.items);
  if (tsOpened !== undefined && goOpened !== undefined && tsOpened < goOpened) {
    notes.push(
      `For ${format(objects, 0)} objects the TypeScript cache opened ${format(tsOpened, 0)} ` +
        `watches and the kubelet ${format(goOpened, 0)}: an object found immutable at its ` +
        'first read gets no watch in TypeScript (the read comes right after the list), while ' +
        "the kubelet's first request is already the watch that carries the list; it closes " +
        'it at that read.',
    );
  }
  const goLists = figure(sessions, 'go', (s) => s.coldStart?.requests.lists);
  if (goLists === 0) {
    notes.push(
      'client-go sent no LIST: its reflectors stream the initial list inside the watch ' +
        '(WatchListClient, on by default), so the kubelet needs one request per object where ' +
        'the TypeScript reflector sends a LIST and then a WATCH.',
    );
  }
  return notes;
}

/** Notes that hold for every run: how the figures were measured. */
export const METHOD_NOTES: readonly string[] = [
  'Both runners are separate processes driven through the same line protocol, one after the ' +
    'other on the same objects (alternating which goes first when repeating). Both are fed by a ' +
    'Pod watch and read each newly referenced object once, as a container start does.',
  "The Go runner is the kubelet's own NewWatchingSecretManager and " +
    'NewWatchingConfigMapManager (resync 1 min, so idle watches stop after 5 min), fed by a ' +
    'client-go Pod informer; its client talks protobuf like a kubelet, over HTTP/2, with the ' +
    'client-side rate limit raised to QPS 1000 / burst 2000 (client-go defaults to 5 / 10) so ' +
    'that the comparison measures the caches. The TypeScript client has no client-side limit.',
  'The main TypeScript runner keeps object content (keepContent: true) for a fair memory ' +
    'comparison; the operator drops it by default (the "content dropped" column). The ' +
    'TypeScript adapters always drop managedFields; the kubelet keeps them.',
  'Requests are counted by the API server (apiserver_request_total and ' +
    'apiserver_longrunning_requests for secrets and configmaps); every client is the admin ' +
    '(system:masters), which API Priority and Fairness exempts.',
  'Heap: Go HeapAlloc after runtime.GC, TypeScript heapUsed after gc(), both measured with the ' +
    'Pods known and the caches empty, then after every object synced; the difference is divided ' +
    'by the cached objects. RSS (VmRSS, VmHWM) and connections (established TCP sockets of the ' +
    'process to the API server port) are read from /proc.',
  'Propagation latency runs from the moment the write was sent to the moment the runner first ' +
    'served the new resourceVersion (each runner reads the object every millisecond once told ' +
    'that a write is coming).',
  'Benchmarks never fail on speed; a churn difference is reported as a failure of the scenario.',
];
