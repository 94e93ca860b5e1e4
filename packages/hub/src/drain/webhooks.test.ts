import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HUB_WEBHOOK_POLICY_PATH, hubWebhookOwner, type CheckpointBackup } from '@stateful-migration/api';
import { EventRecorder, rootLogger } from '@stateful-migration/kube';

const quiet = rootLogger('test', 'silent');
import { MemoryApi } from '@stateful-migration/kube/testing';
import type { HubCaches } from '../caches.js';
import { DrainWebhooks } from './webhooks.js';

type Handler = (e: string, obj: unknown, old?: unknown) => void;

/** Caches whose handlers the test calls itself: two member clusters, and the backup events it sends. */
function shell(backups: () => unknown[] = () => [], api = new MemoryApi(), events?: EventRecorder) {
  const handlers: Record<'backups' | 'clusters', Handler[]> = { backups: [], clusters: [] };
  const informer = (which: 'backups' | 'clusters', list: () => unknown[]) => ({
    on: (h: Handler) => handlers[which].push(h),
    list,
  });
  const caches = {
    backups: {
      ...informer('backups', backups),
      get: (k: string) =>
        (backups() as CheckpointBackup[]).find((b) => `${b.metadata.namespace}/${b.metadata.name}` === k),
    },
    clusters: informer('clusters', () => [
      { metadata: { name: 'member1' } },
      { metadata: { name: 'member2' } },
    ]),
  } as unknown as HubCaches;
  const webhooks = new DrainWebhooks({
    client: api.client(),
    ...(events ? { events } : {}),
    caches,
    endpoint: { url: 'https://hub.example:8443', caBundle: 'PEM' },
    log: rootLogger('test', 'silent'),
  });
  return {
    webhooks,
    backupEvent: (e: string, b: unknown, old?: unknown) => handlers.backups.forEach((h) => h(e, b, old)),
  };
}

const backup = (keepState?: CheckpointBackup['spec']['keepState']): CheckpointBackup => ({
  apiVersion: 'migration.dcnlab.com/v1',
  kind: 'CheckpointBackup',
  metadata: { name: 'web', namespace: 'shop' },
  spec: {
    schedule: 'immediately',
    resourceRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
    ...(keepState ? { keepState } : {}),
  },
});

describe('DrainWebhooks: which backup events reach its queue', () => {
  it('a backup that keeps state on eviction, before or after the change, queues every cluster', () => {
    for (const [b, old] of [
      [backup({ eviction: {} }), undefined],
      [backup(), backup({ eviction: {} })],
      [backup({ eviction: {} }), backup()],
    ] as const) {
      const { webhooks, backupEvent } = shell();
      backupEvent('update', b, old);
      assert.equal(webhooks.queue.depth(), 2);
    }
  });

  it('any other backup event queues nothing: it cannot change a configuration (issue 12: it cost every cluster a pass over every backup)', () => {
    const { webhooks, backupEvent } = shell();
    backupEvent('add', backup());
    backupEvent('update', backup({ clusterFailover: {} }), backup());
    backupEvent('delete', backup());
    assert.equal(webhooks.queue.depth(), 0);
  });
});

describe("DrainWebhooks.reconcile: the member's configurations, owned by its hub webhook policy", () => {
  const CLUSTERS = '/apis/cluster.karmada.io/v1alpha1/clusters';
  const b = backup({ eviction: {} });
  const kept = {
    ...b,
    spec: { ...b.spec, registry: { url: 'reg.example', repository: 'shop/cp' } },
    status: { placement: { clusters: ['member1'] } },
  };
  const VWC = `${CLUSTERS}/member1/proxy/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations`;
  const MWC = `${CLUSTERS}/member1/proxy/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations`;
  const withPolicy = () => {
    const api = new MemoryApi();
    api.put(`${CLUSTERS}/member1/proxy${HUB_WEBHOOK_POLICY_PATH}`, { metadata: { uid: 'policy-1' } });
    return api;
  };
  type Stored = { metadata: { ownerReferences?: unknown[] } };

  it("both are created with the policy as their owner, so the chart's uninstall takes them along", async () => {
    const api = withPolicy();
    await shell(() => [kept], api).webhooks.reconcile('member1');
    for (const c of [VWC, MWC])
      assert.deepEqual(api.object<Stored>(`${c}/stateful-migration.keep-state`)?.metadata.ownerReferences, [
        hubWebhookOwner('policy-1'),
      ]);
  });

  it('one made before owners were set is replaced with its owner', async () => {
    const api = withPolicy();
    const { webhooks } = shell(() => [kept], api);
    await webhooks.reconcile('member1');
    for (const c of [VWC, MWC]) {
      const there = api.object<Stored>(`${c}/stateful-migration.keep-state`)!;
      delete there.metadata.ownerReferences;
      api.put(`${c}/stateful-migration.keep-state`, there);
    }
    await webhooks.reconcile('member1');
    for (const c of [VWC, MWC])
      assert.deepEqual(api.object<Stored>(`${c}/stateful-migration.keep-state`)?.metadata.ownerReferences, [
        hubWebhookOwner('policy-1'),
      ]);
  });

  it('a member without the policy (the chart not there): nothing is made; the backup says so once, with a Warning', async () => {
    const api = new MemoryApi();
    const path = '/apis/migration.dcnlab.com/v1/namespaces/shop/checkpointbackups/web';
    api.put(path, kept);
    let stored = api.object<CheckpointBackup>(path)!;
    const { webhooks } = shell(
      () => [stored],
      api,
      new EventRecorder(api.client(), 'test', undefined, quiet),
    );
    for (let i = 0; i < 2; i++) {
      await webhooks.reconcile('member1');
      await EventRecorder.flushAll(5000);
      stored = api.object<CheckpointBackup>(path)!;
    }
    assert.equal(api.object(`${VWC}/stateful-migration.keep-state`), undefined);
    assert.equal(api.object(`${MWC}/stateful-migration.keep-state`), undefined);
    const cond = stored.status?.conditions?.find((c) => c.type === 'KeepStateWebhooks');
    assert.deepEqual([cond?.status, cond?.reason], ['False', 'HubWebhookPolicyMissing']);
    assert.match(cond!.message, /no eviction gate in member1: .*install the chart/);
    assert.deepEqual(
      api.events().map((e) => e.split(':')[0]),
      ['Warning HubWebhookPolicyMissing'],
      'once',
    );
    // The chart installed there: the gate is made and the condition turns True.
    api.put(`${CLUSTERS}/member1/proxy${HUB_WEBHOOK_POLICY_PATH}`, { metadata: { uid: 'policy-1' } });
    await webhooks.reconcile('member1');
    assert.ok(api.object(`${VWC}/stateful-migration.keep-state`));
    const now = api
      .object<CheckpointBackup>(path)!
      .status?.conditions?.find((c) => c.type === 'KeepStateWebhooks');
    assert.deepEqual([now?.status, now?.reason], ['True', 'KeepStateWebhooksKept']);
  });

  it('no backup keeps state there: both are deleted, whether or not the policy is there', async () => {
    const api = new MemoryApi();
    for (const c of [VWC, MWC]) api.put(`${c}/stateful-migration.keep-state`, { metadata: {} });
    await shell(() => [], api).webhooks.reconcile('member1');
    assert.equal(api.object(`${VWC}/stateful-migration.keep-state`), undefined);
    assert.equal(api.object(`${MWC}/stateful-migration.keep-state`), undefined);
  });
});
