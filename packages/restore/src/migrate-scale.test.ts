import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { CheckpointRestore, SourceStop } from '@stateful-migration/api';
import { rootLogger } from '@stateful-migration/kube';
import { FakeApiserver, type FakeReply, type FakeRequest } from '@stateful-migration/kube/testing';
import { RestoreController } from './controller.js';
import { backup } from './fixtures.test-support.js';

const RESTORE = '/apis/migration.dcnlab.com/v1/namespaces/shop/checkpointrestores/r1';
const BACKUP = '/apis/migration.dcnlab.com/v1/namespaces/shop/checkpointbackups/web-now';
const BINDINGS = '/apis/work.karmada.io/v1alpha2/namespaces/shop/resourcebindings';
const HUB_SCALE = '/apis/apps/v1/namespaces/shop/deployments/web/scale';
const MEMBER_SCALE = `/apis/cluster.karmada.io/v1alpha1/clusters/member1/proxy${HUB_SCALE}`;

const notFound: FakeReply = {
  status: 404,
  body: { kind: 'Status', reason: 'NotFound', message: 'not found' },
};
const ok = (body: unknown): FakeReply => ({ status: 200, body });

/**
 * A Karmada apiserver in memory for one Migrate: the restore (GET, PUT /status), its backup, the restored pod (its
 * own, by label) and its binding (Ready in member2 while `ready`), the source Deployment's scale subresource on the hub or only in member1
 * (through the cluster proxy), its binding, and Events. Anything else is a 405, so a request to the workload
 * itself, or any path the controller is not expected to take, fails the test.
 */
function karmada(o: {
  status: CheckpointRestore['status'];
  onHub: boolean;
  ready: boolean;
  replicas?: number;
}) {
  let restore: CheckpointRestore = {
    apiVersion: 'migration.dcnlab.com/v1',
    kind: 'CheckpointRestore',
    metadata: { name: 'r1', namespace: 'shop', uid: 'r-uid', generation: 1, resourceVersion: '1' },
    spec: { backupRef: { name: 'web-now' }, targetCluster: 'member2', mode: 'Migrate' },
    status: o.status,
  };
  const scale = {
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata: { name: 'web', namespace: 'shop', resourceVersion: '7' },
    // autoscaling/v1 omits replicas: 0
    spec: o.replicas ? { replicas: o.replicas } : {},
  };
  const putStatus = (r: FakeRequest): FakeReply => {
    const rv = String(Number(restore.metadata.resourceVersion) + 1);
    const status = (r.body as CheckpointRestore).status;
    restore = { ...restore, metadata: { ...restore.metadata, resourceVersion: rv }, status };
    return ok(restore);
  };
  const podBinding = {
    status: {
      aggregatedStatus: [
        {
          clusterName: 'member2',
          applied: true,
          status: { phase: 'Running', conditions: [{ type: 'Ready', status: o.ready ? 'True' : 'False' }] },
        },
      ],
    },
  };
  const routes: Record<string, (r: FakeRequest) => FakeReply> = {
    [`GET ${RESTORE}`]: () => ok(restore),
    [`PUT ${RESTORE}/status`]: putStatus,
    [`GET ${BACKUP}`]: () =>
      ok({ ...backup(), metadata: { name: 'web-now', namespace: 'shop', uid: 'b-uid' } }),
    [`GET ${BINDINGS}/r1-web-1-pod`]: () => ok(podBinding),
    [`GET ${BINDINGS}/web-now-checkpointbackup`]: () => notFound,
    [`GET /api/v1/namespaces/shop/pods/r1-web-1`]: () =>
      ok({ metadata: { name: 'r1-web-1', uid: 'p-uid', labels: { 'migration.dcnlab.com/restore': 'r1' } } }),
    [`GET ${BINDINGS}/web-deployment`]: () =>
      o.onHub ? ok({ spec: { clusters: [{ name: 'member1' }] } }) : notFound,
    [`GET ${HUB_SCALE}`]: () => (o.onHub ? ok(scale) : notFound),
    [`GET ${MEMBER_SCALE}`]: () => (o.onHub ? notFound : ok(scale)),
    [`PATCH ${o.onHub ? HUB_SCALE : MEMBER_SCALE}`]: (r) =>
      ok({ ...scale, spec: (r.body as { spec: unknown }).spec }),
    'POST /api/v1/namespaces/shop/events': () => ok({ metadata: { name: 'e1' } }),
  };
  const handle = (r: FakeRequest): FakeReply =>
    routes[`${r.method} ${r.path}`]?.(r) ?? {
      status: 405,
      body: { kind: 'Status', message: `unexpected ${r.method} ${r.path}` },
    };
  return { handle, restore: () => restore };
}

