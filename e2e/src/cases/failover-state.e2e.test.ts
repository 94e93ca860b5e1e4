// suite: alone — fails and heals member1 (fed fail/heal): member1 is unreachable for minutes; moves the hub's pod out of member1 on a --chart-hub federation
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FailoverRecord, ReplicaStatus } from '@stateful-migration/api';
import { hubPodAwayFrom } from '../fed/chart-hub.js';
import { kubectl } from '../fed/kubectl.js';
import { failoverPlacement, fedCli, healedAndReady, karmadaFailover, memberSeen } from '../fed/outage.js';
import { exists, getBackup, registryInfo, registrySecretYaml } from './agent-support.js';
import { counterCounts, counterWorkloadYaml } from './restore-support.js';
import { eventsWithReasons, eventually, unique } from './support.js';

/**
 * Two cases on one outage of member1, because each outage costs minutes (Karmada waits to see member1 not Ready,
 * taints it, evicts, reschedules; healing waits for it to be Ready again): the `it`s of each case are those it had as a
 * file of its own, run in order fail, fail, heal, heal around one `fed fail member1` and one `fed heal member1`.
 *
 * `pnpm fed fail` and `pnpm fed heal` as Karmada sees them, and Karmada's own cluster failover enabled as a user
 * enables it (the Failover gate, NoExecute eviction, a ClusterTaintPolicy): a StatefulSet preferring member1 moves to
 * member2 when member1 goes down, starting from scratch (Karmada carries no process state: the baseline stateful
 * failover improves on), and when member1 comes back exactly one copy runs. (Namespace `plainNs`.)
 *
 * Failover with state (issue 16, docs/adr/0004): a counter StatefulSet of 2 placed in member1 (member2 as Karmada's
 * fallback) and backed up every minute by a workload-level CheckpointBackup with keepState.clusterFailover. When
 * member1 is lost (`fed fail`), Karmada moves the StatefulSet to member2, and each ordinal there comes back from its
 * own latest pushed checkpoint through the hub's webhook: its counter goes on from where that checkpoint left it,
 * never from zero, and status.lastFailover says how old the state was. A second StatefulSet of the same namespace,
 * whose backup has never checkpointed, starts fresh there, and its status and a Warning Event say why. When member1
 * comes back (`fed heal`), one copy of each runs. All of it as the shipped RBAC allows (the federation's hub).
 * (Namespace `ns`.)
 */
const ns = unique('fos');
const plainNs = unique('failover');
const hub = (args: string[], input?: string) => kubectl('karmada', args, input);

type Pod = {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { containers: { image: string }[]; nodeName?: string };
  status?: { phase?: string };
};

const statefulSet = (name: string, replicas: number) => `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: ${name}, namespace: ${ns}}
spec:
  replicas: ${replicas}
  serviceName: ${name}
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      containers:
      - {name: counter, image: registry.local/counter:1}
`;

const backupYaml = (name: string, schedule: string) => `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: ${name}, namespace: ${ns}}
spec:
  schedule: "${schedule}"
  resourceRef: {apiVersion: apps/v1, kind: StatefulSet, name: ${name}}
  registry: {url: "${registryInfo().url}", repository: fos/${ns}, secretRef: {name: push}}
  keepState: {clusterFailover: {maxAgeSeconds: 900}}
`;

async function pods(cluster: string, app: string): Promise<Pod[]> {
  const out = await kubectl(cluster, ['get', 'pods', '-n', ns, '-l', `app=${app}`, '-o', 'json']);
  return (JSON.parse(out) as { items: Pod[] }).items;
}

const running = (cluster: string, app: string, n: number, timeoutMs = 240_000) =>
  eventually(
    async () => {
      const ps = (await pods(cluster, app).catch(() => [])).filter((p) => p.status?.phase === 'Running');
      return ps.length === n ? ps.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)) : undefined;
    },
    timeoutMs,
    `${n} ${app} pods running in ${cluster}`,
  );

/** Each count a pod printed with its time (kubectl logs --timestamps). */
async function timedCounts(cluster: string, pod: string): Promise<{ at: number; n: number }[]> {
  const out = await kubectl(cluster, ['logs', '--timestamps', '-n', ns, pod, '-c', 'counter']);
  return out
    .split('\n')
    .map((l) => /^(\S+) count (\d+)/.exec(l))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => ({ at: Date.parse(m[1]!), n: Number(m[2]) }));
}

/** The CheckpointBackup's Events on the hub once one has this reason (Events are written after the status). */
const eventsWith = (name: string, ...reasons: string[]) => eventsWithReasons('karmada', ns, name, reasons);

/** The first count counter-0 printed in a member, read with kubectl logs. */
async function firstCount(member: string): Promise<number | undefined> {
  const out = await kubectl(member, ['logs', '-n', plainNs, 'counter-0', '-c', 'counter']).catch(() => '');
  const m = /^count (\d+)/m.exec(out);
  return m ? Number(m[1]) : undefined;
}

