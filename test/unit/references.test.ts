// Reference extraction, semantics rules 22 to 25: one case per reference field, then the edges.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { podConfigMapNames, podReferences, podSecretNames } from '../../src/pods/references.ts';

/** The expected sets; an omitted field means "empty". */
interface Expected {
  readonly secrets?: readonly string[];
  readonly configMaps?: readonly string[];
  readonly mountedSecrets?: readonly string[];
  readonly mountedConfigMaps?: readonly string[];
}

interface Case {
  readonly name: string;
  readonly spec: unknown;
  readonly expected: Expected;
}

/** A Pod around `spec`; `spec` may be any shape, as a Pod decoded from JSON may be. */
function pod(spec: unknown): V1Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns' }, spec } as V1Pod;
}

function containerWith(fields: Record<string, unknown>): unknown {
  return { containers: [{ name: 'app', image: 'app', ...fields }] };
}

function volume(source: Record<string, unknown>): unknown {
  return { containers: [{ name: 'app', image: 'app' }], volumes: [{ name: 'v', ...source }] };
}

function mounted(kind: 'secret' | 'configMap', name: string): Expected {
  return kind === 'secret'
    ? { secrets: [name], mountedSecrets: [name] }
    : { configMaps: [name], mountedConfigMaps: [name] };
}

function assertReferences(spec: unknown, expected: Expected): void {
  const references = podReferences(pod(spec));
  const actual = {
    secrets: [...references.secrets].sort(),
    configMaps: [...references.configMaps].sort(),
    mountedSecrets: [...references.mountedSecrets].sort(),
    mountedConfigMaps: [...references.mountedConfigMaps].sort(),
  };
  assert.deepEqual(actual, {
    secrets: [...(expected.secrets ?? [])].sort(),
    configMaps: [...(expected.configMaps ?? [])].sort(),
    mountedSecrets: [...(expected.mountedSecrets ?? [])].sort(),
    mountedConfigMaps: [...(expected.mountedConfigMaps ?? [])].sort(),
  });
}

function runCases(cases: readonly Case[]): void {
  for (const { name, spec, expected } of cases) {
    void it(name, () => assertReferences(spec, expected));
  }
}

const SECRET_REF_VOLUME_KINDS = [
  'cephfs',
  'cinder',
  'flexVolume',
  'rbd',
  'scaleIO',
  'iscsi',
  'storageos',
] as const;

void describe('podReferences: secret reference fields (rule 22)', () => {
  runCases([
    {
      name: 'reads spec.imagePullSecrets[].name, once, not as mounted',
      spec: { containers: [], imagePullSecrets: [{ name: 'registry' }] },
      expected: { secrets: ['registry'] },
    },
    {
      name: 'reads env[].valueFrom.secretKeyRef.name, not as mounted',
      spec: containerWith({
        env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'db', key: 'p' } } }],
      }),
      expected: { secrets: ['db'] },
    },
    {
      name: 'reads envFrom[].secretRef.name, not as mounted',
      spec: containerWith({ envFrom: [{ secretRef: { name: 'bulk' } }] }),
      expected: { secrets: ['bulk'] },
    },
    {
      name: 'reads a secret volume secretName as mounted',
      spec: volume({ secret: { secretName: 'tls' } }),
      expected: mounted('secret', 'tls'),
    },
    {
      name: 'reads projected.sources[].secret.name as mounted',
      spec: volume({ projected: { sources: [{ secret: { name: 'bundle' } }] } }),
      expected: mounted('secret', 'bundle'),
    },
    {
      name: 'reads csi.nodePublishSecretRef.name as mounted',
      spec: volume({ csi: { driver: 'd', nodePublishSecretRef: { name: 'csi-creds' } } }),
      expected: mounted('secret', 'csi-creds'),
    },
    {
      name: 'reads azureFile.secretName as mounted',
      spec: volume({ azureFile: { secretName: 'azure', shareName: 's' } }),
      expected: mounted('secret', 'azure'),
    },
    ...SECRET_REF_VOLUME_KINDS.map((kind) => ({
      name: `reads ${kind}.secretRef.name as mounted`,
      spec: volume({ [kind]: { secretRef: { name: `${kind}-creds` } } }),
      expected: mounted('secret', `${kind}-creds`),
    })),
  ]);
});

