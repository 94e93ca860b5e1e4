import assert from 'node:assert/strict';
import { setImmediate } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import type { CheckpointBackup, ReplicaStatus } from '@stateful-migration/api';
import { rootLogger } from '@stateful-migration/kube';
import { MemoryApi } from '@stateful-migration/kube/testing';
import { hubControllers } from '../main.js';
import { HubMetrics } from '../metrics.js';
import { aggregateStatus, clusterStatus, replicasOverClusters } from './aggregate.js';
import { POLICY_LABEL, sharedPolicyName } from './sharing.js';

// A workload-level CheckpointBackup (no podRef) on the hub: placed wherever Karmada runs its workload (every
// cluster, without asking which one has a pod), and each cluster's replicas brought back with the aggregate.

const BACKUP = '/apis/migration.dcnlab.com/v1/namespaces/shop/checkpointbackups/db';
const CLUSTERS = '/apis/cluster.karmada.io/v1alpha1/clusters';
const BINDINGS = '/apis/work.karmada.io/v1alpha2/namespaces/shop/resourcebindings';
const ready = { conditions: [{ type: 'Ready', status: 'True' }] };
const health = [
  { name: 'member1', ready: true },
  { name: 'member2', ready: true },
];

const replica = (pod: string, phase: ReplicaStatus['phase'], present = true): ReplicaStatus => ({
  pod,
  backup: `db-${pod}`,
  phase,
  present,
  node: 'm1-a',
});

const stops: (() => void)[] = [];
after(() => stops.forEach((s) => s()));

