/**
 * A seeded generator of Pods for differential tests of reference extraction. Every Pod is a
 * function of (seed, index) alone, so a failing Pod can be rebuilt from the two numbers.
 *
 * The Pods decode as `v1.Pod` in Go (every field has its Go type) but are otherwise anything
 * but tidy: every reference field of semantics rules 22 and 23 in init, regular and ephemeral
 * containers, names that are empty, missing or null, optional flags, the same name used many
 * ways and for both kinds, volumes of kinds that reference nothing (PersistentVolumeClaims
 * named like Secrets), and now and then a volume with two sources, which the API server would
 * refuse but which shows which source the extraction reads first.
 */

/** A generated Pod with what it exercises. */
export interface GeneratedPod {
  readonly seed: number;
  readonly index: number;
  readonly pod: Record<string, unknown>;
  /** The labels (see `REFERENCE_FIELDS`) of every reference field the Pod uses. */
  readonly fields: ReadonlySet<string>;
}

/** Labels of the reference fields and shapes a set of generated Pods should cover. */
export const REFERENCE_FIELDS = [
  'imagePullSecrets',
  ...['initContainers', 'containers', 'ephemeralContainers'].flatMap((list) => [
    `${list}.env.secretKeyRef`,
    `${list}.env.configMapKeyRef`,
    `${list}.envFrom.secretRef`,
    `${list}.envFrom.configMapRef`,
  ]),
  'volume.secret',
  'volume.configMap',
  'projected.secret',
  'projected.configMap',
  'csi.nodePublishSecretRef',
  'azureFile.secretName',
  'cephfs.secretRef',
  'cinder.secretRef',
  'flexVolume.secretRef',
  'rbd.secretRef',
  'scaleIO.secretRef',
  'iscsi.secretRef',
  'storageos.secretRef',
  'emptyName',
  'missingName',
  'nullName',
  'optional',
  'persistentVolumeClaim',
  'multiSourceVolume',
] as const;

/** A deterministic source of randomness. */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  pick<T>(values: readonly T[]): T;
}

/** mulberry32: small, fast and good enough to spread test cases. */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  return {
    next,
    int,
    chance: (p) => next() < p,
    pick: <T>(values: readonly T[]): T => {
      if (values.length === 0) {
        throw new RangeError('pick needs at least one value');
      }
      return values[int(values.length)] as T;
    },
  };
}

/** `count` Pods for `seed`, indexes 0 to count-1. */
export function generatePods(seed: number, count: number): GeneratedPod[] {
  return Array.from({ length: count }, (_, index) => generatePod(seed, index));
}

/** The Pod at `index` for `seed`; the same numbers always give the same Pod. */
export function generatePod(seed: number, index: number): GeneratedPod {
  const generator = new PodGenerator(createRandom(mix(seed, index)));
  const pod = generator.pod(`gen-${seed}-${index}`);
  return { seed, index, pod, fields: generator.fields };
}

