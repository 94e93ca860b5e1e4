// suite: alone — stops member2's apiserver and kube-scheduler; reads the whole hub log
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { CheckpointBackup } from '@stateful-migration/api';
import { hubLogs } from '../fed/hub.js';
import { kubectl } from '../fed/kubectl.js';
import { repoRoot } from '../fed/paths.js';
import { readState, startProcess, stopProcesses, writeState } from '../fed/procs.js';
import {
  exists as existsIn,
  getBackup,
  registryInfo,
  registrySecretYaml,
  runningPod,
  skopeo,
} from './agent-support.js';
import { eventsWhen, eventually, hubPolicyOf, unique } from './support.js';

const ns = unique('hub');
const secret = 'push-creds';
const hub = (args: string[], input?: string) => kubectl('karmada', args, input);

const exists = (cluster: string, args: string[]) => existsIn(cluster, ns, args);

/** Waits until the hub object satisfies `ok`, and returns it. */
function waitHub(name: string, ok: (b: CheckpointBackup) => boolean, what: string, ms = 90_000) {
  return eventually(
    async () => {
      const b = await getBackup('karmada', ns, name);
      return ok(b) ? b : undefined;
    },
    ms,
    `${name}: ${what}`,
  );
}

const clusterPhase = (b: CheckpointBackup, c: string) => b.status?.clusters?.find((x) => x.name === c)?.phase;

function backup(name: string, pod: string, workload: string, extra = ''): string {
  const { url } = registryInfo();
  return `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: ${name}, namespace: ${ns}}
spec:
  schedule: immediately
  podRef: {name: ${pod}}
  resourceRef: {apiVersion: apps/v1, kind: ${workload}}
  registry: {url: "${url}", repository: hub/${ns}, secretRef: {name: ${secret}}}
${extra}`;
}

/** Stops one federation process, and returns a function that starts it again with the same arguments. */
async function stopFor(name: string): Promise<() => Promise<void>> {
  const state = readState()!;
  const rec = state.procs.find((p) => p.name === name)!;
  await stopProcesses([rec]);
  return async () => {
    const s = readState()!;
    s.procs = s.procs.filter((p) => p.name !== name);
    startProcess(s, name, rec.exe, rec.args!, rec.port ? { port: rec.port } : {});
    writeState(s);
  };
}

