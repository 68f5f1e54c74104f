/**
 * A throwaway public key infrastructure for one local control plane: a CA, the API server's
 * serving certificate, an admin client certificate in `system:masters`, and the service-account
 * token signing key. Everything is ECDSA P-256 made with node:crypto, so no external tool is
 * needed; certificates are encoded by hand in DER (see der.ts).
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { isIP } from 'node:net';

import {
  bitString,
  boolean,
  explicit,
  implicit,
  namedBits,
  objectIdentifier,
  octetString,
  sequence,
  set,
  smallInteger,
  time,
  unsignedInteger,
  utf8String,
} from './der.ts';

const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const OID_COMMON_NAME = '2.5.4.3';
const OID_ORGANIZATION = '2.5.4.10';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_KEY_USAGE = '2.5.29.15';
const OID_EXT_KEY_USAGE = '2.5.29.37';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

const KEY_USAGE_DIGITAL_SIGNATURE = 0;
const KEY_USAGE_KEY_CERT_SIGN = 5;
const KEY_USAGE_CRL_SIGN = 6;

// Validity starts an hour back so that a clock a little behind still accepts the certificates.
const BACKDATE_MS = 60 * 60 * 1000;

/** A certificate and its private key, both PEM. */
export interface CertifiedKey {
  readonly certPem: string;
  readonly keyPem: string;
}

/** Every credential a local control plane needs, all PEM. */
export interface ControlPlanePki {
  readonly ca: CertifiedKey;
  /** Serving certificate of kube-apiserver, for 127.0.0.1 and localhost. */
  readonly serving: CertifiedKey;
  /** Client certificate `CN=<adminUser>, O=system:masters`. */
  readonly admin: CertifiedKey;
  /** Private key kube-apiserver signs service-account tokens with. */
  readonly serviceAccountKeyPem: string;
  /** Public half of `serviceAccountKeyPem`, which kube-apiserver verifies tokens with. */
  readonly serviceAccountPublicKeyPem: string;
}

/** Options of {@link createControlPlanePki}. */
export interface PkiOptions {
  /** Start of validity (minus one hour of slack). Default: the current time. */
  readonly now?: Date;
  /** How long the certificates stay valid. Default: 7 days. */
  readonly validityMs?: number;
  /** Common name of the admin client certificate. Default: `objectcache-admin`. */
  readonly adminUser?: string;
}

/**
 * Generates a fresh CA and the certificates signed by it. Synchronous and CPU-only (a few
 * milliseconds); nothing is written to disk.
 */
export function createControlPlanePki(options: PkiOptions = {}): ControlPlanePki {
  const now = options.now ?? new Date();
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const notAfter = new Date(now.getTime() + (options.validityMs ?? 7 * 24 * 60 * 60 * 1000));
  const validity = { notBefore, notAfter };

  const caKey = newKeyPair();
  const caName = [{ oid: OID_COMMON_NAME, value: 'objectcache-test-ca' }];
  const ca = certify({
    subject: caName,
    issuer: caName,
    publicKey: caKey.publicKey,
    signer: caKey.privateKey,
    validity,
    extensions: caExtensions(),
  });

  const serving = issue(caKey.privateKey, caName, validity, {
    subject: [{ oid: OID_COMMON_NAME, value: 'kube-apiserver' }],
    extensions: leafExtensions(OID_SERVER_AUTH, ['127.0.0.1', 'localhost']),
  });

  const admin = issue(caKey.privateKey, caName, validity, {
    subject: [
      { oid: OID_ORGANIZATION, value: 'system:masters' },
      { oid: OID_COMMON_NAME, value: options.adminUser ?? 'objectcache-admin' },
    ],
    extensions: leafExtensions(OID_CLIENT_AUTH, []),
  });

  const serviceAccount = newKeyPair();
  return {
    ca: { certPem: ca, keyPem: privatePem(caKey.privateKey) },
    serving,
    admin,
    serviceAccountKeyPem: privatePem(serviceAccount.privateKey),
    serviceAccountPublicKeyPem: serviceAccount.publicKey
      .export({ type: 'spki', format: 'pem' })
      .toString(),
  };
}

interface NameAttribute {
  readonly oid: string;
  readonly value: string;
}

interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

interface CertificateTemplate {
  readonly subject: readonly NameAttribute[];
  readonly issuer: readonly NameAttribute[];
  readonly publicKey: KeyObject;
  readonly signer: KeyObject;
  readonly validity: Validity;
  readonly extensions: readonly Buffer[];
}

function issue(
  caPrivateKey: KeyObject,
  caName: readonly NameAttribute[],
  validity: Validity,
  leaf: { subject: readonly NameAttribute[]; extensions: readonly Buffer[] },
): CertifiedKey {
  const key = newKeyPair();
  const certPem = certify({
    subject: leaf.subject,
    issuer: caName,
    publicKey: key.publicKey,
    signer: caPrivateKey,
    validity,
    extensions: leaf.extensions,
  });
  return { certPem, keyPem: privatePem(key.privateKey) };
}

function certify(template: CertificateTemplate): string {
  const algorithm = sequence(objectIdentifier(OID_ECDSA_WITH_SHA256));
  const spki = template.publicKey.export({ type: 'spki', format: 'der' });

  const tbs = sequence(
    explicit(0, smallInteger(2)),
    unsignedInteger(randomBytes(16)),
    algorithm,
    encodeName(template.issuer),
    sequence(time(template.validity.notBefore), time(template.validity.notAfter)),
    encodeName(template.subject),
    spki,
    explicit(3, sequence(...template.extensions)),
  );

  const signature = sign('sha256', tbs, template.signer);
  const der = sequence(tbs, algorithm, bitString(signature));
  return toPem('CERTIFICATE', der);
}

function caExtensions(): Buffer[] {
  return [
    extension(OID_BASIC_CONSTRAINTS, true, sequence(boolean(true))),
    extension(
      OID_KEY_USAGE,
      true,
      namedBits([KEY_USAGE_DIGITAL_SIGNATURE, KEY_USAGE_KEY_CERT_SIGN, KEY_USAGE_CRL_SIGN]),
    ),
  ];
}

function leafExtensions(extendedUsage: string, altNames: readonly string[]): Buffer[] {
  const extensions = [
    extension(OID_BASIC_CONSTRAINTS, true, sequence()),
    extension(OID_KEY_USAGE, true, namedBits([KEY_USAGE_DIGITAL_SIGNATURE])),
    extension(OID_EXT_KEY_USAGE, false, sequence(objectIdentifier(extendedUsage))),
  ];
  if (altNames.length > 0) {
    extensions.push(extension(OID_SUBJECT_ALT_NAME, false, sequence(...altNames.map(altName))));
  }
  return extensions;
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  const flag = critical ? [boolean(true)] : [];
  return sequence(objectIdentifier(oid), ...flag, octetString(value));
}

// GeneralName: iPAddress [7] holds the four address bytes, dNSName [2] the IA5 text.
function altName(name: string): Buffer {
  if (isIP(name) === 4) {
    return implicit(7, Buffer.from(name.split('.').map((part) => Number.parseInt(part, 10))));
  }
  return implicit(2, Buffer.from(name, 'ascii'));
}

function encodeName(attributes: readonly NameAttribute[]): Buffer {
  const rdns = attributes.map((attribute) =>
    set(sequence(objectIdentifier(attribute.oid), utf8String(attribute.value))),
  );
  return sequence(...rdns);
}

function newKeyPair(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

function privatePem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

function toPem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
