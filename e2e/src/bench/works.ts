// pnpm bench works: what reading members' answers from Karmada's Works (ADR 0023) costs the hub on a federation busy
// with workloads that are not backups. Works carry no label for their resource's kind, so the hub's Work watch brings
// it every Work in the federation: it parses each event and keeps only CheckpointBackup reports (slimWorks).
//
// The load: BENCH_WORKS_COUNT (1000) ConfigMaps of 2 KiB, carried by one PropagationPolicy to member1 and member2 (two
// Works each), created 16 at a time, updated BENCH_WORKS_ROUNDS (3) times each, then deleted. The same load runs
// twice, each time on a freshly started hub:
//   - as shipped: the hub's ClusterRole lets it list and watch Works;
//   - the baseline: the same ClusterRole without that rule, so the hub reads members' answers from the bindings
//     alone, as it did before ADR 0023 (it logs that it may not list Works; the run checks it did).
// Beside them, karmada-controller-manager's CPU over the same phases: what Karmada itself spends making and updating
// those Works. The ClusterRole is put back as it was, and the hub started again, whatever happens.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import PQueue from 'p-queue';
import { Informer, RestClient, restListWatch, type KubeObject } from '@stateful-migration/kube';
import { fedDir, logDir } from '../fed/paths.js';
import { probe } from '../fed/probe.js';
import { mainPid, readState, restartProcess, type FedState } from '../fed/procs.js';
import { deleteNamespace } from './namespace.js';
import { table } from './table.js';

const count = Number(process.env.BENCH_WORKS_COUNT || 1000);
const rounds = Number(process.env.BENCH_WORKS_ROUNDS || 3);
if (!(count > 0) || !(rounds >= 0))
  throw new Error('BENCH_WORKS_COUNT must be above 0, BENCH_WORKS_ROUNDS 0 or more');
const CLUSTERS = ['member1', 'member2'];
const ROLE = '/apis/rbac.authorization.k8s.io/v1/clusterroles/stateful-migration-hub';
const TICK = 100; // USER_HZ on Linux
const PHASE_LIMIT_MS = 600_000;
// After a phase's last Work is seen, the hub may still be parsing the tail of its own watch.
const SETTLE_MS = 3000;
const IDLE_MS = 20_000;

const kc = new KubeConfig();
kc.loadFromFile(join(fedDir, 'karmada-config'));
const hub = new RestClient(kc);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Rule = { apiGroups?: string[]; resources?: string[]; verbs?: string[] };
type ClusterRole = KubeObject & { rules?: Rule[] };
type Work = KubeObject & {
  spec?: {
    workload?: {
      manifests?: { kind?: string; metadata?: { namespace?: string }; data?: { round?: string } }[];
    };
  };
  status?: { conditions?: { type: string; status: string }[] };
};

const procPid = (name: string) => mainPid((readState() as FedState).procs.find((p) => p.name === name)!);
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;
}

/** Starts the hub again (same flags) and waits until it is ready; gives its PID. */
async function restartHub(): Promise<number> {
  const rec = await restartProcess(readState()!, 'hub');
  for (let i = 0; !(await probe(`http://127.0.0.1:${rec.port}/readyz`)); i++) {
    if (i > 1800) throw new Error('bench works: the hub did not become ready again in 180 s');
    await sleep(100);
  }
  return procPid('hub');
}

/** The ClusterRole's rules with or without the Works rule (PUT with the current resourceVersion). */
async function setRules(rules: Rule[]): Promise<void> {
  const role = await hub.get<ClusterRole>(ROLE);
  await hub.request('PUT', ROLE, { body: { ...role, rules } });
}