const runningIn = async (member: string): Promise<boolean> => {
  const out = await kubectl(member, [
    'get',
    'pod',
    'counter-0',
    '-n',
    plainNs,
    '-o',
    'jsonpath={.status.phase}',
  ]).catch(() => '');
  return out === 'Running';
};

/** Sets up the plain case: a counter StatefulSet counting in member1. */
async function setUpPlain(): Promise<void> {
  await hub(['create', 'namespace', plainNs]);
  await hub(
    ['apply', '-f', '-'],
    counterWorkloadYaml({
      ns: plainNs,
      kind: 'StatefulSet',
      name: 'counter',
      policy: { placement: failoverPlacement },
    }),
  );
  await eventually(
    async () => ((await firstCount('member1')) !== undefined ? true : undefined),
    90_000,
    'counter-0 to count in member1',
  );
}

/** Sets up the case with state: counters checkpointed every minute in member1, and one that never is. */
async function setUpWithState(): Promise<void> {
  const user = registryInfo().users[0]!;
  await hub(['create', 'namespace', ns]);
  await hub(
    ['apply', '-f', '-'],
    `${registrySecretYaml(ns, 'push', user.username, user.password)}---
${statefulSet('counter', 1)}---
${statefulSet('fresh', 1)}---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: users, namespace: ${ns}}
spec:
  resourceSelectors:
  - {apiVersion: apps/v1, kind: StatefulSet, name: counter}
  - {apiVersion: apps/v1, kind: StatefulSet, name: fresh}
  placement:
    clusterAffinities:
    - {affinityName: primary, clusterNames: [member1]}
    - {affinityName: backup, clusterNames: [member2]}
`,
  );
  // Ordinal 0 counts well ahead of ordinal 1, so each restored counter shows whose state it has.
  const [first] = await running('member1', 'counter', 1);
  await eventually(
    async () =>
      ((await counterCounts('member1', ns, first!.metadata.name)).at(-1)?.n ?? 0) >= 40 || undefined,
    90_000,
    'counter-0 to count to 40',
  );
  await hub(['apply', '-f', '-'], statefulSet('counter', 2));
  await running('member1', 'counter', 2);
  // A checkpoint counts once counter-1 has counted past 10 (one a second), so a restored counter-1 is told from a
  // fresh one (which starts at 1) by its first count alone.
  const counted = Date.now() + 12_000;
  await running('member1', 'fresh', 1);
  // counter: every minute; fresh: never in this test's lifetime (29 February), so no checkpoint exists.
  await hub(
    ['apply', '-f', '-'],
    `${backupYaml('counter', '* * * * *')}---\n${backupYaml('fresh', '0 0 29 2 *')}`,
  );
  checkpointed = await eventually(
    async () => {
      const m1 = (await getBackup('karmada', ns, 'counter')).status?.clusters?.find(
        (c) => c.name === 'member1',
      );
      const rs = m1?.replicas ?? [];
      const pushed = (r: ReplicaStatus) =>
        r.images?.some((i) => i.pushed && i.digest) && Date.parse(r.lastCheckpointTime ?? '') > counted;
      return rs.length === 2 && rs.every(pushed) ? rs : undefined;
    },
    240_000,
    'a pushed checkpoint of each ordinal of counter',
  );
  // The standing webhook configuration is in member2 before anything fails.
  await eventually(
    async () =>
      (await exists('member2', ns, [
        'mutatingwebhookconfiguration',
        `stateful-migration-failover.${ns}.counter`,
      ]))
        ? true
        : undefined,
    60_000,
    'the failover webhook configuration in member2',
  );
}

/** What each ordinal of counter printed in member1 just before it was lost. */
const before1 = new Map<string, { at: number; n: number }[]>();
let checkpointed: ReplicaStatus[] = [];

/** Runs once whatever calls it first; every later call gets the same promise. */
function once<T>(f: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= f());
}

/** The one outage: what counter printed in member1 is read just before `fed fail member1`. */
const outage = once(async () => {
  for (const p of ['counter-0', 'counter-1']) before1.set(p, await timedCounts('member1', p));
  const t0 = Date.now();
  return { r: fedCli('fail', 'member1'), t0 };
});

/** The one `fed heal member1`, with counter's failover record as it was just before. */
const healing = once(async () => {
  const rec: FailoverRecord | undefined = await getBackup('karmada', ns, 'counter')
    .then((b) => b.status?.lastFailover)
    .catch(() => undefined);
  return { r: fedCli('heal', 'member1'), rec };
});

