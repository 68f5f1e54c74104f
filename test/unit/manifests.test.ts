import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { parseAllDocuments } from 'yaml';

import { configSchema } from '../../src/operator/config-schema.ts';
import { parseConfig } from '../../src/operator/config.ts';
import {
  CACHED_OBJECT_KINDS,
  CONDITION_FOUND,
  CONDITION_SYNCED,
  GROUP,
  KIND,
  MAX_LISTED_PODS,
  PLURAL,
  VERSION,
} from '../../src/status/types.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const NAMESPACE = 'objectcache-system';

/** A parsed manifest: only the fields the tests read are typed, the rest is walked untyped. */
type Json = Record<string, unknown>;

interface Manifest extends Json {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  file: string;
}

function readYamlDocuments(folder: string, file: string): Json[] {
  const text = readFileSync(join(ROOT, folder, file), 'utf8');
  return parseAllDocuments(text).map((doc) => {
    assert.deepEqual(doc.errors, [], `${folder}/${file}`);
    return doc.toJS() as Json;
  });
}

function yamlFiles(folder: string): string[] {
  return readdirSync(join(ROOT, folder))
    .filter((file) => file.endsWith('.yaml'))
    .sort();
}

function loadManifests(folder: string): Manifest[] {
  return yamlFiles(folder)
    .filter((file) => file !== 'kustomization.yaml')
    .flatMap((file) =>
      readYamlDocuments(folder, file).map((doc) => ({ ...doc, file }) as Manifest),
    );
}

const manifests = loadManifests('manifests');
const [crd] = loadManifests('crds');

function find(kind: string, name?: string): Manifest {
  const found = manifests.find((m) => m.kind === kind && (name ? m.metadata.name === name : true));
  assert.ok(found, `no ${kind} ${name ?? ''} in manifests/`);
  return found;
}

/** Follows `path` (property names and array indices) from `value`, failing on a missing step. */
function at(value: unknown, ...path: (string | number)[]): unknown {
  let current = value;
  for (const step of path) {
    assert.ok(typeof current === 'object' && current !== null, `no ${path.join('.')}`);
    current = (current as Record<string | number, unknown>)[step];
  }
  return current;
}

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
}

const READ_VERBS = new Set(['get', 'list', 'watch']);

const deployment = find('Deployment');
const podSpec = at(deployment, 'spec', 'template', 'spec') as Json;
const container = at(podSpec, 'containers', 0) as Json;
const configMap = find('ConfigMap');
const configText = at(configMap, 'data', 'config.yaml') as string;
const config = parseConfig(configText, 'manifests/config.yaml', NAMESPACE);

void describe('manifests', () => {
  void it('parse as YAML objects that each have an apiVersion, a kind and a name', () => {
    assert.ok(manifests.length >= 9);
    for (const m of [...manifests, crd]) {
      assert.equal(typeof m?.apiVersion, 'string', m?.file);
      assert.equal(typeof m?.kind, 'string', m?.file);
      assert.equal(typeof m?.metadata.name, 'string', m?.file);
    }
  });

  void it('put every namespaced resource in objectcache-system', () => {
    const clusterScoped = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);
    for (const m of manifests.filter((m) => !clusterScoped.has(m.kind))) {
      assert.equal(m.metadata.namespace, NAMESPACE, `${m.kind} ${m.metadata.name}`);
    }
    assert.equal(find('Namespace').metadata.name, NAMESPACE);
  });

  void it('are all listed in the kustomization, with the namespace', () => {
    const [kustomization] = readYamlDocuments('manifests', 'kustomization.yaml');
    const resources = at(kustomization, 'resources') as string[];

    const files = yamlFiles('manifests').filter((file) => file !== 'kustomization.yaml');
    assert.deepEqual([...resources].sort(), files);
    assert.equal(at(kustomization, 'namespace'), NAMESPACE);
  });

  void it('leave the CRD folder to plain kubectl apply -f: YAML resources only', () => {
    assert.deepEqual(yamlFiles('crds'), ['cachedobjectstatuses.objectcache.dev.yaml']);
  });

  void it('ship a config.yaml that the operator accepts, equal to the defaults', () => {
    const defaults = parseConfig('', 'defaults', NAMESPACE);

    assert.deepEqual(config, defaults);
  });
});