// The bench's own watch of every Work: how many events the load made, and when each phase's Works are all there.
/** The namespace of the load running now: each load has its own, so the next never meets one still terminating. */
let ns = '';
const ours = new Map<string, { round?: string; applied: boolean }>();
let events = 0;
/** A Work of the load running now: its ConfigMap's round and whether the member applied it; undefined for others. */
function loadWork(w: Work): { round?: string; applied: boolean } | undefined {
  const m = w.spec?.workload?.manifests?.[0];
  if (m?.kind !== 'ConfigMap' || m.metadata?.namespace !== ns) return undefined;
  return {
    ...(m.data?.round !== undefined ? { round: m.data.round } : {}),
    applied: !!w.status?.conditions?.some((c) => c.type === 'Applied' && c.status === 'True'),
  };
}
const workWatch = new Informer<Work>(restListWatch(hub, '/apis/work.karmada.io/v1alpha1/works'));
workWatch.on((e, w) => {
  const seen = loadWork(w);
  if (!seen) return;
  events++;
  const key = `${w.metadata?.namespace}/${w.metadata?.name}`;
  if (e === 'delete') ours.delete(key);
  else ours.set(key, seen);
});
const allAt = (round: string) => () =>
  ours.size === count * CLUSTERS.length && [...ours.values()].every((w) => w.round === round && w.applied);

const pad = 'x'.repeat(2048);
const cmPath = () => `/api/v1/namespaces/${ns}/configmaps`;
async function each(f: (i: number) => Promise<unknown>): Promise<void> {
  const q = new PQueue({ concurrency: 16 });
  for (let i = 0; i < count; i++) void q.add(() => f(i));
  await q.onIdle();
}

/** The hub's secrets-controller reconciles so far (its /metrics): each Secret or ConfigMap binding event queues one. */
async function secretReconciles(): Promise<number> {
  const port = (readState() as FedState).procs.find((p) => p.name === 'hub')?.port;
  const text = await fetch(`http://127.0.0.1:${port}/metrics`)
    .then((r) => r.text())
    .catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.startsWith('hub_reconciles_total{kind="secret"'))
    .reduce((sum, l) => sum + Number(l.split(' ')[1] ?? 0), 0);
}

/** One phase: the hub's and Karmada's CPU from its first request until its Works are all there (and a settle). */
async function phase(
  hubPid: number,
  name: string,
  act: () => Promise<unknown>,
  done: () => boolean,
): Promise<string[]> {
  const kcmPid = procPid('karmada-controller-manager');
  const [e0, r0, h0, k0, t0] = [
    events,
    await secretReconciles(),
    cpuSeconds(hubPid),
    cpuSeconds(kcmPid),
    performance.now(),
  ];
  await act();
  for (const until = Date.now() + PHASE_LIMIT_MS; !done(); await sleep(200))
    if (Date.now() > until)
      throw new Error(`bench works: ${name} did not finish in ${PHASE_LIMIT_MS / 1000} s`);
  await sleep(SETTLE_MS);
  const [n, h, k] = [events - e0, cpuSeconds(hubPid) - h0, cpuSeconds(kcmPid) - k0];
  const reconciles = (await secretReconciles()) - r0;
  process.stderr.write(`bench works:   ${name}: ${n} Work events, hub ${h.toFixed(2)} s CPU\n`);
  return [
    name,
    String(n),
    ((performance.now() - t0) / 1000).toFixed(1),
    String(reconciles),
    h.toFixed(2),
    k.toFixed(2),
  ];
}

