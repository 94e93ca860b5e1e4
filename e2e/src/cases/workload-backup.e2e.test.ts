// suite: shares — own namespace, workloads and repository
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { CheckpointBackup, ReplicaStatus } from '@stateful-migration/api';
import { kubectl } from '../fed/kubectl.js';
import { repoRoot } from '../fed/paths.js';
import { getBackup, registryInfo, registrySecretYaml } from './agent-support.js';
import { counterWorkloadYaml, dbAndWeb, propagationPolicyYaml } from './restore-support.js';
import { eventually, unique } from './support.js';

/**
 * Workload-level backups (issue 13): one CheckpointBackup without podRef for a StatefulSet and one for a Deployment,
 * each of 2 counters placed in member1 by the user's PropagationPolicy. Every replica is checkpointed (by the agent
 * of its node, with the real runtime), the hub shows each cluster and pod, and a replica that appears later is
 * included.
 */
const ns = unique('wl');
const hub = (args: string[], input?: string) => kubectl('karmada', args, input);

const statefulSet = (replicas: number) =>
  counterWorkloadYaml({ ns, kind: 'StatefulSet', name: 'db', replicas });
const workloads = (replicas: number) =>
  `${statefulSet(replicas)}---\n${counterWorkloadYaml({ ns, kind: 'Deployment', name: 'web', replicas: 2 })}`;

const backupYaml = (name: string, kind: string, workload: string) => `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: ${name}, namespace: ${ns}}
spec:
  schedule: immediately
  resourceRef: {apiVersion: apps/v1, kind: ${kind}, name: ${workload}}
  registry: {url: "${registryInfo().url}", repository: wl/${ns}, secretRef: {name: push}}
`;

/** The hub's member1 replicas of a backup once `n` of them completed; a failed one fails the wait. */
async function completedReplicas(name: string, n: number): Promise<ReplicaStatus[]> {
  return eventually(
    async () => {
      const m1 = (await getBackup('karmada', ns, name)).status?.clusters?.find((c) => c.name === 'member1');
      const rs = m1?.replicas ?? [];
      const failed = rs.find((r) => r.present && r.phase === 'Failed');
      if (failed) throw new Error(`${name}: replica ${failed.pod} failed: ${failed.message}`);
      const done = rs.filter((r) => r.present && r.phase === 'Completed');
      return done.length === n && m1?.replicasCompleted === `${n}/${n}` ? done : undefined;
    },
    240_000,
    `${n} replicas of ${name} completed in member1, on the hub`,
  );
}

