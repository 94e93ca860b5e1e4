import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { CheckpointBackup } from '@stateful-migration/api';
import { writeArchive } from '@stateful-migration/archive';
import { MemoryApi } from '@stateful-migration/kube/testing';
import { AgentController } from './controller.js';
import { quietLog } from './fake-api.test-support.js';
import type { KubeletClient } from './kubelet.js';
import { AgentMetrics } from './metrics.js';

// The agent's shell against an apiserver in memory: which objects each reconcile writes, in which order, and what
// it records, one step of a run at a time. The decisions are plan()'s, table-tested in plan.test.ts.

const BACKUP = '/apis/migration.dcnlab.com/v1/namespaces/shop/checkpointbackups/web';
const POD = '/api/v1/namespaces/shop/pods/web-0';

function world(spec: Partial<CheckpointBackup['spec']> = {}) {
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'agent-shell-')));
  const dir = join(base, 'checkpoints');
  mkdirSync(dir);
  const buildah = join(base, 'buildah');
  writeFileSync(
    buildah,
    `#!/bin/sh\ncase "$1" in inspect) [ -f ${base}/committed ] && echo sha256:feed || exit 1;; from) echo ctr;; commit) touch ${base}/committed;; esac\n`,
  );
  chmodSync(buildah, 0o755);
  const api = new MemoryApi();
  api.put('/api/v1/nodes/n1', {
    metadata: { name: 'n1' },
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
  });
  api.put(POD, {
    metadata: { name: 'web-0', namespace: 'shop', uid: 'p1' },
    spec: { nodeName: 'n1', containers: [{ name: 'app', image: 'nginx' }] },
  });
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
    checkpoint: async () => {
      await writeArchive(archive, {
        containerName: 'app',
        podName: 'web-0',
        namespace: 'shop',
        rootfsImageName: 'nginx',
        memoryBytes: 1024,
      });
      return archive;
    },
  } as unknown as KubeletClient;
  const agent = new AgentController({
    node: 'n1',
    client: api.client(),
    kubelet,
    log: quietLog(),
    metrics: new AgentMetrics(),
    storage: { command: buildah },
    checkpointDir: dir,
  });
  const step = async () => {
    api.resetCalls();
    return agent.reconcile('shop/web');
  };
  const status = () => api.object<CheckpointBackup>(BACKUP)?.status ?? {};
  return { api, step, status, archive };
}

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
