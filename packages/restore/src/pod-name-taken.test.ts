import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { CheckpointRestore } from '@stateful-migration/api';
import { rootLogger } from '@stateful-migration/kube';
import { FakeApiserver, type FakeReply, type FakeRequest } from '@stateful-migration/kube/testing';
import { RestoreController } from './controller.js';
import { DIGEST_APP, DIGEST_SIDE, REG, backup, source } from './fixtures.test-support.js';

// A restore acts only on what it made: the restored pod it created (its label, and the uid recorded in status), its
// pull secret and its policy (the owner label). A pod, secret or policy of the same name that is someone else's is
// never adopted, observed, patched or given ownerReferences.

const RESTORES = '/apis/migration.dcnlab.com/v1/namespaces/shop/checkpointrestores';
const BACKUP = '/apis/migration.dcnlab.com/v1/namespaces/shop/checkpointbackups/web-now';
const BINDINGS = '/apis/work.karmada.io/v1alpha2/namespaces/shop/resourcebindings';
const PODS = '/api/v1/namespaces/shop/pods';
const SECRETS = '/api/v1/namespaces/shop/secrets';
const POLICIES = '/apis/policy.karmada.io/v1alpha1/namespaces/shop/propagationpolicies';
const CLUSTERS = '/apis/cluster.karmada.io/v1alpha1/clusters';
const RESTORE_LABEL = 'migration.dcnlab.com/restore';
const OWNER_LABEL = 'migration.dcnlab.com/restore-owner';

const images = [
  { containerName: 'app', image: `${REG}/cp/checkpoint-web-1-app@${DIGEST_APP}` },
  { containerName: 'side', image: `${REG}/cp/checkpoint-web-1-side@${DIGEST_SIDE}` },
];

/** A restore `name` that has submitted the pod web-0-restored to member2. */
function submitted(
  name: string,
  phase: 'RestoreSubmitted' | 'RestoreInProgress' | 'Restored' = 'RestoreSubmitted',
  uid?: string,
): CheckpointRestore {
  return {
    apiVersion: 'migration.dcnlab.com/v1',
    kind: 'CheckpointRestore',
    metadata: { name, namespace: 'shop', uid: `${name}-uid`, generation: 1, resourceVersion: '1' },
    spec: { backupRef: { name: 'web-now' }, targetCluster: 'member2', mode: 'Migrate' },
    status: {
      phase,
      sourceCluster: 'member1',
      restoredPod: {
        cluster: 'member2',
        namespace: 'shop',
        name: 'web-0-restored',
        ...(uid ? { uid } : {}),
      },
      images,
      submittedTime: new Date().toISOString(),
    },
  };
}

const pod = (restore: string, uid: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web-0-restored', namespace: 'shop', uid, labels: { [RESTORE_LABEL]: restore } },
});

/**
 * A Karmada apiserver in memory: objects by path; GET, POST to a collection (409 when the name is taken), merge PATCH
 * of metadata, PUT of a restore's status, Events. Every request is recorded for the assertions.
 */
function karmada(objects: Record<string, unknown>) {
  const store = new Map(Object.entries(objects).map(([k, v]) => [k, structuredClone(v)]));
  let rv = 10;
  const ok = (body: unknown): FakeReply => ({ status: 200, body });
  const handle = (r: FakeRequest): FakeReply => {
    if (r.method === 'POST' && r.path.endsWith('/events')) return ok({ metadata: { name: 'e' } });
    if (r.method === 'GET') {
      const o = store.get(r.path);
      return o
        ? ok(o)
        : { status: 404, body: { kind: 'Status', reason: 'NotFound', message: `${r.path} not found` } };
    }
    if (r.method === 'PUT' && r.path.endsWith('/status')) {
      const key = r.path.slice(0, -'/status'.length);
      const cur = store.get(key) as CheckpointRestore;
      const next = {
        ...cur,
        metadata: { ...cur.metadata, resourceVersion: String(++rv) },
        status: (r.body as CheckpointRestore).status,
      };
      store.set(key, next);
      return ok(next);
    }
    if (r.method === 'POST') {
      const body = r.body as { metadata: { name: string } };
      const path = `${r.path}/${body.metadata.name}`;
      if (store.has(path))
        return { status: 409, body: { kind: 'Status', reason: 'AlreadyExists', message: 'exists' } };
      store.set(path, { ...body, metadata: { ...body.metadata, uid: `uid-${++rv}` } });
      return ok(store.get(path));
    }
    if (r.method === 'PATCH' && store.has(r.path)) {
      const cur = store.get(r.path) as { metadata: Record<string, unknown> };
      const meta = ((r.body as { metadata?: Record<string, unknown> }).metadata ?? {}) as Record<
        string,
        unknown
      >;
      store.set(r.path, { ...cur, ...(r.body as object), metadata: { ...cur.metadata, ...meta } });
      return ok(store.get(r.path));
    }
    return { status: 405, body: { kind: 'Status', message: `unexpected ${r.method} ${r.path}` } };
  };
  return { handle, get: <T>(path: string) => store.get(path) as T };
}

