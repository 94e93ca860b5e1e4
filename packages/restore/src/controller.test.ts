import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  DECRYPTION_KEYS_ANNOTATION,
  RESTORE_PINNED_IMAGES_ANNOTATION,
  type CheckpointBackup,
  type CheckpointRestore,
} from '@stateful-migration/api';
import { HttpError } from '@stateful-migration/kube';
import type { MemoryApi } from '@stateful-migration/kube/testing';
import { keyFingerprint } from '@stateful-migration/ocicrypt';
import { backup, img, REG, restore, source } from './fixtures.test-support.js';
import {
  BINDINGS,
  CLUSTERS,
  G,
  inMember,
  memoryWorld,
  PODS,
  POLICIES,
  ready,
  SECRETS,
} from './memory-world.test-support.js';

// The restore controller's shell against an apiserver in memory: which objects each reconcile writes, in which
// order, and what it records. The pure decisions have their own tables; this is the I/O around them.

const RESTORE = `${G}/checkpointrestores/r1`;
const BACKUP = `${G}/checkpointbackups/web-now`;
const DEPLOYMENT = '/apis/apps/v1/namespaces/shop/deployments/web';

const world = (spec: Partial<CheckpointRestore['spec']> = {}) =>
  memoryWorld({
    restore: restore(spec),
    backup: { ...backup(), status: { phase: 'Completed', clusters: [source()] } },
    workload: { kind: 'Deployment', name: 'web', replicas: 1 },
  });

