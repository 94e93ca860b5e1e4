import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type {
  BuiltImage,
  CheckpointBackup,
  CheckpointBackupStatus,
  RunStatus,
} from '@stateful-migration/api';
import { CheckpointError } from './kubelet.js';
import {
  builtStatus,
  checkpointedStatus,
  finishedStatus,
  pushedStatus,
  pushingStatus,
  startedStatus,
  stepFailure,
  waiting,
} from './run-status.js';

const now = new Date('2026-11-27T10:00:30.123Z');
const run: RunStatus = {
  id: '20261127-100000-000',
  startedAt: '2026-11-27T10:00:00.000Z',
  generation: 2,
  node: 'n1',
  containers: ['app', 'side'],
  failures: 2,
};
const img = (name: string, over: Partial<BuiltImage> = {}): BuiltImage => ({
  containerName: 'app',
  imageName: name,
  buildTime: '2026-11-27T10:00:10Z',
  pushed: false,
  ...over,
});

describe('startedStatus: a new run', () => {
  const start = (s: CheckpointBackupStatus, generation = 2) =>
    startedStatus(s, { containers: ['app'], pod: 'ns/p', node: 'n1', generation, now });
  it('Checkpointing, with an id from its start, no archives, and the message naming pod and node', () => {
    const s = start({ checkpointFiles: [{ containerName: 'app', filePath: '/x', checkpointTime: 't' }] });
    assert.equal(s.phase, 'Checkpointing');
    assert.equal(s.message, 'checkpointing app of pod ns/p on n1');
    assert.deepEqual(s.run, {
      id: '20261127-100030-123',
      startedAt: now.toISOString(),
      generation: 2,
      node: 'n1',
      containers: ['app'],
      failures: 0,
    });
    assert.deepEqual(s.checkpointFiles, []);
    assert.equal(s.observedGeneration, 2);
  });
  it('carries the failed attempts of this generation over; a new generation starts from none', () => {
    assert.equal(start({ phase: 'Failed', run }).run?.failures, 2);
    assert.equal(start({ phase: 'Failed', run }, 3).run?.failures, 0);
    assert.equal(start({ phase: 'Completed', run }).run?.failures, 0);
  });
  it('records the tick it serves and the next one', () => {
    const s = startedStatus(
      {},
      {
        containers: ['app'],
        pod: 'ns/p',
        node: 'n1',
        generation: 1,
        now,
        tick: new Date(0),
        next: new Date(1000),
      },
    );
    assert.equal(s.run?.tick, '1970-01-01T00:00:00.000Z');
    assert.equal(s.nextScheduledTime, '1970-01-01T00:00:01.000Z');
  });
});

