import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sharedPolicy } from './backups/sharing.js';
import { claimedBy } from './karmada.js';
import { policyChange, policyRef, samePolicy, updatedPolicy, type PropagationPolicy } from './policies.js';
import { secretPolicy } from './secrets/reader.js';

describe('policies', () => {
  it('a shared backup policy selects the objects labelled with its name, to exactly its clusters', () => {
    const p = sharedPolicy('shop', ['member2', 'member1']);
    assert.deepEqual(p.spec.resourceSelectors, [
      {
        apiVersion: 'migration.dcnlab.com/v1',
        kind: 'CheckpointBackup',
        labelSelector: { matchLabels: { 'hub.migration.dcnlab.com/policy': p.metadata.name } },
      },
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
    const want = sharedPolicy('shop', ['member1']);
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
    assert.ok(!samePolicy(stored, sharedPolicy('shop', ['member1', 'member2'])));
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

describe('policyChange and updatedPolicy: writing one of the hub\u2019s policies', () => {
  const want = sharedPolicy('shop', ['member1', 'member2']);
  const stored: PropagationPolicy = {
    ...sharedPolicy('shop', ['member1']),
    metadata: {
      ...want.metadata,
      resourceVersion: '7',
      labels: { ...want.metadata.labels, 'karmada.io/x': 'y' },
    },
    spec: {
      ...want.spec,
      priority: 0,
      placement: { clusterAffinity: { clusterNames: ['member1'] }, spreadConstraints: [] },
    },
  };
  it('none stored: create', () => assert.equal(policyChange(undefined, want), 'create'));
  it('the same stored: nothing', () => assert.equal(policyChange(want, want), 'none'));
  it('the hub\u2019s, saying something else: update', () =>
    assert.equal(policyChange(stored, want), 'update'));
  it('a user\u2019s of that name: never touched', () =>
    assert.equal(
      policyChange({ ...stored, metadata: { name: stored.metadata.name, namespace: 'shop' } }, want),
      'notHubs',
    ));
  it('an update sets the fields the hub owns and keeps the rest', () => {
    const u = updatedPolicy(stored, secretPolicy({ name: 'reg', namespace: 'shop' }, ['member2']));
    assert.equal(u.metadata.resourceVersion, '7');
    assert.equal(u.metadata.labels?.['karmada.io/x'], 'y');
    assert.equal(u.spec.priority, 0);
    assert.deepEqual(u.spec.placement, {
      clusterAffinity: { clusterNames: ['member2'] },
      spreadConstraints: [],
    });
    assert.equal(u.spec.conflictResolution, 'Overwrite');
    assert.deepEqual(
      u.spec.resourceSelectors.map((x) => x.kind),
      ['Secret', 'Role', 'RoleBinding'],
    );
  });
  it('policyRef names a policy with its kind, and its namespace if it has one', () => {
    assert.equal(policyRef(want), `PropagationPolicy/shop/${want.metadata.name}`);
    assert.equal(
      policyRef({ ...want, kind: 'ClusterPropagationPolicy', metadata: { name: 'all' } }),
      'ClusterPropagationPolicy/all',
    );
  });
});
