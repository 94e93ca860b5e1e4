import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import type { BuiltImage, CheckpointBackup } from '@stateful-migration/api';
import { writeArchive } from '@stateful-migration/archive';
import { tempDir } from '@stateful-migration/kube/testing';
import { AgentController } from './controller.js';
import { FakeApi, quietLog } from './fake-api.test-support.js';
import type { KubeletClient } from './kubelet.js';
import { AgentMetrics } from './metrics.js';

const BACKUP = '/apis/migration.dcnlab.com/v1/namespaces/shop/checkpointbackups/web';

it('a build appends to builtImages and keeps only the newest 100 per container, counting the rest', async () => {
  const base = realpathSync(tempDir('built-images-'));
  const dir = join(base, 'checkpoints');
  mkdirSync(dir);
  const archive = join(dir, 'checkpoint-web-0_shop-app.tar');
  await writeArchive(archive, {
    containerName: 'app',
    podName: 'web-0',
    namespace: 'shop',
    rootfsImageName: 'nginx',
    memoryBytes: 1024,
  });
  // A fake buildah: the image exists once committed.
  const buildah = join(base, 'buildah');
  writeFileSync(
    buildah,
    `#!/bin/sh\ncase "$1" in inspect) [ -f ${base}/committed ] && echo sha256:feed || { echo "Error: image not known" >&2; exit 125; };; from) echo ctr;; commit|copy) touch ${base}/committed;; esac\n`,
  );
  chmodSync(buildah, 0o755);
  const old: BuiltImage[] = Array.from({ length: 150 }, (_, i) => ({
    containerName: 'app',
    imageName: `localhost/checkpoint-web-0-app:old-${i}`,
    buildTime: '2026-01-01T00:00:00Z',
    pushed: false,
  }));
  const api = new FakeApi();
  api.put('/api/v1/namespaces/shop/pods/web-0', {
    metadata: { name: 'web-0', namespace: 'shop' },
    spec: { nodeName: 'n1', containers: [{ name: 'app', image: 'nginx' }] },
  });
  const startedAt = new Date().toISOString();
  api.put(BACKUP, {
    apiVersion: 'migration.dcnlab.com/v1',
    kind: 'CheckpointBackup',
    metadata: { name: 'web', namespace: 'shop', uid: 'b1', generation: 1, resourceVersion: '1' },
    spec: {
      schedule: '0 2 * * *',
      podRef: { name: 'web-0' },
      resourceRef: { apiVersion: 'v1', kind: 'Pod', name: 'web-0' },
    },
    status: {
      phase: 'Checkpointed',
      observedGeneration: 1,
      run: { id: 'run-new', startedAt, generation: 1, node: 'n1', containers: ['app'] },
      checkpointFiles: [{ containerName: 'app', filePath: archive, checkpointTime: startedAt }],
      builtImages: old,
      builtImagesDropped: 3,
    },
  });
  const agent = new AgentController({
    node: 'n1',
    client: api.client(),
    kubelet: {} as KubeletClient,
    log: quietLog(),
    metrics: new AgentMetrics(),
    storage: { command: buildah, skopeo: buildah },
    checkpointDir: dir,
  });
  await agent.reconcile('shop/web');
  const s = api.get<CheckpointBackup>(BACKUP).status!;
  assert.equal(s.phase, 'ImageBuilt');
  assert.equal(s.builtImages?.length, 100);
  assert.equal(s.builtImages?.at(-1)?.imageName, 'localhost/checkpoint-web-0-app:run-new');
  assert.equal(s.builtImages?.[0]?.imageName, 'localhost/checkpoint-web-0-app:old-51');
  assert.equal(s.builtImagesDropped, 3 + 51);
});
