import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckpointBackup } from '@stateful-migration/api';
import { secretNeeds, secretOf } from './needs.js';

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
      secretOf(b({ registry: { url: 'registry.platform:5000', repository: 'r' } }), platform),
      {
        name: 'registry-credentials',
        namespace: 'stateful-migration',
      },
    );
    assert.equal(secretOf(b({ registry: { url: 'capture.example', repository: 'r' } }), platform), undefined);
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