describe('a workload-level backup on the hub', () => {
  it('goes to every cluster of the workload, without asking which runs a pod', async () => {
    const api = new MemoryApi();
    for (const c of ['member1', 'member2'])
      api.put(`${CLUSTERS}/${c}`, { metadata: { name: c }, status: ready });
    api.put(`${BINDINGS}/db-statefulset`, {
      metadata: { name: 'db-statefulset', namespace: 'shop' },
      spec: {
        resource: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', namespace: 'shop' },
        clusters: [{ name: 'member1' }, { name: 'member2' }],
      },
    });
    api.put(BACKUP, {
      apiVersion: 'migration.dcnlab.com/v1',
      kind: 'CheckpointBackup',
      metadata: { name: 'db', namespace: 'shop', generation: 1 },
      spec: {
        schedule: 'immediately',
        resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' },
      },
    } satisfies CheckpointBackup);
    const hub = hubControllers({
      client: api.client(),
      log: rootLogger('test', 'silent'),
      metrics: new HubMetrics(),
      identity: 'test',
    });
    stops.push(() => hub.caches.stop());
    await hub.caches.start();
    await setImmediate();
    await hub.backups.reconcile('shop/db');
    assert.ok(!api.calls.some((c) => c.path.includes('/proxy/')), 'no pod is looked for through the proxy');
    const s = api.object<CheckpointBackup>(BACKUP)!.status!;
    assert.deepEqual(s.placement, { clusters: ['member1', 'member2'], by: 'workload' });
    // The policy it shares with every object of the namespace placed in the same clusters (ADR 0009).
    const shared = api.object<CheckpointBackup>(BACKUP)!.metadata.labels?.[POLICY_LABEL];
    assert.equal(shared, sharedPolicyName(['member1', 'member2']));
    const policy = api.object<{ spec: { placement: { clusterAffinity: { clusterNames: string[] } } } }>(
      `/apis/policy.karmada.io/v1alpha1/namespaces/shop/propagationpolicies/${shared}`,
    );
    assert.deepEqual(policy?.spec.placement.clusterAffinity.clusterNames, ['member1', 'member2']);
  });

  it('refuses a DaemonSet without podRef on the hub too, placing it nowhere', async () => {
    const api = new MemoryApi();
    api.put(`${CLUSTERS}/member1`, { metadata: { name: 'member1' }, status: ready });
    api.put(BACKUP, {
      apiVersion: 'migration.dcnlab.com/v1',
      kind: 'CheckpointBackup',
      metadata: { name: 'db', namespace: 'shop', generation: 1 },
      spec: {
        schedule: 'immediately',
        resourceRef: { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'db' },
      },
    } satisfies CheckpointBackup);
    const hub = hubControllers({
      client: api.client(),
      log: rootLogger('test', 'silent'),
      metrics: new HubMetrics(),
      identity: 'test',
    });
    stops.push(() => hub.caches.stop());
    await hub.caches.start();
    await setImmediate();
    await hub.backups.reconcile('shop/db');
    const s = api.object<CheckpointBackup>(BACKUP)!.status!;
    assert.equal(s.phase, 'Failed');
    assert.match(
      s.message!,
      /^spec\.podRef may be omitted only when spec\.resourceRef is a Deployment or StatefulSet/,
    );
    assert.ok(!api.writes().some((w) => w.includes('propagationpolicies')));
  });

  it("brings each cluster's replicas back, and adds up the REPLICAS column", () => {
    const agg = aggregateStatus({
      placed: ['member1', 'member2'],
      clusters: health,
      generation: 1,
      reports: [
        {
          clusterName: 'member1',
          applied: true,
          status: {
            phase: 'Completed',
            replicas: [replica('db-0', 'Completed'), replica('db-1', 'Completed')],
            replicasCompleted: '2/2',
          },
        },
        {
          clusterName: 'member2',
          applied: true,
          status: {
            phase: 'Checkpointing',
            replicas: [replica('db-2', 'Checkpointing')],
            replicasCompleted: '0/1',
          },
        },
      ],
    });
    assert.equal(agg.phase, 'Checkpointing');
    assert.equal(agg.replicasCompleted, '2/3');
    assert.deepEqual(
      agg.clusters!.map((c) => [c.name, c.replicas?.map((r) => r.pod), c.replicasCompleted]),
      [
        ['member1', ['db-0', 'db-1'], '2/2'],
        ['member2', ['db-2'], '0/1'],
      ],
    );
  });

  it("keeps a cluster's last replicas while a fresh member copy has none (the record a restore reads)", () => {
    const before = clusterStatus(
      'member1',
      {
        clusterName: 'member1',
        applied: true,
        status: { phase: 'Completed', replicas: [replica('db-0', 'Completed')] },
      },
      health[0],
    );
    const agg = aggregateStatus({
      placed: ['member1'],
      clusters: health,
      generation: 2,
      previous: { clusters: [before] },
      reports: [{ clusterName: 'member1', applied: true, status: {} }],
    });
    assert.deepEqual(agg.clusters![0]!.replicas, [replica('db-0', 'Completed')]);
    // Once the copy reports replicas of its own, they are the record.
    const fresh = aggregateStatus({
      placed: ['member1'],
      clusters: health,
      generation: 2,
      previous: { clusters: [before] },
      reports: [
        { clusterName: 'member1', applied: true, status: { replicas: [replica('db-1', 'Pending')] } },
      ],
    });
    assert.deepEqual(fresh.clusters![0]!.replicas, [replica('db-1', 'Pending')]);
  });

  it('REPLICAS: summed over the clusters that report it, absent for single-pod objects', () => {
    const c = (replicasCompleted?: string) => ({
      name: 'x',
      phase: 'Completed' as const,
      applied: true,
      ...(replicasCompleted ? { replicasCompleted } : {}),
    });
    assert.equal(replicasOverClusters([c('1/2'), c('3/3')]), '4/5');
    assert.equal(replicasOverClusters([c('0/0'), c()]), '0/0');
    assert.equal(replicasOverClusters([c(), c()]), undefined);
    assert.equal(replicasOverClusters([c('garbage')]), undefined);
    assert.equal(replicasOverClusters([]), undefined);
  });
});
