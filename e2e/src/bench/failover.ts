// pnpm bench failover: how long a member cluster's outage keeps a StatefulSet down when Karmada fails it over, and how
// much state comes back. Two copies of the workload in two namespaces go through the same outage: the baseline,
// Karmada's own cluster failover (Failover gate, NoExecute eviction, the federation's ClusterTaintPolicy: replicas
// restart from scratch in the other member), and one whose workload-level backup keeps state
// (keepState.clusterFailover, issue 16: each replica restored from its latest checkpoint). Each step's time is
// measured from `fed fail member1`.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { eventually } from '@stateful-migration/kube/testing';
import type { CheckpointBackup } from '@stateful-migration/api';
import { kubectl } from '../fed/kubectl.js';
import { failoverPlacement, karmadaFailover, memberSeen, type FailoverTimeline } from '../fed/outage.js';
import { repoRoot } from '../fed/paths.js';
import { registryInfo, registrySecretYaml } from '../cases/agent-support.js';
import { counterWorkloadYaml } from '../cases/restore-support.js';

const REPLICAS = Number(process.env.BENCH_REPLICAS ?? 2);
const INTERVAL_MS = 100;
const hub = (args: string[], input?: string) => kubectl('karmada', args, input);
const say = (s: string) => process.stderr.write(`${s}\n`);
const fed = (...args: string[]) => {
  const r = spawnSync(process.execPath, [join(repoRoot, 'e2e/dist/fed/cli.js'), ...args], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`fed ${args.join(' ')}: ${r.stderr}`);
};

async function lastCount(member: string, ns: string, pod: string): Promise<number | undefined> {
  const out = await kubectl(member, ['logs', '-n', ns, pod]).catch(() => '');
  const all = [...out.matchAll(/^count (\d+)/gm)];
  return all.length ? Number(all.at(-1)![1]) : undefined;
}
async function firstCount(member: string, ns: string, pod: string): Promise<number | undefined> {
  const out = await kubectl(member, ['logs', '-n', ns, pod]).catch(() => '');
  const m = /^count (\d+)/m.exec(out);
  return m ? Number(m[1]) : undefined;
}

interface Result extends FailoverTimeline {
  countsBefore: number[];
  countsAfter: number[];
  /** With state: status.lastFailover's oldest state restored, and its restored/started-fresh counts. */
  stateAgeS?: number;
  restored?: string;
}

const pods = Array.from({ length: REPLICAS }, (_, i) => `counter-${i}`);

/** A StatefulSet of counters preferring member1; with `keepState`, a per-minute workload backup that keeps state. */
async function deploy(ns: string, keepState: boolean): Promise<void> {
  await hub(['create', 'namespace', ns]);
  const user = registryInfo().users[0]!;
  const backup = keepState
    ? `---
${registrySecretYaml(ns, 'push', user.username, user.password)}---
apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: counter, namespace: ${ns}}
spec:
  schedule: "* * * * *"
  resourceRef: {apiVersion: apps/v1, kind: StatefulSet, name: counter}
  registry: {url: "${registryInfo().url}", repository: bench/${ns}, secretRef: {name: push}}
  keepState: {clusterFailover: {maxAgeSeconds: 900}}
`
    : '';
  await hub(
    ['apply', '-f', '-'],
    counterWorkloadYaml({
      ns,
      kind: 'StatefulSet',
      name: 'counter',
      replicas: REPLICAS,
      parallel: true,
      terminationGracePeriodSeconds: 5,
      env: { INTERVAL_MS: String(INTERVAL_MS) },
      policy: { placement: failoverPlacement },
    }) + backup,
  );
  for (const p of pods)
    await eventually(
      async () => ((await lastCount('member1', ns, p)) ?? 0) >= 20 || undefined,
      180_000,
      `${p} counting in member1`,
    );
}

/** Until each replica of the stateful one has a pushed checkpoint (the failover has something to restore). */
async function checkpointed(ns: string): Promise<void> {
  await eventually(
    async () => {
      const b = JSON.parse(await hub(['get', 'cpb', 'counter', '-n', ns, '-o', 'json'])) as CheckpointBackup;
      const rs = b.status?.clusters?.find((c) => c.name === 'member1')?.replicas ?? [];
      return rs.length === REPLICAS && rs.every((r) => r.images?.some((i) => i.pushed && i.digest))
        ? true
        : undefined;
    },
    300_000,
    'a pushed checkpoint of every replica',
  );
}

