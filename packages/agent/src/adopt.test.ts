import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckpointBackup, CheckpointBackupStatus } from '@stateful-migration/api';
import { adoptable, othersClaims, type AdoptInput, type FoundArchive } from './adopt.js';

const archive = (over: Partial<FoundArchive> = {}): FoundArchive => ({
  filePath: '/ck/checkpoint-web-0_shop-app-2026-11-27T10:00:05+00:00.tar',
  namespace: 'shop',
  podName: 'web-0',
  containerName: 'app',
  podUid: 'uid-1',
  checkpointedTime: '2026-11-27T10:00:05.123456789Z',
  mtime: '2026-11-27T10:00:06Z',
  ...over,
});

const input = (over: Partial<AdoptInput> = {}): AdoptInput => ({
  found: [archive()],
  container: 'app',
  pod: { namespace: 'shop', name: 'web-0', uid: 'uid-1' },
  runStartedAt: '2026-11-27T10:00:00Z',
  now: new Date('2026-11-27T10:01:00Z'),
  claimed: new Set(),
  othersRunning: false,
  ...over,
});

describe('adoptable: after a crash, a run adopts only an archive that is its own', () => {
  it('adopts the one archive of its pod and container taken since the run started', () =>
    assert.equal(adoptable(input())?.filePath, archive().filePath));

  it('not another pod, namespace or container', () => {
    for (const over of [{ podName: 'web-1' }, { namespace: 'shop-b' }, { containerName: 'side' }])
      assert.equal(adoptable(input({ found: [archive(over)] })), undefined, JSON.stringify(over));
  });

  it('not an archive of an earlier incarnation of the pod (same name, another uid)', () =>
    assert.equal(adoptable(input({ found: [archive({ podUid: 'uid-0' })] })), undefined));

  it('an archive without a recorded pod uid is judged by the other rules', () =>
    assert.equal(adoptable(input({ found: [archive({ podUid: '' })] }))?.filePath, archive().filePath));

  it("by the runtime's checkpointedTime, not the file's mtime (a copy keeps or changes mtime at will)", () => {
    const old = archive({ checkpointedTime: '2026-11-27T09:59:59Z', mtime: '2026-11-27T10:00:30Z' });
    assert.equal(adoptable(input({ found: [old] })), undefined, 'taken before the run started');
    const noTime = archive({ checkpointedTime: '', mtime: '2026-11-27T09:59:00Z' });
    assert.equal(adoptable(input({ found: [noTime] })), undefined, 'no checkpointedTime: mtime decides');
    const future = archive({ checkpointedTime: '2026-11-27T10:05:00Z' });
    assert.equal(adoptable(input({ found: [future] })), undefined, 'not after now');
  });

  it("not an archive another object's status records", () =>
    assert.equal(adoptable(input({ claimed: new Set([archive().filePath]) })), undefined));

  it('none while another object checkpoints the same container on this node: whose it is cannot be told', () =>
    assert.equal(adoptable(input({ othersRunning: true })), undefined));

  it('none when two archives qualify: whose each is cannot be told, so a fresh checkpoint is taken', () => {
    const two = [archive(), archive({ filePath: '/ck/other.tar', checkpointedTime: '2026-11-27T10:00:07Z' })];
    assert.equal(adoptable(input({ found: two })), undefined);
  });

  it('the one own archive among others that do not qualify', () => {
    const found = [
      archive({ filePath: '/ck/old.tar', checkpointedTime: '2026-11-27T09:00:00Z' }),
      archive({ filePath: '/ck/side.tar', containerName: 'side' }),
      archive(),
    ];
    assert.equal(adoptable(input({ found }))?.filePath, archive().filePath);
  });
});

describe('othersClaims: what other objects claim of a container\u2019s archives on this node', () => {
  const obj = (uid: string, pod: string, status?: CheckpointBackupStatus) =>
    ({
      metadata: { name: uid, namespace: 'ns', uid },
      spec: {
        schedule: 'immediately',
        podRef: { name: pod },
        resourceRef: { apiVersion: 'v1', kind: 'Pod', name: pod },
      },
      ...(status ? { status } : {}),
    }) as CheckpointBackup;
  const running = (node: string, containers: string[]): CheckpointBackupStatus => ({
    phase: 'Checkpointing',
    run: { id: 'r', startedAt: 't', generation: 1, node, containers },
  });
  const me = obj('me', 'p', {
    checkpointFiles: [{ containerName: 'app', filePath: '/mine', checkpointTime: 't' }],
  });
  it('the archives other objects recorded, never its own', () => {
    const other = obj('o', 'q', {
      checkpointFiles: [{ containerName: 'app', filePath: '/theirs', checkpointTime: 't' }],
    });
    assert.deepEqual([...othersClaims(me, [me, other], 'app', 'n1').claimed], ['/theirs']);
  });
  it('another object running this container of this pod on this node', () => {
    assert.equal(
      othersClaims(me, [me, obj('o', 'p', running('n1', ['app']))], 'app', 'n1').othersRunning,
      true,
    );
    assert.equal(
      othersClaims(me, [me, obj('o', 'p', running('n2', ['app']))], 'app', 'n1').othersRunning,
      false,
    );
    assert.equal(
      othersClaims(me, [me, obj('o', 'p', running('n1', ['side']))], 'app', 'n1').othersRunning,
      false,
    );
    assert.equal(
      othersClaims(me, [me, obj('o', 'q', running('n1', ['app']))], 'app', 'n1').othersRunning,
      false,
    );
    assert.equal(
      othersClaims(me, [me, obj('o', 'p', { ...running('n1', ['app']), phase: 'Completed' })], 'app', 'n1')
        .othersRunning,
      false,
    );
  });
});