void describe('podReferences: configmap reference fields (rule 23)', () => {
  runCases([
    {
      name: 'reads env[].valueFrom.configMapKeyRef.name, not as mounted',
      spec: containerWith({
        env: [{ name: 'L', valueFrom: { configMapKeyRef: { name: 'settings', key: 'l' } } }],
      }),
      expected: { configMaps: ['settings'] },
    },
    {
      name: 'reads envFrom[].configMapRef.name, not as mounted',
      spec: containerWith({ envFrom: [{ configMapRef: { name: 'env-all' }, prefix: 'X_' }] }),
      expected: { configMaps: ['env-all'] },
    },
    {
      name: 'reads a configMap volume name as mounted',
      spec: volume({ configMap: { name: 'files' } }),
      expected: mounted('configMap', 'files'),
    },
    {
      name: 'reads projected.sources[].configMap.name as mounted',
      spec: volume({ projected: { sources: [{ configMap: { name: 'proj' } }] } }),
      expected: mounted('configMap', 'proj'),
    },
  ]);
});

void describe('podReferences: container kinds', () => {
  const env = {
    env: [
      { name: 'A', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
      { name: 'B', valueFrom: { configMapKeyRef: { name: 'c', key: 'k' } } },
    ],
    envFrom: [{ secretRef: { name: 's2' } }, { configMapRef: { name: 'c2' } }],
  };
  const expected = { secrets: ['s', 's2'], configMaps: ['c', 'c2'] };

  runCases(
    ['initContainers', 'containers', 'ephemeralContainers'].map((list) => ({
      name: `reads env and envFrom of ${list}`,
      spec: { containers: [], [list]: [{ name: 'x', image: 'x', ...env }] },
      expected,
    })),
  );

  void it('reads every container of every kind, not only the first', () => {
    const refs = (name: string): unknown => ({ envFrom: [{ secretRef: { name } }] });
    assertReferences(
      {
        initContainers: [refs('i1'), refs('i2')],
        containers: [refs('c1'), refs('c2')],
        ephemeralContainers: [refs('e1'), refs('e2')],
      },
      { secrets: ['i1', 'i2', 'c1', 'c2', 'e1', 'e2'] },
    );
  });
});

void describe('podReferences: names (rule 24)', () => {
  runCases([
    {
      name: 'skips empty names in every field',
      spec: {
        imagePullSecrets: [{ name: '' }],
        containers: [
          {
            env: [{ valueFrom: { secretKeyRef: { name: '' }, configMapKeyRef: { name: '' } } }],
            envFrom: [{ secretRef: { name: '' }, configMapRef: { name: '' } }],
          },
        ],
        volumes: [
          { secret: { secretName: '' } },
          { configMap: { name: '' } },
          { projected: { sources: [{ secret: { name: '' } }, { configMap: { name: '' } }] } },
          { azureFile: { secretName: '' } },
          { csi: { nodePublishSecretRef: { name: '' } } },
          ...SECRET_REF_VOLUME_KINDS.map((kind) => ({ [kind]: { secretRef: { name: '' } } })),
        ],
      },
      expected: {},
    },
    {
      name: 'skips references without a name and sources without a reference',
      spec: {
        imagePullSecrets: [{}],
        containers: [{ envFrom: [{ secretRef: {} }, { prefix: 'P' }], env: [{ value: 'v' }] }],
        volumes: [
          { secret: {} },
          { configMap: {} },
          { csi: { driver: 'd' } },
          { azureFile: { shareName: 's' } },
          ...SECRET_REF_VOLUME_KINDS.map((kind) => ({ [kind]: {} })),
        ],
      },
      expected: {},
    },
    {
      name: 'includes optional references like any other',
      spec: {
        containers: [
          {
            env: [{ valueFrom: { secretKeyRef: { name: 'opt-s', key: 'k', optional: true } } }],
            envFrom: [{ configMapRef: { name: 'opt-c', optional: true } }],
          },
        ],
        volumes: [
          { secret: { secretName: 'opt-vs', optional: true } },
          { configMap: { name: 'opt-vc', optional: true } },
        ],
      },
      expected: {
        secrets: ['opt-s', 'opt-vs'],
        configMaps: ['opt-c', 'opt-vc'],
        mountedSecrets: ['opt-vs'],
        mountedConfigMaps: ['opt-vc'],
      },
    },
    {
      name: 'reports a name referenced many times once',
      spec: {
        imagePullSecrets: [{ name: 'dup' }, { name: 'dup' }],
        containers: [
          { envFrom: [{ secretRef: { name: 'dup' } }] },
          { env: [{ valueFrom: { secretKeyRef: { name: 'dup' } } }] },
        ],
        volumes: [{ secret: { secretName: 'dup' } }, { secret: { secretName: 'dup' } }],
      },
      expected: { secrets: ['dup'], mountedSecrets: ['dup'] },
    },
    {
      name: 'keeps a name used by env in the full set and by a volume in the mounted set',
      spec: {
        containers: [{ envFrom: [{ configMapRef: { name: 'both' } }] }],
        volumes: [{ configMap: { name: 'both' } }],
      },
      expected: mounted('configMap', 'both'),
    },
    {
      name: 'keeps a Secret and a ConfigMap of the same name apart',
      spec: {
        containers: [
          { envFrom: [{ secretRef: { name: 'same' } }, { configMapRef: { name: 'same' } }] },
        ],
      },
      expected: { secrets: ['same'], configMaps: ['same'] },
    },
    {
      name: 'keeps names exactly as written, unusual characters included',
      spec: containerWith({
        envFrom: [{ secretRef: { name: ' spaced ' } }, { secretRef: { name: 'Ü' } }],
      }),
      expected: { secrets: [' spaced ', 'Ü'] },
    },
  ]);
});

void describe('podReferences: nothing transitive (rule 24)', () => {
  runCases([
    {
      name: 'does not treat a PersistentVolumeClaim volume as a reference',
      spec: volume({ persistentVolumeClaim: { claimName: 'data' } }),
      expected: {},
    },
    {
      name: 'does not treat other volume kinds as references',
      spec: {
        containers: [],
        volumes: [
          { emptyDir: {} },
          { hostPath: { path: '/etc/secret' } },
          { nfs: { server: 'n', path: '/tls' } },
          { downwardAPI: { items: [{ path: 'l', fieldRef: { fieldPath: 'metadata.labels' } }] } },
          { ephemeral: { volumeClaimTemplate: { spec: {} } } },
          { image: { reference: 'img' } },
          { projected: { sources: [{ serviceAccountToken: { path: 't' } }, { downwardAPI: {} }] } },
        ],
      },
      expected: {},
    },
    {
      name: 'does not read env values, field refs or resource refs',
      spec: containerWith({
        env: [
          { name: 'secret', value: 'configMap' },
          { name: 'F', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'R', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
        ],
      }),
      expected: {},
    },
  ]);
});

void describe('podReferences: the kube-root-ca.crt projection (rule 25)', () => {
  runCases([
    {
      name: 'reads kube-root-ca.crt from the injected service-account projected volume',
      spec: volume({
        projected: {
          sources: [
            { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
            { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
            { downwardAPI: { items: [{ path: 'namespace' }] } },
          ],
        },
      }),
      expected: mounted('configMap', 'kube-root-ca.crt'),
    },
    {
      name: 'adds no kube-root-ca.crt to a token projection that does not list it',
      spec: volume({ projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } }),
      expected: {},
    },
  ]);
});

void describe('podReferences: a volume with several sources (the kubelet switch)', () => {
  runCases([
    {
      name: 'reads only azureFile when azureFile and secret are both set',
      spec: volume({ azureFile: { secretName: 'first' }, secret: { secretName: 'second' } }),
      expected: mounted('secret', 'first'),
    },
    {
      name: 'reads only projected secrets when projected and secret are both set',
      spec: volume({
        secret: { secretName: 'ignored' },
        projected: { sources: [{ secret: { name: 'proj' } }] },
      }),
      expected: mounted('secret', 'proj'),
    },
    {
      name: 'reads only projected configmaps when projected and configMap are both set',
      spec: volume({
        configMap: { name: 'ignored' },
        projected: { sources: [{ configMap: { name: 'proj' } }] },
      }),
      expected: mounted('configMap', 'proj'),
    },
    {
      name: 'reads the secret and the configMap of a volume that has both',
      spec: volume({ secret: { secretName: 's' }, configMap: { name: 'c' } }),
      expected: { ...mounted('secret', 's'), ...mounted('configMap', 'c') },
    },
    {
      name: 'reads a projected volume for configmaps even when azureFile wins for secrets',
      spec: volume({
        azureFile: { secretName: 'az' },
        projected: { sources: [{ secret: { name: 'lost' } }, { configMap: { name: 'kept' } }] },
      }),
      expected: { ...mounted('secret', 'az'), ...mounted('configMap', 'kept') },
    },
    {
      name: 'falls through a null source to the next one',
      spec: volume({ azureFile: null, secret: { secretName: 's' } }),
      expected: mounted('secret', 's'),
    },
  ]);
});

void describe('podReferences: malformed input never throws', () => {
  runCases([
    { name: 'accepts a Pod without a spec', spec: undefined, expected: {} },
    { name: 'accepts a null spec', spec: null, expected: {} },
    { name: 'accepts a spec that is a string', spec: 'spec', expected: {} },
    {
      name: 'accepts a spec that is an array',
      spec: [{ imagePullSecrets: [{ name: 'x' }] }],
      expected: {},
    },
    {
      name: 'accepts lists that are null, objects, strings or numbers',
      spec: {
        imagePullSecrets: { name: 'not-a-list' },
        initContainers: 'x',
        containers: null,
        ephemeralContainers: 7,
        volumes: { secret: { secretName: 'not-a-list' } },
      },
      expected: {},
    },
    {
      name: 'skips list items that are null, strings, numbers or arrays',
      spec: {
        imagePullSecrets: [null, 'registry', 3, [{ name: 'nested' }], { name: 'ok' }],
        containers: [null, 'c', [], { envFrom: [null, 1, { secretRef: { name: 'ok2' } }] }],
        volumes: [null, 'v', 2, [{ secret: { secretName: 'nested' } }]],
      },
      expected: { secrets: ['ok', 'ok2'] },
    },
    {
      name: 'skips names that are not strings',
      spec: {
        imagePullSecrets: [{ name: 42 }, { name: null }, { name: ['a'] }, { name: { n: 'a' } }],
        containers: [
          {
            env: [{ valueFrom: { secretKeyRef: { name: true } } }, { valueFrom: 'secretKeyRef' }],
            envFrom: [{ secretRef: 'name' }, { configMapRef: { name: 1 } }],
          },
        ],
        volumes: [
          { secret: { secretName: 5 } },
          { configMap: { name: false } },
          { projected: { sources: [{ secret: 'x' }, { configMap: { name: null } }] } },
          { projected: { sources: 'not-a-list' } },
          { csi: { nodePublishSecretRef: 'creds' } },
        ],
      },
      expected: {},
    },
    {
      name: 'treats a volume source that is not an object as absent',
      spec: volume({ azureFile: 'x', projected: [], secret: { secretName: 'real' } }),
      expected: mounted('secret', 'real'),
    },
  ]);

  void it('accepts a Pod that is not an object at all', () => {
    for (const value of [null, undefined, 0, 'pod', []]) {
      const references = podReferences(value as unknown as V1Pod);
      assert.equal(references.secrets.size + references.configMaps.size, 0);
    }
  });
});

void describe('podSecretNames and podConfigMapNames', () => {
  void it('return the same sets as podReferences', () => {
    const spec = {
      containers: [{ envFrom: [{ secretRef: { name: 's' } }, { configMapRef: { name: 'c' } }] }],
      volumes: [{ secret: { secretName: 'v' } }],
    };
    assert.deepEqual([...podSecretNames(pod(spec))].sort(), ['s', 'v']);
    assert.deepEqual([...podConfigMapNames(pod(spec))], ['c']);
  });
});