void describe('RBAC', () => {
  const clusterRules = at(find('ClusterRole'), 'rules') as PolicyRule[];

  void it('grants no write verb on Secrets, ConfigMaps or Pods', () => {
    for (const rule of clusterRules) {
      const coreGroup = rule.apiGroups?.some((group) => group === '' || group === '*');
      const touchesObjects = rule.resources?.some((resource) =>
        ['secrets', 'configmaps', 'pods', '*'].includes(resource.split('/')[0] ?? ''),
      );
      if (coreGroup && touchesObjects) {
        for (const verb of rule.verbs) {
          assert.ok(READ_VERBS.has(verb), `write verb ${verb} on ${rule.resources?.join(',')}`);
        }
      }
    }
  });

  void it('uses no wildcard group, resource or verb', () => {
    const roleRules = at(find('Role'), 'rules') as PolicyRule[];
    for (const rule of [...clusterRules, ...roleRules]) {
      for (const value of [...(rule.apiGroups ?? []), ...(rule.resources ?? []), ...rule.verbs]) {
        assert.notEqual(value, '*');
      }
    }
  });

  void it('lets the operator read Pods, Secrets and ConfigMaps in every namespace', () => {
    for (const resource of ['pods', 'secrets', 'configmaps']) {
      const granted = clusterRules
        .filter((r) => r.apiGroups?.includes('') && r.resources?.includes(resource))
        .flatMap((r) => r.verbs);
      assert.deepEqual(granted.sort(), ['get', 'list', 'watch'], resource);
    }
  });

  void it('lets the operator manage its resources and their status', () => {
    const verbsOn = (resource: string): string[] =>
      clusterRules
        .filter((r) => r.apiGroups?.includes(GROUP) && r.resources?.includes(resource))
        .flatMap((r) => r.verbs)
        .sort();

    assert.deepEqual(verbsOn(PLURAL), [
      'create',
      'delete',
      'get',
      'list',
      'patch',
      'update',
      'watch',
    ]);
    assert.deepEqual(verbsOn(`${PLURAL}/status`), ['patch', 'update']);
  });

  void it('limits Lease access to the configured Lease name, except create', () => {
    const roleRules = at(find('Role'), 'rules') as PolicyRule[];

    for (const rule of roleRules) {
      assert.deepEqual(rule.apiGroups, ['coordination.k8s.io']);
      assert.deepEqual(rule.resources, ['leases']);
      if (rule.resourceNames === undefined) {
        assert.deepEqual(rule.verbs, ['create']);
      } else {
        assert.deepEqual(rule.resourceNames, [config.leaderElection.leaseName]);
      }
    }
    const verbs = roleRules.flatMap((r) => r.verbs).sort();
    assert.deepEqual(verbs, ['create', 'get', 'update']);
  });

  void it('binds both roles to the operator ServiceAccount', () => {
    const account = find('ServiceAccount');
    for (const [bindingKind, roleKind] of [
      ['ClusterRoleBinding', 'ClusterRole'],
      ['RoleBinding', 'Role'],
    ] as const) {
      const binding = find(bindingKind);
      assert.equal(at(binding, 'roleRef', 'kind'), roleKind);
      assert.equal(at(binding, 'roleRef', 'name'), find(roleKind).metadata.name);
      assert.deepEqual(at(binding, 'subjects'), [
        { kind: 'ServiceAccount', name: account.metadata.name, namespace: NAMESPACE },
      ]);
    }
    assert.equal(podSpec['serviceAccountName'], account.metadata.name);
  });
});

