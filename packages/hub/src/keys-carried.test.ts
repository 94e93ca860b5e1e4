import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckpointBackup } from '@stateful-migration/api';
import { carriedKey, keysOf, parseCarriedKey } from './secrets/needs.js';
import { readerTaken, secretPolicy, secretReaderRole } from './secrets/reader.js';

// Issue 14: the public keys object of spec.encryption travels with the backup, as its registry secret does: to
// exactly the clusters the backup is placed in, with a Role that may get that one object (the I/O: hub.test.ts).

const READER = 'checkpoint-backup-public-keys-configmap-team-keys';

const backup = (name: string, keys: string | undefined, pod = 'web-0'): CheckpointBackup => ({
  apiVersion: 'migration.dcnlab.com/v1',
  kind: 'CheckpointBackup',
  metadata: { name, namespace: 'shop', generation: 1 },
  spec: {
    schedule: 'immediately',
    podRef: { name: pod },
    resourceRef: { apiVersion: 'v1', kind: 'Pod', name: pod },
    registry: { url: 'reg.example:5000', repository: 'cp', secretRef: { name: 'creds' } },
    ...(keys ? { encryption: { publicKeysRef: { kind: 'ConfigMap' as const, name: keys } } } : {}),
  },
});

describe('keysOf and the carried keys (pure)', () => {
  it("the object's own namespace, only with spec.encryption and a registry", () => {
    assert.deepEqual(keysOf(backup('a', 'team-keys')), {
      purpose: 'keys',
      kind: 'ConfigMap',
      name: 'team-keys',
      namespace: 'shop',
    });
    assert.equal(keysOf(backup('a', undefined)), undefined);
    const elsewhere = backup('a', 'team-keys');
    elsewhere.spec.podRef.namespace = 'other';
    assert.equal(keysOf(elsewhere), undefined, 'an object naming another namespace carries nothing');
  });
  it('queue keys round-trip, and a registry secret keeps its <ns>/<name> key', () => {
    const k = keysOf(backup('a', 'team-keys'))!;
    assert.equal(carriedKey(k), 'keys:ConfigMap:shop/team-keys');
    assert.deepEqual(parseCarriedKey(carriedKey(k)), k);
    assert.deepEqual(parseCarriedKey('shop/creds'), { namespace: 'shop', name: 'creds' });
  });
  it('a Role that may get that one ConfigMap, a policy carrying it with its reader, a refusal naming the field', () => {
    const k = keysOf(backup('a', 'team-keys'))!;
    assert.deepEqual(secretReaderRole(k).rules, [
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get'], resourceNames: ['team-keys'] },
    ]);
    assert.deepEqual(
      secretPolicy(k, ['member1']).spec.resourceSelectors.map((s) => [s.kind, s.name]),
      [
        ['ConfigMap', 'team-keys'],
        ['Role', READER],
        ['RoleBinding', READER],
      ],
    );
    const taken = readerTaken('Role', { metadata: {} }, k)!;
    assert.equal(taken.reason, 'PublicKeysReaderTaken');
    assert.match(
      taken.message,
      /reader of public keys ConfigMap shop\/team-keys.*spec\.encryption\.publicKeysRef/,
    );
  });
});
