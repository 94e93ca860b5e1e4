import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckpointRestore, RestorePhase, WorkloadMigration } from '@stateful-migration/api';
import { dbMigration } from '../fixtures.test-support.js';
import type { ClusterView } from '../validate.js';
import {
  deletionWait,
  lostClusters,
  lostVerdict,
  releasePlan,
  targetStays,
  underWay,
  type LostCluster,
} from './lost.js';

const view = (name: string, ready: boolean, since?: string): ClusterView => ({
  name,
  labels: {},
  ready,
  ...(ready ? {} : { message: 'ClusterNotReachable: cluster is not reachable' }),
  ...(since ? { since } : {}),
});
const lost = (cluster: string, since = '2026-12-01T10:00:00Z'): LostCluster => ({
  cluster,
  message: 'Karmada reports it not Ready (x)',
  since,
});
const withStatus = (phase: RestorePhase, m: WorkloadMigration = dbMigration()) => ({
  status: { phase, workload: m },
});
const CONFIG = 'stateful-migration.shop.move';

describe('lostClusters: which of a migration’s members Karmada reports lost', () => {
  it('names source and target that are not Ready or no longer clusters, with why and since when', () => {
    assert.deepEqual(lostClusters(dbMigration(), [view('member1', true), view('member2', true)]), []);
    assert.deepEqual(lostClusters(dbMigration(), [view('member1', true), view('member2', false, 't0')]), [
      {
        cluster: 'member2',
        message: 'Karmada reports it not Ready (ClusterNotReachable: cluster is not reachable)',
        since: 't0',
      },
    ]);
    assert.deepEqual(lostClusters(dbMigration(), [view('member2', true), view('member3', false)]), [
      { cluster: 'member1', message: 'it is no longer a Karmada cluster', gone: true },
    ]);
  });
});

describe('lostVerdict: a running migration with a lost member waits, then fails', () => {
  const at = (s: string) => new Date(s);
  it('nothing to say when none is lost', () => {
    assert.equal(
      lostVerdict({
        restore: withStatus('RestoreInProgress'),
        lost: [],
        now: at('2026-12-01T10:00:00Z'),
        timeoutSeconds: 60,
      }),
      undefined,
    );
  });
  it('waits within the timeout, saying which and why', () => {
    const v = lostVerdict({
      restore: withStatus('Checkpointing'),
      lost: [lost('member2')],
      now: at('2026-12-01T10:01:00Z'),
      timeoutSeconds: 60,
    });
    assert.equal(v?.kind, 'wait');
    assert.match(
      v!.message,
      /^waiting for member2 \(member2: Karmada reports it not Ready \(x\)\); .* fails after 60s/,
    );
  });
  it('fails ClusterLost past the timeout, and at once for a cluster that is gone', () => {
    const late = lostVerdict({
      restore: withStatus('RestoreInProgress'),
      lost: [lost('member2')],
      now: at('2026-12-01T10:01:01Z'),
      timeoutSeconds: 60,
    });
    assert.equal(late?.kind, 'fail');
    assert.equal(late?.kind === 'fail' && late.reason, 'ClusterLost');
    assert.match(late!.message, /member2 has been unreachable for more than 60s .*status\.cleanupSkipped/);
    const gone = lostVerdict({
      restore: withStatus('RestoreInProgress'),
      lost: [{ cluster: 'member1', message: 'it is no longer a Karmada cluster', gone: true }],
      now: at('2026-12-01T10:00:00Z'),
      timeoutSeconds: 60,
    });
    assert.equal(gone?.kind, 'fail');
  });
});

describe('releasePlan: letting go of the members when some are lost', () => {
  it('everything, everywhere, when both answer', () => {
    assert.deepEqual(releasePlan({ migration: dbMigration(), lost: [], webhookConfig: CONFIG }), {
      actions: [
        { cluster: 'member1', deleteWebhook: true, ungate: true },
        { cluster: 'member2', deleteWebhook: true, ungate: true },
      ],
      skipped: [],
    });
  });
  it('nothing asked of a lost target; the source is let go when the workload was never placed there', () => {
    const p = releasePlan({ migration: dbMigration(), lost: [lost('member2')], webhookConfig: CONFIG });
    assert.deepEqual(p.actions, [
      { cluster: 'member1', deleteWebhook: true, ungate: true },
      { cluster: 'member2', deleteWebhook: false, ungate: false },
    ]);
    assert.deepEqual(
      p.skipped.map((s) => [s.cluster, s.reason]),
      [['member2', 'ClusterLost']],
    );
    assert.match(
      p.skipped[0]!.message,
      /stateful-migration\.shop\.move .*removes the configuration once it is Ready again/,
    );
  });
  it("the source's held pods stay gated while a lost target may run the workload (placed there)", () => {
    const placed = dbMigration({ placedTime: '2026-12-01T10:00:00Z' });
    const p = releasePlan({ migration: placed, lost: [lost('member2')], webhookConfig: CONFIG });
    assert.deepEqual(p.actions[0], { cluster: 'member1', deleteWebhook: true, ungate: false });
    assert.deepEqual(
      p.skipped.map((s) => [s.cluster, s.reason]),
      [
        ['member1', 'GatesKept'],
        ['member2', 'ClusterLost'],
      ],
    );
    assert.match(
      p.skipped[0]!.message,
      /keep their scheduling gate migration\.dcnlab\.com\/source-stopped: member2 may still run/,
    );
  });
  it("the target's pods stay gated while the lost source may run the workload", () => {
    const p = releasePlan({ migration: dbMigration(), lost: [lost('member1')], webhookConfig: CONFIG });
    assert.deepEqual(p.actions, [
      { cluster: 'member1', deleteWebhook: false, ungate: false },
      { cluster: 'member2', deleteWebhook: true, ungate: false },
    ]);
  });
  it('both lost: nothing is asked of either, both recorded', () => {
    const p = releasePlan({
      migration: dbMigration(),
      lost: [lost('member1'), lost('member2')],
      webhookConfig: CONFIG,
    });
    assert.ok(p.actions.every((a) => !a.deleteWebhook && !a.ungate));
    assert.deepEqual(
      p.skipped.map((s) => s.reason),
      ['ClusterLost', 'ClusterLost'],
    );
  });
});

