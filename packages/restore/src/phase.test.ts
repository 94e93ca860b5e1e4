import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckpointRestoreStatus } from '@stateful-migration/api';
import { FAILING_REASONS, nextPhase, runningAndReady, type ObservedPod, type PodStatus } from './phase.js';

const submitted = '2026-11-27T08:00:00Z';
const at = (s: number) => new Date(Date.parse(submitted) + s * 1000);
const status = (phase: CheckpointRestoreStatus['phase'] = 'RestoreSubmitted'): CheckpointRestoreStatus => ({
  phase,
  submittedTime: submitted,
});
const running = (ready = true): PodStatus => ({
  phase: 'Running',
  conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
  containerStatuses: [{ name: 'app', ready, state: { running: {} } }],
});
const waiting = (reason: string, message = 'detail'): PodStatus => ({
  phase: 'Pending',
  containerStatuses: [
    { name: 'app', ready: false, state: { running: {} } },
    { name: 'side', ready: false, state: { waiting: { reason, message } } },
  ],
});
const next = (pod: ObservedPod | undefined, s = status(), now = at(10)) =>
  nextPhase({ status: s, pod, now, timeoutSeconds: 300 });

describe('nextPhase', () => {
  it('Running and Ready gives Restored, from Submitted or InProgress', () => {
    for (const p of ['RestoreSubmitted', 'RestoreInProgress'] as const)
      assert.equal(next({ applied: true, status: running() }, status(p))?.phase, 'Restored');
  });

  it('Running but not Ready is still in progress', () => {
    assert.deepEqual(next({ applied: true, status: running(false) }), {
      phase: 'RestoreInProgress',
      reason: 'PodStarting',
      message: 'the restored pod is Running',
    });
    assert.equal(next({ applied: true, status: running(false) }, status('RestoreInProgress')), undefined);
  });

  for (const reason of FAILING_REASONS)
    it(`a container waiting with ${reason} gives Failed with that reason`, () => {
      assert.deepEqual(next({ status: waiting(reason) }), {
        phase: 'Failed',
        reason,
        message: `container side: ${reason}: detail`,
      });
    });

  it('ContainerCreating is not a failure', () => {
    assert.equal(next({ status: waiting('ContainerCreating') })?.phase, 'RestoreInProgress');
  });

  it('a container that exited with an error, or a failed pod, gives Failed', () => {
    const exited: PodStatus = {
      phase: 'Running',
      containerStatuses: [{ name: 'app', state: { terminated: { exitCode: 137, reason: 'OOMKilled' } } }],
    };
    assert.deepEqual(next({ status: exited }), {
      phase: 'Failed',
      reason: 'OOMKilled',
      message: 'container app exited with code 137',
    });
    assert.deepEqual(next({ status: { phase: 'Failed', reason: 'Evicted', message: 'low memory' } }), {
      phase: 'Failed',
      reason: 'Evicted',
      message: 'the restored pod failed: low memory',
    });
  });

  it('not running within the timeout gives Failed Timeout, saying what was last seen', () => {
    const late = at(301);
    assert.equal(next(undefined, status(), late)?.reason, 'Timeout');
    assert.match(next(undefined, status(), late)!.message, /within 300s \(not yet in the target cluster\)/);
    assert.match(
      next({ applied: false, appliedMessage: 'namespace not found' }, status(), late)!.message,
      /not applied to the target cluster: namespace not found/,
    );
    const unschedulable: PodStatus = {
      phase: 'Pending',
      conditions: [{ type: 'PodScheduled', status: 'False', message: '0/1 nodes match' }],
    };
    assert.match(
      next({ status: unschedulable }, status('RestoreInProgress'), late)!.message,
      /Pending, unschedulable: 0\/1 nodes match/,
    );
    assert.equal(next(undefined, status(), at(299)), undefined);
  });

  it('nothing to say before the member reports, and nothing once finished', () => {
    assert.equal(next(undefined), undefined);
    assert.equal(next({ applied: true }), undefined);
    for (const p of ['Pending', 'Restored', 'SourceStopped', 'Failed'] as const)
      assert.equal(next({ status: waiting('ErrImagePull') }, status(p)), undefined);
  });
});

describe('runningAndReady', () => {
  it('needs phase Running and the Ready condition, or every container ready when conditions are not reflected', () => {
    assert.equal(runningAndReady(running()), true);
    assert.equal(runningAndReady(running(false)), false);
    assert.equal(
      runningAndReady({ phase: 'Running', containerStatuses: [{ ready: true }, { ready: true }] }),
      true,
    );
    assert.equal(
      runningAndReady({ phase: 'Running', containerStatuses: [{ ready: true }, { ready: false }] }),
      false,
    );
    assert.equal(runningAndReady({ phase: 'Running' }), false);
    assert.equal(runningAndReady({ phase: 'Pending', containerStatuses: [{ ready: true }] }), false);
    assert.equal(runningAndReady(undefined), false);
  });
});
