import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckpointRestore, CheckpointRestoreStatus } from '@stateful-migration/api';
import { backup, clusters, restore, source } from './fixtures.test-support.js';
import {
  alreadySays,
  changedStatus,
  changeEvent,
  failedStatus,
  restoreStep,
  submitMessage,
  submittedStatus,
} from './status.js';
import { validate } from './validate.js';

const now = new Date('2026-11-27T10:00:00Z');
const at = (status?: CheckpointRestoreStatus, over: Partial<CheckpointRestore> = {}): CheckpointRestore => ({
  ...restore(),
  ...(status ? { status } : {}),
  ...over,
});

describe('restoreStep: one step per phase', () => {
  const cases: [string, CheckpointRestore, ReturnType<typeof restoreStep>][] = [
    ['new', at(), 'start'],
    ['Pending', at({ phase: 'Pending' }), 'start'],
    ['RestoreSubmitted', at({ phase: 'RestoreSubmitted' }), 'follow'],
    ['RestoreInProgress', at({ phase: 'RestoreInProgress' }), 'follow'],
    ['Restored, Restore mode', at({ phase: 'Restored' }), 'done'],
    [
      'Restored, Migrate',
      { ...at({ phase: 'Restored' }), spec: { ...restore().spec, mode: 'Migrate' } },
      'migrate',
    ],
    [
      'SourceStopped',
      { ...at({ phase: 'SourceStopped' }), spec: { ...restore().spec, mode: 'Migrate' } },
      'done',
    ],
    ['Failed, same spec', at({ phase: 'Failed', observedGeneration: 1 }), 'done'],
    [
      'Failed, spec changed, nothing submitted: tried again',
      at({ phase: 'Failed', observedGeneration: 0 }),
      'start',
    ],
    [
      'Failed, spec changed, but submitted: it keeps what it submitted',
      at({ phase: 'Failed', observedGeneration: 0, submittedTime: 't' }),
      'done',
    ],
    [
      'deleted, whatever its phase',
      { ...at({ phase: 'RestoreInProgress' }), metadata: { ...restore().metadata, deletionTimestamp: 't' } },
      'cleanUp',
    ],
  ];
  for (const [name, r, want] of cases) it(`${name}: ${want}`, () => assert.equal(restoreStep(r), want));
});

describe('the status each step records', () => {
  const v = validate({ restore: restore(), backup: backup(), sources: [source()], clusters: clusters() });
  assert.equal(v.kind, 'ok');
  const p = (v as Extract<typeof v, { kind: 'ok' }>).plan;

  it('alreadySays: the same phase and message', () => {
    assert.ok(alreadySays({ phase: 'Failed', message: 'm' }, 'Failed', 'm'));
    assert.ok(!alreadySays({ phase: 'Failed', message: 'm' }, 'Failed', 'n'));
    assert.ok(!alreadySays({ phase: 'Pending', message: 'm' }, 'Failed', 'm'));
    assert.ok(!alreadySays(undefined, 'Pending', 'm'));
  });

  it('failedStatus: Failed with the reason, completed now, Restored False', () => {
    const s = failedStatus({ phase: 'RestoreInProgress' }, 'Timeout', 'too slow', 3, now);
    assert.deepEqual(
      [s.phase, s.reason, s.message, s.observedGeneration, s.completionTime],
      ['Failed', 'Timeout', 'too slow', 3, now.toISOString()],
    );
    assert.deepEqual(
      s.conditions?.map((c) => [c.type, c.status, c.reason]),
      [['Restored', 'False', 'Timeout']],
    );
  });

  it('submittedStatus: the intent, recorded before anything is created', () => {
    const s = submittedStatus({ phase: 'Pending' }, p, 1, now);
    assert.equal(s.phase, 'RestoreSubmitted');
    assert.equal(s.message, submitMessage(p));
    assert.equal(s.message, 'restoring shop/web-1 from member1 into member2 as shop/web-1-restored');
    assert.deepEqual(s.restoredPod, { cluster: 'member2', namespace: 'shop', name: 'web-1-restored' });
    assert.deepEqual(s.images, p.images);
    assert.equal(s.sourceCluster, 'member1');
    assert.equal(s.submittedTime, now.toISOString());
  });

  it('changedStatus: Restored completes a Restore, not a Migrate; the node is recorded', () => {
    const cur: CheckpointRestoreStatus = {
      phase: 'RestoreInProgress',
      restoredPod: { cluster: 'member2', namespace: 'shop', name: 'web-1-restored' },
    };
    const restored = { phase: 'Restored' as const, reason: 'Restored', message: 'running' };
    const r = changedStatus(cur, restored, { mode: 'Restore', generation: 1, now, node: 'm2-a' });
    assert.equal(r.restoredPod?.node, 'm2-a');
    assert.equal(r.restoredTime, now.toISOString());
    assert.equal(r.completionTime, now.toISOString());
    assert.deepEqual(
      r.conditions?.map((c) => [c.type, c.status]),
      [['Restored', 'True']],
    );
    const m = changedStatus(cur, restored, { mode: 'Migrate', generation: 1, now });
    assert.equal(m.completionTime, undefined);
    assert.equal(m.restoredPod?.node, undefined);
  });

  it('changedStatus: InProgress changes no condition; Failed completes', () => {
    const cur: CheckpointRestoreStatus = { phase: 'RestoreSubmitted' };
    const p1 = changedStatus(
      cur,
      { phase: 'RestoreInProgress', reason: 'PodStarting', message: 'm' },
      {
        mode: 'Restore',
        generation: 1,
        now,
      },
    );
    assert.equal(p1.conditions, undefined);
    assert.equal(p1.completionTime, undefined);
    const f = changedStatus(
      cur,
      { phase: 'Failed', reason: 'ErrImagePull', message: 'm' },
      {
        mode: 'Migrate',
        generation: 1,
        now,
      },
    );
    assert.equal(f.completionTime, now.toISOString());
    assert.deepEqual(
      f.conditions?.map((c) => [c.type, c.status, c.reason]),
      [['Restored', 'False', 'ErrImagePull']],
    );
  });

  it('changeEvent: a Warning with the failure\u2019s reason, else Normal with the phase', () => {
    assert.deepEqual(changeEvent({ phase: 'Failed', reason: 'ErrImagePull', message: 'm' }), {
      type: 'Warning',
      reason: 'ErrImagePull',
    });
    assert.deepEqual(changeEvent({ phase: 'Restored', reason: 'Restored', message: 'm' }), {
      type: 'Normal',
      reason: 'Restored',
    });
  });
});
