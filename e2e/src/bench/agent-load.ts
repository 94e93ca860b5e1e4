// pnpm bench agent-load [before-root]: what each agent costs, idle and while the federation's nodes get
// CheckpointBackups, for two builds in the same run: `before` (a checkout given as argv, e.g. a worktree of main,
// built) and `after` (this checkout). The federation's own agents are stopped; each build runs one agent per node
// (agent-load-runner.ts) with the same flags, its apiserver requests counted by verb and resource, its CPU read from
// /proc/<pid>/stat. The objects are cron backups (weekly) of one pod per node, so every agent has its own node's
// share of them to record (nextScheduledTime), and nothing is checkpointed: the run measures the control loop.
// BENCH_OBJECTS (default 1000), BENCH_IDLE_S (default 60). Afterwards: `pnpm fed down && pnpm fed up`.
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import PQueue from 'p-queue';
import { RestClient } from '@stateful-migration/kube';
import { table } from './table.js';
import { fedDir, kubeconfigPath, repoRoot } from '../fed/paths.js';
import type { FedState } from '../fed/procs.js';

const objects = Number(process.env.BENCH_OBJECTS ?? 1000);
const idleS = Number(process.env.BENCH_IDLE_S ?? 60);
const beforeRoot = process.argv[2];
const state = JSON.parse(readFileSync(join(fedDir, 'state.json'), 'utf8')) as FedState;
const agents = state.procs.filter((p) => p.name.startsWith('agent-'));
const nodeOf = (name: string) => name.slice('agent-'.length);
const memberOf = (node: string) => (node.startsWith('m1-') ? 'member1' : 'member2');
const ns = 'bench-load';
const API = '/apis/migration.dcnlab.com/v1';
const clients = {
  member1: RestClient.fromFile(kubeconfigPath('member1')),
  member2: RestClient.fromFile(kubeconfigPath('member2')),
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks (100 Hz)
}

async function ensure(client: RestClient, path: string, body: object): Promise<void> {
  await client.request('POST', path, { body }).catch((e: { statusCode?: number }) => {
    if (e.statusCode !== 409) throw e;
  });
}

interface Runner {
  node: string;
  child: ChildProcess;
  report(): Promise<Record<string, number>>;
}

