/**
 * The demo's workload: three namespaces of a small shop, its payments and its monitoring, with
 * Pods on three fake nodes that share Secrets and ConfigMaps in every way a Pod can reference
 * them, and the state the operator should publish before and after the demo changes things.
 *
 * The expected states are written out by hand from the Pods below, so that the demo checks the
 * operator rather than repeating its reference extraction.
 */
import type { CachedObjectKind } from '../../src/status/types.ts';

/** The fake nodes the Pods are bound to; no kubelet runs on them. */
export const NODES = ['node-a', 'node-b', 'node-c'] as const;

/** The namespaces the workload lives in. */
export const NAMESPACES = ['shop', 'payments', 'monitoring'] as const;

/** A Kubernetes object as `kubectl apply` takes it. */
export type Manifest = Record<string, unknown> & {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Record<string, string>;
  };
};

/** What one `CachedObjectStatus` should say once the operator has caught up. */
export interface ExpectedResource {
  readonly namespace: string;
  readonly kind: CachedObjectKind;
  readonly name: string;
  readonly refs: number;
  readonly nodes: number;
  readonly found: boolean;
  /** An immutable object: its reflector is Stopped (Immutable). Otherwise it is Running. */
  readonly immutable?: boolean;
}

/** The Pod deleted by the demo (grace period 0: no kubelet would ever confirm a graceful one). */
export const DELETED_POD = { namespace: 'shop', name: 'storefront-3' } as const;

/** The Secret that a Pod mounts but that only exists once the demo creates it. */
export const LATE_SECRET = { namespace: 'shop', name: 'cart-session-key' } as const;

/** The Pod the demo marks Succeeded, as a finished batch job's Pod would be. */
export const FINISHED_POD = { namespace: 'payments', name: 'settlement-job' } as const;

/** The Namespaces, applied before everything else. */
export function namespaceManifests(): Manifest[] {
  return NAMESPACES.map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
}

/**
 * Secrets, ConfigMaps and Pods of the workload, objects before the Pods that use them, except
 * {@link LATE_SECRET}. `caPem` becomes each namespace's `kube-root-ca.crt` ConfigMap, which a
 * controller-manager would publish in a real cluster.
 */
export function workloadManifests(caPem: string): Manifest[] {
  return [...shop(caPem), ...payments(caPem), ...monitoring(caPem)];
}

/** The Secret {@link LATE_SECRET}, created while the demo runs. */
export function lateSecretManifest(): Manifest {
  return secret(LATE_SECRET.namespace, LATE_SECRET.name, { key: 'demo-session-key' });
}

/** The resources the operator publishes for the workload as created. */
export const EXPECTED_BEFORE: readonly ExpectedResource[] = [
  // storefront-1..3 (node-a, node-b, node-c), orders-1 (node-a), cart-1 (node-b)
  expected('shop', 'Secret', 'registry-pull', 5, 3),
  expected('shop', 'Secret', 'db-credentials', 4, 3),
  expected('shop', 'Secret', 'cart-session-key', 1, 1, { found: false }),
  expected('shop', 'ConfigMap', 'storefront-config', 3, 3),
  expected('shop', 'ConfigMap', 'feature-flags', 3, 3, { immutable: true }),
  expected('shop', 'ConfigMap', 'kube-root-ca.crt', 5, 3),
  // payments-api-1 (node-b), payments-api-2 (node-c), settlement-job (node-a)
  expected('payments', 'Secret', 'gateway-api-key', 2, 2),
  expected('payments', 'Secret', 'payments-tls', 2, 2),
  expected('payments', 'Secret', 'ledger-db', 1, 1),
  expected('payments', 'ConfigMap', 'payments-config', 3, 3),
  expected('payments', 'ConfigMap', 'kube-root-ca.crt', 3, 3),
  // node-exporter-a..c (one per node), prometheus-0 (node-c)
  expected('monitoring', 'Secret', 'registry-pull', 4, 3),
  expected('monitoring', 'Secret', 'remote-write-credentials', 1, 1),
  expected('monitoring', 'ConfigMap', 'prometheus-config', 1, 1),
  expected('monitoring', 'ConfigMap', 'kube-root-ca.crt', 4, 3),
];

/**
 * The resources after the changes: storefront-3 (the only Pod on node-c in `shop`) deleted,
 * cart-session-key created, settlement-job Succeeded (so ledger-db has no Pod left and its
 * resource is deleted).
 */
