// pnpm bench hub: what the hub adds to Karmada, with 1, 100, 1000 and 3000 CheckpointBackups. The baseline, in the same
// run, is the same objects carried by one hand-written PropagationPolicy with no hub placing them, and their status
// read from the ResourceBinding. The objects name a pod that does not exist, so member1's agents finish each one at
// once (Failed: pod not found): the run measures the federation's path, not checkpoints.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import PQueue from 'p-queue';
import type { CheckpointBackup } from '@stateful-migration/api';
import { Informer, RestClient, restListWatch, type KubeObject } from '@stateful-migration/kube';
import { fedDir } from '../fed/paths.js';
import { probe } from '../fed/probe.js';
import { mainPid, readState, restartProcess, type FedState } from '../fed/procs.js';
import { deleteNamespace } from './namespace.js';

/** The label the hub puts on an object it placed, joining it to its shared policy (packages/hub, sharing.ts). */
const POLICY_LABEL = 'hub.migration.dcnlab.com/policy';

const counts = (process.env.BENCH_COUNTS ?? '1,100,1000,3000').split(',').map(Number);
const client = (cluster: string) => {
  const kc = new KubeConfig();
  kc.loadFromFile(join(fedDir, `${cluster}-config`));
  return new RestClient(kc);
};
const hub = client('karmada');
const member = client('member1');
// BENCH_HUB_ARGS (e.g. `--leader-elect-renew-deadline=40s --leader-elect-lease-duration=60s`): the hub is started
// again with these flags first, so a run on a busy machine is not cut short by a Lease renewal the Karmada apiserver
// answered too late (the hub then exits, as it must).
const hubArgs = (process.env.BENCH_HUB_ARGS ?? '').split(/\s+/).filter(Boolean);
// BENCH_HUB_LIMIT_S: how long a batch may take to be all visible before its row is recorded as unfinished (default
// 30 minutes; a paired 3000-object run needs more on 2 cores).
const limitMs = Number(process.env.BENCH_HUB_LIMIT_S || 1800) * 1000;
if (!(limitMs > 0)) throw new Error('BENCH_HUB_LIMIT_S must be a number of seconds above 0');
if (hubArgs.length) {
  const restarted = await restartProcess(readState()!, 'hub', {}, hubArgs);
  for (let i = 0; !(await probe(`http://127.0.0.1:${restarted.port}/readyz`)); i++) {
    if (i > 600) throw new Error('bench hub: the hub did not become ready again in 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  console.error(`bench hub: the hub runs with ${hubArgs.join(' ')}`);
}
const state = JSON.parse(readFileSync(join(fedDir, 'state.json'), 'utf8')) as FedState;
const hubPid = mainPid(state.procs.find((p) => p.name === 'hub')!);
const TICK = 100; // USER_HZ on Linux

/** A file of the hub's /proc entry; a hub that exited (e.g. it lost its leader Lease under load) ends the run. */
function procFile(pid: number, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    console.error(
      `bench hub: the hub (pid ${pid}) exited during the run; see ${join(fedDir, 'logs/hub.log')}`,
    );
    process.exit(1);
  }
}
function cpuSeconds(pid: number): number {
  const f = procFile(pid, 'stat').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;
}
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(procFile(pid, 'status'));
  return Number(m?.[1] ?? 0) / 1024;
}
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Binding = KubeObject & {
  spec: { resource: { kind: string; name: string; namespace?: string }; clusters?: { name: string }[] };
  status?: { aggregatedStatus?: { clusterName: string; status?: { phase?: string } }[] };
};

interface Times {
  applied: Map<string, number>;
  /** When the hub had placed the object (its shared policy's label on it): the hub's own part of apply→member. */
  placed: Map<string, number>;
  /** Karmada's detector matched the object to a policy: its ResourceBinding exists. */
  bound: Map<string, number>;
  /** Karmada's scheduler chose its clusters (the binding's spec.clusters). */
  scheduled: Map<string, number>;
  inMember: Map<string, number>;
  agentDone: Map<string, number>;
  visible: Map<string, number>;
}