describe('RestoreController.reconcile, one step at a time', () => {
  it('Migrate: checkpoint now (the source stopped by its agent), submit from that checkpoint, follow it, stop the workload, hand over, finish', async () => {
    const { api, step, status } = world({ mode: 'Migrate' });
    const FRESH = `${G}/checkpointbackups/r1-migrate`;

    // Pending: every check that needs no checkpoint, then Checkpointing with the name of the one-off backup, before
    // anything is created or touched.
    assert.deepEqual(await step(), { requeueAfterMs: 0 });
    assert.deepEqual(api.writes(), [`PATCH ${RESTORE}`, `PUT ${RESTORE}/status`]);
    assert.equal(status().phase, 'Checkpointing');
    assert.deepEqual(
      { ...status().checkpoint, requestedTime: undefined },
      {
        backup: 'r1-migrate',
        cluster: 'member1',
        pod: 'web-1',
        targetCluster: 'member2',
        requestedTime: undefined,
      },
    );
    assert.equal(status().sourceCluster, 'member1');

    // The one-off backup: the same pod, registry and workload, once, stopPod, in the source cluster only, owned.
    assert.deepEqual(await step(), { requeueAfterMs: 7 });
    assert.deepEqual(api.writes(), [
      `POST ${POLICIES}`,
      `POST ${G}/checkpointbackups`,
      `PUT ${RESTORE}/status`,
    ]);
    const fresh = api.object<CheckpointBackup & { metadata: { ownerReferences: { uid: string }[] } }>(FRESH)!;
    assert.deepEqual(fresh.spec, {
      schedule: 'immediately',
      stopPod: true,
      podRef: { name: 'web-1' },
      resourceRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      registry: backup().spec.registry,
      placement: { clusterAffinity: { clusterNames: ['member1'] } },
    });
    assert.deepEqual(
      fresh.metadata.ownerReferences.map((o) => o.uid),
      [api.object<CheckpointRestore>(RESTORE)!.metadata.uid],
    );

    // Its agent at work: a message, written once; the old backup's images are never used.
    api.put(FRESH, { ...fresh, status: { clusters: [{ name: 'member1', phase: 'Checkpointed' }] } });
    assert.deepEqual(await step(), { requeueAfterMs: 7 });
    assert.deepEqual(api.writes(), [`PUT ${RESTORE}/status`]);
    assert.match(status().message!, /^checkpointing pod web-1 in member1: Checkpointed/);
    assert.deepEqual(await step(), { requeueAfterMs: 7 });
    assert.deepEqual(api.writes(), []);

    // Checkpointed and the pod deleted: the restore is submitted from exactly that checkpoint's images.
    const now = source({
      phase: 'CompletedPodDeleted',
      lastCheckpointTime: '2026-12-01T10:00:00Z',
      builtImages: [img('app', 't9', { digest: `sha256:${'9'.repeat(64)}` }), img('side', 't9')],
    });
    api.put(FRESH, { ...api.object(FRESH)!, status: { clusters: [now] } });
    assert.deepEqual(await step(), { requeueAfterMs: 7 });
    assert.deepEqual(api.writes(), [
      `PUT ${RESTORE}/status`,
      `PUT ${RESTORE}/status`,
      `POST ${SECRETS}`,
      `PATCH ${FRESH}`,
      `POST ${POLICIES}`,
    ]);
    assert.deepEqual(api.object<CheckpointRestore>(RESTORE)?.metadata.finalizers, [
      'restore.migration.dcnlab.com/unpin',
    ]);
    assert.equal(status().phase, 'RestoreSubmitted');
    assert.equal(status().checkpoint?.checkpointTime, '2026-12-01T10:00:00Z');
    assert.ok(status().checkpoint?.sourceStoppedTime);
    assert.deepEqual(status().restoredPod, { cluster: 'member2', namespace: 'shop', name: 'web-1-restored' });
    assert.equal(status().images?.[0]?.image, `${REG}/cp/checkpoint-web-1-app@sha256:${'9'.repeat(64)}`);
    assert.match(
      api.object<{ metadata: { annotations: Record<string, string> } }>(FRESH)!.metadata.annotations[
        RESTORE_PINNED_IMAGES_ANNOTATION
      ]!,
      /@sha256:9{64}/,
    );
    assert.equal(
      api.object<{ metadata: { annotations?: Record<string, string> } }>(BACKUP)!.metadata.annotations,
      undefined,
      "the user's backup is not pinned: its images are not restored",
    );

    // Still no secret in the target: the same objects again, no pod.
    assert.deepEqual(await step(), { requeueAfterMs: 7 });
    assert.deepEqual(api.writes(), [
      `POST ${SECRETS}`,
      `PATCH ${SECRETS}/r1-registry-pull`,
      `POST ${POLICIES}`,
      `PATCH ${POLICIES}/checkpointrestore-r1`,
      `PUT ${RESTORE}/status`,
    ]);
    assert.equal(status().message, 'waiting for the registry pull secret to reach member2');

    // The secret is applied in the target: the pod is created, owns the secret and the policy, and its uid is recorded.
    api.put(`${BINDINGS}/r1-registry-pull-secret`, {
      metadata: { name: 'r1-registry-pull-secret' },
      status: { aggregatedStatus: [{ clusterName: 'member2', applied: true }] },
    });
    // The pod is created: its changes wake the restore (restoredPods); followMs is only the safety net.
    assert.deepEqual(await step(), { requeueAfterMs: 11 });
    assert.deepEqual(api.writes(), [
      `POST ${SECRETS}`,
      `PATCH ${SECRETS}/r1-registry-pull`,
      `POST ${POLICIES}`,
      `PATCH ${POLICIES}/checkpointrestore-r1`,
      `POST ${PODS}`,
      `PATCH ${SECRETS}/r1-registry-pull`,
      `PATCH ${POLICIES}/checkpointrestore-r1`,
      `PUT ${RESTORE}/status`,
    ]);
    assert.equal(
      status().restoredPod?.uid,
      api.object<{ metadata: { uid: string } }>(`${PODS}/web-1-restored`)?.metadata.uid,
      'the uid of the pod it created is recorded',
    );
    const owners = api.object<{ metadata: { ownerReferences: { kind: string }[] } }>(
      `${SECRETS}/r1-registry-pull`,
    )!.metadata.ownerReferences;
    assert.deepEqual(
      owners.map((o) => o.kind),
      ['CheckpointRestore', 'Pod'],
    );

    // The member runs it: Restored, with the node read through the cluster proxy.
    api.put(`${BINDINGS}/web-1-restored-pod`, {
      metadata: { name: 'web-1-restored-pod' },
      status: {
        aggregatedStatus: [{ clusterName: 'member2', applied: true, status: { phase: 'Running', ...ready } }],
      },
    });
    api.put(`${CLUSTERS}/member2/proxy${PODS}/web-1-restored`, { spec: { nodeName: 'm2-a' } });
    assert.deepEqual(await step(), { requeueAfterMs: 0 });
    assert.deepEqual(api.writes(), [`PUT ${RESTORE}/status`]);
    assert.equal(status().phase, 'Restored');
    assert.equal(status().restoredPod?.node, 'm2-a');
    assert.equal(status().completionTime, undefined, 'a Migrate is not complete at Restored');

    // Migrate: how the source stops is recorded before it is stopped, then the labels, then SourceStopped.
    assert.deepEqual(await step(), { requeueAfterMs: 0 });
    assert.deepEqual(api.writes(), [`PUT ${RESTORE}/status`]);
    assert.deepEqual(status().sourceStop, {
      cluster: 'member1',
      namespace: 'shop',
      pod: 'web-1',
      podUid: 'u1',
      method: 'Scale',
      workload: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', replicas: 1 },
      onHub: true,
    });
    assert.deepEqual(await step(), { requeueAfterMs: 0 });
    assert.equal(api.object<{ spec: { replicas: number } }>(DEPLOYMENT)?.spec.replicas, 0);
    assert.ok(status().sourceStop?.stoppedTime);
    assert.deepEqual(await step(), { requeueAfterMs: 0 });
    assert.deepEqual(api.writes(), [`PATCH ${PODS}/web-1-restored`, `PUT ${RESTORE}/status`]);
    assert.deepEqual(
      api.object<{ metadata: { labels: Record<string, string> } }>(`${PODS}/web-1-restored`)?.metadata.labels,
      {
        'migration.dcnlab.com/restore': 'r1',
        app: 'web',
      },
    );
    assert.equal(await step(), undefined);
    assert.deepEqual(api.writes(), [`PUT ${RESTORE}/status`]);
    assert.equal(status().phase, 'SourceStopped');
    assert.equal(await step(), undefined);
    assert.deepEqual(api.writes(), []);
    assert.deepEqual(
      api.events().map((e) => e.split(':')[0]),
      [
        'Normal Checkpointing',
        'Normal CheckpointRequested',
        'Normal SourceCheckpointed',
        'Normal RestoreSubmitted',
        'Normal Restored',
        'Normal SourceStopping',
        'Normal SourceStopped',
      ],
    );

    // Deleted: the pins go (from the migration's backup), then the finalizer; the restored pod stays.
    await api.request('DELETE', RESTORE);
    assert.equal(await step(), undefined);
    assert.deepEqual(api.writes(), [`PATCH ${FRESH}`, `PATCH ${RESTORE}`]);
    assert.equal(api.object(RESTORE), undefined);
    assert.equal(
      api.object<{ metadata: { annotations?: Record<string, string> } }>(FRESH)?.metadata.annotations?.[
        RESTORE_PINNED_IMAGES_ANNOTATION
      ],
      undefined,
    );
    assert.ok(api.object(`${PODS}/web-1-restored`));
  });

  it('Migrate, crash-safe: the checkpoint asked for once (a create that finds it judges it), and a failed checkpoint ends it with nothing submitted', async () => {
    const { api, step, status } = world({ mode: 'Migrate' });
    const FRESH = `${G}/checkpointbackups/r1-migrate`;
    await step();
    await step();
    assert.ok(api.object(FRESH));
    // A controller that died after its create but before it knew (nor recorded it): the create finds it (409),
    // nothing else written.
    const before = api.object<{ metadata: { resourceVersion: string } }>(FRESH)!.metadata.resourceVersion;
    const r = api.object<CheckpointRestore>(RESTORE)!;
    const conditions = r.status?.conditions?.filter((x) => x.type !== 'CheckpointRequested');
    await api.request('PUT', `${RESTORE}/status`, {
      body: { ...r, status: { ...r.status, message: 'restarted', conditions } },
    });
    api.route = (method, path) =>
      method === 'GET' && path === FRESH ? new HttpError(404, 'HTTP 404: not found', 'NotFound') : undefined;
    assert.deepEqual(await step(), { requeueAfterMs: 0 });
    assert.deepEqual(api.writes(), [`POST ${POLICIES}`, `POST ${G}/checkpointbackups`]);
    api.route = () => undefined;
    assert.equal(
      api.object<{ metadata: { resourceVersion: string } }>(FRESH)!.metadata.resourceVersion,
      before,
    );

    // Its agent fails: Failed with the agent's words; no secret, policy or pod, the workload untouched.
    api.put(FRESH, {
      ...api.object(FRESH)!,
      status: { clusters: [{ name: 'member1', phase: 'Failed', message: 'pod shop/web-1 does not exist' }] },
    });
    assert.equal(await step(), undefined);
    assert.deepEqual(api.writes(), [`PUT ${RESTORE}/status`]);
    assert.equal(status().phase, 'Failed');
    assert.equal(status().reason, 'CheckpointFailed');
    assert.match(status().message!, /pod shop\/web-1 does not exist; nothing was restored/);
    assert.equal(api.object(`${PODS}/web-1-restored`), undefined);
    assert.equal(api.object<{ spec: { replicas: number } }>(DEPLOYMENT)?.spec.replicas, 1);
    // A spec change does not start it again: its source may be stopped.
    const failed = api.object<CheckpointRestore>(RESTORE)!;
    api.put(RESTORE, { ...failed, metadata: { ...failed.metadata, generation: 2 } });
    assert.equal(await step(), undefined);
    assert.deepEqual(api.writes(), []);
  });

  it('a step that throws (the hub cannot reach Karmada or a member) is said in status and by a Warning, once, while it retries', async () => {
    const { api, step, status } = world({ mode: 'Migrate' });
    assert.deepEqual(await step(), { requeueAfterMs: 0 }); // Pending -> Checkpointing
    const route = api.route;
    api.route = (method, path, body) =>
      path.includes('/checkpointbackups/r1-migrate') || path.endsWith('/propagationpolicies')
        ? new Error('HTTP 503: the Karmada apiserver is unavailable')
        : route?.(method, path, body);
    await assert.rejects(step(), /503/);
    assert.equal(status().phase, 'Checkpointing');
    assert.match(status().message!, /^retrying: .*503: the Karmada apiserver is unavailable/);
    assert.deepEqual(
      api.events().filter((e) => e.startsWith('Warning Retrying')).length,
      1,
      api.events().join('\n'),
    );
    await assert.rejects(step(), /503/);
    assert.deepEqual(api.writes(), [], 'said once');
  });

  it('a backup that does not exist: Failed with a Warning, once', async () => {
    const { api, step, status } = world({ backupRef: { name: 'gone' } });
    assert.equal(await step(), undefined);
    assert.deepEqual(api.writes(), [`PATCH ${RESTORE}`, `PUT ${RESTORE}/status`]);
    assert.equal(status().phase, 'Failed');
    assert.equal(status().reason, 'BackupNotFound');
    assert.equal(await step(), undefined);
    assert.deepEqual(api.writes(), []);
    assert.deepEqual(
      api.events().map((e) => e.split(':')[0]),
      ['Warning BackupNotFound'],
    );
  });

  it('spec.backupRef.name leading into another namespace: Failed, and nothing of that namespace is read', async () => {
    for (const mode of ['Restore', 'Migrate'] as const) {
      const { api, step, status } = world({ backupRef: { name: '../../other/checkpointbackups/db' }, mode });
      assert.equal(await step(), undefined);
      assert.equal(status().phase, 'Failed');
      assert.equal(status().reason, 'InvalidReferenceName');
      assert.match(
        status().message ?? '',
        /^spec\.backupRef\.name "\.\.\/\.\.\/other\/checkpointbackups\/db" is not/,
      );
      assert.deepEqual(
        api.calls.filter((c) => c.path.includes('..')),
        [],
        'no request carries the name as a path',
      );
      assert.deepEqual(api.writes(), [`PATCH ${RESTORE}`, `PUT ${RESTORE}/status`]);
    }
  });

  it("the target's Nodes cannot be listed: Pending (TargetNodesUnknown), nothing created, back in 10 s", async () => {
    const { api, step, status } = world();
    api.route = (method, path) =>
      method === 'GET' && path === `${CLUSTERS}/member2/proxy/api/v1/nodes`
        ? new HttpError(503, 'HTTP 503: unavailable')
        : undefined;
    assert.deepEqual(await step(), { requeueAfterMs: 10_000 });
    assert.deepEqual(api.writes(), [`PATCH ${RESTORE}`, `PUT ${RESTORE}/status`]);
    assert.equal(status().phase, 'Pending');
    assert.equal(status().reason, 'TargetNodesUnknown');
    assert.deepEqual(await step(), { requeueAfterMs: 10_000 });
    assert.deepEqual(api.writes(), [], 'the same message is not written again');
  });

  it('Migrate of a workload with more replicas is refused before anything is created', async () => {
    const { api, step, status } = world({ mode: 'Migrate' });
    api.put(DEPLOYMENT, { metadata: { name: 'web' }, spec: { replicas: 3 } });
    assert.equal(await step(), undefined);
    assert.deepEqual(api.writes(), [`PATCH ${RESTORE}`, `PUT ${RESTORE}/status`]);
    assert.equal(status().reason, 'MigrateWouldStopOtherPods');
  });
});

