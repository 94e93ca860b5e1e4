import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { CheckpointRestore, ReplicaStatus, RestoredReplica } from '@stateful-migration/api';
import { restartHub } from '../fed/hub.js';
import { kubectl } from '../fed/kubectl.js';
import { kubeconfigPath } from '../fed/paths.js';
import { exists, getBackup, registryInfo, registrySecretYaml } from './agent-support.js';
import { kubectlWithPlugin } from './plugin-support.js';
import {
  checkpointEnd,
  counterCounts,
  counterWorkloadYaml,
  type CountLine,
  dbAndWeb,
  followCounter,
  notFromCheckpoint,
  propagationPolicyYaml,
} from './restore-support.js';
import { eventually, reasonsWhen, unique } from './support.js';

/**
 * Migrating whole workloads through Karmada (issue 13 item 3, docs/adr/0007 Decision 3): a StatefulSet and a
 * Deployment of 2 counters each, placed in member1 by the user's PropagationPolicy and backed up by one
 * workload-level CheckpointBackup each, are moved to member2 by one CheckpointRestore each. Afterwards they run only
 * in member2, their pods made by their own controllers and given their checkpoints by the hub's webhook, every
 * counter going on from its own count (ordinal 0 from ordinal 0's); the user's policy is as it was. A migration whose
 * target cannot restore leaves the source running; a rollback brings a workload back to member1 from the same
 * checkpoints.
 */
const ns = unique('wm');
const hub = (args: string[], input?: string) => kubectl('karmada', args, input);

type Pod = {
  metadata: {
    name: string;
    uid: string;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; controller?: boolean }[];
  };
  spec: { nodeName?: string; containers: { image: string }[] };
  status?: { phase?: string };
};

const workloads = (replicas: number) =>
  dbAndWeb.map((w) => counterWorkloadYaml({ ns, ...w, replicas })).join('---\n');

const backupYaml = (name: string, kind: string) => `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: ${name}, namespace: ${ns}}
spec:
  schedule: immediately
  resourceRef: {apiVersion: apps/v1, kind: ${kind}, name: ${name}}
  registry: {url: "${registryInfo().url}", repository: wm/${ns}, secretRef: {name: push}}
`;

const restoreYaml = (name: string, backup: string, extra = '') => `apiVersion: migration.dcnlab.com/v1
kind: CheckpointRestore
metadata: {name: ${name}, namespace: ${ns}}
spec:
  backupRef: {name: ${backup}}
  targetCluster: member2
  mode: Migrate
${extra}`;

async function pods(cluster: string, app: string): Promise<Pod[]> {
  const out = await kubectl(cluster, ['get', 'pods', '-n', ns, '-l', `app=${app}`, '-o', 'json']);
  return (JSON.parse(out) as { items: Pod[] }).items;
}

const running = async (cluster: string, app: string, n: number) =>
  eventually(
    async () => {
      const ps = (await pods(cluster, app)).filter((p) => p.status?.phase === 'Running');
      return ps.length === n ? ps : undefined;
    },
    180_000,
    `${n} ${app} pods running in ${cluster}`,
  );

const getRestore = async (name: string): Promise<CheckpointRestore> =>
  JSON.parse(await hub(['get', 'cpr', name, '-n', ns, '-o', 'json'])) as CheckpointRestore;

const finished = (name: string, timeoutMs = 420_000) =>
  eventually(
    async () => {
      const r = await getRestore(name);
      const p = r.status?.phase;
      return p === 'SourceStopped' || p === 'Failed' || p === 'RolledBack' ? r : undefined;
    },
    timeoutMs,
    `CheckpointRestore ${name} to finish`,
  );

/** The counts a pod printed (kubectl logs), at least two of them. */
const counting = (cluster: string, pod: string) =>
  eventually(
    async () => {
      const c = await counterCounts(cluster, ns, pod);
      return c.length >= 2 ? c : undefined;
    },
    60_000,
    `${pod} in ${cluster} to print two counts`,
  );