/** What the restores read besides themselves: the backup, the clusters, the registry secret, the pod's binding. */
const world = (): Record<string, unknown> => ({
  [BACKUP]: {
    ...backup(),
    metadata: { name: 'web-now', namespace: 'shop', uid: 'b-uid', resourceVersion: '3' },
    status: { clusters: [source()] },
  },
  [CLUSTERS]: {
    items: ['member1', 'member2'].map((name) => ({
      metadata: { name },
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    })),
  },
  [`${SECRETS}/creds`]: {
    metadata: { name: 'creds', namespace: 'shop' },
    data: { username: Buffer.from('u').toString('base64'), password: Buffer.from('p').toString('base64') },
  },
  [`${BINDINGS}/web-0-restored-pod`]: {
    status: {
      aggregatedStatus: [
        {
          clusterName: 'member2',
          applied: true,
          status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
        },
      ],
    },
  },
  [`${BINDINGS}/move-registry-pull-secret`]: {
    status: { aggregatedStatus: [{ clusterName: 'member2', applied: true }] },
  },
});

describe('a restore never takes over a pod, secret or policy of the same name that is not its own', () => {
  const servers: FakeApiserver[] = [];
  after(async () => {
    for (const s of servers) await s.close();
  });
  const setup = async (objects: Record<string, unknown>) => {
    const store = karmada(objects);
    const api = new FakeApiserver(store.handle);
    servers.push(api);
    await api.listen();
    const c = new RestoreController({
      client: api.client(),
      log: rootLogger('test', 'silent'),
      identity: 'hub-0',
    });
    const restore = () => store.get<CheckpointRestore>(`${RESTORES}/move`);
    const writes = () => api.requests.filter((r) => r.method !== 'GET' && !r.path.endsWith('/events'));
    return { api, c, store, restore, writes };
  };

  it('the pod web-0-restored of restore copy, Running and Ready: restore move (RestoreSubmitted) ends Failed PodNameTaken, adopting and observing nothing', async () => {
    const { c, restore, writes } = await setup({
      ...world(),
      [`${RESTORES}/move`]: submitted('move'),
      [`${PODS}/web-0-restored`]: pod('copy', 'pod-of-copy'),
      [`${SECRETS}/move-registry-pull`]: {
        metadata: { name: 'move-registry-pull', namespace: 'shop', labels: { [OWNER_LABEL]: 'shop.move' } },
      },
      [`${POLICIES}/checkpointrestore-move`]: {
        metadata: {
          name: 'checkpointrestore-move',
          namespace: 'shop',
          labels: { [OWNER_LABEL]: 'shop.move' },
        },
      },
    });
    await c.reconcile('shop/move');
    const s = restore().status!;
    assert.equal(s.phase, 'Failed', s.message);
    assert.equal(s.reason, 'PodNameTaken');
    assert.equal(
      s.message,
      'pod shop/web-0-restored is not the one this restore created: it belongs to CheckpointRestore copy; ' +
        'it is left alone (delete it, or restore again with another spec.podName)',
    );
    assert.deepEqual(
      writes().map((r) => `${r.method} ${r.path}`),
      [`PUT ${RESTORES}/move/status`],
      'no ownerReferences PATCH, no label handover: only the Failed status',
    );
  });

  it('a pod with this restore’s label but not the uid it recorded (made again by someone else) is not its either', async () => {
    const { c, restore, writes } = await setup({
      ...world(),
      [`${RESTORES}/move`]: submitted('move', 'RestoreInProgress', 'the-one-it-made'),
      [`${PODS}/web-0-restored`]: pod('move', 'another'),
    });
    await c.reconcile('shop/move');
    assert.equal(restore().status?.phase, 'Failed');
    assert.equal(restore().status?.reason, 'PodNameTaken');
    assert.match(restore().status!.message!, /uid another, not the-one-it-made/);
    assert.deepEqual(
      writes().map((r) => r.method),
      ['PUT'],
    );
  });

  it('Migrate, Restored: a foreign pod under the restored pod’s name stops the migration before the source is touched', async () => {
    const { c, restore, writes } = await setup({
      ...world(),
      [`${RESTORES}/move`]: submitted('move', 'Restored', 'the-one-it-made'),
      [`${PODS}/web-0-restored`]: pod('copy', 'pod-of-copy'),
    });
    await c.reconcile('shop/move');
    assert.equal(restore().status?.phase, 'Failed');
    assert.equal(restore().status?.reason, 'PodNameTaken');
    assert.equal(restore().status?.sourceStop, undefined, 'nothing recorded, nothing stopped');
    assert.deepEqual(
      writes().map((r) => r.method),
      ['PUT'],
    );
  });

  it('Migrate, source scaled down for the pod it created, which was replaced by a foreign one: the source is scaled back, no labels handed over', async () => {
    const scale = `/apis/cluster.karmada.io/v1alpha1/clusters/member1/proxy/apis/apps/v1/namespaces/shop/deployments/web/scale`;
    const status = {
      ...submitted('move', 'Restored', 'the-one-it-made').status!,
      sourceStop: {
        cluster: 'member1',
        namespace: 'shop',
        pod: 'web-1',
        method: 'Scale' as const,
        workload: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', replicas: 1 },
        onHub: false,
        stoppedTime: new Date().toISOString(),
      },
    };
    const { c, restore, writes } = await setup({
      ...world(),
      [`${RESTORES}/move`]: { ...submitted('move', 'Restored'), status },
      [`${PODS}/web-0-restored`]: pod('copy', 'pod-of-copy'),
      [scale]: { metadata: { name: 'web' }, spec: {} },
    });
    await c.reconcile('shop/move');
    assert.equal(restore().status?.reason, 'PodNameTaken');
    assert.match(restore().status!.message!, /; Deployment shop\/web scaled back to 1$/);
    assert.deepEqual(
      writes().map((r) => `${r.method} ${r.path}`),
      [`PATCH ${scale}`, `PUT ${RESTORES}/move/status`],
      'the Scale patched back, then Failed: no label PATCH of the foreign pod',
    );
    assert.deepEqual(writes()[0]!.body, { spec: { replicas: 1 } });
  });

  it('the pod it created: its uid is recorded in status.restoredPod, and it is followed to Restored', async () => {
    const { c, restore } = await setup({
      ...world(),
      [`${RESTORES}/move`]: submitted('move'),
      [`${PODS}/web-0-restored`]: pod('move', 'mine'),
    });
    await c.reconcile('shop/move');
    assert.equal(restore().status?.phase, 'Restored', restore().status?.message);
    assert.equal(restore().status?.restoredPod?.uid, 'mine');
  });

  it("a user's secret named <restore>-registry-pull is neither overwritten nor given owners: Failed, naming it", async () => {
    const users = {
      metadata: { name: 'move-registry-pull', namespace: 'shop', labels: { team: 'shop' } },
      data: { token: Buffer.from('mine').toString('base64') },
    };
    const { c, restore, writes, store } = await setup({
      ...world(),
      [`${RESTORES}/move`]: submitted('move'),
      [`${SECRETS}/move-registry-pull`]: users,
    });
    await c.reconcile('shop/move');
    const s = restore().status!;
    assert.equal(s.phase, 'Failed', s.message);
    assert.equal(s.reason, 'NameTaken');
    assert.equal(
      s.message,
      'Secret shop/move-registry-pull exists and was not made by this restore (no label ' +
        'migration.dcnlab.com/restore-owner=shop.move): it is left alone; delete or rename it, or restore under ' +
        'another name',
    );
    assert.deepEqual(store.get(`${SECRETS}/move-registry-pull`), users, 'untouched');
    assert.ok(!writes().some((r) => r.method === 'PATCH'), 'no PATCH at all');
  });

  it("a user's policy named checkpointrestore-<restore> is not rewritten either", async () => {
    const theirs = {
      metadata: { name: 'checkpointrestore-move', namespace: 'shop' },
      spec: { resourceSelectors: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'x' }] },
    };
    const { c, restore, writes, store } = await setup({
      ...world(),
      [`${RESTORES}/move`]: submitted('move'),
      [`${POLICIES}/checkpointrestore-move`]: theirs,
    });
    await c.reconcile('shop/move');
    assert.equal(restore().status?.reason, 'NameTaken');
    assert.match(restore().status!.message!, /^PropagationPolicy shop\/checkpointrestore-move exists and/);
    assert.deepEqual(store.get(`${POLICIES}/checkpointrestore-move`), theirs);
    assert.ok(!writes().some((r) => r.method === 'PATCH' && r.path.startsWith(POLICIES)));
  });
});
