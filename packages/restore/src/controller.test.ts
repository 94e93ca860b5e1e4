import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CHECKPOINT_RESTORE_LABEL,
  RESTORE_PINNED_IMAGES_ANNOTATION,
  type CheckpointRestore,
  type CheckpointRestoreStatus,
} from '@stateful-migration/api';
import { HttpError, rootLogger } from '@stateful-migration/kube';
import { MemoryApi } from '@stateful-migration/kube/testing';
import { RestoreController } from './controller.js';
import { backup, restore, source } from './fixtures.test-support.js';

// The restore controller's shell against an apiserver in memory: which objects each reconcile writes, in which
// order, and what it records. The pure decisions have their own tables; this is the I/O around them.

const G = '/apis/migration.dcnlab.com/v1/namespaces/shop';
const RESTORE = `${G}/checkpointrestores/r1`;
const BACKUP = `${G}/checkpointbackups/web-now`;
const CLUSTERS = '/apis/cluster.karmada.io/v1alpha1/clusters';
const BINDINGS = '/apis/work.karmada.io/v1alpha2/namespaces/shop/resourcebindings';
const POLICIES = '/apis/policy.karmada.io/v1alpha1/namespaces/shop/propagationpolicies';
const SECRETS = '/api/v1/namespaces/shop/secrets';
const PODS = '/api/v1/namespaces/shop/pods';
const DEPLOYMENT = '/apis/apps/v1/namespaces/shop/deployments/web';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const ready = { conditions: [{ type: 'Ready', status: 'True' }] };

function world(spec: Partial<CheckpointRestore['spec']> = {}) {
  const api = new MemoryApi();
  api.put(BACKUP, { ...backup(), status: { phase: 'Completed', clusters: [source()] } });
  api.put(`${SECRETS}/creds`, {
    metadata: { name: 'creds' },
    data: { username: b64('u'), password: b64('p') },
  });
  for (const c of ['member1', 'member2'])
    api.put(`${CLUSTERS}/${c}`, { metadata: { name: c }, status: ready });
  api.put(`${CLUSTERS}/member2/proxy/api/v1/nodes/m2-a`, {
    metadata: { name: 'm2-a', labels: { [CHECKPOINT_RESTORE_LABEL]: 'checkpoint_restore' } },
    status: ready,
  });
  api.put(DEPLOYMENT, { metadata: { name: 'web' }, spec: { replicas: 1 } });
  api.put(`${BINDINGS}/web-deployment`, {
    metadata: { name: 'web-deployment' },
    spec: { clusters: [{ name: 'member1' }] },
  });
  api.put(RESTORE, restore(spec));
  const ctl = new RestoreController({
    client: api.client(),
    log: rootLogger('test', 'silent'),
    identity: 'test',
    pollMs: 7,
    followMs: 11,
  });
  const step = async () => {
    api.resetCalls();
    return ctl.reconcile('shop/r1');
  };
  const status = () => api.object<CheckpointRestore>(RESTORE)?.status ?? ({} as CheckpointRestoreStatus);
  return { api, step, status };
}

describe('RestoreController.reconcile, one step at a time', () => {
  it('Migrate: submit, wait for the secret, create the pod, follow it, stop the source, hand over, finish', async () => {
    const { api, step, status } = world({ mode: 'Migrate' });

    // Pending: intent recorded first, then the pull secret, the pins and the policy; the pod waits for the secret.
    assert.deepEqual(await step(), { requeueAfterMs: 7 });
    assert.deepEqual(api.writes(), [
      `PATCH ${RESTORE}`,
      `PUT ${RESTORE}/status`,
      `POST ${SECRETS}`,
      `PATCH ${BACKUP}`,
      `POST ${POLICIES}`,
    ]);
    assert.deepEqual(api.object<CheckpointRestore>(RESTORE)?.metadata.finalizers, [
      'restore.migration.dcnlab.com/unpin',
    ]);
    assert.equal(status().phase, 'RestoreSubmitted');
    assert.deepEqual(status().restoredPod, { cluster: 'member2', namespace: 'shop', name: 'web-1-restored' });
    assert.match(
      api.object<{ metadata: { annotations: Record<string, string> } }>(BACKUP)!.metadata.annotations[
        RESTORE_PINNED_IMAGES_ANNOTATION
      ]!,
      /@sha256:/,
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
      ['Normal RestoreSubmitted', 'Normal Restored', 'Normal SourceStopping', 'Normal SourceStopped'],
    );

    // Deleted: the pins go, then the finalizer; the restored pod stays.
    await api.request('DELETE', RESTORE);
    assert.equal(await step(), undefined);
    assert.deepEqual(api.writes(), [`PATCH ${BACKUP}`, `PATCH ${RESTORE}`]);
    assert.equal(api.object(RESTORE), undefined);
    assert.equal(
      api.object<{ metadata: { annotations?: Record<string, string> } }>(BACKUP)?.metadata.annotations?.[
        RESTORE_PINNED_IMAGES_ANNOTATION
      ],
      undefined,
    );
    assert.ok(api.object(`${PODS}/web-1-restored`));
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
