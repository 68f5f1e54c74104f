import type { V1ConfigMap } from '@kubernetes/client-node';
import { type AdapterOptions, type KindAdapter, stripObject } from './kind.ts';

/** The ConfigMap adapter: core/v1 `configmaps`, named `configmap` in errors. */
export function configMapAdapter(options: AdapterOptions = {}): KindAdapter<V1ConfigMap> {
  const keepContent = options.keepContent ?? false;
  return {
    kind: 'ConfigMap',
    resource: { group: '', version: 'v1', plural: 'configmaps' },
    groupResource: { group: '', resource: 'configmap' },
    isImmutable: (configMap) => configMap.immutable === true,
    transform: (configMap) => stripObject(configMap, keepContent),
  };
}
