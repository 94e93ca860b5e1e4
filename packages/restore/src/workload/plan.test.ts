import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type {
  CheckpointBackup,
  CheckpointRestore,
  ReplicaStatus,
  RestoredReplica,
  WorkloadMigration,
} from '@stateful-migration/api';
import {
  asReplicaStatus,
  freshWorkloadBackup,
  isObjectName,
  migrationActive,
  replicaProgress,
  rollbackStatus,
  workloadCheckpoint,
  workloadCheckpointProgress,
  workloadIntent,
  workloadRefRefusal,
  type WorkloadPod,
} from './plan.js';
import { dbMigration } from '../fixtures.test-support.js';
import { RESTORED_FROM_ANNOTATION, SOURCE_STOPPED_GATE } from './migration.js';

const restore = (spec: Partial<CheckpointRestore['spec']> = {}): CheckpointRestore => ({
  apiVersion: 'migration.dcnlab.com/v1',
  kind: 'CheckpointRestore',
  metadata: { name: 'move', namespace: 'shop', uid: 'r-uid', generation: 1 },
  spec: { backupRef: { name: 'db' }, targetCluster: 'member2', mode: 'Migrate', ...spec },
});
const backup = (spec: Partial<CheckpointBackup['spec']> = {}): CheckpointBackup => ({
  apiVersion: 'migration.dcnlab.com/v1',
  kind: 'CheckpointBackup',
  metadata: { name: 'db', namespace: 'shop' },
  spec: {
    schedule: 'immediately',
    resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' },
    registry: { url: 'reg', repository: 'shop/cp', secretRef: { name: 'push' } },
    ...spec,
  },
});
const clusters = [
  { name: 'member1', labels: {}, ready: true },
  { name: 'member2', labels: {}, ready: true },
];
const intent = (i: Partial<Parameters<typeof workloadIntent>[0]> = {}) =>
  workloadIntent({
    restore: restore(),
    backup: backup(),
    workload: { replicas: 2, clusters: ['member1'] },
    clusters,
    ...i,
  });
const refused = (
  v: { kind: string; reason?: string; message?: string },
  reason: string,
  message?: RegExp,
) => {
  assert.equal(v.kind, 'refuse', JSON.stringify(v));
  assert.equal(v.reason, reason);
  if (message) assert.match(v.message ?? '', message);
};

const migration: WorkloadMigration = dbMigration();

describe('workloadIntent: a workload migration is judged before anything is touched', () => {
  it('moves the one cluster Karmada runs the workload in to the target, with its replicas', () => {
    const v = intent();
    assert.equal(v.kind, 'ok');
    assert.deepEqual((v as { migration: WorkloadMigration }).migration, migration);
    const pinned = intent({ restore: restore({ targetNode: 'm2-a' }) }) as { migration: WorkloadMigration };
    assert.equal(pinned.migration.targetNode, 'm2-a');
  });

  it('refuses, naming why, what it cannot move', () => {
    refused(intent({ backup: undefined }), 'BackupNotFound');
    refused(intent({ restore: restore({ mode: 'Restore' }) }), 'WorkloadRestoreNotSupported', /mode Migrate/);
    refused(
      intent({ restore: restore({ images: [{ containerName: 'c', image: 'x' }], podName: 'p' }) }),
      'NotForWorkload',
      /spec\.images, spec\.podName are for a single pod/,
    );
    refused(
      intent({ backup: backup({ encryption: { publicKeysRef: { kind: 'ConfigMap', name: 'k' } } }) }),
      'EncryptedWorkloadNotSupported',
    );
    const noRegistry = backup();
    delete noRegistry.spec.registry;
    refused(intent({ backup: noRegistry }), 'RegistryRequired');
    refused(
      intent({ workload: undefined }),
      'WorkloadNotOnKarmada',
      /not a template on the Karmada control plane/,
    );
    refused(
      intent({ workload: { replicas: 2, clusters: ['member1', 'member2'] } }),
      'SourceClusterAmbiguous',
    );
    refused(intent({ workload: { replicas: 2, clusters: ['member2'] } }), 'AlreadyThere');
    refused(intent({ workload: { replicas: 0, clusters: ['member1'] } }), 'NoReplicas');
    refused(intent({ restore: restore({ targetCluster: 'member9' }) }), 'TargetClusterNotFound');
    refused(
      intent({ clusters: [clusters[0]!, { name: 'member2', labels: {}, ready: false, message: 'down' }] }),
      'TargetClusterNotReady',
    );
  });

  it('a workload Karmada has not placed yet is waited for', () => {
    assert.equal(intent({ workload: { replicas: 2, clusters: [] } }).kind, 'wait');
  });
});

