import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backupPolicy } from './backups/policy.js';
import { claimedBy } from './karmada.js';
import { samePolicy, type PropagationPolicy } from './policies.js';
import { secretPolicy } from './secrets/reader.js';

describe('policies', () => {
  it('a backup policy selects exactly that object, to exactly its clusters', () => {
    const p = backupPolicy('checkpointbackup-db', 'shop', 'db', ['member2', 'member1']);
    assert.deepEqual(p.spec.resourceSelectors, [
      { apiVersion: 'migration.dcnlab.com/v1', kind: 'CheckpointBackup', name: 'db' },
    ]);
    assert.deepEqual(p.spec.placement?.clusterAffinity?.clusterNames, ['member1', 'member2']);
    assert.equal(p.metadata.labels?.['app.kubernetes.io/managed-by'], 'stateful-migration-hub');
  });
  it('a secret policy overwrites hand-made copies and lives in the secret’s namespace', () => {
    const p = secretPolicy({ name: 'reg', namespace: 'shop' }, ['member1']);
    assert.deepEqual(
      [p.metadata.name, p.metadata.namespace, p.spec.conflictResolution],
      ['registry-secret-reg', 'shop', 'Overwrite'],
    );
  });
  it('samePolicy ignores what Karmada’s webhook fills in, and sees a placement change', () => {
    const want = backupPolicy('p', 'shop', 'db', ['member1']);
    const stored: PropagationPolicy = {
      ...want,
      metadata: { ...want.metadata, resourceVersion: '7' },
      spec: {
        ...want.spec,
        resourceSelectors: want.spec.resourceSelectors.map((s) => ({ ...s, namespace: 'shop' })),
        conflictResolution: 'Abort',
        priority: 0,
        preemption: 'Never',
        placement: { clusterAffinity: { clusterNames: ['member1'] }, clusterTolerations: [] },
      },
    };
    assert.ok(samePolicy(stored, want));
    assert.ok(!samePolicy(stored, backupPolicy('p', 'shop', 'db', ['member1', 'member2'])));
  });
});

describe('claimedBy', () => {
  const rb = (annotations?: Record<string, string>) => ({
    metadata: { name: 'x', namespace: 'n', ...(annotations ? { annotations } : {}) },
  });
  it('is free when no policy claims it, or the hub’s own does', () => {
    assert.ok(claimedBy(rb(), 'registry-secret-reg'));
    assert.ok(
      claimedBy(rb({ 'propagationpolicy.karmada.io/name': 'registry-secret-reg' }), 'registry-secret-reg'),
    );
  });
  it('is someone else’s under another policy or a ClusterPropagationPolicy', () => {
    assert.ok(!claimedBy(rb({ 'propagationpolicy.karmada.io/name': 'users-own' }), 'registry-secret-reg'));
    assert.ok(
      !claimedBy(rb({ 'clusterpropagationpolicy.karmada.io/name': 'all-secrets' }), 'registry-secret-reg'),
    );
  });
});
