import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckpointBackup } from '@stateful-migration/api';
import { refusedStatus, secretOf } from './tenancy.js';

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

describe('refusedStatus: what the hub records for an object it refuses', () => {
  const now = new Date('2026-11-27T10:00:00Z');
  const r = { reason: 'CrossNamespaceReference', message: 'spec.podRef.namespace "other" is not ...' };
  it('Failed with the message, not placed anywhere, both conditions False with the reason', () => {
    const s = refusedStatus(
      {
        phase: 'Completed',
        placement: { clusters: ['member1'], by: 'workload' },
        clusters: [{ name: 'member1', phase: 'Completed', applied: true }],
        clustersReady: '1/1',
      },
      3,
      r,
      now,
    );
    assert.equal(s.phase, 'Failed');
    assert.equal(s.message, r.message);
    assert.equal(s.observedGeneration, 3);
    assert.equal(s.placement, undefined);
    assert.deepEqual(s.clusters, []);
    assert.equal(s.clustersReady, '0/0');
    assert.deepEqual(
      s.conditions?.map((c) => [c.type, c.status, c.reason, c.message]),
      [
        ['Propagated', 'False', r.reason, r.message],
        ['Completed', 'False', r.reason, r.message],
      ],
    );
  });
  it('the same refusal again changes nothing (no write, no Event)', () => {
    const once = refusedStatus({}, 3, r, now);
    assert.deepEqual(refusedStatus(once, 3, r, new Date('2026-11-27T11:00:00Z')), once);
  });
});
