import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { rootLogger } from '@stateful-migration/kube';
import { MemoryApi } from '@stateful-migration/kube/testing';
import { hubControllers } from '../main.js';
import { HubMetrics } from '../metrics.js';

// Every binding event of every Secret and ConfigMap in the federation queues a reconcile here (either may be a
// registry secret or a keys object). Most are tenants' own, carried by their own policies, and the hub has nothing of
// them to take back. `pnpm bench works` found each such reconcile made five requests (a fresh list of the namespace's
// backups, then reads of a reader Role, a RoleBinding and their bindings, all absent): about 40 per ConfigMap a tenant
// created. Nothing of the hub's in its caches: no request. Something of the hub's: taken back, as before.

const NS = 'shop';
const RBAC = `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}`;
const BINDINGS = `/apis/work.karmada.io/v1alpha2/namespaces/${NS}/resourcebindings`;
const POLICIES = `/apis/policy.karmada.io/v1alpha1/namespaces/${NS}/propagationpolicies`;
const HUB = { 'app.kubernetes.io/managed-by': 'stateful-migration-hub' };
const READER = 'checkpoint-backup-public-keys-configmap-app-config';

const binding = (kind: string, name: string, policy?: string) => ({
  apiVersion: 'work.karmada.io/v1alpha2',
  kind: 'ResourceBinding',
  metadata: {
    name: `${name}-${kind.toLowerCase()}`,
    namespace: NS,
    ...(policy
      ? {
          annotations: {
            'propagationpolicy.karmada.io/name': policy,
            'propagationpolicy.karmada.io/namespace': NS,
          },
        }
      : {}),
  },
  spec: { resource: { apiVersion: 'v1', kind, name, namespace: NS }, clusters: [{ name: 'member1' }] },
});
const reader = (kind: 'Role' | 'RoleBinding', labels?: Record<string, string>) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind,
  metadata: { name: READER, namespace: NS, ...(labels ? { labels } : {}) },
});
const HUB_POLICY = {
  apiVersion: 'policy.karmada.io/v1alpha1',
  kind: 'PropagationPolicy',
  metadata: { name: 'public-keys-configmap-team-keys', namespace: NS, labels: HUB },
  spec: {
    resourceSelectors: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'team-keys' }],
    placement: { clusterAffinity: { clusterNames: ['member1'] } },
  },
};

const stops: (() => void)[] = [];
after(() => stops.forEach((s) => s()));

/** The hub, its caches synced over what `setup` stored; the calls recorded from then on. */
async function hub(setup: (api: MemoryApi) => void = () => undefined, rbacListable = true) {
  const api = new MemoryApi();
  // A tenant's ConfigMap and Secret, carried by the tenant's own policy.
  api.put(`${BINDINGS}/app-config-configmap`, binding('ConfigMap', 'app-config', 'tenant-policy'));
  api.put(`${BINDINGS}/db-password-secret`, binding('Secret', 'db-password', 'tenant-policy'));
  setup(api);
  if (!rbacListable)
    api.route = (method, path) =>
      method === 'GET' && /^\/apis\/rbac\.authorization\.k8s\.io\/v1\/(roles|rolebindings)/.test(path)
        ? Object.assign(new Error('forbidden'), { statusCode: 403 })
        : undefined;
  const h = hubControllers({
    client: api.client(),
    log: rootLogger('test', 'silent'),
    metrics: new HubMetrics(),
    identity: 'hub-0',
  });
  stops.push(() => h.caches.stop());
  await h.caches.start();
  // What the cases say of "nothing cached" holds only once the caches of reader Roles and RoleBindings have listed.
  assert.equal(h.caches.readerRoles.hasSynced(), rbacListable, 'reader Roles listed');
  assert.equal(h.caches.readerBindings.hasSynced(), rbacListable, 'reader RoleBindings listed');
  api.resetCalls();
  return { api, h };
}

describe("a Secret or ConfigMap the hub holds nothing of: its binding's events cost no request", () => {
  it("a tenant's ConfigMap and Secret, in every use the hub knows: no request at all", async () => {
    const { api, h } = await hub();
    for (const key of ['keys:ConfigMap:shop/app-config', 'keys:Secret:shop/db-password', 'shop/db-password'])
      assert.equal(await h.secrets.reconcile(key), undefined, key);
    assert.deepEqual(
      api.calls.map((c) => `${c.method} ${c.path}`),
      [],
    );
  });

  it("a tenant's binding whose own policy was deleted (Karmada keeps it, unclaimed): left alone, no request", async () => {
    const { api, h } = await hub((api) =>
      api.put(`${BINDINGS}/orphan-configmap`, binding('ConfigMap', 'orphan')),
    );
    await h.secrets.reconcile('keys:ConfigMap:shop/orphan');
    assert.deepEqual(
      api.calls.map((c) => `${c.method} ${c.path}`),
      [],
    );
    assert.ok(api.object(`${BINDINGS}/orphan-configmap`), 'the members keep their copy');
  });

  it('the same orphaned binding when the reader caches cannot say (a hub just started, or one that may not list Roles): it stays', async () => {
    const { api, h } = await hub(
      (api) => api.put(`${BINDINGS}/orphan-configmap`, binding('ConfigMap', 'orphan')),
      false,
    );
    await h.secrets.reconcile('keys:ConfigMap:shop/orphan');
    assert.deepEqual(api.writes(), []);
    assert.ok(api.object(`${BINDINGS}/orphan-configmap`), 'the members keep their copy');
  });

  it('the reader caches could not list (the hub may not list Roles): read as before, nothing deleted', async () => {
    const { api, h } = await hub(undefined, false);
    await h.secrets.reconcile('keys:ConfigMap:shop/app-config');
    assert.ok(
      api.calls.some((c) => c.method === 'GET' && c.path === `${RBAC}/roles/${READER}`),
      'the Role is read, since the cache cannot say',
    );
    assert.deepEqual(api.writes(), []);
  });
});