/** The whole load once, on a freshly started hub. */
async function load(label: string, withWorks: boolean, rules: Rule[]): Promise<string[][]> {
  ns = `bench-works-${withWorks ? 'on' : 'off'}-${Date.now() % 100000}`;
  await setRules(withWorks ? rules : rules.filter((r) => !r.resources?.includes('works')));
  // The apiserver's RBAC authorizer reads roles from its own watch: give it a moment before the hub lists.
  await sleep(2000);
  const hubLog = join(logDir, 'hub.log');
  const logFrom = statSync(hubLog).size;
  process.stderr.write(`bench works: ${label}: starting the hub again...\n`);
  const hubPid = await restartHub();
  await hub.request('POST', '/api/v1/namespaces', { body: { metadata: { name: ns } } });
  await hub.request('POST', `/apis/policy.karmada.io/v1alpha1/namespaces/${ns}/propagationpolicies`, {
    body: {
      apiVersion: 'policy.karmada.io/v1alpha1',
      kind: 'PropagationPolicy',
      metadata: { name: 'load', namespace: ns },
      spec: {
        resourceSelectors: [
          { apiVersion: 'v1', kind: 'ConfigMap', labelSelector: { matchLabels: { load: 'bench' } } },
        ],
        placement: { clusterAffinity: { clusterNames: CLUSTERS } },
      },
    },
  });
  const rows = [
    await phase(
      hubPid,
      'idle 20 s',
      () => sleep(IDLE_MS),
      () => true,
    ),
  ];
  rows.push(
    await phase(
      hubPid,
      `create ${count}`,
      () =>
        each((i) =>
          hub.request('POST', cmPath(), {
            body: { metadata: { name: `load-${i}`, labels: { load: 'bench' } }, data: { round: '0', pad } },
          }),
        ),
      allAt('0'),
    ),
  );
  for (let r = 1; r <= rounds; r++)
    rows.push(
      await phase(
        hubPid,
        `update ${count} (round ${r})`,
        () =>
          each((i) =>
            hub.request('PATCH', `${cmPath()}/load-${i}`, { body: { data: { round: String(r) } } }),
          ),
        allAt(String(r)),
      ),
    );
  rows.push(
    await phase(
      hubPid,
      `delete ${count}`,
      () => hub.request('DELETE', `/api/v1/namespaces/${ns}`),
      () => ours.size === 0,
    ),
  );
  await deleteNamespace(hub, ns);
  // The baseline is only one if the hub really could not watch Works: it says so once, when its informer is refused.
  const said = readFileSync(hubLog, 'utf8').slice(logFrom).includes('may not list and watch Works');
  if (said === withWorks)
    throw new Error(
      `bench works: ${label}: the hub ${said ? 'was refused' : 'was not refused'} the Works watch; the run compares nothing`,
    );
  return rows.map((r) => [label, ...r]);
}

// Refused before anything is changed: the run restarts the hub as a process of the local federation.
if (!readState()?.procs.find((p) => p.name === 'hub')?.args)
  throw new Error(
    'bench works: the hub is not a process of the local federation (node e2e/dist/fed/cli.js up)',
  );
const original = (await hub.get<ClusterRole>(ROLE)).rules ?? [];
if (!original.some((r) => r.resources?.includes('works')))
  throw new Error(
    'bench works: the hub ClusterRole has no Works rule to compare without; apply deploy/hub/rbac.yaml',
  );
/** The ClusterRole as it was, and the hub started again with it: tried until it takes, whatever ended the run. */
async function restore(): Promise<void> {
  for (let i = 1; ; i++)
    try {
      await setRules(original);
      await restartHub();
      return;
    } catch (err) {
      if (i === 5)
        throw new Error(
          `bench works: could not restore the hub ClusterRole (apply deploy/hub/rbac.yaml): ${String(err)}`,
        );
      await sleep(2000);
    }
}
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.once(sig, () => {
    process.stderr.write(`bench works: ${sig}: restoring the hub ClusterRole first\n`);
    void restore().finally(() => process.exit(130));
  });
await workWatch.start();
const rows: string[][] = [];
try {
  rows.push(...(await load('without the Works rule (bindings only)', false, original)));
  rows.push(...(await load('as shipped (Works watched)', true, original)));
} finally {
  await restore();
  workWatch.stop();
}
console.log(
  table(
    [
      'hub RBAC',
      'phase',
      'Work events',
      'wall s',
      'hub secrets reconciles',
      'hub CPU s',
      'karmada-controller-manager CPU s',
    ],
    rows,
  ),
);
process.exit(0);
