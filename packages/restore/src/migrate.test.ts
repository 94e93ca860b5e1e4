import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckpointRestoreStatus, SourceStop } from '@stateful-migration/api';
import { migrateStep, type MigrateInput } from './migrate.js';

const scale = {
  method: 'Scale' as const,
  workload: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
};
const src = { cluster: 'member1', namespace: 'shop', pod: 'web-1' };
const recorded: SourceStop = { ...src, method: 'Scale', workload: { ...scale.workload, replicas: 1 } };
const step = (status: CheckpointRestoreStatus, restoredReady = true, over: Partial<MigrateInput> = {}) =>
  migrateStep({
    status: { phase: 'Restored', ...status },
    stop: scale,
    restoredReady,
    source: src,
    currentReplicas: 1,
    workloadClusters: ['member1'],
    ...over,
  });

describe('migrateStep', () => {
  it('goes record -> stop -> hand over -> finish, one step per observed state', () => {
    assert.deepEqual(step({}), { kind: 'recordStop', stop: recorded });
    assert.deepEqual(step({ sourceStop: recorded }), { kind: 'stopSource' });
    assert.deepEqual(step({ sourceStop: { ...recorded, stoppedTime: 't' } }), { kind: 'handOverLabels' });
    assert.deepEqual(step({ sourceStop: { ...recorded, stoppedTime: 't', labelsHandedOverTime: 't' } }), {
      kind: 'finish',
    });
  });

  it('records the replicas to scale back to, never fewer than one', () => {
    const s = step({}, true, { currentReplicas: 0 });
    assert.equal(s.kind === 'recordStop' && s.stop.workload?.replicas, 1);
    const d = step({}, true, { stop: { method: 'DeletePod' } });
    assert.deepEqual(d, { kind: 'recordStop', stop: { ...src, method: 'DeletePod' } });
  });

  it("records the checkpointed pod's uid, which DeletePod deletes with as a precondition", () => {
    const d = step({}, true, { stop: { method: 'DeletePod' }, source: { ...src, podUid: 'u1' } });
    assert.deepEqual(d, { kind: 'recordStop', stop: { ...src, podUid: 'u1', method: 'DeletePod' } });
  });

  it('refuses to scale a workload with more replicas than the pod: scaling it to 0 would stop them all', () => {
    const s = step({}, true, { currentReplicas: 3 });
    assert.equal(s.kind, 'refuse');
    assert.equal((s as { reason: string }).reason, 'MigrateWouldStopOtherPods');
    assert.match(
      (s as { message: string }).message,
      /Deployment shop\/web to 0 would stop all 3 of its replicas/,
    );
    assert.match((s as { message: string }).message, /mode Restore/);
  });

  it('refuses a workload or pod that Karmada runs in more than one cluster', () => {
    const s = step({}, true, { workloadClusters: ['member1', 'member2'] });
    assert.equal(s.kind, 'refuse');
    assert.match((s as { message: string }).message, /member1, member2/);
    const d = step({}, true, { stop: { method: 'DeletePod' }, workloadClusters: ['member1', 'member2'] });
    assert.equal(d.kind, 'refuse');
    assert.match((d as { message: string }).message, /pod shop\/web-1/);
  });

  it('does not refuse once the stop is recorded (the workload is then at 0, or being scaled)', () => {
    assert.deepEqual(step({ sourceStop: recorded }, true, { currentReplicas: 3 }), { kind: 'stopSource' });
  });

  it('never stops the source while the restored pod is not Ready (never both stopped)', () => {
    for (const st of [{}, { sourceStop: recorded }]) assert.equal(step(st, false).kind, 'wait');
  });

  it('a scaled source is scaled back if the restored pod is lost before it took over (never neither running)', () => {
    const s = step({ sourceStop: { ...recorded, stoppedTime: 't' } }, false);
    assert.equal(s.kind, 'restartSource');
    assert.match((s as { message: string }).message, /Deployment web scaled back to 1/);
  });

  it('a deleted pod cannot come back: wait for the restored pod to recover; after hand-over, nothing is undone', () => {
    const deleted: SourceStop = { ...src, method: 'DeletePod', stoppedTime: 't' };
    assert.equal(step({ sourceStop: deleted }, false, { stop: { method: 'DeletePod' } }).kind, 'wait');
    const done = { ...recorded, stoppedTime: 't', labelsHandedOverTime: 't' };
    assert.equal(step({ sourceStop: done }, false).kind, 'wait');
  });
});