describe('names from specs go into paths only when they are object names', () => {
  it('isObjectName, and a resourceRef that is a path is refused before anything is read', () => {
    for (const n of ['db', 'db-0', 'a.b-c', 'x'.repeat(253)]) assert.equal(isObjectName(n), true, n);
    for (const n of ['', '..', '../../other/statefulsets/db', 'Db', 'a/b', '-a', 'x'.repeat(254), 'a%2f..'])
      assert.equal(isObjectName(n), false, n);
    const b = backup({
      resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: '../../other/statefulsets/db' },
    });
    refused(
      workloadRefRefusal(restore(), b) ?? { kind: 'ok' },
      'InvalidReferenceName',
      /spec\.resourceRef\.name "\.\.\/\.\.\/other\/statefulsets\/db" is not/,
    );
    assert.equal(workloadRefRefusal(restore(), backup()), undefined);
  });
});

describe("the migration's fresh checkpoint", () => {
  const c = workloadCheckpoint(restore(), migration, new Date('2026-12-01T10:00:00Z'));

  it('is a workload-level backup with stopPod, once, in the source only, owned by the restore', () => {
    assert.deepEqual(c, {
      backup: 'move-migrate',
      cluster: 'member1',
      pod: 'StatefulSet/db',
      targetCluster: 'member2',
      requestedTime: '2026-12-01T10:00:00.000Z',
    });
    const b = freshWorkloadBackup(restore(), backup({ containers: [{ name: 'counter' }] }), c, { l: 'v' });
    assert.equal(b.metadata.name, 'move-migrate');
    assert.deepEqual(b.metadata.labels, { l: 'v' });
    assert.equal(b.spec.podRef, undefined);
    assert.equal(b.spec.stopPod, true);
    assert.equal(b.spec.schedule, 'immediately');
    assert.deepEqual(b.spec.containers, [{ name: 'counter' }]);
    assert.deepEqual(b.spec.placement, { clusterAffinity: { clusterNames: ['member1'] } });
    assert.equal(b.metadata.ownerReferences?.[0]?.uid, 'r-uid');
  });

  const replica = (pod: string, phase: ReplicaStatus['phase'], ordinal?: number): ReplicaStatus => ({
    pod,
    backup: `move-migrate-${pod}`,
    phase,
    present: false,
    ...(ordinal !== undefined ? { ordinal } : {}),
    lastCheckpointTime: `2026-12-01T10:00:0${ordinal ?? 0}Z`,
    images: [
      {
        containerName: 'counter',
        imageName: `reg/shop/cp/x:${pod}`,
        digest: `sha256:${pod}`,
        buildTime: 't',
        pushed: true,
      },
    ],
    checkpointedPod: {
      name: pod,
      namespace: 'shop',
      containers: [{ name: 'counter', image: 'counter:1' }],
    } as never,
  });
  const progress = (
    replicas: ReplicaStatus[] | undefined,
    over: Partial<CheckpointBackup['metadata']> = {},
  ) =>
    workloadCheckpointProgress({
      migration,
      checkpoint: c,
      restoreUid: 'r-uid',
      backup: {
        ...backup(),
        metadata: {
          name: 'move-migrate',
          namespace: 'shop',
          ownerReferences: [{ uid: 'r-uid' }],
          ...over,
        } as never,
      },
      replicas,
    });

  it('not there: create it; another owner: NameTaken, nothing touched', () => {
    assert.deepEqual(
      workloadCheckpointProgress({
        migration,
        checkpoint: c,
        restoreUid: 'r-uid',
        backup: undefined,
        replicas: [],
      }),
      { kind: 'create' },
    );
    refused(progress([], { ownerReferences: [{ uid: 'other' }] } as never), 'NameTaken');
  });

  it('waits until every replica is checkpointed and stopped, then gives each its images by digest', () => {
    const one = progress([replica('db-0', 'CompletedPodDeleted', 0), replica('db-1', 'ImagePushing', 1)]);
    assert.deepEqual(one, {
      kind: 'wait',
      message:
        'checkpointing StatefulSet db in member1: 1/2 replicas checkpointed and stopped (CheckpointBackup move-migrate)',
    });
    const both = progress([
      replica('db-1', 'CompletedPodDeleted', 1),
      replica('db-0', 'CompletedPodDeleted', 0),
    ]);
    assert.equal(both.kind, 'taken');
    const rs = (both as { replicas: RestoredReplica[] }).replicas;
    assert.deepEqual(
      rs.map((r) => [r.name, r.ordinal, r.images[0]!.image, r.phase]),
      [
        ['db-0', 0, 'reg/shop/cp/x@sha256:db-0', 'Pending'],
        ['db-1', 1, 'reg/shop/cp/x@sha256:db-1', 'Pending'],
      ],
    );
    const unpushed = replica('db-1', 'CompletedPodDeleted', 1);
    unpushed.images![0]!.pushed = false;
    assert.equal(progress([replica('db-0', 'CompletedPodDeleted', 0), unpushed]).kind, 'wait');
  });

  it('a replica that failed, or was not stopped, ends the migration before anything is placed, by name', () => {
    refused(
      progress([
        replica('db-0', 'CompletedPodDeleted', 0),
        { ...replica('db-1', 'Failed', 1), message: 'kubelet said no' },
      ]),
      'CheckpointFailed',
      /replica db-1 of StatefulSet db in member1 failed: kubelet said no; nothing was placed in member2/,
    );
    refused(progress([replica('db-0', 'CompletedWithError', 0)]), 'SourceNotStopped', /replica db-0/);
  });

  it('the webhook reads the recorded checkpoints back as replica records', () => {
    const r = asReplicaStatus({
      name: 'db-1',
      ordinal: 1,
      images: [{ containerName: 'c', image: 'reg/a/b@sha256:x' }],
      phase: 'Pending',
    });
    assert.equal(r.pod, 'db-1');
    assert.equal(r.ordinal, 1);
    assert.deepEqual(r.images, [
      { containerName: 'c', imageName: 'reg/a/b', digest: 'sha256:x', buildTime: '', pushed: true },
    ]);
  });
});