/** Follows a pod's log until it ends (its pod stopped): what it printed last is the state its checkpoint has. */
const follow = (pod: string) => followCounter('member1', ns, pod);

const userPolicy = () =>
  hub(['get', 'pp', 'users', '-n', ns, '-o', 'jsonpath={.metadata.generation} {.spec}']);

async function completed(name: string): Promise<ReplicaStatus[]> {
  return eventually(
    async () => {
      const m1 = (await getBackup('karmada', ns, name)).status?.clusters?.find((c) => c.name === 'member1');
      const failed = m1?.replicas?.find((r) => r.phase === 'Failed');
      if (failed) throw new Error(`${name}: replica ${failed.pod} failed: ${failed.message}`);
      return m1?.replicasCompleted === '2/2' ? m1.replicas : undefined;
    },
    240_000,
    `both replicas of ${name} checkpointed`,
  );
}

/** A migration's story on the hub: the fresh checkpoint, the policy, each replica where it runs, the Events. */
async function assertMigrated(name: string): Promise<void> {
  const r = await finished(name);
  assert.equal(r.status?.phase, 'SourceStopped', `${name}: ${r.status?.reason}: ${r.status?.message}`);
  assert.equal(r.status?.reason, 'Migrated');
  assert.match(r.status?.message ?? '', /^migrated: .* runs only in member2, owned by its controller/);
  assert.equal(r.status?.checkpoint?.backup, `${name}-migrate`);
  assert.ok(r.status?.checkpoint?.checkpointTime && r.status.checkpoint.sourceStoppedTime);
  assert.equal(r.status?.workload?.policy, `checkpointrestore-${name}`);
  assert.ok(r.status?.workload?.placedTime && r.status.workload.fromStoppedTime);
  assert.equal(r.status?.replicas?.length, 2);
  for (const x of r.status!.replicas!) {
    assert.equal(x.phase, 'Running', JSON.stringify(x));
    assert.equal(x.node, 'm2-a', 'the node of member2 whose runtime restores');
    assert.match(x.images[0]!.image, /@sha256:[0-9a-f]{64}$/);
  }
  const fresh = await getBackup('karmada', ns, `${name}-migrate`);
  assert.equal(fresh.spec.stopPod, true);
  assert.equal(fresh.spec.podRef, undefined, 'one workload-level checkpoint of every replica');
  const want = ['Checkpointing', 'CheckpointRequested', 'SourceCheckpointed', 'Placed', 'SourceStopped'];
  await reasonsWhen('karmada', ns, name, want); // fails unless every one comes
}

/**
 * When each replica's checkpoint had ended (checkpointEnd of its images), by source pod: from the CheckpointBackup the
 * migration `r` made, in the cluster it checkpointed.
 */
async function checkpointEnds(r: CheckpointRestore): Promise<Map<string, string | undefined>> {
  const c = r.status!.checkpoint!;
  const b = await getBackup('karmada', ns, c.backup);
  const replicas = b.status?.clusters?.find((x) => x.name === c.cluster)?.replicas ?? [];
  return new Map(replicas.map((x) => [x.pod, checkpointEnd(x.images)]));
}

/**
 * The workload's pods: none left in member1, two in member2 made by its controller, each running a checkpoint by
 * digest that no other runs (ordinal N from ordinal N), its counter going on from the count its own source replica
 * had when the migration's checkpoint of it was taken (the restore `r`'s status.replicas, checkpointEnds). Returns a
 * line per pod for the test's diagnostics.
 */
