import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckpointBackup } from '@stateful-migration/api';
import { EventRecorder } from '@stateful-migration/kube';
import { MemoryApi } from '@stateful-migration/kube/testing';
import { quietLog } from '../fake-api.test-support.js';
import { AgentMetrics } from '../metrics.js';
import { RunRecorder } from '../recorder.js';
import { WORKLOAD_RESYNC_MS, WorkloadBackups } from './controller.js';
import type { MemberPod } from './replicas.js';

// The shell of workload-level backups against an apiserver in memory: two nodes' agents, n1 and n2 (n2 answers for
// the cluster). Which children each makes, what the coordinator writes, and what it leaves alone.

const CPB = '/apis/migration.dcnlab.com/v1/namespaces/shop/checkpointbackups';
const PARENT = `${CPB}/db-backup`;
const podPath = (n: string) => `/api/v1/namespaces/shop/pods/${n}`;

function world(spec: Partial<CheckpointBackup['spec']> = {}) {
  const api = new MemoryApi();
  const dbPod = (name: string, node: string) => ({
    metadata: {
      name,
      namespace: 'shop',
      labels: { 'apps.kubernetes.io/pod-index': name.slice(-1) },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', uid: 's1', controller: true },
      ],
    },
    spec: { nodeName: node, containers: [{ name: 'app', image: 'counter' }] },
  });
  api.put(podPath('db-0'), dbPod('db-0', 'n1'));
  api.put(podPath('db-1'), dbPod('db-1', 'n2'));
  // Not the workload's: another StatefulSet's pod on n1.
  api.put(podPath('cache-0'), {
    ...dbPod('cache-0', 'n1'),
    metadata: {
      ...dbPod('cache-0', 'n1').metadata,
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'cache', uid: 's2', controller: true },
      ],
    },
  });
  api.put(PARENT, {
    apiVersion: 'migration.dcnlab.com/v1',
    kind: 'CheckpointBackup',
    metadata: { name: 'db-backup', namespace: 'shop', uid: 'p-uid', generation: 1 },
    spec: {
      schedule: 'immediately',
      resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' },
      ...spec,
    },
  });
  const client = api.client();
  const agent = (node: string, coordinator: boolean) =>
    new WorkloadBackups({
      node,
      client,
      log: quietLog(),
      record: new RunRecorder({
        node,
        client,
        events: new EventRecorder(client, 'checkpoint-agent', node, quietLog()),
        metrics: new AgentMetrics(),
        maxAttempts: 5,
      }),
      nodePods: () =>
        api
          .paths()
          .filter((p) => p.startsWith('/api/v1/namespaces/shop/pods/'))
          .map((p) => api.object<MemberPod>(p)!)
          .filter((p) => p.spec.nodeName === node),
      backups: () =>
        api
          .paths()
          .filter((p) => p.startsWith(`${CPB}/`))
          .map((p) => api.object<CheckpointBackup>(p)!),
      reportsOrphans: async () => coordinator,
      defaultSecretRegistries: [],
    });
  const parent = () => api.object<CheckpointBackup>(PARENT)!;
  return { api, n1: agent('n1', false), n2: agent('n2', true), parent };
}

