import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { CheckpointBackup } from '@stateful-migration/api';
import { rootLogger } from '@stateful-migration/kube';
import { MemoryApi } from '@stateful-migration/kube/testing';
import { hubControllers } from './main.js';
import { HubMetrics } from './metrics.js';

// Before the hub takes a registry secret back from the members it reads the backups again (its cache may lag a
// placement just recorded). The platform's default secret lives in stateful-migration, its users in tenant
// namespaces: that fresh read must look in every namespace, or the secret and its reader RBAC go while in use.

const GROUP = '/apis/migration.dcnlab.com/v1';
const POLICIES = '/apis/policy.karmada.io/v1alpha1/namespaces/stateful-migration/propagationpolicies';
const HUB = { 'app.kubernetes.io/managed-by': 'stateful-migration-hub' };

const placedInShop: CheckpointBackup = {
  apiVersion: 'migration.dcnlab.com/v1',
  kind: 'CheckpointBackup',
  metadata: { name: 'b', namespace: 'shop', uid: 'b-uid', generation: 1, resourceVersion: '5' },
  spec: {
    schedule: 'immediately',
    podRef: { name: 'web-0' },
    resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web' },
    // no secretRef: the platform's default secret, for a platform registry
    registry: { url: 'registry.platform:5000', repository: 'shop/ck' },
  },
  status: { placement: { clusters: ['member1'], by: 'placement' } },
};

const stops: (() => void)[] = [];
after(() => stops.forEach((s) => s()));

/** The hub, its caches synced, with the policy it wrote for the default secret. */
async function hub() {
  const api = new MemoryApi();
  api.put(`${POLICIES}/registry-secret-registry-credentials`, {
    apiVersion: 'policy.karmada.io/v1alpha1',
    kind: 'PropagationPolicy',
    metadata: { name: 'registry-secret-registry-credentials', namespace: 'stateful-migration', labels: HUB },
    spec: { resourceSelectors: [], placement: { clusterAffinity: { clusterNames: ['member1'] } } },
  });
  const h = hubControllers({
    client: api.client(),
    log: rootLogger('test', 'silent'),
    metrics: new HubMetrics(),
    identity: 'hub-0',
    defaultSecretRegistries: ['registry.platform:5000'],
  });
  stops.push(() => h.caches.stop());
  await h.caches.start();
  api.resetCalls();
  return { api, h };
}

describe("withdrawing the platform's default secret", () => {
  it('a backup in a tenant namespace that the cache has not seen yet, placed: nothing is withdrawn, the key comes back', async () => {
    const { api, h } = await hub();
    // The cache synced before the backup was placed; the apiserver has it now (a fresh list of every namespace).
    api.route = (method, path) =>
      method === 'GET' && path === `${GROUP}/checkpointbackups`
        ? { metadata: { resourceVersion: '9' }, items: [placedInShop] }
        : undefined;
    const result = await h.secrets.reconcile('stateful-migration/registry-credentials');
    assert.deepEqual(api.writes(), [], 'no policy, binding, Role or RoleBinding deleted');
    assert.deepEqual(result, { requeueAfterMs: 1000 });
  });

  it('no placed backup anywhere: withdrawn', async () => {
    const { api, h } = await hub();
    await h.secrets.reconcile('stateful-migration/registry-credentials');
    assert.ok(api.writes().includes(`DELETE ${POLICIES}/registry-secret-registry-credentials`));
  });
});