async function assertMovedPods(
  app: string,
  sources: Map<string, () => CountLine[]>,
  r: CheckpointRestore,
): Promise<string[]> {
  const replicas: RestoredReplica[] = r.status!.replicas!;
  const ends = await checkpointEnds(r);
  await eventually(
    async () => ((await pods('member1', app)).length === 0 ? true : undefined),
    60_000,
    `no ${app} pod left in member1`,
  );
  assert.ok(!(await exists('member1', ns, [app === 'db' ? 'statefulset' : 'deployment', app])));
  const moved = await running('member2', app, 2);
  const lines: string[] = [];
  for (const p of moved) {
    const owner = p.metadata.ownerReferences?.find((o) => o.controller);
    assert.equal(owner?.kind, app === 'db' ? 'StatefulSet' : 'ReplicaSet', 'made by its own controller');
    assert.ok(owner!.name.startsWith(app));
    assert.match(p.spec.containers[0]!.image, /@sha256:/, 'its checkpoint image, by digest');
    const from = p.metadata.annotations?.['migration.dcnlab.com/restored-from'];
    assert.ok(from, `${p.metadata.name} names the replica whose checkpoint it runs`);
    if (app === 'db') assert.equal(from, p.metadata.name, 'ordinal N from ordinal N');
    const c = await counting('member2', p.metadata.name);
    const source = sources.get(from)?.() ?? [];
    // before() waited for every replica to count to 8, and its log is read from its start.
    const last = source.at(-1)?.n;
    assert.ok(last !== undefined && last >= 8, `the source ${from}'s log was followed (${last})`);
    const checkpointTime = replicas.find((x) => x.name === from)?.checkpointTime;
    const wrong = notFromCheckpoint(c[0]!.n, source, { start: checkpointTime, end: ends.get(from) });
    assert.equal(wrong, undefined, `${p.metadata.name} runs the checkpoint of ${from}: ${wrong}`);
    assert.ok(c[1]!.n > c[0]!.n, 'and goes on counting');
    lines.push(
      `${app}: ${from} checkpointed from ${checkpointTime} to ${ends.get(from)}, last printed ${last} -> ${p.metadata.name} first ${c[0]!.n}`,
    );
  }
  assert.deepEqual(
    moved.map((p) => p.metadata.annotations?.['migration.dcnlab.com/restored-from']).sort(),
    [...sources.keys()].filter((k) => k.startsWith(`${app}-`)).sort(),
    'each checkpoint runs once',
  );
  return lines;
}

