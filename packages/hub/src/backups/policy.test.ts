import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PropagationPolicy, ResourceSelector } from '../policies.js';
import { secretPolicy } from '../secrets/reader.js';
import { backupPolicy, ownPolicyOf, selectsBackup } from './policy.js';

const backup = { metadata: { name: 'db', namespace: 'shop', labels: { team: 'a' } } };
const user = (kind: PropagationPolicy['kind'], namespace: string | undefined, s: Partial<ResourceSelector>) =>
  ({
    apiVersion: 'policy.karmada.io/v1alpha1',
    kind,
    metadata: { name: 'mine', ...(namespace ? { namespace } : {}) },
    spec: { resourceSelectors: [{ apiVersion: 'migration.dcnlab.com/v1', kind: 'CheckpointBackup', ...s }] },
  }) as PropagationPolicy;

describe('selectsBackup', () => {
  const cases: [string, PropagationPolicy, boolean][] = [
    ['PP by name', user('PropagationPolicy', 'shop', { name: 'db' }), true],
    ['PP, other name', user('PropagationPolicy', 'shop', { name: 'web' }), false],
    ['PP in another namespace', user('PropagationPolicy', 'other', { name: 'db' }), false],
    ['PP, every CheckpointBackup', user('PropagationPolicy', 'shop', {}), true],
    [
      'PP by labels',
      user('PropagationPolicy', 'shop', { labelSelector: { matchLabels: { team: 'a' } } }),
      true,
    ],
    [
      'PP, labels differ',
      user('PropagationPolicy', 'shop', { labelSelector: { matchLabels: { team: 'b' } } }),
      false,
    ],
    ['CPP, any namespace', user('ClusterPropagationPolicy', undefined, { name: 'db' }), true],
    ['CPP, this namespace', user('ClusterPropagationPolicy', undefined, { namespace: 'shop' }), true],
    [
      'CPP, namespace a-b is not a',
      user('ClusterPropagationPolicy', undefined, { namespace: 'shop-b' }),
      false,
    ],
    ['another kind', user('PropagationPolicy', 'shop', { kind: 'Deployment', name: 'db' }), false],
    ['another version', user('PropagationPolicy', 'shop', { apiVersion: 'migration.dcnlab.com/v2' }), false],
    ['the hub’s own', backupPolicy('checkpointbackup-db', 'shop', 'db', ['member1']), false],
  ];
  for (const [name, p, want] of cases) it(name, () => assert.equal(selectsBackup(p, backup), want));
});

describe('ownPolicyOf', () => {
  const b = { metadata: { name: 'db', namespace: 'shop' } };
  it('is the hub policy naming the object, in its namespace', () => {
    assert.ok(ownPolicyOf(backupPolicy('checkpointbackup-db', 'shop', 'db', ['member1']), b));
    assert.ok(!ownPolicyOf(backupPolicy('checkpointbackup-db', 'other', 'db', ['member1']), b));
    assert.ok(!ownPolicyOf(backupPolicy('checkpointbackup-web', 'shop', 'web', ['member1']), b));
    assert.ok(!ownPolicyOf(secretPolicy({ name: 'db', namespace: 'shop' }, ['member1']), b));
  });
});