describe('RestoreController: deleting a restore unpins only what no other restore of the backup uses', () => {
  it('keeps the images of a restore the informer has not seen yet (read from the apiserver)', async () => {
    const { api, step, status } = world({ mode: 'Restore' });
    await step(); // submitted: intent recorded, images pinned
    const images = (status().images ?? []).map((i) => i.image);
    assert.ok(images.length > 0);
    // A second restore of the same backup, recorded at the apiserver a moment ago (its intent, then its pins), and not
    // in this controller's informer (never started here, as a cache that lags would be).
    api.put(`${G}/checkpointrestores/r2`, {
      ...restore(),
      metadata: { name: 'r2', namespace: 'shop', uid: 'uid-r2', generation: 1 },
      status: { phase: 'RestoreSubmitted', images: status().images },
    });
    await api.request('DELETE', RESTORE);
    assert.equal(await step(), undefined);
    assert.equal(api.object(RESTORE), undefined);
    assert.equal(
      api.object<{ metadata: { annotations?: Record<string, string> } }>(BACKUP)?.metadata.annotations?.[
        RESTORE_PINNED_IMAGES_ANNOTATION
      ],
      images.sort().join(','),
      "r2's images stay pinned",
    );
  });
});

/** A Migrate up to its checkpoint: Checkpointing, its one-off backup created, and its agent's CompletedPodDeleted. */
async function checkpointTaken() {
  const w = world({ mode: 'Migrate' });
  const FRESH = `${G}/checkpointbackups/r1-migrate`;
  await w.step(); // Checkpointing
  await w.step(); // the one-off backup created
  w.api.put(FRESH, {
    ...w.api.object(FRESH)!,
    status: {
      clusters: [
        source({
          phase: 'CompletedPodDeleted',
          lastCheckpointTime: '2026-12-01T10:00:00Z',
          builtImages: [img('app', 't9'), img('side', 't9')],
        }),
      ],
    },
  });
  return { ...w, FRESH };
}