/** One path's objects in their own namespace: the watches that stamp each moment, and how to apply one object. */
async function prepare(n: number, withHub: boolean) {
  const ns = `bench-${withHub ? 'hub' : 'base'}-${n}-${Date.now() % 100000}`;
  const t: Times = {
    applied: new Map(),
    placed: new Map(),
    bound: new Map(),
    scheduled: new Map(),
    inMember: new Map(),
    agentDone: new Map(),
    visible: new Map(),
  };
  await hub.request('POST', '/api/v1/namespaces', { body: { metadata: { name: ns } } });
  if (!withHub)
    await hub.request('POST', `/apis/policy.karmada.io/v1alpha1/namespaces/${ns}/propagationpolicies`, {
      body: {
        apiVersion: 'policy.karmada.io/v1alpha1',
        kind: 'PropagationPolicy',
        metadata: { name: 'all-backups', namespace: ns },
        spec: {
          resourceSelectors: [{ apiVersion: 'migration.dcnlab.com/v1', kind: 'CheckpointBackup' }],
          placement: { clusterAffinity: { clusterNames: ['member1'] } },
        },
      },
    });
  const memberWatch = new Informer<CheckpointBackup>(
    restListWatch(member, `/apis/migration.dcnlab.com/v1/namespaces/${ns}/checkpointbackups`),
  );
  memberWatch.on((_e, b) => {
    const now = performance.now();
    if (!t.inMember.has(b.metadata.name)) t.inMember.set(b.metadata.name, now);
    if (b.status?.phase === 'Failed' && !t.agentDone.has(b.metadata.name))
      t.agentDone.set(b.metadata.name, now);
  });
  const done = (name: string) => {
    if (!t.visible.has(name)) t.visible.set(name, performance.now());
  };
  // Both paths: where in Karmada each object's time goes (detector, then scheduler, then to the member).
  const bindingWatch = new Informer<Binding>(
    restListWatch(hub, `/apis/work.karmada.io/v1alpha2/namespaces/${ns}/resourcebindings`),
  );
  bindingWatch.on((_e, rb) => {
    const name = rb.spec.resource.name;
    const now = performance.now();
    if (!t.bound.has(name)) t.bound.set(name, now);
    if (rb.spec.clusters?.length && !t.scheduled.has(name)) t.scheduled.set(name, now);
    if (
      !withHub &&
      rb.status?.aggregatedStatus?.find((a) => a.clusterName === 'member1')?.status?.phase === 'Failed'
    )
      done(name);
  });
  const hubWatch = withHub
    ? new Informer<CheckpointBackup>(
        restListWatch(hub, `/apis/migration.dcnlab.com/v1/namespaces/${ns}/checkpointbackups`),
      )
    : undefined;
  hubWatch?.on((_e, b) => {
    if (b.metadata.labels?.[POLICY_LABEL] && !t.placed.has(b.metadata.name))
      t.placed.set(b.metadata.name, performance.now());
    if (b.status?.clusters?.find((c) => c.name === 'member1')?.phase === 'Failed') done(b.metadata.name);
  });
  await Promise.all([memberWatch.start(), bindingWatch.start(), hubWatch?.start()]);

  const apply = async (i: number) => {
    const name = `b${i}`;
    // Stamped before the request: the watches may see the object (even placed) before the POST's answer arrives.
    t.applied.set(name, performance.now());
    await hub.request('POST', `/apis/migration.dcnlab.com/v1/namespaces/${ns}/checkpointbackups`, {
      body: {
        apiVersion: 'migration.dcnlab.com/v1',
        kind: 'CheckpointBackup',
        metadata: { name, namespace: ns },
        spec: {
          schedule: 'immediately',
          podRef: { name: 'no-such-pod' },
          resourceRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'none' },
          ...(withHub ? { placement: { clusterAffinity: { clusterNames: ['member1'] } } } : {}),
        },
      },
    });
  };
  let t0 = 0;
  let wall = 0;
  return {
    apply,
    start: () => (t0 = performance.now()),
    async allVisible(): Promise<void> {
      const deadline = Date.now() + limitMs;
      while (t.visible.size < n && Date.now() < deadline) await sleep(100);
      wall = (performance.now() - t0) / 1000;
      memberWatch.stop();
      bindingWatch.stop();
      hubWatch?.stop();
    },
    async remove(): Promise<void> {
      // The next run starts once this one's objects are gone, so the hub's clean-up is not counted in it.
      await deleteNamespace(hub, ns);
    },
    row(): Record<string, string> {
      const toMember = [...t.inMember].map(([k, v]) => v - (t.applied.get(k) ?? v));
      const since = (m: Map<string, number>) => [...m].map(([k, v]) => v - (t.applied.get(k) ?? v));
      const placed = since(t.placed);
      const p5095 = (xs: number[]) => `${pct(xs, 50).toFixed(0)} / ${pct(xs, 95).toFixed(0)}`;
      const back = [...t.visible].map(([k, v]) => v - (t.agentDone.get(k) ?? v));
      return {
        objects: String(n),
        path: withHub ? 'hub' : 'hand-written policy',
        'apply→member p50/p95 ms': `${pct(toMember, 50).toFixed(0)} / ${pct(toMember, 95).toFixed(0)}`,
        'apply→hub placed p50/p95 ms': withHub
          ? `${pct(placed, 50).toFixed(0)} / ${pct(placed, 95).toFixed(0)}`
          : '',
        'apply→binding p50/p95 ms': p5095(since(t.bound)),
        'apply→scheduled p50/p95 ms': p5095(since(t.scheduled)),
        'agent done→hub p50/p95 ms': `${pct(back, 50).toFixed(0)} / ${pct(back, 95).toFixed(0)}`,
        'all visible s': `${wall.toFixed(1)}${t.visible.size < n ? ` (${t.visible.size}/${n})` : ''}`,
      };
    },
  };
}

/** The hub's counters, from its /metrics: series name (with labels) to value; empty when it cannot be read. */
async function hubMetrics(): Promise<Map<string, number>> {
  const text = await fetch(`http://127.0.0.1:${state.ports.hub}/metrics`)
    .then((r) => r.text())
    .catch(() => '');
  const m = new Map<string, number>();
  for (const l of text.split('\n')) {
    const [series, value] = l.startsWith('#') ? [] : l.split(' ');
    if (series && value) m.set(series, Number(value));
  }
  return m;
}

