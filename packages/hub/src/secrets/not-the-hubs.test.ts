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

const binding = (kind: string, name: string, policy: string) => ({
  apiVersion: 'work.karmada.io/v1alpha2',
  kind: 'ResourceBinding',
  metadata: {
    name: `${name}-${kind.toLowerCase()}`,
    namespace: NS,
    annotations: {
      'propagationpolicy.karmada.io/name': policy,
      'propagationpolicy.karmada.io/namespace': NS,
    },
  },
  spec: { resource: { apiVersion: 'v1', kind, name, namespace: NS }, clusters: [{ name: 'member1' }] },
});

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

describe("something of the hub's is left (a crash part-way through taking it back): it is taken back", () => {
  it('only its reader Role and RoleBinding', async () => {
    const { api, h } = await hub((api) => {
      for (const [kind, plural] of [
        ['Role', 'roles'],
        ['RoleBinding', 'rolebindings'],
      ] as const)
        api.put(`${RBAC}/${plural}/${READER}`, {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind,
          metadata: { name: READER, namespace: NS, labels: HUB },
        });
    });
    await h.secrets.reconcile('keys:ConfigMap:shop/app-config');
    assert.deepEqual(api.writes(), [
      `DELETE ${RBAC}/roles/${READER}`,
      `DELETE ${RBAC}/rolebindings/${READER}`,
    ]);
  });

  it("only the object's binding, still claimed by the hub's deleted policy", async () => {
    const { api, h } = await hub((api) =>
      api.put(
        `${BINDINGS}/team-keys-configmap`,
        binding('ConfigMap', 'team-keys', 'public-keys-configmap-team-keys'),
      ),
    );
    await h.secrets.reconcile('keys:ConfigMap:shop/team-keys');
    assert.deepEqual(api.writes(), [`DELETE ${BINDINGS}/team-keys-configmap`]);
  });

  it("only the hub's policy", async () => {
    const { api, h } = await hub((api) =>
      api.put(`${POLICIES}/public-keys-configmap-team-keys`, {
        apiVersion: 'policy.karmada.io/v1alpha1',
        kind: 'PropagationPolicy',
        metadata: { name: 'public-keys-configmap-team-keys', namespace: NS, labels: HUB },
        spec: {
          resourceSelectors: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'team-keys' }],
          placement: { clusterAffinity: { clusterNames: ['member1'] } },
        },
      }),
    );
    await h.secrets.reconcile('keys:ConfigMap:shop/team-keys');
    assert.deepEqual(api.writes(), [`DELETE ${POLICIES}/public-keys-configmap-team-keys`]);
  });
});