void describe('Deployment', () => {
  void it('runs two replicas of the 0.1.0 image with the mounted config file', () => {
    assert.equal(at(deployment, 'spec', 'replicas'), 2);
    assert.equal(container['image'], 'objectcache-operator:0.1.0');
    assert.deepEqual(container['args'], ['--config=/etc/objectcache/config.yaml']);

    const mount = (container['volumeMounts'] as Json[]).find(
      (m) => m['mountPath'] === '/etc/objectcache',
    );
    const volume = (podSpec['volumes'] as Json[]).find((v) => v['name'] === mount?.['name']);
    assert.equal(at(volume, 'configMap', 'name'), configMap.metadata.name);
    assert.equal(mount?.['readOnly'], true);
  });

  void it('passes the Pod namespace and name through the downward API', () => {
    const env = container['env'] as Json[];

    assert.deepEqual(
      env.map((e) => [e['name'], at(e, 'valueFrom', 'fieldRef', 'fieldPath')]),
      [
        ['POD_NAMESPACE', 'metadata.namespace'],
        ['POD_NAME', 'metadata.name'],
      ],
    );
  });

  void it('probes /healthz and /readyz on the configured server port', () => {
    const port = (container['ports'] as Json[]).find((p) => p['name'] === 'metrics');
    assert.equal(port?.['containerPort'], config.server.port);

    assert.equal(at(container, 'livenessProbe', 'httpGet', 'path'), '/healthz');
    assert.equal(at(container, 'livenessProbe', 'httpGet', 'port'), 'metrics');
    assert.equal(at(container, 'readinessProbe', 'httpGet', 'path'), '/readyz');
    assert.equal(at(container, 'readinessProbe', 'httpGet', 'port'), 'metrics');
  });

  void it('sets resource requests and limits', () => {
    for (const bound of ['requests', 'limits']) {
      assert.ok(at(container, 'resources', bound, 'cpu'), bound);
      assert.ok(at(container, 'resources', bound, 'memory'), bound);
    }
  });

  void it('runs locked down: non-root, read-only root, no escalation, no capabilities', () => {
    assert.equal(at(podSpec, 'securityContext', 'runAsNonRoot'), true);
    assert.equal(at(podSpec, 'securityContext', 'seccompProfile', 'type'), 'RuntimeDefault');
    assert.equal(podSpec['automountServiceAccountToken'], true);

    const security = container['securityContext'] as Json;
    assert.equal(security['runAsNonRoot'], true);
    assert.equal(security['readOnlyRootFilesystem'], true);
    assert.equal(security['allowPrivilegeEscalation'], false);
    assert.deepEqual(at(security, 'capabilities', 'drop'), ['ALL']);
    assert.equal(at(security, 'seccompProfile', 'type'), 'RuntimeDefault');
  });

  void it('is selected by the metrics Service on port 8080', () => {
    const service = find('Service');
    const labels = at(deployment, 'spec', 'template', 'metadata', 'labels') as Json;

    for (const [key, value] of Object.entries(at(service, 'spec', 'selector') as Json)) {
      assert.equal(labels[key], value, key);
    }
    assert.deepEqual(at(service, 'spec', 'ports'), [
      { name: 'metrics', port: 8080, targetPort: 'metrics', protocol: 'TCP' },
    ]);
  });

  void it('runs as the user the image declares', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const user = /^USER (\d+):(\d+)$/m.exec(dockerfile);

    assert.ok(user, 'the Dockerfile sets a numeric USER');
    assert.equal(at(podSpec, 'securityContext', 'runAsUser'), Number(user[1]));
    assert.equal(at(podSpec, 'securityContext', 'runAsGroup'), Number(user[2]));
  });
});

void describe('image', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

  void it('starts the compiled entry point that package.json names', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { main: string };

    assert.match(dockerfile, /^ENTRYPOINT \["node", "([^"]+)"\]$/m);
    assert.ok(dockerfile.includes(`ENTRYPOINT ["node", "${pkg.main}"]`));
  });

  void it('sends the builder every file the Dockerfile copies from the context', () => {
    const allowed = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('!'))
      .map((line) => line.slice(1).replace(/\/$/, ''));
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) =>
      (m[1] ?? '').split(' ').map((source) => source.replace(/\/$/, '')),
    );

    assert.ok(copied.length > 0);
    for (const source of copied) {
      assert.ok(allowed.includes(source), `${source} is not in .dockerignore's allow list`);
    }
  });
});