/** Mixes two integers into one seed (a murmur3 finalizer). */
function mix(seed: number, index: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ (index >>> 0)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Few names, so that duplicates are common, shared by both kinds so that a Secret and a
 * ConfigMap of the same name must stay apart; two unusual ones to check nothing is trimmed.
 */
const NAMES = [
  'db-credentials',
  'tls',
  'registry',
  'app-config',
  'kube-root-ca.crt',
  'shared',
  'feature-flags',
  'a',
  'x.y-z',
  `long-${'n'.repeat(240)}`,
];

type Fields = Record<string, unknown>;

type SecretVolumeKind =
  'cephfs' | 'cinder' | 'flexVolume' | 'rbd' | 'scaleIO' | 'iscsi' | 'storageos';

/** The fields each volume kind needs besides its reference, so that the volume looks real. */
const SECRET_REF_VOLUMES: Readonly<Record<SecretVolumeKind, Fields>> = {
  cephfs: { monitors: ['10.0.0.1:6789'], user: 'admin' },
  cinder: { volumeID: 'vol-1', fsType: 'ext4' },
  flexVolume: { driver: 'example.com/lvm', options: { size: '1Gi' } },
  rbd: { monitors: ['10.0.0.1:6789'], image: 'disk', pool: 'rbd' },
  scaleIO: { gateway: 'https://gw', system: 'sys', volumeName: 'vol' },
  iscsi: { targetPortal: '10.0.0.2:3260', iqn: 'iqn.2001-04.com.example:disk', lun: 0 },
  storageos: { volumeName: 'vol', volumeNamespace: 'default' },
};

/** Builds one Pod and records the reference fields it used. */
class PodGenerator {
  readonly fields = new Set<string>();
  readonly #random: Random;

  constructor(random: Random) {
    this.#random = random;
  }

  pod(name: string): Fields {
    const random = this.#random;
    const spec: Fields = {
      containers: this.#containers('containers', 1 + random.int(3)),
    };

    if (random.chance(0.5)) {
      spec.initContainers = this.#containers('initContainers', random.int(3));
    }
    if (random.chance(0.4)) {
      spec.ephemeralContainers = this.#containers('ephemeralContainers', 1 + random.int(2));
    }
    if (random.chance(0.4)) {
      spec.imagePullSecrets = this.#list(3, () => this.#use('imagePullSecrets', this.#ref()));
    } else if (random.chance(0.1)) {
      spec.imagePullSecrets = null;
    }
    if (random.chance(0.85)) {
      spec.volumes = this.#list(5, () => this.#volume());
    }

    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default', uid: `00000000-0000-0000-0000-${name.length}` },
      spec,
    };
  }

  #containers(list: string, count: number): Fields[] {
    return Array.from({ length: count }, (_, index) => this.#container(list, index));
  }

  #container(list: string, index: number): Fields {
    const random = this.#random;
    const container: Fields = { name: `${list}-${index}`, image: 'registry.example/app:1' };

    if (list === 'ephemeralContainers') {
      container.targetContainerName = 'containers-0';
    }
    if (random.chance(0.7)) {
      container.env = this.#list(5, () => this.#envVar(list));
    } else if (random.chance(0.2)) {
      container.env = null;
    }
    if (random.chance(0.5)) {
      container.envFrom = this.#list(3, () => this.#envFrom(list));
    }
    return container;
  }

  #envVar(list: string): Fields {
    const random = this.#random;
    const variable: Fields = { name: `VAR_${random.int(100)}` };
    const secretKeyRef = (): Fields => ({ ...this.#ref(), key: 'k' });
    const configMapKeyRef = (): Fields => ({ ...this.#ref(), key: 'k' });

    switch (random.int(7)) {
      case 0:
        variable.value = 'plain';
        break;
      case 1:
      case 2:
        variable.valueFrom = {
          secretKeyRef: this.#use(`${list}.env.secretKeyRef`, secretKeyRef()),
        };
        break;
      case 3:
      case 4:
        variable.valueFrom = {
          configMapKeyRef: this.#use(`${list}.env.configMapKeyRef`, configMapKeyRef()),
        };
        break;
      case 5:
        variable.valueFrom = random.pick([
          { fieldRef: { fieldPath: 'metadata.name' } },
          { resourceFieldRef: { resource: 'limits.cpu' } },
          { secretKeyRef: null, configMapKeyRef: null },
          null,
        ]);
        break;
      default:
        // Both at once: validation refuses it, the kubelet's visitors read both.
        variable.valueFrom = {
          secretKeyRef: this.#use(`${list}.env.secretKeyRef`, secretKeyRef()),
          configMapKeyRef: this.#use(`${list}.env.configMapKeyRef`, configMapKeyRef()),
        };
    }
    return variable;
  }

  #envFrom(list: string): Fields {
    const random = this.#random;
    const source: Fields = random.chance(0.3) ? { prefix: 'P_' } : {};

    switch (random.int(4)) {
      case 0:
        source.secretRef = this.#use(`${list}.envFrom.secretRef`, this.#ref());
        break;
      case 1:
        source.configMapRef = this.#use(`${list}.envFrom.configMapRef`, this.#ref());
        break;
      case 2:
        source.secretRef = this.#use(`${list}.envFrom.secretRef`, this.#ref());
        source.configMapRef = this.#use(`${list}.envFrom.configMapRef`, this.#ref());
        break;
      default:
        source.secretRef = null;
    }
    return source;
  }

  #volume(): Fields {
    const random = this.#random;
    const volume: Fields = { name: `vol-${random.int(1000)}` };
    Object.assign(volume, this.#volumeSource());

    if (random.chance(0.06)) {
      this.fields.add('multiSourceVolume');
      Object.assign(volume, this.#volumeSource());
    }
    return volume;
  }

  /** One volume source, as the single key it takes in a volume. */
  #volumeSource(): Fields {
    const random = this.#random;
    const kind = random.int(12);

    if (kind < 7) {
      return this.#referencingVolumeSource(random.int(12));
    }
    if (kind === 7) {
      this.fields.add('persistentVolumeClaim');
      return { persistentVolumeClaim: { claimName: random.pick(NAMES) } };
    }
    return random.pick<Fields>([
      { emptyDir: {} },
      { hostPath: { path: '/var/run/secrets', type: 'Directory' } },
      { nfs: { server: 'nfs.example', path: '/exports/tls' } },
      { downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
      {
        ephemeral: {
          volumeClaimTemplate: { spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'x' } },
        },
      },
      { image: { reference: 'registry.example/data:1' } },
    ]);
  }

  #referencingVolumeSource(kind: number): Fields {
    const random = this.#random;
    const secretRefKinds = Object.keys(SECRET_REF_VOLUMES) as SecretVolumeKind[];

    switch (kind) {
      case 0:
        return { secret: this.#use('volume.secret', this.#secretVolume()) };
      case 1:
        return { configMap: this.#use('volume.configMap', { ...this.#ref(), defaultMode: 420 }) };
      case 2:
      case 3:
        return {
          projected: { sources: this.#list(4, () => this.#projection()), defaultMode: 420 },
        };
      case 4:
        return {
          csi: {
            driver: 'secrets-store.csi.k8s.io',
            readOnly: true,
            nodePublishSecretRef: this.#use('csi.nodePublishSecretRef', this.#maybeRef()),
          },
        };
      case 5:
        return { azureFile: this.#use('azureFile.secretName', this.#azureFile()) };
      default: {
        const volumeKind = random.pick(secretRefKinds);
        const secretRef = this.#use(`${volumeKind}.secretRef`, this.#maybeRef());
        return { [volumeKind]: { ...SECRET_REF_VOLUMES[volumeKind], secretRef } };
      }
    }
  }

  #secretVolume(): Fields {
    const ref = this.#ref();
    const volume: Fields = { defaultMode: 256 };
    if ('name' in ref) {
      volume.secretName = ref.name;
    }
    if ('optional' in ref) {
      volume.optional = ref.optional;
    }
    return volume;
  }

  #azureFile(): Fields {
    const ref = this.#ref();
    return 'name' in ref ? { shareName: 'share', secretName: ref.name } : { shareName: 'share' };
  }

  #projection(): Fields {
    const random = this.#random;
    switch (random.int(6)) {
      case 0:
      case 1:
        return { secret: this.#use('projected.secret', { ...this.#ref(), items: [] }) };
      case 2:
      case 3:
        return { configMap: this.#use('projected.configMap', this.#ref()) };
      case 4:
        return { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } };
      default:
        return {
          downwardAPI: { items: [{ path: 'ns', fieldRef: { fieldPath: 'metadata.namespace' } }] },
        };
    }
  }

  /** A reference, or (rarely) none: `secretRef: null` and a missing `secretRef` are both valid. */
  #maybeRef(): Fields | null | undefined {
    return this.#random.pick([this.#ref(), this.#ref(), this.#ref(), null, undefined]);
  }

  /** `{ name, optional }` where the name may be empty, missing or null and `optional` is free. */
  #ref(): Fields {
    const random = this.#random;
    const ref: Fields = {};
    const roll = random.next();

    if (roll < 0.08) {
      this.fields.add('emptyName');
      ref.name = '';
    } else if (roll < 0.12) {
      this.fields.add('missingName');
    } else if (roll < 0.15) {
      this.fields.add('nullName');
      ref.name = null;
    } else {
      ref.name = random.pick(NAMES);
    }

    if (random.chance(0.3)) {
      ref.optional = random.chance(0.5);
      if (ref.optional === true) {
        this.fields.add('optional');
      }
    }
    return ref;
  }

  /** Records `label` as used (when `value` is a reference at all) and returns `value`. */
  #use<T>(label: string, value: T): T {
    if (value !== null && value !== undefined) {
      this.fields.add(label);
    }
    return value;
  }

  #list<T>(max: number, make: () => T): T[] {
    return Array.from({ length: this.#random.int(max + 1) }, make);
  }
}