async function startRunners(root: string): Promise<Runner[]> {
  const runners = agents.map((a) => {
    const args = a.args!.slice(a.args!.indexOf('agent') + 1);
    const child = fork(join(repoRoot, 'e2e/dist/bench/agent-load-runner.js'), [root, ...args], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const report = () =>
      new Promise<Record<string, number>>((resolve) => {
        child.once('message', (m) => resolve((m as { counts: Record<string, number> }).counts));
        child.send('report');
      });
    const health = a.port!;
    return { node: nodeOf(a.name), child, report, health };
  });
  for (const r of runners)
    for (let i = 0; ; i++) {
      const ok = await fetch(`http://127.0.0.1:${r.health}/readyz`)
        .then((x) => x.ok)
        .catch(() => false);
      if (ok) break;
      if (i > 600) throw new Error(`agent ${r.node} never ready`);
      await sleep(200);
    }
  return runners;
}

type Sample = { t: number; cpu: number; requests: number; counts: Record<string, number> };
async function sample(r: Runner): Promise<Sample> {
  const counts = await r.report();
  return {
    t: Date.now(),
    cpu: cpuSeconds(r.child.pid!),
    requests: Object.values(counts).reduce((a, b) => a + b, 0),
    counts,
  };
}

const pods = agents.map((a, i) => ({ node: nodeOf(a.name), name: `load-${i}` }));
async function setUp(): Promise<void> {
  for (const c of Object.values(clients))
    await ensure(c, '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  for (const p of pods)
    await ensure(clients[memberOf(p.node)], `/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: p.name, namespace: ns },
      spec: {
        nodeName: p.node,
        containers: [{ name: 'app', image: 'busybox', command: ['sleep', '100000'] }],
      },
    });
}

async function applyBackups(): Promise<void> {
  const q = new PQueue({ concurrency: 16 });
  for (let i = 0; i < objects; i++) {
    const p = pods[i % pods.length]!;
    void q.add(() =>
      ensure(clients[memberOf(p.node)], `${API}/namespaces/${ns}/checkpointbackups`, {
        apiVersion: 'migration.dcnlab.com/v1',
        kind: 'CheckpointBackup',
        metadata: { name: `load-${i}`, namespace: ns },
        spec: {
          // Weekly: a wait a Node timer can hold (before the WorkQueue served longer ones in steps, a yearly one looped).
          schedule: '0 0 * * 0',
          podRef: { name: p.name },
          resourceRef: { apiVersion: 'v1', kind: 'Pod', name: p.name },
        },
      }),
    );
  }
  await q.onIdle();
}

async function recorded(): Promise<number> {
  let n = 0;
  for (const c of Object.values(clients)) {
    const l = await c.get<{ items: { status?: { nextScheduledTime?: string } }[] }>(
      `${API}/namespaces/${ns}/checkpointbackups`,
    );
    n += l.items.filter((b) => b.status?.nextScheduledTime).length;
  }
  return n;
}

async function cleanUp(): Promise<void> {
  for (const c of Object.values(clients)) {
    await c.request('DELETE', `${API}/namespaces/${ns}/checkpointbackups`).catch(() => undefined);
    for (let i = 0; i < 300; i++) {
      const l = await c.get<{ items: unknown[] }>(`${API}/namespaces/${ns}/checkpointbackups`);
      if (!l.items.length) break;
      await sleep(1000);
    }
  }
}

const rows: string[][] = [];
async function measure(label: string, root: string): Promise<void> {
  const runners = await startRunners(root);
  const s0 = await Promise.all(runners.map(sample));
  await sleep(idleS * 1000);
  const s1 = await Promise.all(runners.map(sample));
  const t0 = Date.now();
  await applyBackups();
  let done = 0;
  for (let i = 0; i < 150 && done < objects; i++) {
    await sleep(2000);
    done = await recorded();
  }
  const s2 = await Promise.all(runners.map(sample));
  const workS = (Date.now() - t0) / 1000;
  runners.forEach((r, i) => {
    const perMin = (a: Sample, b: Sample) => ((b.requests - a.requests) / ((b.t - a.t) / 60_000)).toFixed(1);
    const top = Object.entries(s2[i]!.counts)
      .map(([k, v]) => [k, v - (s1[i]!.counts[k] ?? 0)] as const)
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    rows.push([
      label,
      r.node,
      perMin(s0[i]!, s1[i]!),
      (s1[i]!.cpu - s0[i]!.cpu).toFixed(2),
      String(s2[i]!.requests - s1[i]!.requests),
      perMin(s1[i]!, s2[i]!),
      (s2[i]!.cpu - s1[i]!.cpu).toFixed(2),
      top,
    ]);
  });
  rows.push([label, 'all', '', '', '', '', '', `${done}/${objects} recorded in ${workS.toFixed(0)} s`]);
  for (const r of runners) r.child.kill('SIGTERM');
  await cleanUp();
}

// The federation's agents stop, so that only the measured ones act.
for (const a of agents) {
  try {
    process.kill(a.pid, 'SIGTERM');
  } catch {
    // already gone
  }
}
await setUp();
await cleanUp();
if (beforeRoot) await measure('before', beforeRoot);
await measure('after', repoRoot);

const header = [
  'build',
  'agent',
  `idle req/min`,
  `idle CPU s (${idleS} s)`,
  'working requests',
  'working req/min',
  'working CPU s',
  'top requests while working',
];
process.stdout.write(
  table(header, rows) +
    "\nThe federation's own agents were stopped: `pnpm fed down && pnpm fed up` brings them back.\n",
);
process.exit(0);
