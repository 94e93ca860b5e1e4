import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { CheckpointBackup } from '@stateful-migration/api';
import { writeArchive } from '@stateful-migration/archive';
import { MemoryApi, tempDir } from '@stateful-migration/kube/testing';
import { AgentController } from './controller.js';
import { quietLog } from './fake-api.test-support.js';
import { explainKubeletAnswer, type KubeletClient } from './kubelet.js';
import { AgentMetrics } from './metrics.js';

// The agent's shell against an apiserver in memory: which objects each reconcile writes, in which order, and what
// it records, one step of a run at a time. The decisions are plan()'s, table-tested in plan.test.ts.

const BACKUP = '/apis/migration.dcnlab.com/v1/namespaces/shop/checkpointbackups/web';
const POD = '/api/v1/namespaces/shop/pods/web-0';

function world(
  spec: Partial<CheckpointBackup['spec']> = {},
  o: {
    checkpoint?: (archive: string) => Promise<string>;
    checkpointTimeoutSeconds?: number;
    /** The pod comes later (putPod): the object arrived first. */
    podLater?: boolean;
  } = {},
) {
  const base = realpathSync(tempDir('agent-shell-'));
  const dir = join(base, 'checkpoints');
  mkdirSync(dir);
  const buildah = join(base, 'buildah');
  writeFileSync(
    buildah,
    `#!/bin/sh\ncase "$1" in inspect) [ -f ${base}/committed ] && echo sha256:feed || { echo "Error: image not known" >&2; exit 125; };; from) echo ctr;; commit|copy) touch ${base}/committed;; esac\n`,
  );
  chmodSync(buildah, 0o755);
  const api = new MemoryApi();
  api.put('/api/v1/nodes/n1', {
    metadata: { name: 'n1' },
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  });
  const putPod = () =>
    api.put(POD, {
      metadata: { name: 'web-0', namespace: 'shop', uid: 'p1' },
      spec: { nodeName: 'n1', containers: [{ name: 'app', image: 'nginx' }] },
    });
  if (!o.podLater) putPod();
  api.put(BACKUP, {
    apiVersion: 'migration.dcnlab.com/v1',
    kind: 'CheckpointBackup',
    metadata: { name: 'web', namespace: 'shop', generation: 1 },
    spec: {
      schedule: 'immediately',
      podRef: { name: 'web-0' },
      resourceRef: { apiVersion: 'v1', kind: 'Pod', name: 'web-0' },
      ...spec,
    },
  });
  const archive = join(dir, 'checkpoint-web-0_shop-app.tar');
  const kubelet = {
    checkpoint: o.checkpoint
      ? () => o.checkpoint!(archive)
      : async () => {
          await writeAppArchive(archive);
          return archive;
        },
  } as unknown as KubeletClient;
  const agent = new AgentController({
    node: 'n1',
    client: api.client(),
    kubelet,
    log: quietLog(),
    metrics: new AgentMetrics(),
    storage: { command: buildah, skopeo: buildah },
    checkpointDir: dir,
    ...(o.checkpointTimeoutSeconds !== undefined
      ? { checkpointTimeoutSeconds: o.checkpointTimeoutSeconds }
      : {}),
  });
  const step = async () => {
    api.resetCalls();
    return agent.reconcile('shop/web');
  };
  const status = () => api.object<CheckpointBackup>(BACKUP)?.status ?? {};
  return { api, agent, step, status, archive, putPod };
}

/** The archive the runtime writes for container app of shop/web-0. */
const writeAppArchive = (archive: string) =>
  writeArchive(archive, {
    containerName: 'app',
    podName: 'web-0',
    namespace: 'shop',
    rootfsImageName: 'nginx',
    memoryBytes: 1024,
  });

/** The runtime busy with an earlier request of the same container (the agent's before a restart or a roll). */
const busy = () =>
  explainKubeletAnswer(
    500,
    'checkpointing of shop/web-0/app failed (rpc error: code = Unknown desc = container app is already being checkpointed)',
    'shop/web-0/app',
    'n1',
  );

