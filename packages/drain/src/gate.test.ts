import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  drainCheckpointName,
  evictionVerdict,
  STALE_MARGIN_SECONDS,
  type DrainCheckpoint,
  type EvictedPod,
} from './gate.js';

const pod = (over: Partial<EvictedPod> = {}): EvictedPod => ({
  namespace: 'shop',
  name: 'db-0',
  uid: 'aaaaaaaa-1111',
  phase: 'Running',
  nodeName: 'm1-a',
  deleting: false,
  ...over,
});
const optIn = { backup: 'db', timeoutSeconds: 120 };
const T0 = '2026-12-01T10:00:00Z';
const at = (s: number) => new Date(Date.parse(T0) + s * 1000);
const cp = (over: Partial<DrainCheckpoint> = {}): DrainCheckpoint => ({
  name: 'drain-db-0-aaaaaaaa',
  podUid: 'aaaaaaaa-1111',
  createdAt: T0,
  phase: 'Running',
  pushedImages: [],
  containers: ['db'],
  ...over,
});
const pushed = { pushedImages: [{ containerName: 'db', image: 'reg/cp@sha256:1' }] };

describe('evictionVerdict: what the eviction gate answers', () => {
  it('a pod no backup opts in: allowed, untouched', () => {
    assert.deepEqual(evictionVerdict(pod(), undefined, undefined, at(0)).kind, 'allow');
    assert.equal(evictionVerdict(pod(), undefined, cp(), at(0)).kind, 'allow');
  });

  it('a pod with no process (pending, finished, being deleted, unscheduled): allowed, nothing to save', () => {
    for (const p of [
      pod({ phase: 'Pending' }),
      pod({ phase: 'Succeeded' }),
      pod({ phase: 'Failed' }),
      pod({ phase: undefined }),
      pod({ deleting: true }),
      pod({ nodeName: undefined }),
    ]) {
      const v = evictionVerdict(p, optIn, undefined, at(0));
      assert.equal(v.kind, 'allow');
      assert.equal(v.kind === 'allow' && v.reason, 'NotRunning');
    }
  });

  it('first eviction of an opted-in running pod: start a checkpoint and answer 429', () => {
    const v = evictionVerdict(pod(), optIn, undefined, at(0));
    assert.equal(v.kind, 'start');
    assert.match(v.message, /taking a checkpoint before eviction \(CheckpointBackup db .*up to 120s/);
  });

  it('a checkpoint of an earlier pod of the same name is not this pod’s: start again', () => {
    assert.equal(evictionVerdict(pod(), optIn, cp({ podUid: 'other' }), at(0)).kind, 'start');
  });

  it('under way and in time: wait (429), saying how long so far', () => {
    for (const phase of [undefined, 'Pending', 'Running', 'Checkpointed']) {
      const v = evictionVerdict(pod(), optIn, cp({ phase }), at(30));
      assert.equal(v.kind, 'wait');
      assert.match(v.message, /waiting for checkpoint drain-db-0-aaaaaaaa to be pushed \(.*, 30s of 120s\)/);
    }
  });

  it('Completed with every container pushed: allowed, naming the images', () => {
    const v = evictionVerdict(pod(), optIn, cp({ phase: 'Completed', ...pushed }), at(150));
    assert.equal(v.kind, 'allow');
    assert.equal(v.kind === 'allow' && v.reason, 'CheckpointPushed');
    assert.match(v.message, /reg\/cp@sha256:1/);
  });

  it('Completed but older than timeoutSeconds + 60 s (an eviction refused later, the pod ran on): proceeds without, never on the old state', () => {
    const done = cp({ phase: 'Completed', ...pushed });
    assert.equal(evictionVerdict(pod(), optIn, done, at(120 + STALE_MARGIN_SECONDS - 1)).kind, 'allow');
    const v = evictionVerdict(pod(), optIn, done, at(120 + STALE_MARGIN_SECONDS));
    assert.equal(v.kind, 'proceedWithout');
    assert.equal(v.kind === 'proceedWithout' && v.reason, 'CheckpointStale');
    assert.match(v.message, /evicted without its state: checkpoint drain-db-0-aaaaaaaa was pushed 180s ago/);
    assert.equal(evictionVerdict(pod(), optIn, done, at(3600 * 5)).kind, 'proceedWithout');
  });

  it('Completed but a container not pushed: still waiting, then proceeds without at the timeout', () => {
    const partial = cp({ phase: 'Completed', containers: ['db', 'side'], ...pushed });
    assert.equal(evictionVerdict(pod(), optIn, partial, at(10)).kind, 'wait');
    assert.equal(evictionVerdict(pod(), optIn, partial, at(120)).kind, 'proceedWithout');
    assert.equal(
      evictionVerdict(pod(), optIn, cp({ phase: 'Completed', containers: [] }), at(10)).kind,
      'wait',
    );
  });

  it('Failed: proceeds without state at once, with the checkpoint’s message', () => {
    const v = evictionVerdict(pod(), optIn, cp({ phase: 'Failed', message: 'kubelet said 500' }), at(1));
    assert.deepEqual(v, {
      kind: 'proceedWithout',
      reason: 'CheckpointFailed',
      message:
        'pod shop/db-0 evicted without its state: checkpoint drain-db-0-aaaaaaaa failed: kubelet said 500',
    });
  });

  it('not pushed within the timeout: proceeds without state (the boundary included)', () => {
    assert.equal(evictionVerdict(pod(), optIn, cp(), at(119)).kind, 'wait');
    const v = evictionVerdict(pod(), optIn, cp(), at(120));
    assert.equal(v.kind, 'proceedWithout');
    assert.match(v.message, /not pushed within 120s \(Running\)/);
  });

  it('a clock behind the record counts as no time passed', () => {
    assert.match(evictionVerdict(pod(), optIn, cp(), at(-50)).message, /0s of 120s/);
  });
});

describe('drainCheckpointName', () => {
  it('is stable for one pod, differs for another pod of the same name, and fits a label value', () => {
    assert.equal(drainCheckpointName('db-0', 'aaaaaaaa-1111-2222'), 'drain-db-0-aaaaaaaa');
    assert.notEqual(drainCheckpointName('db-0', 'bbbbbbbb-1'), drainCheckpointName('db-0', 'aaaaaaaa-1'));
    const long = drainCheckpointName('x'.repeat(253), 'cccccccc-1');
    assert.equal(long.length, 63);
    assert.match(long, /^drain-x+-cccccccc$/);
  });
});
