/**
 * Errors that mirror the Kubernetes API machinery (`k8s.io/apimachinery/pkg/api/errors`): a
 * failed request carries the `metav1.Status` the server sent, and guards tell the reasons apart
 * the way `apierrors.IsNotFound` and friends do. Messages never carry object content.
 */

/** A group and a resource, printed the way the API machinery prints them (`secrets`, `x.io`). */
export interface GroupResource {
  readonly group: string;
  readonly resource: string;
}

/** Prints a group-resource as `resource` for the core group and `resource.group` otherwise. */
export function formatGroupResource(gr: GroupResource): string {
  return gr.group === '' ? gr.resource : `${gr.resource}.${gr.group}`;
}

/** The fields of a `metav1.Status` that callers act on. */
export interface StatusBody {
  readonly code: number;
  readonly reason: string;
  readonly message: string;
}

/** A request the API server answered with a failure `Status` (or a bare HTTP status). */
export class StatusError extends Error {
  override readonly name: string = 'StatusError';
  readonly code: number;
  readonly reason: string;

  constructor(status: StatusBody, options?: ErrorOptions) {
    super(status.message, options);
    this.code = status.code;
    this.reason = status.reason;
  }
}

/**
 * The object does not exist: status 404, reason NotFound, message `<resource> "<name>" not
 * found`, exactly as `apierrors.NewNotFound` words it.
 */
export class NotFoundError extends StatusError {
  override readonly name = 'NotFoundError';
  readonly groupResource: GroupResource;
  readonly objectName: string;

  constructor(groupResource: GroupResource, name: string) {
    const message = `${formatGroupResource(groupResource)} "${name}" not found`;
    super({ code: 404, reason: 'NotFound', message });
    this.groupResource = groupResource;
    this.objectName = name;
  }
}

/** Builds the typed error for a failure `Status` object or a bare HTTP status code. */
export function statusErrorFrom(code: number, body: unknown): StatusError {
  const status = isStatusObject(body) ? body : undefined;
  const reason = status?.reason ?? reasonForCode(code);
  const message = status?.message ?? `the server responded with status ${code} (${reason})`;
  return new StatusError({ code: status?.code ?? code, reason, message });
}

/** True for a `metav1.Status` object (as sent in a response body or an ERROR watch event). */
export function isStatusObject(
  value: unknown,
): value is { kind: 'Status'; code?: number; reason?: string; message?: string } {
  return (
    typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'Status'
  );
}

function reasonForCode(code: number): string {
  switch (code) {
    case 400:
      return 'BadRequest';
    case 401:
      return 'Unauthorized';
    case 403:
      return 'Forbidden';
    case 404:
      return 'NotFound';
    case 409:
      return 'Conflict';
    case 410:
      return 'Expired';
    case 422:
      return 'Invalid';
    case 429:
      return 'TooManyRequests';
    case 504:
      return 'Timeout';
    default:
      return code >= 500 ? 'InternalError' : 'Unknown';
  }
}

function hasCode(err: unknown, code: number): boolean {
  return err instanceof StatusError && err.code === code;
}

/** 404 NotFound. */
export function isNotFound(err: unknown): boolean {
  return hasCode(err, 404);
}

/** 410 Gone: the resourceVersion asked for is too old (reason Expired or Gone). */
export function isGone(err: unknown): boolean {
  return hasCode(err, 410);
}

/** 409 Conflict (or AlreadyExists). */
export function isConflict(err: unknown): boolean {
  return hasCode(err, 409);
}

/** 403 Forbidden. */
export function isForbidden(err: unknown): boolean {
  return hasCode(err, 403);
}

/** 429 TooManyRequests. */
export function isTooManyRequests(err: unknown): boolean {
  return hasCode(err, 429);
}
