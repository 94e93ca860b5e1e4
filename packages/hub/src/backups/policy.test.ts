import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PropagationPolicy, ResourceSelector } from '../policies.js';
import { secretPolicy } from '../secrets/reader.js';
import { legacyPolicyOf, selectsBackup } from './policy.js';
import { sharedPolicy } from './sharing.js';

/** The per-object policy of hubs before sharing. */
const legacy = (name: string, namespace: string, backup: string): PropagationPolicy => ({
  apiVersion: 'policy.karmada.io/v1alpha1',
  kind: 'PropagationPolicy',
  metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'stateful-migration-hub' } },
  spec: {
    resourceSelectors: [{ apiVersion: 'migration.dcnlab.com/v1', kind: 'CheckpointBackup', name: backup }],
    placement: { clusterAffinity: { clusterNames: ['member1'] } },
  },
});

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
    ['the hub’s shared one', sharedPolicy('shop', ['member1']), false],
    ['the hub’s own from before sharing', legacy('checkpointbackup-db', 'shop', 'db'), false],
  ];
  for (const [name, p, want] of cases) it(name, () => assert.equal(selectsBackup(p, backup), want));
});

describe('legacyPolicyOf', () => {
  const b = { metadata: { name: 'db', namespace: 'shop' } };
  it('is the hub policy naming the object, in its namespace', () => {
    assert.ok(legacyPolicyOf(legacy('checkpointbackup-db', 'shop', 'db'), b));
    assert.ok(!legacyPolicyOf(legacy('checkpointbackup-db', 'other', 'db'), b));
    assert.ok(!legacyPolicyOf(legacy('checkpointbackup-web', 'shop', 'web'), b));
    assert.ok(!legacyPolicyOf(secretPolicy({ name: 'db', namespace: 'shop' }, ['member1']), b));
    assert.ok(!legacyPolicyOf(sharedPolicy('shop', ['member1']), b));
  });
});
