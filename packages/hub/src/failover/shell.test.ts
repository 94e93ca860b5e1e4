import assert from 'node:assert/strict';
import { setImmediate } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { HUB_WEBHOOK_POLICY_PATH, type CheckpointBackup, type ReplicaStatus } from '@stateful-migration/api';
import { EventRecorder, rootLogger } from '@stateful-migration/kube';
import { MemoryApi } from '@stateful-migration/kube/testing';
import type { AdmissionRequest } from '@stateful-migration/restore';
import { HubCaches } from '../caches.js';
import { FailoverController } from './controller.js';
import { FailoverPods } from './pods.js';
import { FailoverRecorder } from './record.js';
import { failoverWebhookName } from './webhook.js';

// The failover shell (controller, recorder, webhook route) against an apiserver in memory with real informers: what
// it writes, how often, and what a second hub or the webhook coming first changes. The decisions have their tables.

const CLUSTERS = '/apis/cluster.karmada.io/v1alpha1/clusters';
const BACKUP = '/apis/migration.dcnlab.com/v1/namespaces/shop/checkpointbackups/db';
const BINDING = '/apis/work.karmada.io/v1alpha2/namespaces/shop/resourcebindings/db-statefulset';
const WEBHOOK = 'admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
const log = rootLogger('test', 'silent');
const stops: (() => void)[] = [];
after(() => stops.forEach((s) => s()));

const digest = (n: number) => `sha256:${String(n).repeat(64)}`;
const replica = (ordinal: number): ReplicaStatus => ({
  pod: `db-${ordinal}`,
  ordinal,
  backup: `db-db-${ordinal}`,
  phase: 'Completed',
  present: true,
  lastCheckpointTime: new Date(Date.now() - 30_000).toISOString(),
  images: [
    {
      containerName: 'counter',
      imageName: `reg/shop/checkpoint-db-${ordinal}-counter:r1`,
      digest: digest(ordinal + 1),
      buildTime: new Date(Date.now() - 20_000).toISOString(),
      pushed: true,
    },
  ],
});

const binding = (generation: number, observed: number) => ({
  metadata: { name: 'db-statefulset', namespace: 'shop', generation },
  spec: {
    resource: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', namespace: 'shop' },
    clusters: [{ name: 'member2', replicas: 2 }],
    gracefulEvictionTasks: [
      {
        fromCluster: 'member1',
        producer: 'TaintManager',
        reason: 'TaintUntolerated',
        creationTimestamp: '2026-12-01T12:00:00Z',
      },
    ],
  },
  status: { schedulerObservedGeneration: observed },
});

/** A federation in memory: member1 lost, member2 Ready with a node that restores, db moved by Karmada. */
async function fed(rb = binding(2, 2)) {
  const api = new MemoryApi();
  api.put(`${CLUSTERS}/member1`, { metadata: { name: 'member1' }, status: { conditions: [] } });
  api.put(`${CLUSTERS}/member2`, {
    metadata: { name: 'member2' },
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  });
  api.put(`${CLUSTERS}/member2/proxy${HUB_WEBHOOK_POLICY_PATH}`, { metadata: { uid: 'policy-member2' } });
  api.put(`${CLUSTERS}/member2/proxy/api/v1/nodes/m2-a`, {
    metadata: { name: 'm2-a', labels: { 'migration.dcnlab.com/checkpoint-restore': 'checkpoint_restore' } },
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  });
  api.put('/api/v1/namespaces/shop/secrets/push', {
    metadata: { name: 'push', namespace: 'shop' },
    data: { username: Buffer.from('u').toString('base64'), password: Buffer.from('p').toString('base64') },
  });
  api.put(BACKUP, {
    apiVersion: 'migration.dcnlab.com/v1',
    kind: 'CheckpointBackup',
    metadata: { name: 'db', namespace: 'shop' },
    spec: {
      schedule: '* * * * *',
      resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' },
      registry: { url: 'reg', repository: 'shop', secretRef: { name: 'push' } },
      keepState: { clusterFailover: { maxAgeSeconds: 900 } },
    },
    status: {
      clusters: [{ name: 'member1', phase: 'Unknown', applied: true, replicas: [replica(0), replica(1)] }],
    },
  } satisfies CheckpointBackup);
  api.put(BINDING, rb);
  return { api, hub: await hub(api) };
}

/** One hub process: its caches, recorder, controller and webhook route. */
async function hub(api: MemoryApi) {
  const client = api.client();
  const caches = new HubCaches(client, log);
  stops.push(() => caches.stop());
  await caches.start();
  const events = new EventRecorder(client, 'stateful-migration-hub', 'test', log);
  const recorder = new FailoverRecorder({ client, events, log });
  const controller = new FailoverController({
    client,
    caches,
    recorder,
    events,
    log,
    endpoint: { url: 'https://hub:8443', caBundle: 'PEM' },
  });
  const pods = new FailoverPods({ client, caches, recorder, log, leading: () => true });
  return {
    reconcile: async () => {
      await setImmediate();
      return controller.reconcile('shop/db');
    },
    admit: async (pod: string) => {
      await setImmediate();
      const req: AdmissionRequest = {
        uid: 'r',
        operation: 'CREATE',
        namespace: 'shop',
        kind: { group: '', version: 'v1', kind: 'Pod' },
        object: {
          metadata: {
            name: pod,
            namespace: 'shop',
            ownerReferences: [{ kind: 'StatefulSet', name: 'db', controller: true }],
          },
          spec: { containers: [{ name: 'counter', image: 'registry.local/counter:1' }] },
        },
      };
      return pods.handle('member2', req);
    },
  };
}

