import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { CheckpointBackup, CheckpointBackupStatus } from '@stateful-migration/api';
import { writeArchive } from '@stateful-migration/archive';
import { tempDir } from '@stateful-migration/kube/testing';
import { AgentController } from './controller.js';
import { FakeApi, quietLog } from './fake-api.test-support.js';
import type { KubeletClient } from './kubelet.js';
import { AgentMetrics } from './metrics.js';
import { RetentionSweeper } from './retention-sweep.js';

// The agent reads, uploads and deletes archive paths that come from the kubelet's answer and from status. These
// tests give it paths outside its checkpoint directory and show that nothing outside is read, built, or deleted.

const BACKUP = '/apis/migration.dcnlab.com/v1/namespaces/shop/checkpointbackups/web';
const POD = '/api/v1/namespaces/shop/pods/web-0';

function world() {
  const base = realpathSync(tempDir('confine-shell-'));
  const dir = join(base, 'checkpoints');
  mkdirSync(dir);
  const secret = join(base, 'etc-shadow');
  writeFileSync(secret, 'root:$6$secret:19000:0:99999:7:::\n');
  const buildah = join(base, 'buildah');
  writeFileSync(
    buildah,
    `#!/bin/sh\necho "$*" >> ${buildah}.calls\ncase "$1" in inspect) echo "Error: image not known" >&2; exit 125;; from) echo ctr;; esac\n`,
  );
  chmodSync(buildah, 0o755);
  const api = new FakeApi();
  api.put(POD, {
    metadata: { name: 'web-0', namespace: 'shop', uid: 'p1' },
    spec: { nodeName: 'n1', containers: [{ name: 'app', image: 'nginx' }] },
  });
  const backup = (status?: CheckpointBackupStatus, extra: Partial<CheckpointBackup['metadata']> = {}) =>
    api.put(BACKUP, {
      apiVersion: 'migration.dcnlab.com/v1',
      kind: 'CheckpointBackup',
      metadata: { name: 'web', namespace: 'shop', uid: 'b1', generation: 1, resourceVersion: '1', ...extra },
      spec: {
        schedule: 'immediately',
        podRef: { name: 'web-0' },
        resourceRef: { apiVersion: 'v1', kind: 'Pod', name: 'web-0' },
      },
      ...(status ? { status } : {}),
    });
  let answer = secret;
  const kubelet = { checkpoint: async () => answer } as unknown as KubeletClient;
  const agent = new AgentController({
    node: 'n1',
    client: api.client(),
    kubelet,
    log: quietLog(),
    metrics: new AgentMetrics(),
    storage: { command: buildah, skopeo: buildah },
    checkpointDir: dir,
  });
  const status = () => api.get<CheckpointBackup>(BACKUP).status ?? {};
  /** Reconciles until the run ends or nothing is left to do. */
  const run = async () => {
    for (let i = 0; i < 8; i++) {
      const r = await agent.reconcile('shop/web');
      if (!r || ['Failed', 'Completed'].includes(status().phase ?? '')) return;
    }
  };
  const buildahCalls = () =>
    existsSync(`${buildah}.calls`) ? readFileSync(`${buildah}.calls`, 'utf8').trim().split('\n') : [];
  return {
    api,
    dir,
    base,
    secret,
    backup,
    status,
    run,
    buildahCalls,
    kubeletAnswers: (p: string) => (answer = p),
  };
}

const run = (
  id: string,
  phase: CheckpointBackupStatus['phase'],
  filePath: string,
): CheckpointBackupStatus => ({
  phase,
  observedGeneration: 1,
  run: { id, startedAt: new Date().toISOString(), generation: 1, node: 'n1', containers: ['app'] },
  checkpointFiles: [{ containerName: 'app', filePath, checkpointTime: new Date().toISOString() }],
});

