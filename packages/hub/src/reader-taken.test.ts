import assert from 'node:assert/strict';
import { setImmediate } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import type { CheckpointBackup } from '@stateful-migration/api';
import { MemoryApi } from '@stateful-migration/kube/testing';
import { HUB_FINALIZER } from './policies.js';
import { hubRecordingBackupKeys } from './queue-recorder.test-support.js';

// The hub carries a registry secret to members with a Role and a RoleBinding named
// checkpoint-backup-registry-secret-<secret>, by name, with conflictResolution Overwrite. One of those names taken in
// the namespace by an object that is not the hub's (a tenant's own RBAC) must not be carried to members under
// Karmada's identity: the backup is refused, naming it, and no policy is written.

const GROUP = '/apis/migration.dcnlab.com/v1';
const BACKUP = `${GROUP}/namespaces/shop/checkpointbackups/b`;
const RBAC = '/apis/rbac.authorization.k8s.io/v1/namespaces/shop';
const READER = 'checkpoint-backup-registry-secret-creds';
const POLICIES = '/apis/policy.karmada.io/v1alpha1/namespaces/shop/propagationpolicies';
const BINDINGS = '/apis/work.karmada.io/v1alpha2/namespaces/shop/resourcebindings';

function backup(status?: CheckpointBackup['status']): CheckpointBackup {
  return {
    apiVersion: 'migration.dcnlab.com/v1',
    kind: 'CheckpointBackup',
    metadata: { name: 'b', namespace: 'shop', uid: 'b-uid', generation: 1, finalizers: [HUB_FINALIZER] },
    spec: {
      schedule: 'immediately',
      podRef: { name: 'web-0' },
      resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web' },
      registry: { url: 'reg.example', repository: 'shop/ck', secretRef: { name: 'creds' } },
      placement: { clusterAffinity: { clusterNames: ['member1'] } },
    },
    ...(status ? { status } : {}),
  };
}

const stops: (() => void)[] = [];
after(() => stops.forEach((s) => s()));

/** Karmada with the backup, the cluster member1 and, in the namespace, a Role or RoleBinding named as the reader. */
async function karmada(
  taken: { kind: 'roles' | 'rolebindings'; labels?: Record<string, string> },
  b = backup(),
  more: (api: MemoryApi) => void = () => undefined,
) {
  const api = new MemoryApi();
  api.put(BACKUP, b);
  api.put('/apis/cluster.karmada.io/v1alpha1/clusters/member1', {
    metadata: { name: 'member1' },
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  });
  api.put(`${RBAC}/${taken.kind}/${READER}`, {
    metadata: { name: READER, namespace: 'shop', ...(taken.labels ? { labels: taken.labels } : {}) },
    rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] }],
  });
  more(api);
  const { hub, queued: requeued, stop } = await hubRecordingBackupKeys(api);
  stops.push(stop);
  return { api, hub, requeued };
}

const message = (what: string) =>
  `${what} shop/${READER} exists and is not the hub's (no label app.kubernetes.io/managed-by=stateful-migration-hub): ` +
  'the hub would carry it to members as the reader of registry secret shop/creds; it carries neither, so this ' +
  'object is not placed: delete or rename it, or name another secret in spec.registry.secretRef';

describe("the reader Role and RoleBinding of a registry secret: a name taken by an object not the hub's", () => {
  for (const [kind, what] of [
    ['roles', 'Role'],
    ['rolebindings', 'RoleBinding'],
  ] as const)
    it(`a ${what} of that name without the hub's label: Failed with a Warning naming it; no policy written, nothing carried`, async () => {
      const { api, hub } = await karmada({ kind, labels: { team: 'shop' } });
      assert.deepEqual(await hub.backups.reconcile('shop/b'), { requeueAfterMs: 60_000 });
      const s = api.object<CheckpointBackup>(BACKUP)!.status!;
      assert.equal(s.phase, 'Failed');
      assert.equal(s.message, message(what));
      assert.deepEqual(api.events(), [`Warning RegistrySecretReaderTaken: ${message(what)}`]);
      assert.deepEqual(
        api.writes().filter((w) => w.includes('/propagationpolicies') || w.includes('/rbac.authorization')),
        [],
        'no policy (secret or backup) and no RBAC written',
      );
      assert.ok(!api.object(`${POLICIES}/registry-secret-creds`));
    });

  it('reconciling the secret itself (its key) writes no policy either, and withdraws a policy the hub wrote before', async () => {
    const placed = backup({ placement: { clusters: ['member1'], by: 'placement' } });
    const claimed = (resource: { apiVersion: string; kind: string; name: string }) => ({
      metadata: {
        name: `${resource.name}-${resource.kind.toLowerCase()}`,
        namespace: 'shop',
        annotations: { 'propagationpolicy.karmada.io/name': 'registry-secret-creds' },
      },
      spec: { resource: { ...resource, namespace: 'shop' }, clusters: [{ name: 'member1' }] },
    });
    const { api, hub, requeued } = await karmada({ kind: 'roles' }, placed, (api) => {
      api.put(`${POLICIES}/registry-secret-creds`, {
        apiVersion: 'policy.karmada.io/v1alpha1',
        kind: 'PropagationPolicy',
        metadata: {
          name: 'registry-secret-creds',
          namespace: 'shop',
          labels: { 'app.kubernetes.io/managed-by': 'stateful-migration-hub' },
        },
        spec: { resourceSelectors: [], placement: { clusterAffinity: { clusterNames: ['member1'] } } },
      });
      api.put(`${BINDINGS}/creds-secret`, claimed({ apiVersion: 'v1', kind: 'Secret', name: 'creds' }));
      for (const kind of ['Role', 'RoleBinding'])
        api.put(
          `${BINDINGS}/${READER}-${kind.toLowerCase()}`,
          claimed({ apiVersion: 'rbac.authorization.k8s.io/v1', kind, name: READER }),
        );
    });
    assert.equal(await hub.secrets.reconcile('shop/creds'), undefined);
    assert.ok(
      !api.writes().some((w) => w.startsWith('POST') || w.startsWith('PUT')),
      api.writes().join('\n'),
    );
    assert.deepEqual(api.writes(), [
      `DELETE ${POLICIES}/registry-secret-creds`,
      `DELETE ${BINDINGS}/creds-secret`,
      `DELETE ${BINDINGS}/${READER}-role`,
      `DELETE ${BINDINGS}/${READER}-rolebinding`,
    ]);
    assert.ok(api.object(`${RBAC}/roles/${READER}`), "the tenant's Role is left alone");
    await setImmediate();
    assert.deepEqual(requeued, ['shop/b'], 'the backup using the secret is looked at again (and refused)');
  });

  it("the hub's own Role and RoleBinding: carried as before", async () => {
    const { api, hub } = await karmada({
      kind: 'roles',
      labels: { 'app.kubernetes.io/managed-by': 'stateful-migration-hub' },
    });
    assert.equal(await hub.backups.reconcile('shop/b'), undefined);
    assert.notEqual(api.object<CheckpointBackup>(BACKUP)!.status!.phase, 'Failed');
    assert.ok(api.object(`${POLICIES}/registry-secret-creds`));
  });
});