const record = (api: MemoryApi) => api.object<CheckpointBackup>(BACKUP)?.status?.lastFailover;
const pullSecretCondition = (api: MemoryApi) =>
  api.object<CheckpointBackup>(BACKUP)?.status?.conditions?.find((c) => c.type === 'FailoverPullSecret');
const statusWrites = (api: MemoryApi) => api.writes().filter((w) => w.endsWith('/status'));

describe('failover shell: one decision per move, whoever comes first, and the members kept ready', () => {
  it('the controller records the move once, with one Normal Event; its webhook and pull secret go where they must', async () => {
    const { api, hub: h } = await fed();
    await h.reconcile();
    const r = record(api)!;
    assert.deepEqual([r.restored, r.startedFresh, r.toClusters], [2, 0, ['member2']]);
    assert.deepEqual(api.events(), [`Normal FailoverRestored: ${r.message}`]);
    const writes = api.writes();
    assert.ok(writes.includes(`POST ${CLUSTERS}/member2/proxy/apis/${WEBHOOK}`), writes.join('\n'));
    assert.ok(!writes.some((w) => w.includes('/member1/proxy/')), 'nothing asked of the lost member');
    const secret = api.object<{ type: string; metadata: { ownerReferences: { name: string }[] } }>(
      '/api/v1/namespaces/shop/secrets/db-failover-pull',
    )!;
    assert.equal(secret.type, 'kubernetes.io/dockerconfigjson');
    assert.equal(secret.metadata.ownerReferences[0]!.name, 'db');
    assert.ok(
      api.object('/apis/policy.karmada.io/v1alpha1/namespaces/shop/propagationpolicies/db-failover-pull'),
    );
    api.resetCalls();
    await h.reconcile();
    assert.deepEqual(statusWrites(api), [], 'decided once');
    assert.equal(api.events().length, 1);
  });

  it('a restarted hub reads the record and decides nothing again', async () => {
    const { api, hub: first } = await fed();
    await first.reconcile();
    const before = record(api);
    const second = await hub(api);
    api.resetCalls();
    await second.reconcile();
    assert.deepEqual(statusWrites(api), []);
    assert.deepEqual(record(api), before);
    assert.equal(api.events().length, 1);
  });

  it('the webhook first: it decides, records and restores; the controller then keeps that record', async () => {
    const { api, hub: h } = await fed();
    const answer = await h.admit('db-1');
    const ops = JSON.parse(Buffer.from(answer.patch!, 'base64').toString()) as {
      path: string;
      value: unknown;
    }[];
    assert.equal(
      ops.find((o) => o.path === '/spec/containers/0/image')?.value,
      `reg/shop/checkpoint-db-1-counter@${digest(2)}`,
    );
    const r = record(api)!;
    assert.equal(r.restored, 2);
    api.resetCalls();
    await h.reconcile();
    // Its one status write is the pull secret's condition; the record stays the webhook's.
    assert.equal(statusWrites(api).length, 1);
    assert.equal(pullSecretCondition(api)?.status, 'True');
    assert.deepEqual(record(api), r);
    assert.equal(api.events().length, 1, 'one Event, by the writer that stored the record');
    // The second ordinal is answered from the stored record.
    api.resetCalls();
    const again = await h.admit('db-0');
    assert.match(Buffer.from(again.patch!, 'base64').toString(), new RegExp(digest(1)));
    assert.deepEqual(statusWrites(api), []);
  });

  it('not before Karmada has placed the workload anew: no record; a pod then is refused, to be retried', async () => {
    const { api, hub: h } = await fed(binding(3, 2));
    await h.reconcile();
    assert.equal(record(api), undefined);
    // Only the pull secret's condition is written: nothing is decided before Karmada has placed the workload.
    assert.equal(statusWrites(api).length, 1);
    assert.equal(pullSecretCondition(api)?.status, 'True');
    await assert.rejects(h.admit('db-0'), /Karmada is moving this workload/);
  });

  it('a backup that stops keeping state has its webhook configurations removed from the Ready members', async () => {
    const { api, hub: h } = await fed();
    await h.reconcile();
    const b = api.object<CheckpointBackup>(BACKUP)!;
    delete b.spec.keepState;
    api.put(BACKUP, b);
    api.resetCalls();
    await h.reconcile();
    assert.deepEqual(api.writes(), [
      `DELETE ${CLUSTERS}/member2/proxy/apis/${WEBHOOK}/${failoverWebhookName('shop', 'db')}`,
    ]);
  });
});