void describe('CachedObjectStatus CRD', () => {
  const version = at(crd, 'spec', 'versions', 0) as Json;
  const schema = at(version, 'schema', 'openAPIV3Schema') as Json;
  const status = at(schema, 'properties', 'status', 'properties') as Json;

  void it('names the group, version, kind and plural the operator uses', () => {
    assert.equal(crd?.metadata.name, `${PLURAL}.${GROUP}`);
    assert.equal(at(crd, 'spec', 'group'), GROUP);
    assert.equal(at(crd, 'spec', 'scope'), 'Namespaced');
    assert.equal(at(crd, 'spec', 'names', 'kind'), KIND);
    assert.equal(at(crd, 'spec', 'names', 'plural'), PLURAL);
    assert.deepEqual(at(crd, 'spec', 'names', 'shortNames'), ['cos']);
    assert.equal(version['name'], VERSION);
    assert.equal(version['served'], true);
    assert.equal(version['storage'], true);
    assert.deepEqual(at(version, 'subresources'), { status: {} });
  });

  void it('has a structural schema: a type on every node, no unknown fields kept', () => {
    const visit = (node: Json, path: string): void => {
      assert.equal(typeof node['type'], 'string', `${path} has no type`);
      assert.equal(node['x-kubernetes-preserve-unknown-fields'], undefined, path);
      for (const [name, child] of Object.entries((node['properties'] ?? {}) as Json)) {
        visit(child as Json, `${path}.${name}`);
      }
      if (node['items'] !== undefined) {
        visit(node['items'] as Json, `${path}[]`);
      }
      assert.equal(node['additionalProperties'], undefined, path);
    };

    visit(schema, '');
  });

  void it('allows exactly the spec kinds of the cache', () => {
    assert.deepEqual(at(schema, 'properties', 'spec', 'properties', 'kind', 'enum'), [
      ...CACHED_OBJECT_KINDS,
    ]);
    assert.deepEqual(at(schema, 'properties', 'spec', 'required'), ['kind', 'name']);
    assert.deepEqual(
      at(schema, 'properties', 'spec', 'x-kubernetes-validations', 0, 'rule'),
      'self == oldSelf',
    );
  });

  void it('has the status fields of the operator, and none that could hold a value', () => {
    assert.deepEqual(Object.keys(status).sort(), [
      'conditions',
      'found',
      'immutable',
      'lastAccessTime',
      'lastChangeTime',
      'nodeCount',
      'observedAt',
      'pods',
      'podsTruncated',
      'referenceCount',
      'reflector',
      'resourceVersion',
      'synced',
    ]);
  });

  void it('caps the Pod list at the most the config allows', () => {
    const maxPods = at(configSchema, 'properties', 'status', 'properties', 'maxPods') as Json;

    assert.equal(at(status, 'pods', 'maxItems'), MAX_LISTED_PODS);
    assert.equal(maxPods['maximum'], MAX_LISTED_PODS);
    assert.equal(at(status, 'pods', 'x-kubernetes-list-type'), 'atomic');
  });

  void it('keys conditions by type in the standard shape', () => {
    const conditions = at(status, 'conditions') as Json;
    const condition = at(conditions, 'items') as Json;

    assert.equal(conditions['x-kubernetes-list-type'], 'map');
    assert.deepEqual(conditions['x-kubernetes-list-map-keys'], ['type']);
    assert.deepEqual(Object.keys(at(condition, 'properties') as Json).sort(), [
      'lastTransitionTime',
      'message',
      'observedGeneration',
      'reason',
      'status',
      'type',
    ]);
    const typePattern = new RegExp(at(condition, 'properties', 'type', 'pattern') as string);
    assert.ok(typePattern.test(CONDITION_SYNCED) && typePattern.test(CONDITION_FOUND));
  });

  void it('prints the columns kubectl get cos -A reads as a table', () => {
    const columns = (version['additionalPrinterColumns'] as Json[]).filter(
      (c) => c['priority'] === undefined,
    );

    assert.deepEqual(
      columns.map((c) => [c['name'], c['jsonPath'], c['type']]),
      [
        ['Kind', '.spec.kind', 'string'],
        ['Object', '.spec.name', 'string'],
        ['Refs', '.status.referenceCount', 'integer'],
        ['Nodes', '.status.nodeCount', 'integer'],
        ['Reflector', '.status.reflector.state', 'string'],
        ['Found', '.status.found', 'boolean'],
        ['Immutable', '.status.immutable', 'boolean'],
        ['Age', '.metadata.creationTimestamp', 'date'],
      ],
    );
  });
});
