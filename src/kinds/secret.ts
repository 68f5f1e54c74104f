import type { V1Secret } from '@kubernetes/client-node';
import { type AdapterOptions, type KindAdapter, stripObject } from './kind.ts';

/** The Secret adapter: core/v1 `secrets`, named `secret` in errors as the kubelet does. */
export function secretAdapter(options: AdapterOptions = {}): KindAdapter<V1Secret> {
  const keepContent = options.keepContent ?? false;
  return {
    kind: 'Secret',
    resource: { group: '', version: 'v1', plural: 'secrets' },
    groupResource: { group: '', resource: 'secret' },
    isImmutable: (secret) => secret.immutable === true,
    transform: (secret) => stripObject(secret, keepContent),
  };
}