export const EXPECTED_AFTER: readonly ExpectedResource[] = [
  expected('shop', 'Secret', 'registry-pull', 4, 2),
  expected('shop', 'Secret', 'db-credentials', 3, 2),
  expected('shop', 'Secret', 'cart-session-key', 1, 1),
  expected('shop', 'ConfigMap', 'storefront-config', 2, 2),
  expected('shop', 'ConfigMap', 'feature-flags', 2, 2, { immutable: true }),
  expected('shop', 'ConfigMap', 'kube-root-ca.crt', 4, 2),
  expected('payments', 'Secret', 'gateway-api-key', 2, 2),
  expected('payments', 'Secret', 'payments-tls', 2, 2),
  expected('payments', 'ConfigMap', 'payments-config', 2, 2),
  expected('payments', 'ConfigMap', 'kube-root-ca.crt', 2, 2),
  ...EXPECTED_BEFORE.filter((resource) => resource.namespace === 'monitoring'),
];

function expected(
  namespace: string,
  kind: CachedObjectKind,
  name: string,
  refs: number,
  nodes: number,
  flags: { found?: boolean; immutable?: boolean } = {},
): ExpectedResource {
  return {
    namespace,
    kind,
    name,
    refs,
    nodes,
    found: flags.found ?? true,
    ...(flags.immutable === true ? { immutable: true } : {}),
  };
}

function shop(caPem: string): Manifest[] {
  const ns = 'shop';
  const storefront = (name: string, node: string): Manifest =>
    pod(ns, name, node, {
      imagePullSecrets: [{ name: 'registry-pull' }],
      containers: [
        {
          ...container('storefront', 'registry.example.com/shop/storefront:2.4.1'),
          envFrom: [{ configMapRef: { name: 'storefront-config' } }],
          env: [secretEnv('DB_PASSWORD', 'db-credentials', 'password')],
          volumeMounts: [mount('flags', '/etc/flags'), mount('kube-api-access', TOKEN_DIR)],
        },
      ],
      volumes: [{ name: 'flags', configMap: { name: 'feature-flags' } }, kubeApiAccess()],
    });

  return [
    pullSecret(ns),
    secret(ns, 'db-credentials', { username: 'shop', password: 'demo-only' }),
    configMap(ns, 'storefront-config', { CURRENCY: 'EUR', CART_TTL: '30m' }),
    { ...configMap(ns, 'feature-flags', { 'checkout-v2': 'on' }), immutable: true },
    rootCa(ns, caPem),
    storefront('storefront-1', 'node-a'),
    storefront('storefront-2', 'node-b'),
    storefront('storefront-3', 'node-c'),
    pod(ns, 'orders-1', 'node-a', {
      imagePullSecrets: [{ name: 'registry-pull' }],
      containers: [
        {
          ...container('orders', 'registry.example.com/shop/orders:1.9.0'),
          volumeMounts: [mount('db', '/etc/db'), mount('kube-api-access', TOKEN_DIR)],
        },
      ],
      volumes: [{ name: 'db', secret: { secretName: 'db-credentials' } }, kubeApiAccess()],
    }),
    // Mounts a Secret that does not exist yet: a kubelet would keep this Pod from starting.
    pod(ns, 'cart-1', 'node-b', {
      imagePullSecrets: [{ name: 'registry-pull' }],
      containers: [
        {
          ...container('cart', 'registry.example.com/shop/cart:3.0.2'),
          volumeMounts: [mount('session', '/etc/session'), mount('kube-api-access', TOKEN_DIR)],
        },
      ],
      volumes: [{ name: 'session', secret: { secretName: LATE_SECRET.name } }, kubeApiAccess()],
    }),
  ];
}