describe('RestoreController: a Migrate whose source is stopped never goes back to its start', () => {
  it("the target's Nodes unreachable right after the checkpoint: still Checkpointing, the checkpoint kept, then submitted", async () => {
    const { api, step, status } = await checkpointTaken();
    // member2 stops answering right then (an outage): its Nodes cannot be listed, and Karmada soon says NotReady.
    api.route = (method, path) =>
      method === 'GET' && path === `${CLUSTERS}/member2/proxy/api/v1/nodes`
        ? new HttpError(503, 'HTTP 503: unavailable')
        : undefined;
    assert.deepEqual(await step(), { requeueAfterMs: 10_000 });
    const taken = status().checkpoint!;
    assert.ok(taken.sourceStoppedTime, 'the source is recorded stopped');
    assert.notEqual(status().phase, 'Pending', 'a migration whose source is stopped is not back to Pending');
    api.put(`${CLUSTERS}/member2`, {
      metadata: { name: 'member2' },
      status: { conditions: [{ type: 'Ready', status: 'False' }] },
    });
    await step();
    // Not started again from spec.backupRef (which would refuse the NotReady target as if nothing was touched, for
    // good): the checkpoint taken is kept, and a target that is not Ready is waited for, saying the source is stopped.
    assert.deepEqual(status().checkpoint, taken);
    assert.equal(status().phase, 'Checkpointing', status().message);
    assert.equal(status().reason, 'TargetClusterNotReady');
    assert.match(status().message!, /pod web-1 in member1 was stopped after its checkpoint/);
    // member2 back: restored from that checkpoint.
    api.route = () => undefined;
    api.put(`${CLUSTERS}/member2`, { metadata: { name: 'member2' }, status: ready });
    await step();
    assert.equal(status().phase, 'RestoreSubmitted');
    assert.equal(status().checkpoint?.checkpointTime, '2026-12-01T10:00:00Z');
  });
});

