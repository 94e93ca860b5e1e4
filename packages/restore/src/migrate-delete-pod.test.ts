import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { CheckpointRestore, SourceStop } from '@stateful-migration/api';
import { rootLogger } from '@stateful-migration/kube';
import { FakeApiserver, type FakeReply, type FakeRequest } from '@stateful-migration/kube/testing';
import { RestoreController } from './controller.js';
import { backup, source } from './fixtures.test-support.js';

// Migrate of a bare pod deletes the pod that was checkpointed (its name and uid as the agent recorded them in
// status.checkpointedPod), with the uid as a precondition: never a pod the backup's spec.podRef names since, nor a
// replacement made under the same name.

const RESTORE = '/apis/migration.dcnlab.com/v1/namespaces/shop/checkpointrestores/r1';
const BACKUP = '/apis/migration.dcnlab.com/v1/namespaces/shop/checkpointbackups/web-now';
const BINDINGS = '/apis/work.karmada.io/v1alpha2/namespaces/shop/resourcebindings';
const PODS = '/api/v1/namespaces/shop/pods';

const ok = (body: unknown): FakeReply => ({ status: 200, body });
const notFound: FakeReply = {
  status: 404,
  body: { kind: 'Status', reason: 'NotFound', message: 'not found' },
};

const MEMBER_PODS = `/apis/cluster.karmada.io/v1alpha1/clusters/member1/proxy${PODS}`;

/**
 * Karmada with the source pod web-1, checkpointed as uid u1 in member1: a template on the hub (uid t1 there) or
 * only in the member; the pod in member1 now has uid `memberUid`. The backup's podRef was edited to web-2 since.
 */
function karmada(o: {
  onHub: boolean;
  memberUid: string;
  deleteAnswer: FakeReply;
  sourceStop?: SourceStop;
  /** A migration whose own checkpoint's agent deleted the checkpointed pod (its backup: r1-migrate). */
  stoppedAfterCheckpoint?: boolean;
}) {
  let restore: CheckpointRestore = {
    apiVersion: 'migration.dcnlab.com/v1',
    kind: 'CheckpointRestore',
    metadata: { name: 'r1', namespace: 'shop', uid: 'r-uid', generation: 1, resourceVersion: '1' },
    spec: { backupRef: { name: 'web-now' }, targetCluster: 'member2', mode: 'Migrate' },
    status: {
      phase: 'Restored',
      sourceCluster: 'member1',
      restoredPod: { cluster: 'member2', namespace: 'shop', name: 'r1-web-1', uid: 'p-uid' },
      ...(o.sourceStop ? { sourceStop: o.sourceStop } : {}),
      ...(o.stoppedAfterCheckpoint
        ? {
            checkpoint: {
              backup: 'r1-migrate',
              cluster: 'member1',
              pod: 'web-1',
              targetCluster: 'member2',
              requestedTime: '2026-12-01T10:00:00Z',
              sourceStoppedTime: '2026-12-01T10:00:02Z',
            },
          }
        : {}),
    },
  };
  const routes: Record<string, (r: FakeRequest) => FakeReply> = {
    [`GET ${RESTORE}`]: () => ok(restore),
    [`PUT ${RESTORE}/status`]: (r) => {
      const rv = String(Number(restore.metadata.resourceVersion) + 1);
      restore = {
        ...restore,
        metadata: { ...restore.metadata, resourceVersion: rv },
        status: (r.body as CheckpointRestore).status,
      };
      return ok(restore);
    },
    [`GET ${o.stoppedAfterCheckpoint ? `${BACKUP.replace('web-now', 'r1-migrate')}` : BACKUP}`]: () =>
      ok({
        ...backup({
          podRef: { name: 'web-2' },
          resourceRef: { apiVersion: 'v1', kind: 'Pod', name: 'web-2' },
        }),
        metadata: { name: 'web-now', namespace: 'shop', uid: 'b-uid' },
        status: { clusters: [source()] },
      }),
    [`GET ${PODS}/r1-web-1`]: () =>
      ok({ metadata: { name: 'r1-web-1', uid: 'p-uid', labels: { 'migration.dcnlab.com/restore': 'r1' } } }),
    [`GET ${BINDINGS}/r1-web-1-pod`]: () =>
      ok({
        status: {
          aggregatedStatus: [
            {
              clusterName: 'member2',
              applied: true,
              status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
            },
          ],
        },
      }),
    [`GET ${PODS}/web-1`]: () => (o.onHub ? ok({ metadata: { name: 'web-1', uid: 't1' } }) : notFound),
    [`GET ${MEMBER_PODS}/web-1`]: () => ok({ metadata: { name: 'web-1', uid: o.memberUid } }),
    [`GET ${PODS}/web-2`]: () => ok({ metadata: { name: 'web-2', uid: 'u2' } }),
    [`GET ${BINDINGS}/web-1-pod`]: () => ok({ spec: { clusters: [{ name: 'member1' }] } }),
    [`GET ${BINDINGS}/web-2-pod`]: () => ok({ spec: { clusters: [{ name: 'member1' }] } }),
    [`DELETE ${o.onHub ? PODS : MEMBER_PODS}/web-1`]: () => o.deleteAnswer,
    [`DELETE ${PODS}/web-2`]: () => ok({}),
    [`PATCH ${PODS}/r1-web-1`]: () => ok({}),
    'POST /api/v1/namespaces/shop/events': () => ok({ metadata: { name: 'e1' } }),
  };
  const handle = (r: FakeRequest): FakeReply => routes[`${r.method} ${r.path}`]?.(r) ?? notFound;
  return { handle, restore: () => restore };
}