describe('deletionWait: a restore deleted mid-migration lets go of the source only once the target is empty', () => {
  const placed = dbMigration({ placedTime: '2026-12-01T10:00:00Z', fromStoppedTime: '2026-12-01T10:00:05Z' });
  it('waits while the target has any pod of the workload, naming them', () => {
    const msg = deletionWait({
      restore: withStatus('RestoreInProgress', placed),
      lost: [],
      targetPods: ['db-0', 'db-1'],
    });
    assert.match(
      msg ?? '',
      /^deleting: waiting for member2 to delete the pods of StatefulSet db \(db-0, db-1\)/,
    );
    const rollingBack = { ...placed, into: 'member1', from: 'member2', rollbackTime: 't' };
    assert.ok(
      deletionWait({ restore: withStatus('RestoreInProgress', rollingBack), lost: [], targetPods: ['db-0'] }),
    );
  });
  it('goes on once the target is empty, or when there is nothing to wait for', () => {
    assert.equal(
      deletionWait({ restore: withStatus('RestoreInProgress', placed), lost: [], targetPods: [] }),
      undefined,
    );
    for (const p of ['SourceStopped', 'RolledBack'] as const)
      assert.equal(
        deletionWait({ restore: withStatus(p, placed), lost: [], targetPods: ['db-0'] }),
        undefined,
        p,
      );
    assert.equal(
      deletionWait({ restore: withStatus('Checkpointing'), lost: [], targetPods: ['db-0'] }),
      undefined,
      'never placed in the target',
    );
    assert.equal(
      deletionWait({
        restore: withStatus('RestoreInProgress', placed),
        lost: [lost('member2')],
        targetPods: undefined,
      }),
      undefined,
      'a lost target: the gates stay (releasePlan)',
    );
  });
  it('waits the same for a Failed migration placed in the target: its policy still places it there', () => {
    // Failed ClusterLost kept the source's held pods gated (GatesKept); deleted once the target is back, letting
    // them go at once would run the workload in both clusters until Karmada removed it from the target.
    assert.match(
      deletionWait({ restore: withStatus('Failed', placed), lost: [], targetPods: ['db-0'] }) ?? '',
      /^deleting: waiting for member2 to delete the pods of StatefulSet db \(db-0\)/,
    );
    assert.equal(
      deletionWait({ restore: withStatus('Failed'), lost: [], targetPods: ['db-0'] }),
      undefined,
      'a failure before the placement: the target never had it',
    );
  });
  it('underWay ignores the deletion: a migration deleted mid-way was under way', () => {
    const r: Pick<CheckpointRestore, 'status'> = withStatus('RestoreInProgress', placed);
    assert.equal(underWay(r), true);
    assert.equal(underWay(withStatus('SourceStopped', placed)), false);
  });
});

describe('deletionWait and targetStays: the binding, not the pods alone, says whether the target is let go', () => {
  const placed = dbMigration({ placedTime: '2026-12-01T10:00:00Z' });
  const r = withStatus('RestoreInProgress', placed);
  const binding = (clusters: string[], claim?: string, scheduled = true) => ({
    clusters,
    ...(claim ? { claimedBy: claim } : {}),
    scheduled,
  });
  it('waits while the binding still names the target, even with no pod there yet', () => {
    assert.match(
      deletionWait({ restore: r, lost: [], targetPods: [], binding: binding(['member2'], placed.policy) }) ??
        '',
      /^deleting: waiting for Karmada to take StatefulSet db out of member2/,
    );
    assert.equal(
      deletionWait({ restore: r, lost: [], targetPods: [], binding: binding(['member1'], 'users') }),
      undefined,
    );
  });
  it('the target stays placed only when another policy claims the binding, scheduled, still naming the target', () => {
    assert.match(
      targetStays({ restore: r, binding: binding(['member2'], 'users') }) ?? '',
      /PropagationPolicy users still places StatefulSet db in member2/,
    );
    assert.match(
      targetStays({ restore: r, binding: binding(['member1', 'member2'], 'ClusterPropagationPolicy all') }) ??
        '',
      /still places/,
    );
    for (const [b, why] of [
      [binding(['member2'], placed.policy), "the migration's own claim: Karmada has not re-matched yet"],
      [binding(['member2']), 'no claim: Karmada is between policies'],
      [binding(['member2'], 'users', false), 'not yet scheduled under the new claim'],
      [binding(['member1'], 'users'), 'back in the source'],
      [undefined, 'no binding'],
    ] as const)
      assert.equal(targetStays({ restore: r, binding: b }), undefined, why);
    assert.equal(
      targetStays({ restore: withStatus('SourceStopped', placed), binding: binding(['member2'], 'users') }),
      undefined,
      'finished: nothing held',
    );
  });
});