describe("RestoreController: a migration's one-off CheckpointBackup is placed in the source cluster only", () => {
  it("by its own policy, created before it and above a user's policy that selects every CheckpointBackup", async () => {
    const { api, step } = world({ mode: 'Migrate' });
    // The tenant propagates all their CheckpointBackups to both members: Karmada would give the one-off backup (stopPod)
    // to this policy, and every member with a pod of that name would checkpoint it and delete it.
    api.put(`${POLICIES}/all-backups`, {
      metadata: { name: 'all-backups', namespace: 'shop' },
      spec: {
        priority: 100,
        resourceSelectors: [{ apiVersion: 'migration.dcnlab.com/v1', kind: 'CheckpointBackup' }],
        placement: { clusterAffinity: { clusterNames: ['member1', 'member2'] } },
      },
    });
    await step(); // Checkpointing
    await step(); // the policy, then the backup
    assert.deepEqual(api.writes(), [
      `POST ${POLICIES}`,
      `POST ${G}/checkpointbackups`,
      `PUT ${RESTORE}/status`,
    ]);
    type Policy = {
      metadata: { ownerReferences: { uid: string }[] };
      spec: {
        priority: number;
        resourceSelectors: { kind: string; name?: string }[];
        placement: { clusterAffinity: { clusterNames: string[] } };
      };
    };
    const ours = api.object<Policy>(`${POLICIES}/migration-checkpoint-r1`)!;
    // Karmada applies the matching policy of the highest priority to a new resource template.
    const selecting = [ours, api.object<Policy>(`${POLICIES}/all-backups`)!]
      .filter((p) =>
        p.spec.resourceSelectors.some(
          (x) => x.kind === 'CheckpointBackup' && (!x.name || x.name === 'r1-migrate'),
        ),
      )
      .sort((a, b) => b.spec.priority - a.spec.priority);
    assert.equal(selecting[0], ours);
    assert.deepEqual(ours.spec.placement.clusterAffinity.clusterNames, ['member1']);
    assert.deepEqual(
      ours.metadata.ownerReferences.map((o) => o.uid),
      [api.object<CheckpointRestore>(RESTORE)!.metadata.uid],
    );
  });

  it("a policy of that name that is not this restore's: refused, nothing created", async () => {
    const { api, step, status } = world({ mode: 'Migrate' });
    api.put(`${POLICIES}/migration-checkpoint-r1`, {
      metadata: { name: 'migration-checkpoint-r1' },
      spec: {},
    });
    await step();
    assert.equal(await step(), undefined);
    assert.equal(status().phase, 'Failed');
    assert.equal(status().reason, 'NameTaken');
    assert.match(status().message!, /nothing was checkpointed or stopped/);
    assert.equal(api.object(`${G}/checkpointbackups/r1-migrate`), undefined);
  });
});

