import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isObjectName } from '@stateful-migration/api';
import {
  bindingChange,
  readerBindingCurrent,
  readerTaken,
  roleChange,
  secretPolicy,
  secretPolicyName,
  secretReaderBinding,
  secretReaderName,
  secretReaderRole,
} from './reader.js';

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

describe('roleChange and bindingChange: what the stored reader RBAC needs', () => {
  const secret = { name: 'reg', namespace: 'shop' };
  const role = secretReaderRole(secret);
  const binding = secretReaderBinding(secret);
  const users = { metadata: { labels: {} } };
  it('none stored: create', () => {
    assert.equal(roleChange(undefined, role), 'create');
    assert.equal(bindingChange(undefined, binding), 'create');
  });
  it('the hub\u2019s as wanted: keep', () => {
    assert.equal(roleChange(role, role), 'keep');
    assert.equal(bindingChange(binding, binding), 'keep');
  });
  it('the hub\u2019s, granting something else: the Role updated, the RoleBinding replaced (roleRef is immutable)', () => {
    assert.equal(roleChange({ ...role, rules: [] }, role), 'update');
    assert.equal(
      bindingChange({ ...binding, roleRef: { ...binding.roleRef, kind: 'ClusterRole' } }, binding),
      'replace',
    );
  });
  it('a user\u2019s of that name: left alone', () => {
    assert.equal(roleChange({ ...users, rules: [] }, role), 'keep');
    assert.equal(bindingChange({ ...users, roleRef: binding.roleRef, subjects: [] }, binding), 'keep');
  });
});

describe('readerTaken: a reader Role or RoleBinding name held by an object that is not the hub’s', () => {
  const secret = { name: 'creds', namespace: 'shop' };
  it("none, or the hub's own: nothing to refuse", () => {
    assert.equal(readerTaken('Role', undefined, secret), undefined);
    assert.equal(
      readerTaken(
        'Role',
        { metadata: { labels: { 'app.kubernetes.io/managed-by': 'stateful-migration-hub' } } },
        secret,
      ),
      undefined,
    );
  });
  it('one without the label: RegistrySecretReaderTaken, naming it and the secret', () => {
    assert.deepEqual(readerTaken('RoleBinding', { metadata: { labels: { team: 'shop' } } }, secret), {
      reason: 'RegistrySecretReaderTaken',
      message:
        "RoleBinding shop/checkpoint-backup-registry-secret-creds exists and is not the hub's (no label " +
        'app.kubernetes.io/managed-by=stateful-migration-hub): the hub would carry it to members as the reader of ' +
        'registry secret shop/creds; it carries neither, so this object is not placed: delete or rename it, or name ' +
        'another secret in spec.registry.secretRef',
    });
  });
});

describe('long names: the policy and reader names of two objects never collide (hash of the full name when cut)', () => {
  // Two secrets of one namespace whose names differ only near their end (a name may be 253 characters).
  const stem = 'a'.repeat(240);
  const one = { name: `${stem}-one`, namespace: 'shop' };
  const two = { name: `${stem}-two`, namespace: 'shop' };
  const keysOne = { ...one, kind: 'ConfigMap' as const, purpose: 'keys' as const };
  const keysTwo = { ...two, kind: 'ConfigMap' as const, purpose: 'keys' as const };
  for (const [what, name] of [
    ['policy', secretPolicyName],
    ['reader Role and RoleBinding', secretReaderName],
  ] as const) {
    it(`${what}: distinct, at most 253 characters, object names, the same on every call`, () => {
      const names = [name(one), name(two), name(keysOne), name(keysTwo)];
      assert.equal(new Set(names).size, 4, names.join('\n'));
      for (const n of names) assert.ok(isObjectName(n), n);
      assert.deepEqual([name(one), name(keysTwo)], [name({ ...one }), name({ ...keysTwo })]);
    });
  }
  it('a name cut just after a "." or "-" still makes an object name', () => {
    for (let at = 150; at < 252; at++)
      for (const sep of ['.', '-']) {
        const c = { name: `${'b'.repeat(at)}${sep}${'c'.repeat(252 - at)}`, namespace: 'shop' };
        for (const n of [secretPolicyName(c), secretReaderName(c)]) assert.ok(isObjectName(n), n);
      }
  });
  it('a name that fits is what it always was (no new names on upgrade)', () => {
    const fits = { name: 'b'.repeat(253 - 'checkpoint-backup-registry-secret-'.length), namespace: 'shop' };
    assert.equal(secretReaderName(fits), `checkpoint-backup-registry-secret-${fits.name}`);
    assert.equal(secretPolicyName(fits), `registry-secret-${fits.name}`);
    assert.equal(
      secretPolicyName({ name: 'keys', namespace: 'shop', kind: 'Secret', purpose: 'keys' }),
      'public-keys-secret-keys',
    );
  });
});