describe('AgentController.reconcile, one step at a time', () => {
  it('a stopPod run: start, checkpoint (the pod deleted right after it), build, finish (archive deleted), then nothing', async () => {
    const { api, step, status, archive } = world({ stopPod: true });
    assert.deepEqual(await step(), { requeueAfterMs: 0 });
    assert.deepEqual(api.writes(), [`PATCH ${BACKUP}`, `PUT ${BACKUP}/status`]);
    assert.deepEqual(api.object<CheckpointBackup>(BACKUP)?.metadata.finalizers, [
      'agent.migration.dcnlab.com/n1',
    ]);
    assert.equal(status().phase, 'Checkpointing');

    // The archive recorded, then the pod deleted at once (by its uid): nothing it does after its checkpoint is lost.
    assert.deepEqual(await step(), { requeueAfterMs: 0 });
    assert.deepEqual(api.writes(), [`PUT ${BACKUP}/status`, `DELETE ${POD}`]);
    assert.equal(status().phase, 'Checkpointed');
    assert.deepEqual(
      status().checkpointFiles?.map((f) => f.filePath),
      [archive],
    );
    assert.equal(status().checkpointedPod?.uid, 'p1');
    assert.equal(api.object(POD), undefined);

    assert.deepEqual(await step(), { requeueAfterMs: 0 });
    assert.deepEqual(api.writes(), [`PUT ${BACKUP}/status`, `PUT ${BACKUP}/status`]);
    assert.equal(status().phase, 'ImageBuilt');
    assert.equal(status().builtImages?.[0]?.imageName, `localhost/checkpoint-web-0-app:${status().run?.id}`);

    assert.deepEqual(await step(), { requeueAfterMs: 0 });
    assert.deepEqual(api.writes(), [`DELETE ${POD}`, `PUT ${BACKUP}/status`]);
    assert.equal(status().phase, 'CompletedPodDeleted');
    assert.equal(
      status().message,
      'checkpointed app; pod shop/web-0 deleted (right after its checkpoint, or by someone else before)',
    );
    assert.ok(!existsSync(archive), 'the archive is deleted');
    assert.equal(api.object(POD), undefined);

    assert.equal(await step(), undefined);
    assert.deepEqual(api.writes(), []);
    assert.deepEqual(
      api.events().map((e) => e.split(':')[0]),
      ['Normal Checkpointing', 'Normal Checkpointed', 'Normal ImageBuilt', 'Normal CompletedPodDeleted'],
    );

    await api.request('DELETE', BACKUP);
    assert.equal(await step(), undefined);
    assert.deepEqual(api.writes(), [`PATCH ${BACKUP}`]);
    assert.equal(api.object(BACKUP), undefined);
  });

  it("a checkpoint the runtime is still taking (an earlier agent process's): the run waits, then adopts that archive, with no second checkpoint", async () => {
    let calls = 0;
    const { step, status, archive } = world(
      {},
      {
        checkpoint: async (archive) => {
          calls++;
          // Refused while the earlier request runs; that request writes its archive meanwhile.
          await writeAppArchive(archive);
          throw busy();
        },
      },
    );
    assert.deepEqual(await step(), { requeueAfterMs: 0 });
    assert.equal(status().phase, 'Checkpointing');
    assert.deepEqual(await step(), { requeueAfterMs: 3000 }, 'waits and asks again');
    assert.equal(status().phase, 'Checkpointing', 'not a failure');
    assert.deepEqual(await step(), { requeueAfterMs: 0 });
    assert.equal(status().phase, 'Checkpointed');
    assert.deepEqual(
      status().checkpointFiles?.map((f) => f.filePath),
      [archive],
      "the earlier request's archive, adopted",
    );
    assert.equal(calls, 1, 'no second checkpoint asked of the runtime');
  });

  it('a container the runtime keeps busy past twice its checkpoint timeout: the run fails, saying so', async () => {
    const { step, status } = world(
      {},
      { checkpoint: async () => Promise.reject(busy()), checkpointTimeoutSeconds: 0 },
    );
    assert.deepEqual(await step(), { requeueAfterMs: 0 });
    await step();
    assert.equal(status().phase, 'Failed');
    assert.match(status().message ?? '', /the runtime on n1 is already checkpointing shop\/web-0\/app/);
  });

  it('a container the pod does not have: Failed once, with one Warning, not retried', async () => {
    const { api, step, status } = world({ containers: [{ name: 'db' }] });
    assert.equal(await step(), undefined);
    assert.deepEqual(api.writes(), [`PUT ${BACKUP}/status`]);
    assert.equal(status().phase, 'Failed');
    assert.equal(status().message, 'pod shop/web-0 has no container db (it has: app)');
    assert.equal(await step(), undefined);
    assert.deepEqual(api.writes(), []);
    assert.deepEqual(api.events(), [
      'Warning ContainerNotFound: pod shop/web-0 has no container db (it has: app)',
    ]);
  });

  it("an object whose pod does not exist: Failed PodNotFound, and not polled (the pod's node starts it when it comes)", async () => {
    const { step, status } = world({}, { podLater: true });
    assert.equal(await step(), undefined, 'no requeue: nothing was attempted');
    assert.equal(status().phase, 'Failed');
    assert.match(status().message ?? '', /does not exist in this cluster/);
  });

  it('a cron object records its next tick and comes back then', async () => {
    const { api, step, status } = world({ schedule: '0 2 * * *' });
    const r = await step();
    assert.ok(r && r.requeueAfterMs > 0 && r.requeueAfterMs <= 24 * 3600_000);
    assert.deepEqual(api.writes(), [`PUT ${BACKUP}/status`]);
    assert.ok(status().nextScheduledTime);
    await step();
    assert.deepEqual(api.writes(), []);
  });
});