describe("something of the hub's is left (a withdraw cut short): it is taken back", () => {
  it('its reader Role and RoleBinding', async () => {
    const { api, h } = await hub((api) => {
      api.put(`${RBAC}/roles/${READER}`, reader('Role', HUB));
      api.put(`${RBAC}/rolebindings/${READER}`, reader('RoleBinding', HUB));
    });
    await h.secrets.reconcile('keys:ConfigMap:shop/app-config');
    assert.deepEqual(api.writes(), [
      `DELETE ${RBAC}/roles/${READER}`,
      `DELETE ${RBAC}/rolebindings/${READER}`,
    ]);
  });

  it('its reader RoleBinding alone (the Role went first)', async () => {
    const { api, h } = await hub((api) =>
      api.put(`${RBAC}/rolebindings/${READER}`, reader('RoleBinding', HUB)),
    );
    await h.secrets.reconcile('keys:ConfigMap:shop/app-config');
    assert.deepEqual(api.writes(), [`DELETE ${RBAC}/rolebindings/${READER}`]);
  });

  it("the RoleBinding's DELETE failed: the retry deletes it (the hub's own delete does not hide it)", async () => {
    const { api, h } = await hub((api) => {
      api.put(`${RBAC}/roles/${READER}`, reader('Role', HUB));
      api.put(`${RBAC}/rolebindings/${READER}`, reader('RoleBinding', HUB));
    });
    let failed = false;
    api.route = (method, path) => {
      if (failed || method !== 'DELETE' || path !== `${RBAC}/rolebindings/${READER}`) return undefined;
      failed = true;
      return Object.assign(new Error('etcdserver: request timed out'), { statusCode: 500 });
    };
    await assert.rejects(h.secrets.reconcile('keys:ConfigMap:shop/app-config'), /timed out/);
    await h.secrets.reconcile('keys:ConfigMap:shop/app-config');
    assert.equal(api.object(`${RBAC}/rolebindings/${READER}`), undefined);
  });

  it("a tenant's Role of the reader's name, still carried by the hub's policy: its binding is taken back", async () => {
    const { api, h } = await hub((api) => {
      api.put(`${RBAC}/roles/${READER}`, reader('Role'));
      api.put(`${BINDINGS}/${READER}-role`, binding('Role', READER, 'public-keys-configmap-app-config'));
    });
    await h.secrets.reconcile('keys:ConfigMap:shop/app-config');
    assert.deepEqual(api.writes(), [`DELETE ${BINDINGS}/${READER}-role`]);
    assert.ok(api.object(`${RBAC}/roles/${READER}`), "the tenant's Role stays");
  });

  it("the object's binding, still claimed by the hub's deleted policy", async () => {
    const { api, h } = await hub((api) =>
      api.put(
        `${BINDINGS}/team-keys-configmap`,
        binding('ConfigMap', 'team-keys', 'public-keys-configmap-team-keys'),
      ),
    );
    await h.secrets.reconcile('keys:ConfigMap:shop/team-keys');
    assert.deepEqual(api.writes(), [`DELETE ${BINDINGS}/team-keys-configmap`]);
  });

  it("the hub's policy", async () => {
    const { api, h } = await hub((api) => api.put(`${POLICIES}/public-keys-configmap-team-keys`, HUB_POLICY));
    await h.secrets.reconcile('keys:ConfigMap:shop/team-keys');
    assert.deepEqual(api.writes(), [`DELETE ${POLICIES}/public-keys-configmap-team-keys`]);
  });
});

describe('what the hub made that its caches have not seen yet is queued again by its own event', () => {
  it("a policy of the hub's: nothing to take back while unseen; taken back once its event arrives", async () => {
    const { api, h } = await hub();
    const deliver = api.holdWatches(/propagationpolicies/);
    api.put(`${POLICIES}/public-keys-configmap-team-keys`, HUB_POLICY);
    await h.secrets.reconcile('keys:ConfigMap:shop/team-keys');
    assert.deepEqual(api.writes(), [], 'the cache has not seen it');
    h.secrets.start();
    stops.push(() => h.secrets.stop());
    deliver();
    for (let i = 0; i < 50 && api.object(`${POLICIES}/public-keys-configmap-team-keys`); i++) {
      await new Promise((r) => setImmediate(r));
      await h.secrets.queue.idle();
    }
    assert.equal(api.object(`${POLICIES}/public-keys-configmap-team-keys`), undefined);
  });
});