describe("RestoreController: a migration's CheckpointBackup deleted while it checkpoints is never made again", () => {
  it('Failed (CheckpointBackupGone), saying the source may be stopped; no second checkpoint of whatever runs there now', async () => {
    const { api, step, status } = world({ mode: 'Migrate' });
    const FRESH = `${G}/checkpointbackups/r1-migrate`;
    await step(); // Checkpointing
    await step(); // the one-off backup created; its agent checkpoints and deletes web-1 ...
    assert.ok(api.object(FRESH));
    // ... and someone deletes the backup before its result reached the hub. A StatefulSet's pod comes back under the
    // same name with fresh state: a second one-off backup would checkpoint that and "migrate" it.
    await api.request('DELETE', FRESH);
    assert.equal(api.object(FRESH), undefined);
    assert.equal(await step(), undefined);
    assert.ok(!api.writes().includes(`POST ${G}/checkpointbackups`), api.writes().join(', '));
    assert.equal(status().phase, 'Failed');
    assert.equal(status().reason, 'CheckpointBackupGone');
    assert.match(status().message!, /may have been stopped/);
  });
});

describe('RestoreController: a migration that failed after stopping its source keeps the record of its checkpoint', () => {
  it("its CheckpointBackup is no longer owned by the restore: deleting the Failed restore leaves the state's images recorded", async () => {
    const { api, step, status, FRESH } = await checkpointTaken();
    // The target's only node stopped allowing restores meanwhile: Failed after the source was stopped.
    api.put(`${CLUSTERS}/member2/proxy/api/v1/nodes/m2-a`, { metadata: { name: 'm2-a' }, status: ready });
    await step();
    assert.equal(status().phase, 'Failed');
    assert.match(
      status().message!,
      /was stopped after its checkpoint; its state is in the images of CheckpointBackup r1-migrate/,
    );
    await step();
    // The message tells the user to restore from r1-migrate: the garbage collector must not take it with the restore.
    const uid = api.object<CheckpointRestore>(RESTORE)!.metadata.uid;
    const owners = api.object<{ metadata: { ownerReferences?: { uid: string }[] } }>(FRESH)!.metadata
      .ownerReferences;
    assert.ok(!(owners ?? []).some((o) => o.uid === uid), JSON.stringify(owners));
    assert.equal(api.object<CheckpointBackup>(FRESH)!.status?.clusters?.[0]?.builtImages?.length, 2);
    // Once is enough.
    await step();
    assert.deepEqual(api.writes(), []);
  });
});

