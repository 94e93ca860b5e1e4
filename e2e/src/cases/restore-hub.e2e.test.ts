// suite: alone — kills and restarts the hub; adds a Karmada Cluster that is never Ready
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { restartHub } from '../fed/hub.js';
import { kubectl } from '../fed/kubectl.js';
import { getBackup, registryInfo, registrySecretYaml, runningPod } from './agent-support.js';
import { restoreCase } from './restore-fixtures.js';
import { eventually, unique } from './support.js';

/**
 * The restore cases that change what every case uses: a target cluster that is not Ready (a Karmada Cluster of its
 * own, which Karmada then tries to reach), and a hub killed mid-migration. The others, in restore.e2e.test.ts, share
 * the federation.
 */
const ns = unique('restorehub');
const secret = 'push-creds';
const { hub, deployment, backupYaml, registry, restoreYaml, getRestore, waitRestore, waitBackup, exists } =
  restoreCase(ns, secret);

describe('restore: a target cluster that is not Ready, and a hub killed mid-migration', () => {
  const pods: Record<string, string> = {};
  before(async () => {
    const user = registryInfo().users[0]!;
    await hub(['create', 'namespace', ns]);
    await hub(
      ['apply', '-f', '-'],
      `${registrySecretYaml(ns, secret, user.username, user.password)}---
${['web', 'crash'].map(deployment).join('---\n')}`,
    );
    for (const d of ['web', 'crash']) pods[d] = await runningPod('member1', ns, d);
    await hub(
      ['apply', '-f', '-'],
      [
        backupYaml('web', pods.web!, 'web', registry()),
        backupYaml('crash', pods.crash!, 'crash', registry()),
      ].join('---\n'),
    );
    for (const b of ['web', 'crash']) {
      const got = await waitBackup(b);
      const m1 = got.status!.clusters!.find((c) => c.name === 'member1')!;
      assert.equal(m1.phase, 'Completed', `${b}: ${m1.message}`);
    }
  });
  after(async () => {
    // The crash case leaves the hub running with fault injection if it fails half-way.
    await restartHub();
    await hub(['delete', 'cluster', 'ghost', '--ignore-not-found', '--wait=false']).catch(() => undefined);
    await hub(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it('a target cluster that is not Ready is refused with its state', async () => {
    await hub(
      ['apply', '-f', '-'],
      `apiVersion: cluster.karmada.io/v1alpha1
kind: Cluster
metadata: {name: ghost}
spec: {syncMode: Push, apiEndpoint: "https://127.0.0.1:1"}
`,
    );
    await hub(
      ['apply', '-f', '-'],
      restoreYaml('to-ghost', 'web', '  targetCluster: ghost\n  podName: ghost-copy\n'),
    );
    const r = await waitRestore('to-ghost', ['Failed', 'Restored', 'RestoreSubmitted']);
    assert.equal(r.status?.phase, 'Failed');
    assert.equal(r.status?.reason, 'TargetClusterNotReady');
    assert.match(r.status!.message!, /target cluster ghost is not Ready/);
    assert.ok(!(await exists('karmada', ['pod', 'ghost-copy'])));
  });

  it('a hub killed mid-migration resumes from status: one checkpoint, one restored pod, the source stopped once', async () => {
    // Die right after recording Checkpointing (the migration's backup named, not created yet), then right after
    // RestoreSubmitted (nothing created yet), then right after Restored (the workload not yet scaled).
    let crashing = await restartHub({
      STATEFUL_MIGRATION_CRASH_AFTER: 'Checkpointing',
    });
    await hub(
      ['apply', '-f', '-'],
      restoreYaml('survive', 'crash', '  targetCluster: member2\n  mode: Migrate\n'),
    );
    await eventually(() => crashing.exited(), 60_000, 'the hub to die after Checkpointing');
    assert.equal((await getRestore('survive')).status?.checkpoint?.backup, 'survive-migrate');

    crashing = await restartHub({
      STATEFUL_MIGRATION_CRASH_AFTER: 'RestoreSubmitted',
    });
    await eventually(() => crashing.exited(), 120_000, 'the hub to die after RestoreSubmitted');
    assert.equal((await getRestore('survive')).status?.phase, 'RestoreSubmitted');

    crashing = await restartHub({ STATEFUL_MIGRATION_CRASH_AFTER: 'Restored' });
    await eventually(() => crashing.exited(), 120_000, 'the hub to die after Restored');
    const mid = await getRestore('survive');
    assert.equal(mid.status?.phase, 'Restored');
    // The checkpointed pod stopped right after its checkpoint; its Deployment is not scaled yet.
    assert.ok(!(await exists('member1', ['pod', pods.crash!])), 'the checkpointed pod is gone');
    assert.equal(
      (await hub(['get', 'deploy', 'crash', '-n', ns, '-o', 'jsonpath={.spec.replicas}'])).trim(),
      '1',
    );

    await restartHub();
    const r = await waitRestore('survive', ['SourceStopped', 'Failed']);
    assert.equal(r.status?.phase, 'SourceStopped', r.status?.message);
    const copies = await kubectl('member2', [
      'get',
      'pods',
      '-n',
      ns,
      '-l',
      'migration.dcnlab.com/restore=survive',
      '-o',
      'jsonpath={.items[*].metadata.name}',
    ]);
    assert.deepEqual(copies.trim().split(' '), [`${pods.crash}-restored`], 'exactly one restored pod');
    assert.equal(
      (await hub(['get', 'deploy', 'crash', '-n', ns, '-o', 'jsonpath={.spec.replicas}'])).trim(),
      '0',
    );
    assert.equal(r.status?.sourceStop?.workload?.replicas, 1, 'the replicas before the stop, not 0');
    // One checkpoint: the migration's backup ran once, one image per container.
    const own = (await getBackup('karmada', ns, 'survive-migrate')).status!.clusters!.find(
      (c) => c.name === 'member1',
    )!;
    assert.deepEqual(own.builtImages!.map((i) => i.containerName).sort(), ['app', 'side']);
  });
});