describe('migrating a StatefulSet and a Deployment to another cluster through Karmada', () => {
  let policyBefore = '';
  const followers: ChildProcess[] = [];
  const sources = new Map<string, () => CountLine[]>();

  before(async () => {
    const user = registryInfo().users[0]!;
    await hub(['create', 'namespace', ns]);
    await hub(
      ['apply', '-f', '-'],
      `${registrySecretYaml(ns, 'push', user.username, user.password)}---
${workloads(1)}---
${propagationPolicyYaml(ns, 'users', dbAndWeb, ['member1'])}`,
    );
    // Replicas far apart in their counts, so each restored counter shows whose state it has: the second replica of
    // each workload starts once the first has counted to 8.
    const countedTo8 = (app: string, pod: string) =>
      eventually(
        async () => ((await counterCounts('member1', ns, pod)).at(-1)?.n ?? 0) >= 8 || undefined,
        60_000,
        `${app}'s replica ${pod} to count to 8`,
      );
    for (const app of ['db', 'web']) {
      const [first] = await running('member1', app, 1);
      await countedTo8(app, first!.metadata.name);
    }
    await hub(['apply', '-f', '-'], workloads(2));
    await running('member1', 'db', 2);
    await running('member1', 'web', 2);
    await hub(
      ['apply', '-f', '-'],
      `${backupYaml('db', 'StatefulSet')}---\n${backupYaml('web', 'Deployment')}`,
    );
    await completed('db');
    await completed('web');
    // Every replica, the second ones too, has counted to 8 before a migration stops it.
    for (const app of ['db', 'web'])
      for (const p of await pods('member1', app)) await countedTo8(app, p.metadata.name);
    policyBefore = await userPolicy();
  });
  after(async () => {
    for (const f of followers) f.kill();
    await hub(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it('a target that cannot restore is refused before anything is checkpointed or stopped', async () => {
    const before = (await pods('member1', 'db')).map((p) => p.metadata.uid).sort();
    // m2-b keeps CRI-O's default, checkpoint_only: no replica could be restored there.
    await hub(['apply', '-f', '-'], restoreYaml('nowhere', 'db', '  targetNode: m2-b\n'));
    const r = await finished('nowhere', 60_000);
    assert.equal(r.status?.phase, 'Failed');
    assert.equal(r.status?.reason, 'TargetCannotRestore', r.status?.message);
    assert.match(r.status?.message ?? '', /m2-b/);
    assert.ok(!(await exists('karmada', ns, ['cpb', 'nowhere-migrate'])), 'no checkpoint asked for');
    assert.ok(!(await exists('karmada', ns, ['pp', 'checkpointrestore-nowhere'])), 'no placement');
    const now = await pods('member1', 'db');
    assert.deepEqual(now.map((p) => p.metadata.uid).sort(), before, 'the same pods, never stopped');
    assert.ok(now.every((p) => p.status?.phase === 'Running'));
    assert.equal(await userPolicy(), policyBefore);
  });

  it('moves both to member2: each replica from its own checkpoint, under its own controller, only there', async (t) => {
    for (const app of ['db', 'web'])
      for (const p of await pods('member1', app)) {
        const f = follow(p.metadata.name);
        followers.push(f.proc);
        sources.set(p.metadata.name, f.lines);
      }
    // The StatefulSet by the CLI as a kubectl plugin (--migrate --wait), the Deployment by a manifest, at once.
    const cli = kubectlWithPlugin([
      'stateful-migration',
      'restore',
      'db',
      '--to',
      'member2',
      '--migrate',
      '--wait',
      '--timeout',
      '7m',
      '--name',
      'move-db',
      '-n',
      ns,
      `--kubeconfig=${kubeconfigPath('karmada')}`,
    ]);
    await hub(['apply', '-f', '-'], restoreYaml('move-web', 'web'));
    const ran = await cli;
    assert.equal(ran.code, 0, ran.stdout + ran.stderr);
    for (const phase of ['Checkpointing', 'RestoreSubmitted', 'RestoreInProgress', 'SourceStopped'])
      assert.match(ran.stdout, new RegExp(`Z  ${phase}: `), `${phase} shown`);
    assert.match(
      ran.stdout,
      /migrated: StatefulSet \S+\/db runs in member2 \(2 replicas, each from its own checkpoint\)/,
    );
    for (const name of ['move-db', 'move-web']) await assertMigrated(name);
    const db = await getRestore('move-db');
    assert.deepEqual(
      db.status!.replicas!.map((x) => [x.name, x.ordinal, x.pod]),
      [
        ['db-0', 0, 'db-0'],
        ['db-1', 1, 'db-1'],
      ],
    );

    for (const app of ['db', 'web']) {
      for (const line of await assertMovedPods(app, sources, await getRestore(`move-${app}`)))
        t.diagnostic(line);
    }
    assert.equal(await userPolicy(), policyBefore, "the user's policy unchanged");
    for (const c of ['member1', 'member2'])
      assert.equal(
        (await kubectl(c, ['get', 'mutatingwebhookconfigurations', '-o', 'name'])).match(
          /stateful-migration\./g,
        ),
        null,
        `no webhook configuration left in ${c}`,
      );
  });

  it('a rollback returns the Deployment to member1, each replica from the same checkpoint', async () => {
    await hub(['patch', 'cpr', 'move-web', '-n', ns, '--type=merge', '-p', '{"spec":{"rollback":true}}']);
    const r = await finished('move-web');
    assert.equal(r.status?.phase, 'RolledBack', `${r.status?.reason}: ${r.status?.message}`);
    assert.equal(r.status?.workload?.into, 'member1');
    assert.ok(
      !(await exists('karmada', ns, ['pp', 'checkpointrestore-move-web'])),
      'the migration policy gone',
    );
    await eventually(
      async () => ((await pods('member2', 'web')).length === 0 ? true : undefined),
      60_000,
      'no web pod left in member2',
    );
    const back = await running('member1', 'web', 2);
    const ends = await checkpointEnds(r);
    for (const p of back) {
      const from = p.metadata.annotations?.['migration.dcnlab.com/restored-from'];
      assert.ok(from && sources.has(from), `${p.metadata.name} runs ${from}'s checkpoint`);
      const c = await counting('member1', p.metadata.name);
      const checkpointTime = r.status?.replicas?.find((x) => x.name === from)?.checkpointTime;
      const wrong = notFromCheckpoint(c[0]!.n, sources.get(from)!(), {
        start: checkpointTime,
        end: ends.get(from),
      });
      assert.equal(wrong, undefined, `${p.metadata.name} runs the checkpoint of ${from}: ${wrong}`);
    }
    // Each from its own: two pods back from one replica's checkpoint (that replica's state twice, the other's lost)
    // passed every check above.
    assert.deepEqual(
      back.map((p) => p.metadata.annotations?.['migration.dcnlab.com/restored-from']).sort(),
      [...sources.keys()].filter((k) => k.startsWith('web-')).sort(),
      'each checkpoint runs once',
    );
    assert.equal(await userPolicy(), policyBefore, "the user's policy unchanged");
    // The StatefulSet stays where the migration put it.
    assert.equal((await pods('member2', 'db')).length, 2);
  });

  it('the hub killed right after each step resumes from status: one checkpoint per replica, one migration', async () => {
    // A StatefulSet of its own, backed up by a workload-level object that never ran (a yearly schedule): a migration
    // takes its own checkpoint.
    await hub(
      ['apply', '-f', '-'],
      `${counterWorkloadYaml({ ns, kind: 'StatefulSet', name: 'kv', replicas: 2 })}---
${backupYaml('kv', 'StatefulSet').replace('schedule: immediately', 'schedule: "0 0 1 1 *"')}---
${propagationPolicyYaml(ns, 'kv', [{ kind: 'StatefulSet', name: 'kv' }], ['member1'])}`,
    );
    await running('member1', 'kv', 2);
    // Die right after recording Checkpointing (nothing made yet), RestoreSubmitted (every checkpoint recorded, the
    // policy not made), RestoreInProgress (the policy made, no gate removed); the webhook dies with the hub each time.
    let crashing = await restartHub({
      STATEFUL_MIGRATION_CRASH_AFTER: 'Checkpointing',
    });
    await hub(['apply', '-f', '-'], restoreYaml('move-kv', 'kv'));
    for (const next of ['RestoreSubmitted', 'RestoreInProgress', '']) {
      await eventually(() => crashing.exited(), 240_000, 'the hub to die after its step');
      crashing = await restartHub(next ? { STATEFUL_MIGRATION_CRASH_AFTER: next } : {});
    }
    const r = await finished('move-kv');
    assert.equal(r.status?.phase, 'SourceStopped', `${r.status?.reason}: ${r.status?.message}`);
    assert.deepEqual(
      r.status!.replicas!.map((x) => [x.name, x.pod, x.phase]),
      [
        ['kv-0', 'kv-0', 'Running'],
        ['kv-1', 'kv-1', 'Running'],
      ],
    );
    // One checkpoint of each replica: one child per source pod, each with one image.
    const children = JSON.parse(
      await kubectl('member1', [
        'get',
        'cpb',
        '-n',
        ns,
        '-l',
        'migration.dcnlab.com/workload-backup=move-kv-migrate',
        '-o',
        'json',
      ]),
    ) as { items: { spec: { podRef?: { name: string } }; status?: { builtImages?: unknown[] } }[] };
    assert.deepEqual(children.items.map((c) => c.spec.podRef?.name).sort(), ['kv-0', 'kv-1']);
    for (const c of children.items) assert.equal(c.status?.builtImages?.length, 1);
    assert.equal((await pods('member1', 'kv')).length, 0);
    assert.equal((await running('member2', 'kv', 2)).length, 2);
  });
});
