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
import type { FedState } from '../fed/procs.js';

const counts = (process.env.BENCH_COUNTS ?? '1,100,1000,3000').split(',').map(Number);
const client = (cluster: string) => {
  const kc = new KubeConfig();
  kc.loadFromFile(join(fedDir, `${cluster}-config`));
  return new RestClient(kc);
};
const hub = client('karmada');
const member = client('member1');
const state = JSON.parse(readFileSync(join(fedDir, 'state.json'), 'utf8')) as FedState;
const hubPid = state.procs.find((p) => p.name === 'hub')!.pid;
const TICK = 100; // USER_HZ on Linux

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;
}
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Binding = KubeObject & {
  spec: { resource: { kind: string; name: string; namespace?: string } };
  status?: { aggregatedStatus?: { clusterName: string; status?: { phase?: string } }[] };
};

interface Times {
  applied: Map<string, number>;
  inMember: Map<string, number>;
  agentDone: Map<string, number>;
  visible: Map<string, number>;
}

async function run(n: number, withHub: boolean): Promise<Record<string, string>> {
  const ns = `bench-${withHub ? 'hub' : 'base'}-${n}-${Date.now() % 100000}`;
  const t: Times = { applied: new Map(), inMember: new Map(), agentDone: new Map(), visible: new Map() };
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
  const hubWatch = withHub
    ? new Informer<CheckpointBackup>(
        restListWatch(hub, `/apis/migration.dcnlab.com/v1/namespaces/${ns}/checkpointbackups`),
      )
    : new Informer<Binding>(
        restListWatch(hub, `/apis/work.karmada.io/v1alpha2/namespaces/${ns}/resourcebindings`),
      );
  hubWatch.on((_e, o) => {
    if (withHub) {
      const b = o as CheckpointBackup;
      if (b.status?.clusters?.find((c) => c.name === 'member1')?.phase === 'Failed') done(b.metadata.name);
    } else {
      const rb = o as Binding;
      if (rb.status?.aggregatedStatus?.find((a) => a.clusterName === 'member1')?.status?.phase === 'Failed')
        done(rb.spec.resource.name);
    }
  });
  await Promise.all([memberWatch.start(), hubWatch.start()]);

  const cpu0 = cpuSeconds(hubPid);
  const rss0 = rssMiB(hubPid);
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(hubPid))), 200);
  const t0 = performance.now();
  const q = new PQueue({ concurrency: 16 });
  for (let i = 0; i < n; i++) {
    const name = `b${i}`;
    void q.add(async () => {
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
      t.applied.set(name, performance.now());
    });
  }
  await q.onIdle();
  const deadline = Date.now() + 1_800_000;
  while (t.visible.size < n && Date.now() < deadline) await sleep(100);
  const wall = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const cpu = cpuSeconds(hubPid) - cpu0;
  memberWatch.stop();
  hubWatch.stop();
  await hub.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => undefined);
  // The next run starts once this one's objects are gone, so the hub's clean-up is not counted in it.
  for (const until = Date.now() + 300_000; Date.now() < until; await sleep(1000))
    if (
      !(await hub.get(`/api/v1/namespaces/${ns}`).then(
        () => true,
        () => false,
      ))
    )
      break;

  const toMember = [...t.inMember].map(([k, v]) => v - (t.applied.get(k) ?? v));
  const back = [...t.visible].map(([k, v]) => v - (t.agentDone.get(k) ?? v));
  return {
    objects: String(n),
    path: withHub ? 'hub' : 'hand-written policy',
    'apply→member p50/p95 ms': `${pct(toMember, 50).toFixed(0)} / ${pct(toMember, 95).toFixed(0)}`,
    'agent done→hub p50/p95 ms': `${pct(back, 50).toFixed(0)} / ${pct(back, 95).toFixed(0)}`,
    'all visible s': `${wall.toFixed(1)}${t.visible.size < n ? ` (${t.visible.size}/${n})` : ''}`,
    'hub CPU s': cpu.toFixed(2),
    'hub CPU s per 1000': ((cpu * 1000) / n).toFixed(2),
    'hub RSS peak MiB': peak.toFixed(0),
    'hub RSS growth MiB per 1000': (((peak - rss0) * 1000) / n).toFixed(0),
  };
}

const rows: Record<string, string>[] = [];
for (const n of counts) {
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