async function eventually<T>(f: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 3000; i++) {
    const v = f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never: ${what}`);
}

/** Another node's pod and an object naming it (other-0 on n2), and n0, which answers for pods on no node. */
function otherNodesWork(api: MemoryApi, n0Ready: boolean): void {
  for (const [n, ready] of [
    ['n0', n0Ready],
    ['n2', true],
  ] as const)
    api.put(`/api/v1/nodes/${n}`, {
      metadata: { name: n },
      status: { conditions: [{ type: 'Ready', status: String(ready === true ? 'True' : 'False') }] },
    });
  api.put('/api/v1/namespaces/shop/pods/other-0', {
    metadata: { name: 'other-0', namespace: 'shop' },
    spec: { nodeName: 'n2', containers: [{ name: 'app', image: 'nginx' }] },
  });
  api.put(`${BACKUP}-other`, {
    apiVersion: 'migration.dcnlab.com/v1',
    kind: 'CheckpointBackup',
    metadata: { name: 'web-other', namespace: 'shop', generation: 1 },
    spec: { schedule: 'immediately', podRef: { name: 'other-0' } },
  });
}

describe('AgentController, running: its work follows its own node', () => {
  it("runs its own node's object from its caches and never touches another node's", async () => {
    const { api, agent, status } = world();
    otherNodesWork(api, true);
    await agent.start();
    await eventually(() => status().phase === 'Completed' || undefined, 'web Completed');
    agent.stop();
    const checkpoints = api.events().filter((e) => e.startsWith('Normal Checkpointed'));
    assert.equal(checkpoints.length, 1, 'one checkpoint: no step repeated on a stale copy');
    assert.equal(api.object<CheckpointBackup>(`${BACKUP}-other`)?.status, undefined);
    assert.deepEqual(
      api.calls.filter((c) => c.path.includes('other')),
      [],
      "no request about another node's object or pod",
    );
    const reads = api.calls
      .filter((c) => c.method === 'GET' && /checkpointbackups\/|pods\//.test(c.path))
      .map((c) => c.path);
    // One read of the pod, at checkpoint time (status.checkpointedPod records it as it was then).
    assert.deepEqual(reads, [POD], 'everything else is read from the caches');
  });

  it('the agent that answers for pods on no node (the first Ready by name) reports an object whose pod is nowhere', async () => {
    const { api, agent } = world();
    otherNodesWork(api, false);
    api.put(`${BACKUP}-ghost`, {
      apiVersion: 'migration.dcnlab.com/v1',
      kind: 'CheckpointBackup',
      metadata: { name: 'web-ghost', namespace: 'shop', generation: 1 },
      spec: { schedule: 'immediately', podRef: { name: 'ghost-0' } },
    });
    await agent.start();
    const ghost = () => api.object<CheckpointBackup>(`${BACKUP}-ghost`)?.status;
    await eventually(() => ghost()?.phase === 'Failed' || undefined, 'ghost Failed');
    agent.stop();
    assert.match(ghost()?.message ?? '', /ghost-0/);
  });

  it('an object Karmada applied before its pod existed: PodNotFound, then Completed once the pod runs on this node', async () => {
    // A member back from an outage gets the object and the workload again, in either order.
    const { api, agent, status, putPod } = world({}, { podLater: true });
    await agent.start();
    try {
      await eventually(() => status().phase === 'Failed' || undefined, 'web Failed');
      assert.match(status().message ?? '', /^pod shop\/web-0 does not exist in this cluster/);
      putPod();
      await eventually(() => status().phase === 'Completed' || undefined, 'web Completed once its pod runs');
    } finally {
      agent.stop();
    }
    assert.equal(api.events().filter((e) => e.startsWith('Normal Checkpointed')).length, 1);
  });
});