describe('workload-level backups: every replica of a StatefulSet and a Deployment', () => {
  before(async () => {
    const user = registryInfo().users[0]!;
    await hub(['create', 'namespace', ns]);
    await hub(
      ['apply', '-f', '-'],
      `${registrySecretYaml(ns, 'push', user.username, user.password)}---
${workloads(2)}---
${propagationPolicyYaml(ns, 'counters', dbAndWeb, ['member1'])}`,
    );
    await hub(
      ['apply', '-f', '-'],
      `${backupYaml('db', 'StatefulSet', 'db')}---\n${backupYaml('web', 'Deployment', 'web')}`,
    );
  });
  after(async () => {
    await hub(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it('checkpoints each StatefulSet pod by ordinal and each Deployment replica, and the hub shows them', async () => {
    const db = await completedReplicas('db', 2);
    assert.deepEqual(
      db.map((r) => [r.pod, r.ordinal]),
      [
        ['db-0', 0],
        ['db-1', 1],
      ],
    );
    const web = await completedReplicas('web', 2);
    for (const r of [...db, ...web]) {
      assert.ok(r.node?.startsWith('m1-'), `${r.pod} on a member1 node (${r.node})`);
      assert.equal(r.images?.length, 1);
      assert.match(r.images![0]!.digest ?? '', /^sha256:[0-9a-f]{64}$/, 'pushed, by digest');
      assert.equal(r.images![0]!.pushed, true);
      assert.equal(r.checkpointedPod?.name, r.pod, 'the record a restore needs');
    }
    assert.notEqual(web[0]!.pod, web[1]!.pod);
    const hubDb = await getBackup('karmada', ns, 'db');
    assert.equal(hubDb.status?.phase, 'Completed');
    assert.deepEqual(hubDb.status?.placement, { clusters: ['member1'], by: 'workload' });
    assert.equal(hubDb.status?.replicasCompleted, '2/2');

    // In the member: one CheckpointBackup per pod, owned by the member's copy, each with its pod.
    const children = JSON.parse(
      await kubectl('member1', [
        'get',
        'cpb',
        '-n',
        ns,
        '-l',
        'migration.dcnlab.com/workload-backup=db',
        '-o',
        'json',
      ]),
    ) as { items: CheckpointBackup[] };
    assert.deepEqual(children.items.map((c) => c.spec.podRef?.name).sort(), ['db-0', 'db-1']);
    for (const c of children.items) assert.equal(c.metadata.ownerReferences?.[0]?.name, 'db');

    // Printer columns and the status view.
    const row = await hub(['get', 'cpb', 'db', '-n', ns, '--no-headers']);
    assert.match(row, /^db\s+Completed\s+1\/1\s+2\/2\s+immediately/);
    const table = execFileSync(
      process.execPath,
      [
        `${repoRoot}/packages/cli/dist/main.js`,
        'status',
        '-n',
        ns,
        '--kubeconfig',
        `${repoRoot}/.fed/karmada-config`,
      ],
      { encoding: 'utf8' },
    );
    assert.match(table, /db\s+StatefulSet\/db\s+member1\s+m1-\S+\s+db-0\s+counter\s+Completed/);
    assert.match(table, /db\s+StatefulSet\/db\s+member1\s+m1-\S+\s+db-1\s+counter\s+Completed/);
    assert.equal(
      table.match(/web\s+Deployment\/web\s+member1\s+m1-\S+\s+web-\S+\s+counter\s+Completed/g)?.length,
      2,
    );
  });

  it('a replica that appears later (scale-up) is included', async () => {
    await hub(['apply', '-f', '-'], statefulSet(3));
    const db = await completedReplicas('db', 3);
    assert.deepEqual(
      db.map((r) => r.pod),
      ['db-0', 'db-1', 'db-2'],
    );
  });

  it('a cron schedule: every replica at the same tick, each on its own node', async () => {
    await hub(
      ['apply', '-f', '-'],
      backupYaml('web-cron', 'Deployment', 'web').replace('schedule: immediately', 'schedule: "*/1 * * * *"'),
    );
    const web = await completedReplicas('web-cron', 2);
    const children = JSON.parse(
      await kubectl('member1', [
        'get',
        'cpb',
        '-n',
        ns,
        '-l',
        'migration.dcnlab.com/workload-backup=web-cron',
        '-o',
        'json',
      ]),
    ) as { items: CheckpointBackup[] };
    const runs = children.items.map((c) => c.status?.run);
    assert.equal(runs.length, 2);
    assert.ok(runs[0]?.tick && runs[0].tick === runs[1]?.tick, `one tick for both: ${JSON.stringify(runs)}`);
    assert.deepEqual(
      runs.map((r) => r?.node).sort(),
      web.map((r) => r.node).sort(),
      "each run by its pod's node's agent",
    );
  });

  it("deleting the hub's object deletes the member's children", async () => {
    await hub(['delete', 'cpb', 'db', '-n', ns]);
    await eventually(
      async () =>
        (await kubectl('member1', ['get', 'cpb', '-n', ns, '-o', 'name'])).includes('/db-db-')
          ? undefined
          : true,
      120_000,
      "db's children gone from member1",
    );
  });

  it('a spec without podRef for another kind is refused by the CRD, with the rule in the message', async () => {
    const err = await hub(['apply', '-f', '-'], backupYaml('ds', 'DaemonSet', 'x')).then(
      () => '',
      (e: unknown) => String(e),
    );
    assert.match(
      err,
      /spec\.podRef may be omitted only when spec\.resourceRef is a Deployment or StatefulSet/,
    );
  });
});