const restored = {
  phase: 'Restored' as const,
  sourceCluster: 'member1',
  restoredPod: { cluster: 'member2', namespace: 'shop', name: 'r1-web-1' },
};
const recorded = (onHub: boolean, over: Partial<SourceStop> = {}): SourceStop => ({
  cluster: 'member1',
  namespace: 'shop',
  pod: 'web-1',
  method: 'Scale',
  workload: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', replicas: 1 },
  onHub,
  ...over,
});

describe('Migrate stops a Deployment through its scale subresource (RestoreController)', () => {
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
    return { store, api, c };
  };
  const refused = (api: FakeApiserver) =>
    api.requests.filter((r) => r.path.startsWith('/apis/apps/') && !r.path.endsWith('/scale'));
  const patches = (api: FakeApiserver) => api.requests.filter((r) => r.method === 'PATCH');

  for (const onHub of [true, false])
    it(`${onHub ? 'a template on the hub' : 'a workload only in the member'}: records the replicas read from the Scale, then patches the Scale to 0`, async () => {
      const { store, api, c } = await setup({ status: restored, onHub, ready: true, replicas: 1 });
      await c.reconcile('shop/r1');
      assert.deepEqual(store.restore().status?.sourceStop, recorded(onHub));
      assert.equal(patches(api).length, 0, 'nothing is stopped before the stop is recorded');
      await c.reconcile('shop/r1');
      assert.ok(store.restore().status?.sourceStop?.stoppedTime);
      const p = patches(api);
      assert.equal(p.length, 1);
      assert.equal(p[0]!.path, onHub ? HUB_SCALE : MEMBER_SCALE);
      assert.equal(p[0]!.contentType, 'application/merge-patch+json');
      assert.deepEqual(p[0]!.body, { spec: { replicas: 0 } });
      assert.deepEqual(refused(api), [], 'the workload itself is never read or written');
      assert.ok(!api.requests.some((r) => r.path.includes('/deployments/web') && !r.path.endsWith('/scale')));
    });

  it('a Scale that omits replicas (0) still records 1 to scale back to', async () => {
    const { store, c } = await setup({ status: restored, onHub: true, ready: true });
    await c.reconcile('shop/r1');
    assert.equal(store.restore().status?.sourceStop?.workload?.replicas, 1);
  });

  it('the rollback: a restored pod lost before it took over scales the source back to the recorded replicas', async () => {
    const status = { ...restored, sourceStop: recorded(false, { stoppedTime: '2026-11-27T08:00:00Z' }) };
    const { store, api, c } = await setup({ status, onHub: false, ready: false });
    await c.reconcile('shop/r1');
    const p = patches(api);
    assert.equal(p.length, 1);
    assert.equal(p[0]!.path, MEMBER_SCALE);
    assert.deepEqual(p[0]!.body, { spec: { replicas: 1 } });
    assert.equal(store.restore().status?.phase, 'Failed');
    assert.equal(store.restore().status?.reason, 'RestoredPodLost');
    assert.deepEqual(refused(api), []);
  });
});
