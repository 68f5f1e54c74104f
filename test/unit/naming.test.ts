import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  HASH_LENGTH,
  MAX_NAME_LENGTH,
  isDnsSubdomain,
  statusName,
} from '../../src/status/naming.ts';
import { CACHED_OBJECT_KINDS } from '../../src/status/types.ts';

/** A valid DNS subdomain of exactly `length` characters, with dots and dashes inside. */
function subdomainOfLength(length: number, seed = 'a'): string {
  const pattern = `${seed}b-c.d9`;
  let name = '';
  while (name.length < length) {
    name += pattern;
  }
  name = name.slice(0, length);
  // A name must end alphanumeric: replace a trailing '-' or '.'.
  return name.replace(/[-.]$/, 'z');
}

void describe('isDnsSubdomain', () => {
  const cases: readonly { name: string; value: string; valid: boolean }[] = [
    { name: 'accepts a single label', value: 'db-password', valid: true },
    { name: 'accepts dotted labels', value: 'tls.example.com', valid: true },
    { name: 'accepts 253 characters', value: subdomainOfLength(253), valid: true },
    { name: 'refuses 254 characters', value: subdomainOfLength(254), valid: false },
    { name: 'refuses the empty string', value: '', valid: false },
    { name: 'refuses uppercase', value: 'Token', valid: false },
    { name: 'refuses a leading dash', value: '-token', valid: false },
    { name: 'refuses a trailing dot', value: 'token.', valid: false },
    { name: 'refuses an empty label', value: 'a..b', valid: false },
    { name: 'refuses a label ending in a dash', value: 'a-.b', valid: false },
    { name: 'refuses an underscore', value: 'a_b', valid: false },
  ];
  for (const c of cases) {
    void it(c.name, () => {
      assert.equal(isDnsSubdomain(c.value), c.valid);
    });
  }
});

void describe('statusName', () => {
  void it('prefixes the lowercase kind when the result is a valid name', () => {
    assert.equal(statusName('Secret', 'db-password'), 'secret-db-password');
    assert.equal(statusName('ConfigMap', 'kube-root-ca.crt'), 'configmap-kube-root-ca.crt');
  });

  void it('keeps the readable form up to exactly 253 characters', () => {
    const secretName = subdomainOfLength(MAX_NAME_LENGTH - 'secret-'.length);
    assert.equal(statusName('Secret', secretName), `secret-${secretName}`);

    const configMapName = subdomainOfLength(MAX_NAME_LENGTH - 'configmap-'.length);
    assert.equal(statusName('ConfigMap', configMapName), `configmap-${configMapName}`);
  });

  void it('shortens with a hash one character past the limit', () => {
    const objectName = subdomainOfLength(MAX_NAME_LENGTH - 'secret-'.length + 1);
    const name = statusName('Secret', objectName);

    assert.ok(isDnsSubdomain(name), name);
    assert.match(name, new RegExp(`^secret\\.[-.a-z0-9]+-[0-9a-f]{${HASH_LENGTH}}$`));
    assert.ok(name.startsWith(`secret.${objectName.slice(0, 200)}`));
  });

  for (const kind of CACHED_OBJECT_KINDS) {
    void it(`returns a valid, stable name for every ${kind} name length from 1 to 253`, () => {
      for (let length = 1; length <= MAX_NAME_LENGTH; length++) {
        for (const seed of ['a', '0', 'x']) {
          const objectName = subdomainOfLength(length, seed);
          const name = statusName(kind, objectName);

          assert.ok(isDnsSubdomain(name), `length ${length}: ${name}`);
          assert.equal(statusName(kind, objectName), name);
        }
      }
    });
  }

  void it('gives distinct names to long names that differ only in their last character', () => {
    const stem = subdomainOfLength(250);
    const names = new Set<string>();
    for (const last of 'abcdefghijklmnopqrstuvwxyz0123456789') {
      names.add(statusName('Secret', `${stem.slice(0, 249)}${last}`));
    }

    assert.equal(names.size, 36);
  });

  void it('gives distinct names to long names that differ only past the cut', () => {
    const stem = subdomainOfLength(245);
    const a = statusName('ConfigMap', `${stem}-aaaaaaa`);
    const b = statusName('ConfigMap', `${stem}-aaaaaab`);

    assert.notEqual(a, b);
    assert.equal(a.slice(0, -HASH_LENGTH), b.slice(0, -HASH_LENGTH));
  });

  void it('gives a Secret and a ConfigMap of the same name distinct names', () => {
    const objectName = subdomainOfLength(253);

    const secret = statusName('Secret', objectName);
    const configMap = statusName('ConfigMap', objectName);

    assert.notEqual(secret.slice(-HASH_LENGTH), configMap.slice(-HASH_LENGTH));
  });

  void it('does not change the hash from one release to the next', () => {
    // A changed hash would leave every shortened resource to be replaced at the next start.
    const objectName = 'n'.repeat(253);

    assert.equal(statusName('Secret', objectName), `secret.${'n'.repeat(235)}-bfe9497ebc`);
  });

  void it('never gives a shortened name to an object whose own name reads like one', () => {
    // The readable name of a 246-character name has 253 characters, like a shortened one.
    const long = 'a'.repeat(250);
    const shortened = statusName('Secret', long);
    const lookalike = shortened.slice('secret.'.length);

    assert.notEqual(statusName('Secret', lookalike), shortened);
    assert.equal(statusName('Secret', lookalike), `secret-${lookalike}`);
  });

  const invalidInputs: readonly { name: string; objectName: string }[] = [
    { name: 'uppercase letters', objectName: 'My.Secret' },
    { name: 'underscores', objectName: 'my_secret' },
    { name: 'a trailing dot', objectName: 'token.' },
    { name: 'empty labels', objectName: 'a..b' },
    { name: 'only punctuation', objectName: '._-' },
    { name: 'the empty string', objectName: '' },
    { name: 'a cut that ends on a dot', objectName: `${'a'.repeat(234)}.${'b'.repeat(30)}` },
    { name: 'a cut that ends on a dash', objectName: `${'a'.repeat(234)}-${'b'.repeat(30)}` },
  ];
  for (const c of invalidInputs) {
    void it(`returns a valid name for an object name with ${c.name}`, () => {
      const name = statusName('Secret', c.objectName);

      assert.ok(isDnsSubdomain(name), name);
      assert.match(name, /^secret/);
      assert.ok(name.length <= MAX_NAME_LENGTH);
    });
  }
});