/** Waits until member1 holds no StatefulSet and no pod in `namespace` (Karmada withdrew what it evicted). */
const member1Empty = (namespace: string, timeoutMs: number, what: string) =>
  eventually(
    async () => {
      const left = await kubectl('member1', ['get', 'statefulset,pods', '-n', namespace, '-o', 'name']).catch(
        () => 'error',
      );
      return left.trim() === '' ? true : undefined;
    },
    timeoutMs,
    what,
  );

describe('one outage of member1: Karmada fails workloads over (fed fail and heal), and with state (failover with state)', () => {
  let hubBack: (() => Promise<void>) | undefined;
  before(async () => {
    // The hub's pod (a --chart-hub federation) must outlive member1's outage, as the hub does in a real installation,
    // whose host cluster is not the member lost: `fed fail member1` would freeze it with member1's containers.
    hubBack = await hubPodAwayFrom('member1');
    const [plain, withState] = await Promise.allSettled([setUpPlain(), setUpWithState()]);
    for (const s of [plain, withState]) if (s.status === 'rejected') throw s.reason;
  });

  after(async () => {
    // Whatever happened, the next case needs member1 back and Ready.
    await healedAndReady('member1');
    for (const n of [ns, plainNs])
      await hub(['delete', 'namespace', n, '--wait=false']).catch(() => undefined);
    await hubBack?.();
  });

  it('fail: member1 turns not Ready, is tainted NoExecute, and the StatefulSet starts over in member2', async () => {
    const { r, t0 } = await outage();
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /member1 is down \(\d+ processes stopped, [1-9]\d* containers frozen\)/);
    assert.match(fedCli('status').stdout, /failed by `fed fail`: member1/);
    // The member's apiserver accepts connections but never answers, as in a partition.
    const probe = fedCli('status');
    assert.equal(probe.status, 0, 'processes stopped by fail still count as running');
    // Karmada sees member1 not Ready and taints it NoExecute, binds the StatefulSet to member2 alone, and its
    // replica is Ready there.
    await karmadaFailover({
      ns: plainNs,
      name: 'counter',
      replicas: 1,
      from: 'member1',
      to: 'member2',
      t0,
      timeoutMs: 180_000,
    });
    await eventually(
      async () => ((await runningIn('member2')) ? true : undefined),
      180_000,
      'counter-0 to run in member2',
    );
    const binding = JSON.parse(
      await hub(['get', 'resourcebinding', 'counter-statefulset', '-n', plainNs, '-o', 'json']),
    ) as { spec: { clusters?: { name: string }[] } };
    assert.deepEqual(
      binding.spec.clusters?.map((c) => c.name),
      ['member2'],
    );
    // Karmada alone brings the process back empty: the count starts over. Stateful failover is what changes this.
    assert.equal(await eventually(() => firstCount('member2'), 60_000, 'counter-0 to count in member2'), 1);
  });

  it('fail member1: counter comes up in member2, ordinal N from ordinal N, never from zero; fresh starts fresh and says why', async (t) => {
    const { r } = await outage();
    assert.equal(r.status, 0, r.stderr);

    const moved = await running('member2', 'counter', 2, 360_000);
    const b = await eventually(
      async () => {
        const x = await getBackup('karmada', ns, 'counter');
        return x.status?.lastFailover ? x : undefined;
      },
      60_000,
      'status.lastFailover of counter',
    );
    const rec = b.status!.lastFailover!;
    t.diagnostic(`record: ${rec.message}; state age ${rec.stateAgeSeconds} s`);
    assert.deepEqual([rec.fromClusters, rec.toClusters], [['member1'], ['member2']]);
    assert.deepEqual([rec.restored, rec.startedFresh], [2, 0], rec.message);
    assert.ok(rec.stateAgeSeconds !== undefined && rec.stateAgeSeconds <= 900, `age ${rec.stateAgeSeconds}`);
    assert.match(
      rec.message,
      /^moved from member1 to member2: 2 of 2 replicas restored \(state up to \d+ s old\)$/,
    );

    const lines: string[] = [];
    const firsts = new Map<string, number>();
    for (const p of moved) {
      const name = p.metadata.name;
      const replica = rec.replicas.find((x) => x.pod === name)!;
      assert.ok(replica?.images?.length, `${name} is restored in the record`);
      assert.equal(p.metadata.annotations?.['migration.dcnlab.com/restored-from'], name, 'ordinal N from N');
      assert.equal(
        p.spec.containers[0]!.image,
        `${replica.images![0]!.imageName.replace(/:[^:/]*$/, '')}@${replica.images![0]!.digest}`,
        'its checkpoint image, by digest',
      );
      assert.ok(
        checkpointed.some(
          (c) => c.pod === name && c.images?.some((i) => i.digest === replica.images![0]!.digest),
        ),
        'one of the checkpoints pushed before the failure',
      );
      const c = await eventually(
        async () => {
          const got = await counterCounts('member2', ns, name);
          return got.length >= 2 ? got : undefined;
        },
        90_000,
        `${name} to count in member2`,
      );
      // The checkpoint was taken after the state's time and before member1 was lost: the restored counter goes on
      // from a count its source printed in that span (each ordinal from its own), never from zero.
      const src = before1.get(name)!;
      const atState = src.filter((x) => x.at <= Date.parse(replica.checkpointTime!)).at(-1)?.n ?? 0;
      const last = src.at(-1)!.n;
      lines.push(
        `${name}: source printed ${atState} at the state's time, ${last} last seen; restored starts at ${c[0]!.n}`,
      );
      assert.ok(c[0]!.n > 10, `${name} starts at ${c[0]!.n}, not from zero`);
      assert.ok(c[0]!.n - 1 >= atState - 1, `${name} starts at ${c[0]!.n}: its state's count was ${atState}`);
      // The last count seen was read just before `fed fail`, which takes a few seconds to freeze member1.
      assert.ok(
        c[0]!.n - 1 <= last + 15,
        `${name} starts at ${c[0]!.n}: its source was last seen at ${last}`,
      );
      assert.ok(c[1]!.n > c[0]!.n, 'and goes on counting');
      firsts.set(name, c[0]!.n);
    }
    t.diagnostic(lines.join('\n'));
    // Ordinal 0 was ~40 counts ahead of ordinal 1, and so is its restored counter: each has its own state.
    assert.ok(firsts.get('counter-0')! - firsts.get('counter-1')! >= 20, JSON.stringify([...firsts]));
    const ev = await eventsWith('counter', 'FailoverRestored');
    assert.ok(
      ev.some((e) => e.type === 'Normal' && e.reason === 'FailoverRestored' && e.message === rec.message),
      JSON.stringify(ev.map((e) => e.reason)),
    );

    // fresh: no checkpoint ever; its pod starts as Karmada starts it, and status and a Warning say why.
    const [freshPod] = await running('member2', 'fresh', 1, 240_000);
    assert.equal(freshPod!.spec.containers[0]!.image, 'registry.local/counter:1');
    assert.equal(freshPod!.metadata.annotations?.['migration.dcnlab.com/restored-from'], undefined);
    const fr = await eventually(
      async () => (await getBackup('karmada', ns, 'fresh')).status?.lastFailover,
      60_000,
      'status.lastFailover of fresh',
    );
    t.diagnostic(`fresh: ${fr.message}`);
    assert.equal(fr.restored, 0);
    assert.match(fr.message, /^moved from member1 to member2: 0 of \d+ replicas restored/);
    if (fr.replicas.length) {
      assert.equal(fr.replicas[0]!.reason, 'NoCheckpoint', fr.replicas[0]!.message);
      assert.match(
        fr.replicas[0]!.message!,
        /fresh-0 has no checkpoint image recorded: it starts fresh in member2/,
      );
    }
    const fe = await eventsWith('fresh', 'FailoverStartedFresh');
    assert.ok(
      fe.some((e) => e.type === 'Warning' && e.reason === 'FailoverStartedFresh' && e.message === fr.message),
      JSON.stringify(fe.map((e) => `${e.type} ${e.reason}`)),
    );
    const count = await eventually(
      async () => (await counterCounts('member2', ns, 'fresh-0'))[0]?.n,
      60_000,
      'fresh-0 to count',
    );
    assert.equal(count, 1, 'fresh-0 starts from its image: its count starts over');
  });

  it('heal: member1 comes back Ready, its taint goes, and only member2 runs the StatefulSet', async () => {
    const { r } = await healing();
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /member1 is back/);
    await eventually(
      async () => {
        const c = await memberSeen('member1');
        return c.ready && !c.noExecute ? true : undefined;
      },
      120_000,
      'member1 Ready and untainted',
    );
    await member1Empty(
      plainNs,
      120_000,
      'Karmada to remove the evicted StatefulSet and its pod from member1',
    );
    assert.ok(await runningIn('member2'), 'member2 still runs counter-0');
  });
  it('heal member1: its copies go, one copy of each ordinal runs, in member2, and the record is kept', async () => {
    const { r, rec } = await healing();
    assert.equal(r.status, 0, r.stderr);
    await member1Empty(ns, 180_000, 'Karmada to remove the evicted StatefulSets and their pods from member1');
    const m2 = await running('member2', 'counter', 2);
    assert.deepEqual(
      m2.map((p) => p.metadata.name),
      ['counter-0', 'counter-1'],
    );
    assert.equal((await running('member2', 'fresh', 1)).length, 1);
    const after = (await getBackup('karmada', ns, 'counter')).status?.lastFailover;
    assert.equal(after?.decidedAt, rec!.decidedAt, 'the move was decided once');
  });
});
