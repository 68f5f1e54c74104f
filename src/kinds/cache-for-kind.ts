import type { KubeObject } from '../apimachinery/types.ts';
import { ObjectCache, type ObjectCacheOptions } from '../cache/object-cache.ts';
import type { KubeClient } from '../kube/client.ts';
import { ResourceClient } from '../kube/resource.ts';
import type { KindAdapter } from './kind.ts';

/** Cache options that do not depend on the kind. */
export type KindCacheOptions<T extends KubeObject> = Omit<
  ObjectCacheOptions<T>,
  'listerWatcher' | 'isImmutable' | 'groupResource' | 'transform'
>;

/**
 * An object cache for one kind, listing and watching through `client`. Lists ask for a single
 * page: a field selector on the name matches at most one object.
 */
export function cacheForKind<T extends KubeObject>(
  client: KubeClient,
  adapter: KindAdapter<T>,
  options: KindCacheOptions<T> = {},
): ObjectCache<T> {
  return new ObjectCache<T>({
    ...options,
    listerWatcher: new ResourceClient<T>(client, adapter.resource, 0),
    isImmutable: (object) => adapter.isImmutable(object),
    groupResource: adapter.groupResource,
    transform: (object) => adapter.transform(object),
  });
}