describe('hub: CheckpointBackups applied on Karmada are placed, carried out, and reported back', () => {
  let webPod = '';
  before(async () => {
    const user = registryInfo().users[0]!;
    await hub(['create', 'namespace', ns]);
    await hub(
      ['apply', '-f', '-'],
      `${registrySecretYaml(ns, secret, user.username, user.password)}---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${ns}}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {kubernetes.io/hostname: m1-b}
      containers: [{name: app, image: "registry.local/app:1"}, {name: side, image: "registry.local/side:1"}]
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: web, namespace: ${ns}}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment, name: web}]
  placement: {clusterAffinity: {clusterNames: [member1]}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: ${ns}}
spec:
  replicas: 1
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: "registry.local/db:1"}]
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: db, namespace: ${ns}}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: StatefulSet, name: db}]
  placement: {clusterAffinity: {clusterNames: [member1, member2]}}
`,
    );
    webPod = await runningPod('member1', ns, 'web');
    for (const m of ['member1', 'member2'])
      await eventually(() => exists(m, ['pod', 'db-0']), 90_000, `db-0 in ${m}`);
  });
  after(async () => {
    await hub(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
    // A clean-clone run lost member2's kube-scheduler while this namespace's pods went: its cache spanned the restart
    // of member2's apiserver (the case above), it found db-0 on another node than it had assumed and exited ("scheduler
    // cache is corrupted"), and nothing then restarted it, so every later case scheduling in member2 failed. Its
    // supervisor now starts it again as a node's kubelet would (ADR 0013); a scheduler started after that restart has no
    // such cache, so later cases need not wait out an exit and a back-off.
    await (
      await stopFor('member2-kube-scheduler')
    )();
  });

  it('places a backup where its workload runs: only member1, checkpointed by the right node, pushed, Completed on the hub', async () => {
    await hub(['apply', '-f', '-'], backup('web', webPod, 'Deployment, name: web'));
    const b = await waitHub('web', (x) => x.status?.phase === 'Completed', 'Completed on the hub');
    assert.deepEqual(b.status?.placement, { clusters: ['member1'], by: 'workload' });
    assert.equal(clusterPhase(b, 'member1'), 'Completed');
    assert.equal(b.status?.clustersReady, '1/1');
    assert.deepEqual(b.status?.conditions?.map((c) => [c.type, c.status]).sort(), [
      ['Completed', 'True'],
      ['Propagated', 'True'],
    ]);
    // The object reached member1 only, and the agent of the pod's node did the work.
    assert.ok(await exists('member1', ['cpb', 'web']));
    assert.ok(!(await exists('member2', ['cpb', 'web'])));
    const m1 = b.status!.clusters!.find((c) => c.name === 'member1')!;
    assert.equal(m1.node, 'm1-b');
    // The images are in the registry, with the digests the hub shows.
    const images = m1.builtImages!.filter((i) => i.pushed);
    assert.deepEqual(images.map((i) => i.containerName).sort(), ['app', 'side']);
    for (const i of images) {
      const got = JSON.parse(skopeo(['inspect', '--raw', `docker://${i.imageName}`])) as {
        annotations?: object;
      };
      assert.ok(got.annotations, `${i.imageName} has its checkpoint annotations`);
      const digest = skopeo(['inspect', '--format', '{{.Digest}}', `docker://${i.imageName}`]).trim();
      assert.equal(digest, i.digest);
    }
    // The registry secret and its reader binding exist in member1 only.
    assert.ok(await exists('member1', ['secret', secret]));
    assert.ok(!(await exists('member2', ['secret', secret])));
    assert.ok(await exists('member1', ['rolebinding', `checkpoint-backup-registry-secret-${secret}`]));
    // Printer columns give the aggregate at a glance.
    const row = await hub(['get', 'cpb', 'web', '-n', ns, '--no-headers']);
    // REPLICAS is a workload-level object's (no podRef): empty for one pod.
    assert.match(row, /^web\s+Completed\s+1\/1\s+(<none>\s+)?immediately\s+\S+\s+\S+/);
    // The status view shows one row per container, from the hub only.
    const table = execFileSync(
      process.execPath,
      [
        `${repoRoot}/packages/cli/dist/main.js`,
        'status',
        'web',
        '-n',
        ns,
        '--kubeconfig',
        `${repoRoot}/.fed/karmada-config`,
      ],
      { encoding: 'utf8' },
    );
    assert.match(
      table,
      /^NAME\s+WORKLOAD\s+CLUSTER\s+NODE\s+POD\s+CONTAINER\s+PHASE\s+IMAGE\s+PUSHED\s+LAST CHECKPOINT/,
    );
    assert.match(
      table,
      new RegExp(`web\\s+Deployment/\\S+\\s+member1\\s+m1-b\\s+${webPod}\\s+app\\s+Completed\\s+\\S+\\s+yes`),
    );
    // Placed and AggregateCompleted (written in the background, after the status that announces them).
    const events = JSON.stringify(
      await eventsWhen(
        'karmada',
        ns,
        'web',
        (ev) => ['Placed', 'AggregateCompleted'].every((r) => ev.some((e) => e.reason === r)),
        'Events Placed and AggregateCompleted',
      ),
    );
    // The hub never reads secret data: the password is nowhere in its log, its Events or the status view.
    const hubLog = await hubLogs();
    assert.ok(!(events + table + hubLog).includes(registryInfo().users[0]!.password));
  });

  it('places by labelSelector on both members; a stopped member reads Unknown while the other completes, then converges', async () => {
    await hub(
      ['apply', '-f', '-'],
      backup(
        'db',
        'db-0',
        'StatefulSet, name: db',
        '  placement: {clusterAffinity: {labelSelector: {matchExpressions: [{key: region, operator: In, values: [eu-west, us-east]}]}}}\n',
      ),
    );
    let b = await waitHub('db', (x) => x.status?.phase === 'Completed', 'Completed in both');
    assert.deepEqual(b.status?.placement, { clusters: ['member1', 'member2'], by: 'placement' });
    assert.equal(b.status?.clustersReady, '2/2');
    assert.ok(await exists('member2', ['secret', secret]), 'the secret follows the backup to member2');
    const first = b.status!.clusters!.find((c) => c.name === 'member1')!.lastCheckpointTime!;

    const startAgain = await stopFor('member2-apiserver');
    try {
      b = await waitHub('db', (x) => clusterPhase(x, 'member2') === 'Unknown', 'member2 Unknown', 120_000);
      assert.equal(b.status?.phase, 'Unknown');
      assert.match(b.status!.clusters!.find((c) => c.name === 'member2')!.message!, /member2 is not Ready/);
      // A new generation runs in member1 while member2 is away.
      await hub([
        'patch',
        'cpb',
        'db',
        '-n',
        ns,
        '--type=merge',
        '-p',
        '{"spec":{"timeZone":"Europe/Paris"}}',
      ]);
      b = await waitHub(
        'db',
        (x) => {
          const m1 = x.status?.clusters?.find((c) => c.name === 'member1');
          return m1?.phase === 'Completed' && m1.lastCheckpointTime !== first;
        },
        'member1 completes the new generation',
      );
      assert.equal(clusterPhase(b, 'member2'), 'Unknown');
    } finally {
      await startAgain();
    }
    b = await waitHub(
      'db',
      (x) =>
        x.status?.phase === 'Completed' &&
        x.status.clusters?.every((c) => c.lastCheckpointTime !== first) === true,
      'both clusters converge on the new generation',
      180_000,
    );
    assert.equal(b.status?.clustersReady, '2/2');
  });

  it('deleting hub objects removes them and their policies from the members, and withdraws the secret where unneeded', async () => {
    // db was the only object to member1 and member2: the policy it shared goes with it.
    const dbPolicy = await hubPolicyOf(ns, 'db');
    assert.match(dbPolicy, /^checkpointbackups-member1-and-1-more-/);
    assert.ok(await exists('karmada', ['propagationpolicy', dbPolicy]));
    await hub(['delete', 'cpb', 'db', '-n', ns]);
    for (const m of ['member1', 'member2'])
      await eventually(
        async () => !(await exists(m, ['cpb', 'db'])) || undefined,
        60_000,
        `db gone from ${m}`,
      );
    await eventually(
      async () => !(await exists('karmada', ['propagationpolicy', dbPolicy])) || undefined,
      30_000,
      'the shared policy of its last object deleted',
    );
    await eventually(
      async () => !(await exists('member2', ['secret', secret])) || undefined,
      60_000,
      'secret withdrawn from member2',
    );
    assert.ok(await exists('member1', ['secret', secret]), 'web still needs it in member1');

    await hub(['delete', 'cpb', 'web', '-n', ns]);
    await eventually(async () => !(await exists('member1', ['cpb', 'web'])) || undefined, 60_000, 'web gone');
    await eventually(
      async () => !(await exists('member1', ['secret', secret])) || undefined,
      60_000,
      'secret withdrawn from member1',
    );
    // The secret's reader Role and RoleBinding are withdrawn by their own bindings, one after the other (the hub log
    // says "withdrawn from every member" for each): not in the same instant as the Secret.
    await eventually(
      async () =>
        !(await exists('member1', ['rolebinding', `checkpoint-backup-registry-secret-${secret}`])) ||
        undefined,
      60_000,
      "the secret's reader RoleBinding withdrawn from member1",
    );
    assert.ok(await exists('karmada', ['secret', secret]), "the user's secret on the hub stays");
  });

  it('an object the hub cannot place fails with a message saying what to add', async () => {
    await hub(
      ['apply', '-f', '-'],
      `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: nowhere, namespace: ${ns}}
spec:
  schedule: immediately
  podRef: {name: x}
  resourceRef: {apiVersion: apps/v1, kind: Deployment, name: not-propagated}
`,
    );
    const b = await waitHub('nowhere', (x) => x.status?.phase === 'Failed', 'Failed');
    assert.match(
      b.status!.message!,
      /Deployment\/not-propagated is not propagated by Karmada; add spec\.placement/,
    );
    assert.equal(b.status?.conditions?.find((c) => c.type === 'Propagated')?.reason, 'Unplaceable');

    // Given a placement, the hub puts it in the shared policy of those clusters, and moves it when the placement
    // changes.
    const clustersOf = async () => {
      const policy = await hubPolicyOf(ns, 'nowhere').catch(() => '');
      if (!policy) return '';
      const path = 'jsonpath={.spec.placement.clusterAffinity.clusterNames}';
      return (await hub(['get', 'pp', policy, '-n', ns, '-o', path]).catch(() => '')).trim();
    };
    // Each placement change moves the object to another policy, then Karmada brings it to the new cluster.
    for (const [clusters, arrived] of [
      [['member2'], 'member2'],
      [['member1', 'member2'], 'member1'],
    ] as const) {
      const patch = JSON.stringify({ spec: { placement: { clusterAffinity: { clusterNames: clusters } } } });
      await hub(['patch', 'cpb', 'nowhere', '-n', ns, '--type=merge', '-p', patch]);
      const want = JSON.stringify(clusters);
      await eventually(async () => (await clustersOf()) === want || undefined, 30_000, `policy to ${want}`);
      await eventually(() => exists(arrived, ['cpb', 'nowhere']), 60_000, `the object in ${arrived}`);
    }
    // Both members' agents say the pod does not exist; the hub names both clusters.
    const failed = await waitHub(
      'nowhere',
      (x) => x.status?.clusters?.filter((c) => /does not exist/.test(c.message ?? '')).length === 2,
      'Failed in both',
    );
    assert.match(failed.status!.message!, /member1: .*member2: /);
    const json = JSON.parse(
      execFileSync(
        process.execPath,
        [
          `${repoRoot}/packages/cli/dist/main.js`,
          'status',
          'nowhere',
          '-n',
          ns,
          '-o',
          'json',
          '--kubeconfig',
          `${repoRoot}/.fed/karmada-config`,
        ],
        { encoding: 'utf8' },
      ),
    ) as CheckpointBackup;
    assert.deepEqual(
      json.status?.clusters?.map((c) => c.name),
      ['member1', 'member2'],
    );
  });
});
