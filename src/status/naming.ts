/**
 * Names of `CachedObjectStatus` resources: readable when possible (`secret-<name>`,
 * `configmap-<name>`), always valid, and a pure function of the kind and the object's name, so
 * that every replica and every restart of the operator finds the same resource again.
 */
import { createHash } from 'node:crypto';

import type { CachedObjectKind } from './types.ts';

/** Longest name of a namespaced custom resource (a DNS-1123 subdomain). */
export const MAX_NAME_LENGTH = 253;

/** Hex digits of the SHA-256 that end a shortened name (40 bits). */
export const HASH_LENGTH = 10;

const DNS_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS_SUBDOMAIN = new RegExp(`^${DNS_LABEL}(\\.${DNS_LABEL})*$`);

/**
 * True when `value` is a DNS-1123 subdomain of at most 253 characters: lowercase alphanumeric
 * labels, inner `-` allowed, separated by `.`. This is the rule for the name of a Secret, a
 * ConfigMap and a custom resource.
 */
export function isDnsSubdomain(value: string): boolean {
  return value.length <= MAX_NAME_LENGTH && DNS_SUBDOMAIN.test(value);
}

/**
 * The name of the `CachedObjectStatus` for the object `objectName` of `kind`:
 * `secret-<objectName>` or `configmap-<objectName>` when that is a valid name. Otherwise (the
 * object's name is longer than 243 characters, or not a DNS subdomain at all)
 * `secret.<prefix>-<hash>`: a valid prefix of the name, cut to leave room, then the first 10 hex
 * digits of the SHA-256 of the kind and the full name. The `.` after the kind keeps the two forms
 * apart: no readable name has it there, so an object can never take the name of another whose
 * name was shortened. The result is always a valid DNS-1123 subdomain, the same for the same
 * input, and distinct for distinct objects except by a 40-bit hash collision.
 */
export function statusName(kind: CachedObjectKind, objectName: string): string {
  const readable = `${kind.toLowerCase()}-${objectName}`;
  if (isDnsSubdomain(readable)) {
    return readable;
  }

  const head = `${kind.toLowerCase()}.`;
  const hash = shortHash(kind, objectName);
  const room = MAX_NAME_LENGTH - head.length - hash.length - 1;
  const body = trimEnd(sanitize(objectName).slice(0, room));
  return body === '' ? `${head}${hash}` : `${head}${body}-${hash}`;
}

function shortHash(kind: CachedObjectKind, objectName: string): string {
  // The kind is part of the input so that a Secret and a ConfigMap of the same long name get
  // unrelated suffixes, and the NUL cannot occur in either part.
  return createHash('sha256')
    .update(`${kind}\u0000${objectName}`)
    .digest('hex')
    .slice(0, HASH_LENGTH);
}

/**
 * Makes every `.`-separated label of `value` a DNS label: lowercase, characters outside
 * `[a-z0-9-]` replaced by `-`, no `-` at either end, no empty label. Names that are already
 * subdomains (every real Secret and ConfigMap name) pass through unchanged.
 */
function sanitize(value: string): string {
  return value
    .toLowerCase()
    .split('.')
    .map((label) => label.replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, ''))
    .filter((label) => label !== '')
    .join('.');
}

/** Drops the `-` and `.` a cut may have left at the end, so the last label ends alphanumeric. */
function trimEnd(value: string): string {
  return value.replace(/[-.]+$/, '');
}