describe('WorkloadBackups.reconcile', () => {
  it("each node's agent makes the children of its own pods; the coordinator sums them up", async () => {
    const { api, n1, n2, parent } = world();
    assert.equal(await n1.reconcile(parent()), undefined);
    assert.deepEqual(api.writes(), [`POST ${CPB}`]);
    const c0 = api.object<CheckpointBackup>(`${CPB}/db-backup-db-0`)!;
    assert.deepEqual(c0.spec.podRef, { name: 'db-0' });
    assert.equal(c0.metadata.ownerReferences?.[0]?.uid, 'p-uid');
    assert.equal(parent().status, undefined, 'only the coordinator writes the parent');

    api.resetCalls();
    assert.deepEqual(await n2.reconcile(parent()), { requeueAfterMs: WORKLOAD_RESYNC_MS });
    assert.deepEqual(api.writes(), [`POST ${CPB}`, `PUT ${PARENT}/status`]);
    assert.ok(api.object(`${CPB}/db-backup-db-1`));
    assert.equal(api.object(`${CPB}/db-backup-cache-0`), undefined);
    const s = parent().status!;
    assert.equal(s.phase, 'Pending');
    assert.equal(s.replicasCompleted, '0/2');
    assert.deepEqual(
      s.replicas!.map((r) => [r.pod, r.ordinal, r.node, r.phase, r.present]),
      [
        ['db-0', 0, 'n1', 'Pending', true],
        ['db-1', 1, 'n2', 'Pending', true],
      ],
    );

    // The children run (as the single-pod machinery would record), and the parent follows.
    for (const [c, node] of [
      ['db-0', 'n1'],
      ['db-1', 'n2'],
    ] as const) {
      const path = `${CPB}/db-backup-${c}`;
      const cur = api.object<CheckpointBackup>(path)!;
      api.put(path, {
        ...cur,
        status: {
          phase: 'Completed',
          lastCheckpointTime: '2026-01-01T00:00:00Z',
          run: { id: 'r1', startedAt: '2026-01-01T00:00:00Z', generation: 1, node, containers: ['app'] },
          builtImages: [
            {
              containerName: 'app',
              imageName: `reg/x:${c}`,
              digest: 'sha256:1',
              buildTime: 'x',
              pushed: true,
            },
          ],
        },
      });
    }
    api.resetCalls();
    await n2.reconcile(parent());
    assert.deepEqual(api.writes(), [`PUT ${PARENT}/status`]);
    assert.equal(parent().status!.phase, 'Completed');
    assert.equal(parent().status!.replicasCompleted, '2/2');
    assert.equal(parent().status!.replicas![1]!.images![0]!.imageName, 'reg/x:db-1');

    // Nothing changed: nothing written.
    api.resetCalls();
    await n2.reconcile(parent());
    await n1.reconcile(parent());
    assert.deepEqual(api.writes(), []);
  });

  it('a replica that appears later gets its child at the next pass', async () => {
    const { api, n1, n2, parent } = world();
    await n1.reconcile(parent());
    await n2.reconcile(parent());
    api.put(podPath('db-2'), {
      metadata: {
        name: 'db-2',
        namespace: 'shop',
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', uid: 's1', controller: true },
        ],
      },
      spec: { nodeName: 'n1' },
    });
    api.resetCalls();
    await n1.reconcile(parent());
    assert.deepEqual(api.writes(), [`POST ${CPB}`]);
    assert.deepEqual(api.object<CheckpointBackup>(`${CPB}/db-backup-db-2`)?.spec.podRef, { name: 'db-2' });
  });

  it('the coordinator keeps children in step with the parent, and removes never-run children of gone pods', async () => {
    const { api, n1, n2, parent } = world();
    await n1.reconcile(parent());
    await n2.reconcile(parent());
    const p = parent();
    api.put(PARENT, {
      ...p,
      metadata: { ...p.metadata, generation: 2 },
      spec: { ...p.spec, schedule: '*/5 * * * *' },
    });
    await api.request('DELETE', podPath('db-1'));
    api.resetCalls();
    await n2.reconcile(parent());
    assert.deepEqual(api.writes(), [
      `PATCH ${CPB}/db-backup-db-0`,
      `PATCH ${CPB}/db-backup-db-1`,
      `DELETE ${CPB}/db-backup-db-1`,
      `PUT ${PARENT}/status`,
    ]);
    assert.equal(api.object<CheckpointBackup>(`${CPB}/db-backup-db-0`)!.spec.schedule, '*/5 * * * *');
    assert.equal(api.object(`${CPB}/db-backup-db-1`), undefined);
    assert.deepEqual(
      parent().status!.replicas!.map((r) => r.pod),
      ['db-0'],
    );
  });

  it('a name taken by an object that is not a child: not touched, one Warning on the parent', async () => {
    const { api, n1, parent } = world();
    api.put(`${CPB}/db-backup-db-0`, {
      apiVersion: 'migration.dcnlab.com/v1',
      kind: 'CheckpointBackup',
      metadata: { name: 'db-backup-db-0', namespace: 'shop' },
      spec: {
        schedule: 'immediately',
        podRef: { name: 'other' },
        resourceRef: { kind: 'Pod', name: 'other' },
      },
    });
    await n1.reconcile(parent());
    assert.deepEqual(api.object<CheckpointBackup>(`${CPB}/db-backup-db-0`)!.spec.podRef, { name: 'other' });
    assert.deepEqual(api.events(), [
      "Warning ReplicaNameTaken: pod db-0 is not checkpointed: CheckpointBackup db-backup-db-0 exists and is not this object's; rename or delete it",
    ]);
  });

  it('a refused parent (a DaemonSet without podRef): Failed once by the coordinator, no child anywhere', async () => {
    const { api, n1, n2, parent } = world({
      resourceRef: { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'db' },
    });
    await n1.reconcile(parent());
    assert.deepEqual(api.writes(), []);
    await n2.reconcile(parent());
    assert.equal(parent().status!.phase, 'Failed');
    assert.equal(parent().status!.conditions![0]!.reason, 'PodRefRequired');
    api.resetCalls();
    await n2.reconcile(parent());
    assert.deepEqual(api.writes(), []);
    assert.equal(api.events().length, 1);
  });
});

describe('WorkloadBackups: a parent edited into a refused spec', () => {
  it('its children stop running the old spec: they follow it, and each refuses it itself', async () => {
    const { api, n1, n2, parent } = world({ schedule: '*/5 * * * *' });
    await n1.reconcile(parent());
    await n2.reconcile(parent());
    assert.ok(api.object(`${CPB}/db-backup-db-0`) && api.object(`${CPB}/db-backup-db-1`));
    // The tenant points the registry secret at another namespace: the parent is refused (Failed)...
    const p = parent();
    api.put(PARENT, {
      ...p,
      metadata: { ...p.metadata, generation: 2 },
      spec: {
        ...p.spec,
        registry: { url: 'reg.example:5000', secretRef: { name: 'creds', namespace: 'victim' } },
      },
    });
    await n2.reconcile(parent());
    assert.equal(parent().status?.phase, 'Failed');
    // ... and the children must not go on checkpointing every 5 minutes with the spec the tenant replaced, unseen
    // (the parent's status no longer lists them): they carry the parent's spec, which their agents refuse.
    for (const c of ['db-0', 'db-1'])
      assert.deepEqual(
        api.object<CheckpointBackup>(`${CPB}/db-backup-${c}`)!.spec.registry,
        parent().spec.registry,
        `child of ${c}`,
      );
  });
});
