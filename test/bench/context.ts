/** What every scenario of the bench needs: the control plane, clients, workload and options. */
import type { KubeClient } from '../../src/kube/client.ts';
import type { RequestCounts, ScrapeTls } from './apiserver-metrics.ts';
import type { BenchResources, WorkloadShape } from './workload.ts';

/** Options of one bench run (command-line flags). */
export interface BenchOptions {
  /** Multiplies the number of namespaces, hence Pods and objects. Default 1. */
  readonly scale: number;
  /** Times the main pair runs, alternating which goes first. Default 1. */
  readonly repeat: number;
  /** Length of the churn scenario. Default 60 s. */
  readonly churnSeconds: number;
  /** Pods created (and as many deleted) per second during churn. Default 10. */
  readonly churnRate: number;
  /** Objects updated in the propagation scenario. Default 200 times the scale. */
  readonly propagationCount: number;
  /** Time between two updates. Default 50 ms. */
  readonly propagationIntervalMs: number;
  /** Idle window after the cold start, to see that nothing is sent. Default 5 s. */
  readonly idleSeconds: number;
  /** Idle window of the operator, to count status writes. Default 30 s. */
  readonly operatorIdleSeconds: number;
  /** Run the HTTP/1.1 and content-dropping variants of the TypeScript cache. Default true. */
  readonly variants: boolean;
  /** Run the informer alternative. Default true. */
  readonly informer: boolean;
  /** Run the operator end to end. Default true. */
  readonly operator: boolean;
  /** Folder of the reports. Default `bench/results`. */
  readonly outDir: string;
}

/** A structured progress line on standard error. */
export type BenchLog = (message: string, fields?: Record<string, unknown>) => void;

/** Shared state of a run. */
export interface BenchContext {
  /** `https://127.0.0.1:<port>` of the API server. */
  readonly server: string;
  readonly apiServerPort: number;
  /** Admin kubeconfig (`system:masters`). */
  readonly kubeconfigPath: string;
  /** Admin TLS material, to scrape the API server's `/metrics`. */
  readonly tls: ScrapeTls;
  /**
   * Requests on Secrets and ConfigMaps as the API server counts them now. `watchesOpen` leaves
   * out the watches the API server's own informers hold (counted once before any runner).
   */
  readonly readRequests: () => Promise<RequestCounts>;
  /** The built Go reference runner. */
  readonly refcachePath: string;
  /** The bench's own admin client (writes and ground truth). */
  readonly client: KubeClient;
  readonly resources: BenchResources;
  readonly shape: WorkloadShape;
  /** Last known resourceVersion of every existing object, by `objectKey`; updated by writes. */
  readonly versions: Map<string, string>;
  readonly options: BenchOptions;
  /** Aborts on SIGINT or SIGTERM. */
  readonly signal: AbortSignal;
  readonly log: BenchLog;
}

/** Sleeps `ms`; rejects when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Waits for `promise` at most `ms`; resolves true if it settled in time. Never rejects. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const settled = promise.then(
    () => true,
    () => true,
  );
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
