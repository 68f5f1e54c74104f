import { formatGroupResource, type GroupResource } from '../apimachinery/errors.ts';

export { NotFoundError, isNotFound } from '../apimachinery/errors.ts';

/** `get` was called for an object no Pod has registered (rule 8). */
export class NotRegisteredError extends Error {
  override readonly name = 'NotRegisteredError';
  readonly namespace: string;
  readonly objectName: string;

  constructor(namespace: string, name: string) {
    super(`object "${namespace}"/"${name}" not registered`);
    this.namespace = namespace;
    this.objectName = name;
  }
}

/** The item's store did not sync within the sync timeout (rule 11). */
export class SyncTimeoutError extends Error {
  override readonly name = 'SyncTimeoutError';
  readonly groupResource: GroupResource;

  constructor(groupResource: GroupResource) {
    super(
      `failed to sync ${formatGroupResource(groupResource)} cache: ` +
        'timed out waiting for the condition',
    );
    this.groupResource = groupResource;
  }
}

/** True for the error of `get` on an unregistered object. */
export function isNotRegistered(err: unknown): err is NotRegisteredError {
  return err instanceof NotRegisteredError;
}

/** True for the error of `get` when the store did not sync in time. */
export function isSyncTimeout(err: unknown): err is SyncTimeoutError {
  return err instanceof SyncTimeoutError;
}