function payments(caPem: string): Manifest[] {
  const ns = 'payments';
  const api = (name: string, node: string): Manifest =>
    pod(ns, name, node, {
      containers: [
        {
          ...container('api', 'registry.example.com/payments/api:5.2.0'),
          env: [secretEnv('GATEWAY_API_KEY', 'gateway-api-key', 'key')],
          volumeMounts: [
            mount('tls', '/etc/tls'),
            mount('config', '/etc/payments'),
            mount('kube-api-access', TOKEN_DIR),
          ],
        },
      ],
      volumes: [
        { name: 'tls', projected: { sources: [{ secret: { name: 'payments-tls' } }] } },
        { name: 'config', configMap: { name: 'payments-config' } },
        kubeApiAccess(),
      ],
    });

  return [
    secret(ns, 'gateway-api-key', { key: 'demo-only' }),
    secret(ns, 'payments-tls', { 'tls.crt': 'demo-only', 'tls.key': 'demo-only' }),
    secret(ns, 'ledger-db', { url: 'postgres://ledger.payments.svc/ledger' }),
    configMap(ns, 'payments-config', { 'payments.yaml': 'retries: 3\n' }),
    rootCa(ns, caPem),
    api('payments-api-1', 'node-b'),
    api('payments-api-2', 'node-c'),
    pod(ns, FINISHED_POD.name, 'node-a', {
      restartPolicy: 'Never',
      containers: [
        {
          ...container('settle', 'registry.example.com/payments/settlement:5.2.0'),
          envFrom: [{ configMapRef: { name: 'payments-config' } }],
          env: [secretEnv('LEDGER_URL', 'ledger-db', 'url')],
          volumeMounts: [mount('kube-api-access', TOKEN_DIR)],
        },
      ],
      volumes: [kubeApiAccess()],
    }),
  ];
}

function monitoring(caPem: string): Manifest[] {
  const ns = 'monitoring';
  const exporter = (node: string): Manifest =>
    pod(ns, `node-exporter-${node.slice('node-'.length)}`, node, {
      imagePullSecrets: [{ name: 'registry-pull' }],
      containers: [
        {
          ...container('node-exporter', 'registry.example.com/monitoring/node-exporter:1.8.2'),
          volumeMounts: [mount('kube-api-access', TOKEN_DIR)],
        },
      ],
      volumes: [kubeApiAccess()],
    });

  return [
    pullSecret(ns),
    secret(ns, 'remote-write-credentials', { username: 'prometheus', password: 'demo-only' }),
    configMap(ns, 'prometheus-config', { 'prometheus.yml': 'scrape_configs: []\n' }),
    rootCa(ns, caPem),
    ...NODES.map(exporter),
    pod(ns, 'prometheus-0', 'node-c', {
      imagePullSecrets: [{ name: 'registry-pull' }],
      containers: [
        {
          ...container('prometheus', 'registry.example.com/monitoring/prometheus:3.1.0'),
          envFrom: [{ secretRef: { name: 'remote-write-credentials' } }],
          volumeMounts: [mount('config', '/etc/prometheus'), mount('kube-api-access', TOKEN_DIR)],
        },
      ],
      volumes: [{ name: 'config', configMap: { name: 'prometheus-config' } }, kubeApiAccess()],
    }),
  ];
}

const TOKEN_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

function pod(
  namespace: string,
  name: string,
  nodeName: string,
  spec: Record<string, unknown>,
): Manifest {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { app: name.replace(/-[^-]+$/, '') } },
    // No ServiceAccount admission runs to set this, and a token projection needs it.
    spec: { nodeName, serviceAccountName: 'default', ...spec },
  };
}

function container(name: string, image: string): Record<string, unknown> {
  return { name, image };
}

function mount(name: string, mountPath: string): Record<string, unknown> {
  return { name, mountPath, readOnly: true };
}

function secretEnv(name: string, secretName: string, key: string): Record<string, unknown> {
  return { name, valueFrom: { secretKeyRef: { name: secretName, key } } };
}

/** The projected volume that ServiceAccount admission adds to every Pod of a real cluster. */
function kubeApiAccess(): Record<string, unknown> {
  return {
    name: 'kube-api-access',
    projected: {
      sources: [
        { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        {
          downwardAPI: {
            items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }],
          },
        },
      ],
    },
  };
}

function secret(namespace: string, name: string, stringData: Record<string, string>): Manifest {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, stringData };
}

function pullSecret(namespace: string): Manifest {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/dockerconfigjson',
    metadata: { name: 'registry-pull', namespace },
    stringData: { '.dockerconfigjson': '{"auths":{}}' },
  };
}

function configMap(namespace: string, name: string, data: Record<string, string>): Manifest {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data };
}

function rootCa(namespace: string, caPem: string): Manifest {
  return configMap(namespace, 'kube-root-ca.crt', { 'ca.crt': caPem });
}
