import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckpointBackup } from '@stateful-migration/api';
import { clustersNeeding, mayHoldAny, secretNeeds, secretOf, stillNeeded, withFresh } from './needs.js';

const b = (spec: Partial<CheckpointBackup['spec']> = {}): CheckpointBackup => ({
  apiVersion: 'migration.dcnlab.com/v1',
  kind: 'CheckpointBackup',
  metadata: { name: 'db', namespace: 'shop', generation: 3 },
  spec: {
    schedule: 'immediately',
    podRef: { name: 'db-0' },
    resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' },
    ...spec,
  },
});

describe('secretOf: the registry secret the hub carries for an object (issue 11)', () => {
  const platform = ['registry.platform:5000'];
  it("an object's own secret, in its namespace", () =>
    assert.deepEqual(
      secretOf(b({ registry: { url: 'x', repository: 'r', secretRef: { name: 'mine' } } }), []),
      {
        name: 'mine',
        namespace: 'shop',
      },
    ));
  it("the platform's default secret only for the platform's registries", () => {
    assert.deepEqual(
      secretOf(b({ registry: { url: 'registry.platform:5000', repository: 'shop/r' } }), platform),
      {
        name: 'registry-credentials',
        namespace: 'stateful-migration',
      },
    );
    assert.equal(secretOf(b({ registry: { url: 'capture.example', repository: 'r' } }), platform), undefined);
    assert.equal(
      secretOf(b({ registry: { url: 'registry.platform:5000', repository: 'other/r' } }), platform),
      undefined,
      "nor for another namespace's repository",
    );
  });
  it('none for a secretRef in another namespace, nor for an object that names another namespace at all', () => {
    assert.equal(
      secretOf(
        b({ registry: { url: 'x', repository: 'r', secretRef: { name: 's', namespace: 'other' } } }),
        [],
      ),
      undefined,
    );
    assert.equal(
      secretOf(
        b({
          podRef: { name: 'p', namespace: 'other' },
          registry: { url: 'x', repository: 'r', secretRef: { name: 's' } },
        }),
        [],
      ),
      undefined,
    );
  });
  it('none without a registry', () => assert.equal(secretOf(b(), platform), undefined));
});

describe('secretNeeds', () => {
  it('takes the union of clusters per secret, sorted', () => {
    const s = { name: 'reg', namespace: 'shop' };
    const other = { name: 'reg', namespace: 'shop-b' };
    const m = secretNeeds([
      { secret: s, clusters: ['member2'] },
      { secret: s, clusters: ['member1', 'member2'] },
      { secret: other, clusters: ['member1'] },
      { secret: { name: 'none', namespace: 'shop' }, clusters: [] },
    ]);
    assert.deepEqual(m.get('shop/reg')?.clusters, ['member1', 'member2']);
    assert.deepEqual(m.get('shop-b/reg')?.clusters, ['member1']);
    assert.deepEqual(m.get('shop/none')?.clusters, []);
  });
});

describe('clustersNeeding, stillNeeded, withFresh: where a secret must be, from the backups that use it', () => {
  const secret = { name: 'reg', namespace: 'shop' };
  const using = (name: string, clusters: string[], meta: Partial<CheckpointBackup['metadata']> = {}) => ({
    ...b({ registry: { url: 'x', repository: 'r', secretRef: { name: 'reg' } } }),
    metadata: { name, namespace: 'shop', ...meta },
    status: { placement: { clusters, by: 'workload' } },
  });
  it('the union of the placements of the backups that use it', () =>
    assert.deepEqual(
      clustersNeeding(
        secret,
        [using('a', ['member2']), using('b', ['member1', 'member2']), using('c', [])],
        [],
      ),
      ['member1', 'member2'],
    ));
  it('not for a backup using another secret, or one refused (another namespace)', () => {
    const other = {
      ...using('a', ['member1']),
      spec: { ...using('a', []).spec, registry: { url: 'x', repository: 'r', secretRef: { name: 'x' } } },
    };
    const refused = {
      ...using('b', ['member2']),
      spec: { ...using('b', []).spec, podRef: { name: 'p', namespace: 'other' } },
    };
    assert.deepEqual(clustersNeeding(secret, [other, refused], []), []);
  });
  it('a backup being deleted counts while the hub\u2019s finalizer holds it', () => {
    const deleting = (finalizers: string[]) =>
      using('a', ['member1'], { deletionTimestamp: 'now', finalizers });
    assert.deepEqual(clustersNeeding(secret, [deleting(['hub.migration.dcnlab.com/cleanup'])], []), [
      'member1',
    ]);
    assert.deepEqual(clustersNeeding(secret, [deleting([])], []), []);
  });
  it('stillNeeded: a fresh list that places a live backup using it', () => {
    assert.ok(stillNeeded(secret, [using('a', ['member1'])], []));
    assert.ok(!stillNeeded(secret, [using('a', [])], []));
    assert.ok(!stillNeeded(secret, [using('a', ['member1'], { deletionTimestamp: 'now' })], []));
  });
  it('withFresh: the caller\u2019s fresh copy stands in for the cached one', () => {
    const cached = [using('a', []), using('b', ['member1'])];
    const fresh = using('a', ['member2']);
    assert.deepEqual(
      withFresh(cached, fresh).map((x) => [x.metadata.name, x.status?.placement?.clusters]),
      [
        ['b', ['member1']],
        ['a', ['member2']],
      ],
    );
    assert.equal(withFresh(cached, undefined), cached);
  });
});

describe('mayHoldAny: whether taking an object back may find anything of the hub’s', () => {
  it('of the 12 combinations, only "nothing cached, and the reader caches can say so" holds nothing', () => {
    const all = [false, true].flatMap((policy) =>
      [false, true].flatMap((claimedBinding) =>
        [false, true, undefined].map((reader) => ({ policy, claimedBinding, reader })),
      ),
    );
    assert.equal(all.length, 12);
    const none = all.filter((h) => !mayHoldAny(h)).map((h) => JSON.stringify(h));
    assert.deepEqual(none, [JSON.stringify({ policy: false, claimedBinding: false, reader: false })]);
  });
});