describe('replicaProgress: each replica by the pod that carries its checkpoint', () => {
  const replicas: RestoredReplica[] = [
    { name: 'web-a', images: [{ containerName: 'c', image: 'r@sha256:a' }], phase: 'Pending' },
    { name: 'web-b', images: [{ containerName: 'c', image: 'r@sha256:b' }], phase: 'Pending' },
  ];
  const pod = (name: string, from: string, status: WorkloadPod['status'], gates = false): WorkloadPod => ({
    metadata: { name, annotations: { [RESTORED_FROM_ANNOTATION]: from } },
    spec: {
      nodeName: gates ? undefined : 'm2-a',
      ...(gates ? { schedulingGates: [{ name: SOURCE_STOPPED_GATE }] } : {}),
    },
    status,
  });
  const ready = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };
  const at = (pods: WorkloadPod[], now = '2026-12-01T10:01:00Z') =>
    replicaProgress({
      replicas,
      pods,
      since: '2026-12-01T10:00:00Z',
      now: new Date(now),
      timeoutSeconds: 300,
    });

  it('Running once Ready, Restoring while gated or starting, Pending with no pod', () => {
    const p = at([pod('web-x1', 'web-a', ready), pod('web-x2', 'web-b', {}, true)]);
    assert.deepEqual(
      p.replicas.map((r) => [r.name, r.phase, r.pod, r.node]),
      [
        ['web-a', 'Running', 'web-x1', 'm2-a'],
        ['web-b', 'Restoring', 'web-x2', undefined],
      ],
    );
    assert.match(p.replicas[1]!.message!, /waits for the source to run no pod/);
    assert.equal(p.allRunning, false);
    assert.equal(at([]).replicas[0]!.phase, 'Pending');
    assert.equal(at([pod('web-x1', 'web-a', ready), pod('web-x2', 'web-b', ready)]).allRunning, true);
  });

  it("a failed pod fails its replica with the kubelet's reason; none within the timeout fails it too", () => {
    const waiting = {
      phase: 'Pending',
      containerStatuses: [
        { name: 'c', state: { waiting: { reason: 'CreateContainerError', message: 'criu' } } },
      ],
    };
    const p = at([pod('web-x1', 'web-a', ready), pod('web-x2', 'web-b', waiting)]);
    assert.equal(p.failed?.name, 'web-b');
    assert.equal(p.failed?.reason, 'CreateContainerError');
    const late = at([pod('web-x1', 'web-a', ready)], '2026-12-01T10:06:00Z');
    assert.equal(late.failed?.name, 'web-b');
    assert.equal(late.failed?.reason, 'Timeout');
  });

  it('a pod being deleted runs nothing any more', () => {
    const gone = pod('web-x1', 'web-a', ready);
    gone.metadata.deletionTimestamp = 'now';
    assert.equal(at([gone]).replicas[0]!.phase, 'Pending');
  });
});

describe('the webhook acts while the migration runs; a rollback swaps its direction', () => {
  it('migrationActive', () => {
    const r = (phase: string, extra: Partial<CheckpointRestore['metadata']> = {}) => ({
      metadata: { name: 'm', namespace: 'shop', ...extra },
      status: { phase: phase as never, workload: migration },
    });
    for (const p of ['Checkpointing', 'RestoreSubmitted', 'RestoreInProgress'])
      assert.equal(migrationActive(r(p)), true);
    for (const p of ['SourceStopped', 'Failed', 'RolledBack']) assert.equal(migrationActive(r(p)), false);
    assert.equal(migrationActive(r('RestoreInProgress', { deletionTimestamp: 'now' })), false);
    assert.equal(
      migrationActive({ metadata: { name: 'm', namespace: 'shop' }, status: { phase: 'RestoreInProgress' } }),
      false,
    );
  });

  it('rollbackStatus', () => {
    const s = rollbackStatus(
      { ...migration, placedTime: 't0', fromStoppedTime: 't1' },
      [{ name: 'db-0', ordinal: 0, images: [], phase: 'Running', pod: 'db-0', node: 'm2-a' }],
      new Date('2026-12-01T11:00:00Z'),
    );
    assert.equal(s.workload.into, 'member1');
    assert.equal(s.workload.from, 'member2');
    assert.equal(s.workload.fromStoppedTime, undefined);
    assert.equal(s.workload.rollbackTime, '2026-12-01T11:00:00.000Z');
    assert.deepEqual(s.replicas, [{ name: 'db-0', ordinal: 0, images: [], phase: 'Pending' }]);
  });
});