/**
 * One workload's recovery after the failure at t0 (Karmada's timeline: not Ready, tainted, rescheduled, every replica
 * Ready in member2), the counts, and with state the failover record.
 */
async function recovery(ns: string, t0: number, before: number[], keepState: boolean): Promise<Result> {
  const timeline = await karmadaFailover({
    ns,
    name: 'counter',
    replicas: REPLICAS,
    from: 'member1',
    to: 'member2',
    t0,
    timeoutMs: 300_000,
  });
  const countsAfter: number[] = [];
  for (const p of pods)
    countsAfter.push(
      (await eventually(() => firstCount('member2', ns, p), 60_000, `${p} counting in member2`))!,
    );
  const result: Result = { ...timeline, countsBefore: before, countsAfter };
  if (!keepState) return result;
  const rec = (JSON.parse(await hub(['get', 'cpb', 'counter', '-n', ns, '-o', 'json'])) as CheckpointBackup)
    .status?.lastFailover;
  return {
    ...result,
    ...(rec?.stateAgeSeconds !== undefined ? { stateAgeS: rec.stateAgeSeconds } : {}),
    restored: rec ? `${rec.restored} of ${rec.replicas.length}, ${rec.startedFresh} fresh` : 'no record',
  };
}

/** The same outage for both: Karmada alone, and with state kept (issue 16). */
async function run(): Promise<{ alone: Result; kept: Result }> {
  const id = Date.now().toString(36);
  const [alone, kept] = [`bench-failover-${id}`, `bench-failover-state-${id}`];
  await deploy(alone, false);
  await deploy(kept, true);
  await checkpointed(kept);
  const counts = async (ns: string) => {
    const out: number[] = [];
    for (const p of pods) out.push((await lastCount('member1', ns, p)) ?? 0);
    return out;
  };
  const before = [await counts(alone), await counts(kept)] as const;
  const t0 = Date.now();
  fed('fail', 'member1');
  let results: [Result, Result];
  try {
    results = await Promise.all([recovery(alone, t0, before[0], false), recovery(kept, t0, before[1], true)]);
  } finally {
    fed('heal', 'member1');
  }
  await eventually(
    async () => (await memberSeen('member1')).ready || undefined,
    180_000,
    'member1 Ready again',
  );
  for (const ns of [alone, kept])
    await hub(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  return { alone: results[0], kept: results[1] };
}

const { alone: k, kept: s } = await run();
const row = (what: string, a: string, b: string) =>
  `| ${what.padEnd(58)} | ${a.padStart(28)} | ${b.padStart(34)} |`;
const lost = (r: Result) =>
  r.countsBefore.map((b, i) => Math.max(0, b - ((r.countsAfter[i] ?? 1) - 1))).join(', ');
console.log(
  `\nFailover of a ${REPLICAS}-replica counter StatefulSet (INTERVAL_MS=${INTERVAL_MS}) from member1 to member2, both workloads in one outage (seconds after \`fed fail member1\`)\n`,
);
console.log(row('', 'Karmada failover, no state', 'with state (keepState.clusterFailover)'));
console.log(row('-'.repeat(58), '-'.repeat(28), '-'.repeat(34)));
console.log(row('member1 seen not Ready', k.notReadyS.toFixed(1), s.notReadyS.toFixed(1)));
console.log(
  row('member1 tainted NoExecute (ClusterTaintPolicy)', k.taintedS.toFixed(1), s.taintedS.toFixed(1)),
);
console.log(row('binding moved to member2', k.rescheduledS.toFixed(1), s.rescheduledS.toFixed(1)));
console.log(row('every replica Ready in member2 (recovery time)', k.readyS.toFixed(1), s.readyS.toFixed(1)));
console.log(
  row(
    'counts seen just before the failure (per replica)',
    k.countsBefore.join(', '),
    s.countsBefore.join(', '),
  ),
);
console.log(
  row('first count after failover (per replica)', k.countsAfter.join(', '), s.countsAfter.join(', ')),
);
console.log(row('counts lost (per replica)', lost(k), lost(s)));
console.log(row('restored (status.lastFailover)', 'none', s.restored ?? ''));
console.log(
  row(
    'restored state age (status.lastFailover, s)',
    '-',
    s.stateAgeS !== undefined ? String(s.stateAgeS) : '-',
  ),
);
say('\nState age is measured when the hub decides, so it includes Karmada noticing the outage.');
