// pnpm bench failover: how long a member cluster's outage keeps a StatefulSet down when Karmada fails it over, and how
// much state comes back. The baseline is Karmada's own cluster failover of the same workload in the same run
// (Failover gate, NoExecute eviction, the federation's ClusterTaintPolicy): replicas restart from scratch in the other
// member. Each step's time is measured from `fed fail member1`.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { eventually } from '@stateful-migration/kube/testing';
import { kubectl } from '../fed/kubectl.js';
import { failoverPlacement, karmadaFailover, memberSeen, type FailoverTimeline } from '../fed/outage.js';
import { repoRoot } from '../fed/paths.js';
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
}

/** Karmada's failover of a StatefulSet of counters, without state. */
async function karmadaAlone(ns: string): Promise<Result> {
  const pods = Array.from({ length: REPLICAS }, (_, i) => `counter-${i}`);
  await hub(['create', 'namespace', ns]);
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
    }),
  );
  for (const p of pods) {
    await eventually(
      async () => ((await lastCount('member1', ns, p)) ?? 0) >= 20 || undefined,
      180_000,
      `${p} counting in member1`,
    );
  }
  const countsBefore: number[] = [];
  for (const p of pods) countsBefore.push((await lastCount('member1', ns, p)) ?? 0);
  const t0 = Date.now();
  fed('fail', 'member1');
  let timeline: FailoverTimeline;
  try {
    timeline = await karmadaFailover({
      ns,
      name: 'counter',
      replicas: REPLICAS,
      from: 'member1',
      to: 'member2',
      t0,
      timeoutMs: 300_000,
    });
  } finally {
    fed('heal', 'member1');
  }
  const countsAfter: number[] = [];
  for (const p of pods)
    countsAfter.push(
      (await eventually(() => firstCount('member2', ns, p), 60_000, `${p} counting in member2`))!,
    );
  await eventually(
    async () => (await memberSeen('member1')).ready || undefined,
    180_000,
    'member1 Ready again',
  );
  await hub(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  return { ...timeline, countsBefore, countsAfter };
}

const k = await karmadaAlone(`bench-failover-${Date.now().toString(36)}`);
const row = (what: string, v: string) => `| ${what.padEnd(58)} | ${v.padStart(28)} |`;
console.log(
  `\nFailover of a ${REPLICAS}-replica counter StatefulSet from member1 to member2 (seconds after \`fed fail member1\`)\n`,
);
console.log(row('', 'Karmada failover, no state'));
console.log(row('-'.repeat(58), '-'.repeat(28)));
console.log(row('member1 seen not Ready', k.notReadyS.toFixed(1)));
console.log(row('member1 tainted NoExecute (ClusterTaintPolicy)', k.taintedS.toFixed(1)));
console.log(row('binding moved to member2', k.rescheduledS.toFixed(1)));
console.log(row('every replica Ready in member2 (recovery time)', k.readyS.toFixed(1)));
console.log(row('counts at the failure (per replica)', k.countsBefore.join(', ')));
console.log(row('first count after failover (per replica)', k.countsAfter.join(', ')));
console.log(row('state lost', 'all (counts restart at 1)'));
say('\nThe stateful failover column (issue 16) joins this table once workload-level restores exist.');