describe('Migrate deletes the checkpointed pod, by the uid recorded at checkpoint time (RestoreController)', () => {
  const servers: FakeApiserver[] = [];
  after(async () => {
    for (const s of servers) await s.close();
  });
  const setup = async (o: Parameters<typeof karmada>[0]) => {
    const store = karmada(o);
    const api = new FakeApiserver(store.handle);
    servers.push(api);
    await api.listen();
    const c = new RestoreController({
      client: api.client(),
      log: rootLogger('test', 'silent'),
      identity: 'hub-0',
    });
    const deletes = () => api.requests.filter((r) => r.method === 'DELETE');
    return { store, api, c, deletes };
  };

  it('records the checkpointed pod web-1 and its uid (not spec.podRef web-2); a template on the hub: the member pod checked, the template DELETEd by its own uid', async () => {
    const { store, c, deletes } = await setup({ onHub: true, memberUid: 'u1', deleteAnswer: ok({}) });
    await c.reconcile('shop/r1');
    assert.deepEqual(store.restore().status?.sourceStop, {
      cluster: 'member1',
      namespace: 'shop',
      pod: 'web-1',
      podUid: 'u1',
      method: 'DeletePod',
      onHub: true,
    });
    await c.reconcile('shop/r1');
    assert.deepEqual(
      deletes().map((r) => [r.path, r.body]),
      [[`${PODS}/web-1`, { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: 't1' } }]],
    );
    assert.ok(store.restore().status?.sourceStop?.stoppedTime);
  });

  it('a pod only in the member: DELETEd through the cluster proxy with the recorded uid as the precondition', async () => {
    const { store, c, deletes } = await setup({ onHub: false, memberUid: 'u1', deleteAnswer: ok({}) });
    await c.reconcile('shop/r1');
    await c.reconcile('shop/r1');
    assert.deepEqual(
      deletes().map((r) => [r.path, r.body]),
      [[`${MEMBER_PODS}/web-1`, { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: 'u1' } }]],
    );
    assert.ok(store.restore().status?.sourceStop?.stoppedTime);
  });

  const replaced =
    'pod shop/web-1 is no longer the pod that was checkpointed (uid u1): another pod of that name replaced it, ' +
    'which is left alone; the restored pod keeps running beside it';

  it('a replacement in the member (409 on the uid precondition) is left alone: Failed, no labels handed over', async () => {
    const { store, api, c } = await setup({
      onHub: false,
      memberUid: 'u9',
      deleteAnswer: {
        status: 409,
        body: { kind: 'Status', reason: 'Conflict', message: 'Precondition failed: UID in precondition: u1' },
      },
    });
    await c.reconcile('shop/r1');
    await c.reconcile('shop/r1');
    const s = store.restore().status!;
    assert.equal(s.phase, 'Failed');
    assert.equal(s.reason, 'SourcePodReplaced');
    assert.equal(s.message, replaced);
    assert.equal(s.sourceStop?.stoppedTime, undefined);
    assert.ok(!api.requests.some((r) => r.method === 'PATCH'), 'no labels handed over');
  });

  it('a template on the hub whose member pod is another than the one checkpointed: the template is not deleted', async () => {
    const { store, c, deletes } = await setup({ onHub: true, memberUid: 'u9', deleteAnswer: ok({}) });
    await c.reconcile('shop/r1');
    await c.reconcile('shop/r1');
    assert.deepEqual(deletes(), []);
    assert.equal(store.restore().status?.reason, 'SourcePodReplaced');
    assert.equal(store.restore().status?.message, replaced);
  });

  it("after a migration's own checkpoint (its agent deleted the pod), the member pod of that name is Karmada's re-creation from the template: the template goes", async () => {
    const { store, c, deletes } = await setup({
      onHub: true,
      memberUid: 'u9',
      deleteAnswer: ok({}),
      stoppedAfterCheckpoint: true,
    });
    await c.reconcile('shop/r1');
    await c.reconcile('shop/r1');
    assert.deepEqual(
      deletes().map((r) => [r.path, r.body]),
      [[`${PODS}/web-1`, { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: 't1' } }]],
    );
    assert.ok(store.restore().status?.sourceStop?.stoppedTime);
  });

  it('a stop recorded without the uid (by an older controller) deletes nothing: Failed, the restored pod runs beside the source', async () => {
    const older: SourceStop = {
      cluster: 'member1',
      namespace: 'shop',
      pod: 'web-1',
      method: 'DeletePod',
      onHub: true,
    };
    const { store, c, deletes } = await setup({
      onHub: true,
      memberUid: 'u1',
      deleteAnswer: ok({}),
      sourceStop: older,
    });
    await c.reconcile('shop/r1');
    assert.deepEqual(deletes(), []);
    assert.equal(store.restore().status?.phase, 'Failed');
    assert.equal(store.restore().status?.reason, 'CannotStopSource');
    assert.equal(
      store.restore().status?.message,
      'the stop of pod shop/web-1 was recorded without its uid, so it cannot be told from a replacement of the ' +
        'same name: it is not deleted; delete it yourself; the restored pod keeps running beside it',
    );
  });
});
