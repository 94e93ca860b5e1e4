import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  backupPolicy,
  ownPolicyOf,
  samePolicy,
  secretNeeds,
  secretPolicy,
  secretReaderBinding,
  secretReaderRole,
  readerBindingCurrent,
  selectsBackup,
  type PropagationPolicy,
  type ResourceSelector,
} from './policies.js';
import { claimedBy } from './karmada.js';

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

describe('ownPolicyOf', () => {
  const b = { metadata: { name: 'db', namespace: 'shop' } };
  it('is the hub policy naming the object, in its namespace', () => {
    assert.ok(ownPolicyOf(backupPolicy('checkpointbackup-db', 'shop', 'db', ['member1']), b));
    assert.ok(!ownPolicyOf(backupPolicy('checkpointbackup-db', 'other', 'db', ['member1']), b));
    assert.ok(!ownPolicyOf(backupPolicy('checkpointbackup-web', 'shop', 'web', ['member1']), b));
    assert.ok(!ownPolicyOf(secretPolicy({ name: 'db', namespace: 'shop' }, ['member1']), b));
  });
});

describe('the reader RBAC that travels with a registry secret grants that one secret (issue 11)', () => {
  const secret = { name: 'reg', namespace: 'shop' };
  it('a Role that may get exactly that secret, by resourceNames, in its namespace', () => {
    const role = secretReaderRole(secret);
    assert.deepEqual(
      [role.kind, role.metadata.name, role.metadata.namespace],
      ['Role', 'checkpoint-backup-registry-secret-reg', 'shop'],
    );
    assert.deepEqual(role.rules, [
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['reg'] },
    ]);
    assert.equal(role.metadata.labels['app.kubernetes.io/managed-by'], 'stateful-migration-hub');
  });
  it("a RoleBinding of that Role (never a ClusterRole over every secret) to the agents' ServiceAccount", () => {
    const rb = secretReaderBinding(secret);
    assert.deepEqual(rb.roleRef, {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: 'checkpoint-backup-registry-secret-reg',
    });
    assert.deepEqual(rb.subjects, [
      { kind: 'ServiceAccount', name: 'checkpoint-backup-sa', namespace: 'stateful-migration' },
    ]);
  });
  it('the secret policy carries the secret, the Role and the RoleBinding', () =>
    assert.deepEqual(
      secretPolicy(secret, ['member1']).spec.resourceSelectors.map((x) => [x.kind, x.name]),
      [
        ['Secret', 'reg'],
        ['Role', 'checkpoint-backup-registry-secret-reg'],
        ['RoleBinding', 'checkpoint-backup-registry-secret-reg'],
      ],
    ));
  it('a RoleBinding an older hub made (roleRef the ClusterRole over every secret) is replaced', () => {
    const want = secretReaderBinding(secret);
    assert.ok(readerBindingCurrent(want, want));
    const old = {
      ...want,
      roleRef: { ...want.roleRef, kind: 'ClusterRole', name: 'checkpoint-backup-registry-secrets' },
    };
    assert.ok(!readerBindingCurrent(old, want));
  });
});
