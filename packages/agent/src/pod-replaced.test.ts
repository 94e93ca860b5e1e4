import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { CheckpointBackup } from '@stateful-migration/api';
import { writeArchive } from '@stateful-migration/archive';
import { tempDir } from '@stateful-migration/kube/testing';
import { AgentController } from './controller.js';
import { FakeApi, quietLog } from './fake-api.test-support.js';
import type { KubeletClient } from './kubelet.js';
import { AgentMetrics } from './metrics.js';

// The record of the checkpointed pod (status.checkpointedPod, whose uid stopPod and Migrate delete by) is read after
// the kubelet answers. A pod replaced meanwhile under the same name (a StatefulSet's web-0 again) must not be
// recorded as the one checkpointed: the archives say which pod they hold.

const BACKUP = '/apis/migration.dcnlab.com/v1/namespaces/shop/checkpointbackups/web';
const POD = '/api/v1/namespaces/shop/pods/web-0';

const podOf = (uid: string) => ({
  metadata: { name: 'web-0', namespace: 'shop', uid },
  spec: { nodeName: 'n1', containers: [{ name: 'app', image: 'nginx' }] },
});

/** The kubelet writes an archive of pod uid `archived` (or none recorded); `then` runs once it has. */
function world(archived: string, then: (api: FakeApi) => void) {
  const dir = join(realpathSync(tempDir('pod-replaced-')), 'checkpoints');
  mkdirSync(dir);
  const api = new FakeApi();
  api.put(POD, podOf('old'));
  api.put(BACKUP, {
    apiVersion: 'migration.dcnlab.com/v1',
    kind: 'CheckpointBackup',
    metadata: { name: 'web', namespace: 'shop', uid: 'b1', generation: 1, resourceVersion: '1' },
    spec: {
      schedule: 'immediately',
      stopPod: true,
      podRef: { name: 'web-0' },
      resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web' },
    },
  });
  const kubelet = {
    checkpoint: async () => {
      const path = join(dir, 'checkpoint-web-0_shop-app.tar');
      await writeArchive(path, {
        containerName: 'app',
        podName: 'web-0',
        namespace: 'shop',
        ...(archived ? { podUid: archived } : {}),
        rootfsImageName: 'nginx',
        memoryBytes: 1024,
      });
      then(api);
      return path;
    },
  } as unknown as KubeletClient;
  const agent = new AgentController({
    node: 'n1',
    client: api.client(),
    kubelet,
    log: quietLog(),
    metrics: new AgentMetrics(),
    storage: { command: '/bin/false' },
    checkpointDir: dir,
  });
  const status = () => api.get<CheckpointBackup>(BACKUP).status ?? {};
  const run = async () => {
    for (let i = 0; i < 3; i++) {
      await agent.reconcile('shop/web');
      if (['Failed', 'Checkpointed'].includes(status().phase ?? '')) return;
    }
  };
  return { api, dir, status, run };
}

describe('a pod replaced during the checkpoint is never recorded as the checkpointed pod', () => {
  it('the archive holds pod uid old, the pod read afterwards is uid new: the run fails, nothing of new is recorded or deleted', async () => {
    const w = world('old', (api) => api.put(POD, podOf('new')));
    await w.run();
    const s = w.status();
    assert.equal(s.phase, 'Failed', s.message);
    assert.equal(
      s.message,
      'pod shop/web-0 was replaced during the checkpoint: the archives are of pod uid old, the pod of that name ' +
        'now is uid new; the replacement is not recorded (nor deleted by stopPod); checkpointing again',
    );
    assert.ok(
      s.conditions?.some((c) => c.type === 'Completed' && c.reason === 'PodReplaced'),
      'reason PodReplaced',
    );
    assert.equal(s.checkpointedPod, undefined, "the replacement's uid and spec are not recorded");
    assert.deepEqual(s.checkpointFiles ?? [], []);
    assert.deepEqual(w.api.deleted, [], 'nothing deleted');
    assert.deepEqual(readdirSync(w.dir), [], "the replaced pod's archive is not kept for anyone to build");
  });

  it('a runtime that records no pod uid: the pod read before the checkpoint is compared instead', async () => {
    const w = world('', (api) => api.put(POD, podOf('new')));
    await w.run();
    assert.equal(w.status().phase, 'Failed');
    assert.match(
      w.status().message ?? '',
      /the archives are of pod uid old, the pod of that name now is uid new/,
    );
    assert.equal(w.status().checkpointedPod, undefined);
  });

  it('the same pod throughout: recorded with the uid the archive holds', async () => {
    const w = world('old', () => undefined);
    await w.run();
    assert.equal(w.status().phase, 'Checkpointed', w.status().message);
    assert.equal(w.status().checkpointedPod?.uid, 'old');
    assert.ok(existsSync(w.status().checkpointFiles![0]!.filePath));
  });
});