describe('RestoreController: a Migrate of an encrypted backup after its keys were rotated (issue 14)', () => {
  /** Key A was in the keys object and is on the target's node; the user swapped it for B in the object. */
  const pair = () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    return {
      pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      fp: keyFingerprint(publicKey),
    };
  };
  const [A, B] = [pair(), pair()];
  const KEYS = '/api/v1/namespaces/shop/configmaps/keys';
  const rotated = (keys: { data: Record<string, string> } | undefined) => {
    const w = world({ mode: 'Migrate' });
    w.api.put(BACKUP, {
      ...backup({ encryption: { publicKeysRef: { kind: 'ConfigMap', name: 'keys' } } }),
      status: {
        phase: 'Completed',
        clusters: [source({ builtImages: [img('app', 't1', { encryptedFor: [A.fp] })] })],
      },
    });
    if (keys) w.api.put(KEYS, { metadata: { name: 'keys', namespace: 'shop' }, ...keys });
    const node = w.api.object<{ metadata: Record<string, unknown> }>(
      `${CLUSTERS}/member2/proxy/api/v1/nodes/m2-a`,
    )!;
    w.api.put(`${CLUSTERS}/member2/proxy/api/v1/nodes/m2-a`, {
      ...node,
      metadata: { ...node.metadata, annotations: { [DECRYPTION_KEYS_ANNOTATION]: A.fp } },
    });
    return w;
  };
  const touched = (api: MemoryApi) =>
    api.writes().filter((w) => !w.startsWith(`PATCH ${RESTORE}`) && !w.startsWith(`PUT ${RESTORE}/status`));

  it('the object now holds only B, the node only A: Failed before any checkpoint is asked for, the source untouched', async () => {
    const { api, step, status } = rotated({ data: { b: B.pem } });
    await step();
    assert.equal(status().phase, 'Failed', status().message);
    assert.equal(status().reason, 'TargetCannotDecrypt');
    assert.ok(status().message!.includes(B.fp) && !status().message!.includes('BEGIN'));
    assert.equal(status().checkpoint, undefined, 'no checkpoint recorded');
    assert.deepEqual(touched(api), [], 'no CheckpointBackup, no policy: nothing checkpointed or stopped');
    assert.equal(api.object(`${G}/checkpointbackups/r1-migrate`), undefined);
  });

  it('the object holds A and B: the node with A can open the checkpoint, which is asked for', async () => {
    const { step, status } = rotated({ data: { a: A.pem, b: B.pem } });
    await step();
    assert.equal(status().phase, 'Checkpointing', status().message);
  });

  it('the object missing on Karmada: Pending with a Warning Event that says what to do, and nothing else', async () => {
    const { api, step, status } = rotated(undefined);
    assert.deepEqual(await step(), { requeueAfterMs: 5000 });
    assert.equal(status().phase, 'Pending');
    assert.equal(status().reason, 'EncryptionKeysNotFound');
    assert.match(status().message!, /ConfigMap shop\/keys does not exist on the Karmada control plane/);
    assert.deepEqual(api.events(), [`Warning EncryptionKeysNotFound: ${status().message}`]);
    assert.deepEqual(touched(api), []);
    // Created: the next look goes on, with the keys it holds.
    api.put(KEYS, { metadata: { name: 'keys', namespace: 'shop' }, data: { a: A.pem } });
    await step();
    assert.equal(status().phase, 'Checkpointing', status().message);
  });

  it('reads only the keys object the backup names, in the restore\u2019s namespace', async () => {
    const { api, step } = rotated({ data: { b: B.pem } });
    await step();
    const reads = api.calls
      .filter((c) => /\/(configmaps|secrets)\//.test(c.path))
      .map((c) => `${c.method} ${c.path}`);
    assert.deepEqual(reads, [`GET ${KEYS}`]);
  });
});