describe('the agent refuses archive paths outside its checkpoint directory', () => {
  it('a kubelet answer outside the directory: the run fails with a message; the file is not recorded, read or deleted', async () => {
    const w = world();
    w.backup();
    await w.run();
    const s = w.status();
    assert.equal(s.phase, 'Failed');
    assert.match(
      s.message ?? '',
      new RegExp(
        `kubelet answered with archive "${w.secret}" for shop/web-0/app, which is outside the checkpoint directory ${w.dir}`,
      ),
    );
    assert.ok(!(s.checkpointFiles ?? []).some((f) => f.filePath === w.secret), 'not recorded in status');
    assert.ok(existsSync(w.secret), 'not deleted');
    assert.deepEqual(w.buildahCalls(), [], 'not built from');
  });

  it('a kubelet answer that is a symlink in the directory pointing out: refused the same way', async () => {
    const w = world();
    symlinkSync(w.secret, join(w.dir, 'checkpoint-web-0_shop-app.tar'));
    w.kubeletAnswers(join(w.dir, 'checkpoint-web-0_shop-app.tar'));
    w.backup();
    await w.run();
    assert.equal(w.status().phase, 'Failed');
    assert.match(w.status().message ?? '', new RegExp(`resolves to ${w.secret}, which is outside`));
    assert.ok(existsSync(w.secret));
    assert.deepEqual(w.buildahCalls(), []);
  });

  it('a kubelet answer with a .. segment: refused before anything is resolved', async () => {
    const w = world();
    w.kubeletAnswers(`${w.dir}/../etc-shadow`);
    w.backup();
    await w.run();
    assert.match(w.status().message ?? '', /has a '\.\.' segment/);
    assert.ok(existsSync(w.secret));
  });

  it('checkpointFiles in status outside the directory: the run fails naming the path; nothing is built, pushed or deleted', async () => {
    for (const [name, path] of [
      ['an absolute path', (w: ReturnType<typeof world>) => w.secret],
      ['a .. path', (w: ReturnType<typeof world>) => `${w.dir}/../etc-shadow`],
      [
        'a symlink out',
        (w: ReturnType<typeof world>) => {
          symlinkSync(w.secret, join(w.dir, 'x.tar'));
          return join(w.dir, 'x.tar');
        },
      ],
    ] as const) {
      const w = world();
      const p = path(w);
      w.backup(run('20260101-000000-000', 'Checkpointed', p));
      await w.run();
      const s = w.status();
      assert.equal(s.phase, 'Failed', name);
      assert.match(
        s.message ?? '',
        /status\.checkpointFiles names archive ".*" for container app, which /,
        name,
      );
      assert.match(s.message ?? '', /refused: not read, built, pushed or deleted/, name);
      assert.deepEqual(w.buildahCalls(), [], name);
      assert.ok(existsSync(w.secret), name);
      assert.ok(
        w.api.events.some((e) => e.type === 'Warning' && e.reason === 'ArchiveOutsideCheckpointDir'),
        name,
      );
    }
  });

  it('on deletion of the object, recorded paths outside the directory are not deleted; the finalizer still goes', async () => {
    const w = world();
    w.backup(run('20260101-000000-000', 'Checkpointed', w.secret), {
      deletionTimestamp: new Date().toISOString(),
      finalizers: ['agent.migration.dcnlab.com/n1'],
    });
    await w.run();
    assert.ok(existsSync(w.secret), 'not deleted');
    assert.deepEqual(w.api.get<CheckpointBackup>(BACKUP).metadata.finalizers, []);
  });
});

describe('retention never reads or deletes through a symlink that leaves the directory', () => {
  it('a link to an archive outside is not an item: it does not count, is not read, and is not deleted', async () => {
    const w = world();
    const id = {
      containerName: 'app',
      podName: 'web-0',
      namespace: 'shop',
      rootfsImageName: 'nginx',
      memoryBytes: 1024,
    };
    const inside = join(w.dir, 'old.tar');
    await writeArchive(inside, { ...id, now: new Date(Date.now() - 3_600_000) });
    utimesSync(inside, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
    const outside = join(w.base, 'outside.tar');
    await writeArchive(outside, id);
    symlinkSync(outside, join(w.dir, 'newer.tar'));
    const warnings: { msg: string; o: unknown }[] = [];
    const sweeper = new RetentionSweeper({
      node: 'n1',
      client: w.api.client(),
      admitted: () => true,
      log: quietLog(warnings),
      storage: { command: '/bin/false' },
      checkpointDir: w.dir,
      defaults: { maxCheckpointsPerContainer: 1 },
      metrics: new AgentMetrics(),
      responsible: () => true,
      registryClient: () => Promise.reject(new Error('none')),
      writeStatus: () => Promise.reject(new Error('none')),
      event: () => Promise.resolve(),
    });
    w.api.objects.delete(BACKUP);
    w.api.put('/apis/migration.dcnlab.com/v1/checkpointbackups', { items: [] });
    await sweeper.sweep();
    assert.ok(existsSync(inside), 'the one archive inside is within the limit of 1: the link did not count');
    assert.ok(
      existsSync(join(w.dir, 'newer.tar')) && existsSync(outside),
      'nothing deleted through the link',
    );
    assert.ok(warnings.some((x) => x.msg === 'retention skips a path outside the checkpoint directory'));
  });
});