/**
 * What the hub's own metrics say of a run (differences over it): its status writes, how many of them a 409 sent back
 * to a fresh read (a stale copy), and the mean wait of its backups queue's keys by priority (2: a member's answer not
 * shown, 1: not yet placed, 0: the rest; ADR 0019).
 */
function hubWork(before: Map<string, number>, after: Map<string, number>): Record<string, string> {
  const d = (s: string) => (after.get(s) ?? 0) - (before.get(s) ?? 0);
  const wait = (p: number) => {
    const sel = `{queue="backups",priority="${p}"}`;
    const n = d(`hub_queue_wait_seconds_count${sel}`);
    return n ? `${((d(`hub_queue_wait_seconds_sum${sel}`) * 1000) / n).toFixed(0)} (${n})` : '-';
  };
  return {
    'hub status writes / 409s': `${d('hub_writes_total{what="status"}')} / ${d('hub_status_conflicts_total')}`,
    'hub queue wait mean ms (runs) answer / placing / other': `${wait(2)} / ${wait(1)} / ${wait(0)}`,
  };
}

/** The hub process's CPU and RSS over `work`, also per 1000 of `n` objects, and what its metrics say of it. */
async function measured(n: number, work: () => Promise<void>): Promise<Record<string, string>> {
  const metrics0 = await hubMetrics();
  const cpu0 = cpuSeconds(hubPid);
  const rss0 = rssMiB(hubPid);
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(hubPid))), 200);
  await work();
  clearInterval(sampler);
  const cpu = cpuSeconds(hubPid) - cpu0;
  const work1 = hubWork(metrics0, await hubMetrics());
  return {
    'hub CPU s': cpu.toFixed(2),
    'hub CPU s per 1000': ((cpu * 1000) / n).toFixed(2),
    'hub RSS peak MiB': peak.toFixed(0),
    'hub RSS growth MiB per 1000': (((peak - rss0) * 1000) / n).toFixed(0),
    ...work1,
  };
}

/** One path alone: its n objects applied 16 at a time, until all are visible. */
async function run(n: number, withHub: boolean): Promise<Record<string, string>> {
  const p = await prepare(n, withHub);
  const hubUse = await measured(n, async () => {
    const q = new PQueue({ concurrency: 16 });
    p.start();
    for (let i = 0; i < n; i++) void q.add(() => p.apply(i));
    await q.onIdle();
    await p.allVisible();
  });
  await p.remove();
  return { ...p.row(), ...hubUse };
}

/**
 * Both paths at once, their objects applied alternately through one queue of 16: each object of one path meets the
 * same load (the machine's, Karmada's queues, the agents') as its twin of the other, which two runs one after the
 * other on a shared machine cannot promise. The hub's CPU and memory are of the pair (it reports the baseline's status
 * too), so they are given once, on the hub's row.
 */
async function runPaired(n: number): Promise<Record<string, string>[]> {
  const [base, viaHub] = [await prepare(n, false), await prepare(n, true)];
  const hubUse = await measured(2 * n, async () => {
    const q = new PQueue({ concurrency: 16 });
    base.start();
    viaHub.start();
    for (let i = 0; i < n; i++) {
      void q.add(() => base.apply(i));
      void q.add(() => viaHub.apply(i));
    }
    await q.onIdle();
    await Promise.all([base.allVisible(), viaHub.allVisible()]);
  });
  await Promise.all([base.remove(), viaHub.remove()]);
  const none = Object.fromEntries(Object.keys(hubUse).map((k) => [k, '(pair)']));
  return [
    { ...base.row(), path: 'hand-written policy, paired', ...none },
    { ...viaHub.row(), path: 'hub, paired', ...hubUse },
  ];
}

// BENCH_HUB_PAIRED=1: both paths at the same time (equal load); otherwise one after the other.
const paired = process.env.BENCH_HUB_PAIRED === '1';
const rows: Record<string, string>[] = [];
for (const n of counts) {
  if (paired) {
    process.stderr.write(`bench hub: ${n} objects on each path, both at once...\n`);
    rows.push(...(await runPaired(n)));
    process.stderr.write(`bench hub: ${JSON.stringify(rows.slice(-2))}\n`);
    await sleep(3000);
    continue;
  }
  for (const withHub of [false, true]) {
    process.stderr.write(`bench hub: ${n} objects, ${withHub ? 'through the hub' : 'baseline'}...\n`);
    rows.push(await run(n, withHub));
    // Each row as soon as it is measured: a long run stopped early keeps what it has.
    process.stderr.write(`bench hub: ${JSON.stringify(rows.at(-1))}\n`);
    await sleep(3000);
  }
}
const cols = Object.keys(rows[0]!);
const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => r[c]!.length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
console.log(line(cols));
console.log(line(w.map((n) => '-'.repeat(n))));
for (const r of rows) console.log(line(cols.map((c) => r[c]!)));
process.exit(0);