describe('RestoreController.memberSeen: a member back after an outage is swept at once, only while the controller runs', () => {
  const MWC = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
  const LIST = `GET ${inMember('member2', MWC)}`;
  const STALE = inMember('member2', `${MWC}/stateful-migration.shop.gone`);
  /** The world, with a configuration the hub made in member2 for restore shop/gone, which is gone; sweeps an hour apart. */
  const withStale = () => {
    const w = memoryWorld({
      restore: restore(),
      backup: { ...backup(), status: { phase: 'Completed', clusters: [source()] } },
      workload: { kind: 'Deployment', name: 'web', replicas: 1 },
      controller: { sweepMs: 3_600_000 },
    });
    w.api.put(STALE, {
      metadata: {
        name: 'stateful-migration.shop.gone',
        labels: {
          'app.kubernetes.io/managed-by': 'stateful-migration-hub',
          'migration.dcnlab.com/restore-owner': 'shop.gone',
        },
      },
      webhooks: [{ name: 'w', failurePolicy: 'Fail' }],
    });
    return w;
  };
  const calls = (api: MemoryApi) => api.calls.map((c) => `${c.method} ${c.path}`);
  /** One turn of the event loop: MemoryApi answers in microtasks, so a sweep begun before it has listed by its end. */
  const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
  /**
   * Turns until `done` holds: waits on what the controller did, not on a clock. The test's timeout bounds a hang
   * (`signal`, aborted then, ends the loop: it would keep the process alive).
   */
  const until = async (done: () => boolean, signal: AbortSignal) => {
    while (!done()) {
      signal.throwIfAborted();
      await turn();
    }
  };

  it(
    "lists member2's webhook configurations once it is Ready again, and deletes the stale one",
    { timeout: 30_000 },
    async (t) => {
      const { api, ctl } = withStale();
      const stop = new AbortController();
      const running = ctl.run(stop.signal);
      try {
        await until(() => ctl.ready(), t.signal);
        ctl.memberSeen('member2', false);
        await turn();
        assert.ok(!calls(api).includes(LIST), 'a member not Ready is left alone');
        ctl.memberSeen('member2', true);
        await until(() => calls(api).includes(`DELETE ${STALE}`), t.signal);
        const listed = calls(api).indexOf(LIST);
        assert.ok(listed >= 0 && listed < calls(api).indexOf(`DELETE ${STALE}`), 'listed, then deleted');
        assert.equal(api.object(STALE), undefined);
      } finally {
        stop.abort();
        await running;
      }
    },
  );

  it('a controller not running, never started or stopped, lists nothing', { timeout: 30_000 }, async (t) => {
    const { api, ctl } = withStale();
    ctl.memberSeen('member2', false);
    ctl.memberSeen('member2', true);
    await turn();
    assert.deepEqual(calls(api), [], 'never started: not a call');
    // Led once, then lost the Lease: its caches stay filled, but the new leader sweeps.
    const stop = new AbortController();
    const running = ctl.run(stop.signal);
    await until(() => ctl.ready(), t.signal);
    stop.abort();
    await running;
    ctl.memberSeen('member2', false);
    ctl.memberSeen('member2', true);
    await turn();
    assert.ok(!calls(api).includes(LIST), 'stopped: member2 not listed');
    assert.ok(api.object(STALE), 'and its configuration left');
  });
});