describe("the hub's own reader Role and RoleBinding come from its cache (HubCaches.readerRoles)", () => {
  const HUB = { 'app.kubernetes.io/managed-by': 'stateful-migration-hub' };
  const reads = (api: MemoryApi) =>
    api.calls.filter((c) => c.method === 'GET' && c.path.includes('/rbac.authorization')).map((c) => c.path);

  /** Placed once, the caches caught up: the Role and RoleBinding the hub made are in its cache. */
  async function placed() {
    const k = await karmada({ kind: 'roles', labels: HUB });
    await k.api.request('DELETE', `${RBAC}/roles/${READER}`);
    assert.equal(await k.hub.backups.reconcile('shop/b'), undefined);
    await setImmediate();
    assert.ok(k.api.object(`${RBAC}/roles/${READER}`) && k.api.object(`${RBAC}/rolebindings/${READER}`));
    assert.ok(k.hub.caches.readerRoles.get(`shop/${READER}`), 'the Role the hub made is cached');
    assert.ok(k.hub.caches.readerBindings.get(`shop/${READER}`), 'the RoleBinding the hub made is cached');
    k.api.resetCalls();
    return k;
  }

  it('a reconcile of a placed object with a registry secret reads no Role or RoleBinding, and writes nothing', async () => {
    const { api, hub } = await placed();
    assert.equal(await hub.backups.reconcile('shop/b'), undefined);
    assert.deepEqual(reads(api), [], 'no GET of the reader Role or RoleBinding');
    assert.deepEqual(api.writes(), []);
  });

  it('the Role deleted behind its back: the event queues the secret, whose reconcile makes it again', async () => {
    const { api, hub } = await placed();
    const queued: string[] = [];
    hub.secrets.queue.start(async (k) => void queued.push(k));
    stops.push(() => hub.secrets.queue.stop());
    await setImmediate();
    queued.length = 0;
    await api.request('DELETE', `${RBAC}/roles/${READER}`);
    await setImmediate();
    assert.equal(hub.caches.readerRoles.get(`shop/${READER}`), undefined);
    assert.deepEqual(queued, ['shop/creds'], 'the secret whose reader it was, and nothing else');
    assert.equal(await hub.secrets.reconcile('shop/creds'), undefined);
    assert.ok(api.object(`${RBAC}/roles/${READER}`), 'made again');
    assert.ok(api.writes().includes(`POST ${RBAC}/roles`));
  });

  it("the hub's label taken off its Role (a tenant may): it leaves the cache, and the backup is refused, naming it", async () => {
    const { api, hub } = await placed();
    const stored = api.object<{ metadata: Record<string, unknown> }>(`${RBAC}/roles/${READER}`)!;
    api.put(`${RBAC}/roles/${READER}`, {
      ...stored,
      metadata: { ...stored.metadata, labels: { team: 'shop' } },
    });
    await setImmediate();
    assert.equal(hub.caches.readerRoles.get(`shop/${READER}`), undefined, 'out of the label-selected cache');
    assert.deepEqual(await hub.backups.reconcile('shop/b'), { requeueAfterMs: 60_000 });
    const s = api.object<CheckpointBackup>(BACKUP)!.status!;
    assert.equal(s.phase, 'Failed');
    assert.equal(s.message, message('Role'));
  });

  it("a Role of another name, or the hub's of another secret, is not taken for this secret's", async () => {
    const { api, hub } = await placed();
    api.put(`${RBAC}/roles/${READER}-x`, {
      metadata: { name: `${READER}-x`, namespace: 'shop', labels: HUB },
    });
    api.put(`/apis/rbac.authorization.k8s.io/v1/namespaces/other/roles/${READER}`, {
      metadata: { name: READER, namespace: 'other', labels: HUB },
    });
    await api.request('DELETE', `${RBAC}/rolebindings/${READER}`);
    await setImmediate();
    assert.equal(await hub.secrets.reconcile('shop/creds'), undefined);
    assert.ok(api.object(`${RBAC}/rolebindings/${READER}`), 'the RoleBinding is made again');
  });
});
