import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { KubeObject } from '../../src/apimachinery/types.ts';
import { Store } from '../../src/cache/store.ts';

function object(name: string, resourceVersion: string, uid = `uid-${name}`): KubeObject {
  return { metadata: { name, uid, resourceVersion } };
}

void describe('Store', () => {
  void it('starts empty, unsynced and never listed', () => {
    const store = new Store<KubeObject>();

    assert.equal(store.synced, false);
    assert.equal(store.listed, false);
    assert.equal(store.resourceVersion, '');
    assert.equal(store.lastChange, undefined);
    assert.equal(store.get('token'), undefined);
  });

  void it('rule 7: a full list replaces the content and marks the store synced', () => {
    const store = new Store<KubeObject>();
    store.upsert(object('stale', '1'), 100);

    store.replace([object('token', '5')], '7', 200);

    assert.equal(store.synced, true);
    assert.equal(store.listed, true);
    assert.equal(store.resourceVersion, '7');
    assert.equal(store.get('stale'), undefined, 'objects missing from the list are dropped');
    assert.equal(store.get('token')?.metadata?.resourceVersion, '5');
    assert.equal(store.lastChange, 200);
  });

  void it('rule 7: single watch events never mark the store synced', () => {
    const store = new Store<KubeObject>();

    store.upsert(object('token', '1'), 100);
    store.upsert(object('token', '2'), 110);
    store.remove(object('token', '3'), 120);
    store.upsert(object('token', '4'), 130);
    store.bookmark('5');

    assert.equal(store.synced, false);
    assert.equal(store.listed, false);
    assert.equal(store.get('token')?.metadata?.resourceVersion, '4');
  });

  void it('rule 7: unsetSynced clears synced and keeps the content', () => {
    const store = new Store<KubeObject>();
    const token = object('token', '3');
    store.replace([token], '3', 100);

    store.unsetSynced();

    assert.equal(store.synced, false);
    assert.equal(store.listed, true, 'a list did complete once');
    assert.equal(store.get('token'), token);
    assert.equal(store.resourceVersion, '3');
    store.upsert(object('token', '4'), 200);
    assert.equal(store.synced, false, 'an event after the stop does not sync it either');
  });

  void it('follows ADDED, MODIFIED and DELETED events and their resourceVersions', () => {
    const store = new Store<KubeObject>();
    store.replace([], '1', 100);

    store.upsert(object('token', '2'), 110);
    assert.equal(store.get('token')?.metadata?.resourceVersion, '2');
    assert.equal(store.resourceVersion, '2');
    assert.equal(store.lastChange, 110);

    store.remove(object('token', '3'), 120);
    assert.equal(store.get('token'), undefined);
    assert.equal(store.resourceVersion, '3');
    assert.equal(store.lastChange, 120);
  });

  void it('records a bookmark as the resourceVersion only', () => {
    const store = new Store<KubeObject>();
    store.replace([object('token', '1')], '1', 100);

    store.bookmark('9');

    assert.equal(store.resourceVersion, '9');
    assert.equal(store.lastChange, 100, 'the content did not change');
    assert.equal(store.get('token')?.metadata?.resourceVersion, '1');
  });

  void it('moves lastChange only when a list changes the content', () => {
    const store = new Store<KubeObject>();
    store.replace([object('token', '1')], '1', 100);

    store.replace([object('token', '1')], '4', 200);
    assert.equal(store.lastChange, 100, 'the same object at the same version');

    store.replace([object('token', '2')], '5', 300);
    assert.equal(store.lastChange, 300);

    store.replace([], '6', 400);
    assert.equal(store.lastChange, 400, 'the object is gone');
  });

  void it('ignores objects without a name', () => {
    const store = new Store<KubeObject>();

    store.replace([{ metadata: { resourceVersion: '1' } }], '1', 100);
    store.upsert({ metadata: {} }, 110);
    store.remove({}, 120);

    assert.equal(store.synced, true);
    assert.equal(store.lastChange, undefined);
  });

  void it('rule 14: hands out the stored instance, never a copy', () => {
    const store = new Store<KubeObject>();
    const listed = object('token', '1');
    store.replace([listed], '1', 100);
    assert.equal(store.get('token'), listed);

    const watched = object('token', '2');
    store.upsert(watched, 110);
    assert.equal(store.get('token'), watched);
  });

  const listCases = [
    {
      name: 'keeps the stored object when the list holds an older version of it',
      stored: object('token', '10'),
      listed: object('token', '7'),
      kept: '10',
    },
    {
      name: 'takes a newer version from the list',
      stored: object('token', '10'),
      listed: object('token', '12'),
      kept: '12',
    },
    {
      name: 'takes an older version of a recreated object (another uid)',
      stored: object('token', '10', 'uid-old'),
      listed: object('token', '7', 'uid-new'),
      kept: '7',
    },
    {
      name: 'takes the list when resourceVersions are not integers',
      stored: object('token', 'b'),
      listed: object('token', 'a'),
      kept: 'a',
    },
    {
      name: 'compares versions beyond the safe integer range exactly',
      stored: object('token', '90071992547409930'),
      listed: object('token', '90071992547409929'),
      kept: '90071992547409930',
    },
  ];
  for (const c of listCases) {
    void it(`rule 6: ${c.name}`, () => {
      const store = new Store<KubeObject>();
      store.replace([c.stored], '10', 100);
      store.unsetSynced();

      store.replace([c.listed], '7', 200);

      assert.equal(store.get('token')?.metadata?.resourceVersion, c.kept);
      assert.equal(store.synced, true);
    });
  }
});