describe('the statuses of checkpoint, build, push and finish', () => {
  it('checkpointedStatus replaces the archives of the containers checkpointed, keeps the others', () => {
    const s = checkpointedStatus(
      {
        checkpointFiles: [
          { containerName: 'app', filePath: '/old', checkpointTime: 't0' },
          { containerName: 'side', filePath: '/side', checkpointTime: 't0' },
        ],
      },
      ['app'],
      [{ containerName: 'app', filePath: '/new', checkpointTime: 't1' }],
      undefined,
    );
    assert.deepEqual(
      s.checkpointFiles?.map((f) => f.filePath),
      ['/side', '/new'],
    );
    assert.equal(s.message, 'checkpointed side, app');
    assert.equal(s.checkpointedPod, undefined);
  });
  it('builtStatus appends the run\u2019s images once each', () => {
    const mine = img(`r/c:${run.id}`);
    const s = builtStatus(
      { builtImages: [img('r/c:old'), { ...mine, digest: 'sha256:stale' }] },
      [mine],
      run,
    );
    assert.deepEqual(
      s.builtImages?.map((i) => [i.imageName, i.digest]),
      [
        ['r/c:old', undefined],
        [`r/c:${run.id}`, undefined],
      ],
    );
    assert.equal(s.phase, 'ImageBuilt');
  });
  it('pushedStatus marks exactly these images pushed', () => {
    const s = pushedStatus({ builtImages: [img('a'), img('b')] }, [img('b')]);
    assert.deepEqual(
      s.builtImages?.map((i) => i.pushed),
      [false, true],
    );
    assert.equal(s.message, 'pushed b');
  });
  it('pushedStatus records an encrypted push: the digest the registry got and the recipients', () => {
    const s = pushedStatus(
      { builtImages: [img('a'), img('b')] },
      [img('b')],
      new Map([['b', { digest: 'sha256:1', encryptedFor: ['sha256:k1', 'sha256:k2'] }]]),
    );
    assert.deepEqual(
      s.builtImages?.map((i) => [i.imageName, i.pushed, i.digest, i.encryptedFor]),
      [
        ['a', false, undefined, undefined],
        ['b', true, 'sha256:1', ['sha256:k1', 'sha256:k2']],
      ],
    );
    assert.equal(s.message, 'pushed b encrypted for 2 key(s)');
  });
  it('pushingStatus says when the push is encrypted', () => {
    assert.equal(pushingStatus({}, [img('a')]).message, 'pushing a');
    assert.equal(pushingStatus({}, [img('a')], true).message, 'pushing a encrypted');
  });
  it('finishedStatus: no archives, the run\u2019s time as lastCheckpointTime, failures reset, Completed True', () => {
    const s = finishedStatus(
      { checkpointFiles: [{ containerName: 'app', filePath: '/x', checkpointTime: 't' }] },
      { run, phase: 'CompletedPodDeleted', message: 'm', generation: 2 },
    );
    assert.deepEqual(s.checkpointFiles, []);
    assert.equal(s.lastCheckpointTime, run.startedAt);
    assert.equal(s.run?.failures, 0);
    assert.deepEqual(
      s.conditions?.map((c) => [c.type, c.status, c.reason]),
      [['Completed', 'True', 'CompletedPodDeleted']],
    );
  });
});

describe('waiting: what a wait records, and when it comes back', () => {
  const b = (schedule: string, status?: CheckpointBackupStatus) =>
    ({
      metadata: { name: 'b', namespace: 'ns', generation: 2 },
      spec: { schedule },
      status,
    }) as CheckpointBackup;
  const next = new Date(now.getTime() + 60_000);
  it('a cron object records its next tick and the generation, then comes back at the tick', () =>
    assert.deepEqual(waiting(b('0 * * * *'), next, now), {
      record: { observedGeneration: 2, nextScheduledTime: next.toISOString() },
      requeueAfterMs: 60_000,
    }));
  it('nothing to record when status says so already', () =>
    assert.deepEqual(
      waiting(b('0 * * * *', { observedGeneration: 2, nextScheduledTime: next.toISOString() }), next, now),
      { requeueAfterMs: 60_000 },
    ));
  it('an "immediately" object records nothing; without a next time it does not come back', () => {
    assert.deepEqual(waiting(b('immediately'), undefined, now), {});
    assert.deepEqual(waiting(b('immediately'), next, now), { requeueAfterMs: 60_000 });
  });
  it('a time already past comes back at once', () =>
    assert.equal(waiting(b('immediately'), new Date(0), now).requeueAfterMs, 0));
});

describe('stepFailure: how a failed step ends the run', () => {
  it('a CheckpointError says its reason and whether a retry may succeed', () => {
    assert.deepEqual(stepFailure(new CheckpointError('PodNotRunning', 'not running', true)), {
      reason: 'PodNotRunning',
      message: 'not running',
      retry: true,
    });
    assert.equal(stepFailure(new CheckpointError('X', 'm', false)).retry, false);
  });
  it('anything else is retried, under the reason it carries or StepFailed', () => {
    assert.deepEqual(stepFailure(Object.assign(new Error('registry said no'), { reason: 'RegistryError' })), {
      reason: 'RegistryError',
      message: 'registry said no',
      retry: true,
    });
    assert.deepEqual(stepFailure(new Error('boom')), { reason: 'StepFailed', message: 'boom', retry: true });
    assert.deepEqual(stepFailure('text'), { reason: 'StepFailed', message: 'text', retry: true });
  });
});
