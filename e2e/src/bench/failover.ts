// pnpm bench failover: how long a member cluster's outage keeps a StatefulSet down when Karmada fails it over, and how
// much state comes back. The baseline is Karmada's own cluster failover of the same workload in the same run
// (Failover gate, NoExecute eviction, the federation's ClusterTaintPolicy): replicas restart from scratch in the other
// member. Each step's time is measured from `fed fail member1`.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { eventually } from '@stateful-migration/kube/testing';
import { kubectl } from '../fed/kubectl.js';
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

interface Cluster {
  spec?: { taints?: { key: string; effect: string }[] };
  status?: { conditions?: { type: string; status: string }[] };
}
const member1 = async (): Promise<Cluster> =>
  JSON.parse(await hub(['get', 'cluster', 'member1', '-o', 'json'])) as Cluster;

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

interface Result {
  notReadyS: number;
  taintedS: number;
  rescheduledS: number;
  readyS: number;
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
      policy: {
        placement: [
          { affinityName: 'primary', clusterNames: ['member1'] },
          { affinityName: 'backup', clusterNames: ['member2'] },
        ],
      },
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
  const since = () => (Date.now() - t0) / 1000;
  let notReadyS = 0;
  let taintedS = 0;
  let rescheduledS = 0;
  let readyS = 0;
  try {
    await eventually(
      async () => {
        const c = await member1();
        if (!notReadyS && c.status?.conditions?.find((x) => x.type === 'Ready')?.status !== 'True')
          notReadyS = since();
        if (!taintedS && c.spec?.taints?.some((t) => t.effect === 'NoExecute')) taintedS = since();
        return notReadyS && taintedS ? true : undefined;
      },
      300_000,
      'member1 not Ready and tainted NoExecute',
    );
    await eventually(
      async () => {
        const rb = JSON.parse(
          await hub(['get', 'resourcebinding', 'counter-statefulset', '-n', ns, '-o', 'json']),
        ) as { spec: { clusters?: { name: string }[] } };
        return rb.spec.clusters?.map((c) => c.name).join() === 'member2' || undefined;
      },
      300_000,
      'the binding to move to member2',
    );
    rescheduledS = since();
    await eventually(
      async () => {
        const ready = await kubectl('member2', [
          'get',
          'statefulset',
          'counter',
          '-n',
          ns,
          '-o',
          'jsonpath={.status.readyReplicas}',
        ]).catch(() => '');
        return Number(ready) === REPLICAS || undefined;
      },
      300_000,
      'every replica Ready in member2',
    );
    readyS = since();
  } finally {
    fed('heal', 'member1');
  }
  const countsAfter: number[] = [];
  for (const p of pods)
    countsAfter.push(
      (await eventually(() => firstCount('member2', ns, p), 60_000, `${p} counting in member2`))!,
    );
  await eventually(
    async () =>
      (await member1()).status?.conditions?.find((x) => x.type === 'Ready')?.status === 'True' || undefined,
    180_000,
    'member1 Ready again',
  );
  await hub(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  return { notReadyS, taintedS, rescheduledS, readyS, countsBefore, countsAfter };
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
