import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { refusedStatus } from './refused.js';

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
