import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from '@stateful-migration/kube/testing';
import { kubectl } from './kubectl.js';
import { memberNodes } from './members.js';
import { fedDir, repoRoot } from './paths.js';
import { isOurs, readState, writeState, type FedState, type ProcRecord } from './procs.js';

/**
 * A member cluster's outage, as it looks from Karmada: the member's apiserver, controllers, scheduler, node stand-ins
 * and agents stop answering (SIGSTOP: connections open but nothing replies, so Karmada's health checks time out as they
 * do when a cluster's network or power goes), and its containers are frozen (`runc pause`: the processes stop where they
 * are, as on a powered-off node, so nothing the member runs makes progress during the outage). `heal` resumes
 * everything where it stopped, which is how a cluster coming back after a partition looks: its old pods are still
 * there and its controllers catch up, so a test can check that nothing then runs twice.
 */

/** The processes of `fed up` that belong to one member: its control plane, its node stand-ins and their agents. */
export function memberProcesses(state: FedState, member: string): ProcRecord[] {
  const nodes = memberNodes[member];
  if (!nodes) throw new Error(`no member named ${member} (members: ${Object.keys(memberNodes).join(', ')})`);
  const names = new Set([
    `${member}-apiserver`,
    `${member}-kube-controller-manager`,
    `${member}-kube-scheduler`,
    ...nodes.flatMap((n) => [`node-${n}`, `agent-${n}`]),
  ]);
  return state.procs.filter((p) => names.has(p.name));
}

/** Members that `fail` has taken down and `heal` has not brought back, as recorded in the state file. */
export function failedMembers(state: FedState): string[] {
  const failed = state.extra?.failedMembers;
  return Array.isArray(failed) ? (failed as string[]) : [];
}

function signalGroup(p: ProcRecord, sig: NodeJS.Signals): void {
  if (!isOurs(p)) return;
  try {
    process.kill(-p.pid, sig);
  } catch {
    process.kill(p.pid, sig);
  }
}

/** The runc containers the member's nodes run, with the runc root each lives under. */
function containersOf(member: string): { root: string; id: string; status: string }[] {
  const out: { root: string; id: string; status: string }[] = [];
  for (const node of memberNodes[member] ?? []) {
    const root = join(fedDir, 'nodes', node, 'runtime', 'runc');
    if (!existsSync(root) || readdirSync(root).length === 0) continue;
    const list = JSON.parse(
      execFileSync('runc', [`--root=${root}`, 'list', '--format=json'], { encoding: 'utf8' }) || 'null',
    ) as { id: string; status: string }[] | null;
    for (const c of list ?? []) out.push({ root, id: c.id, status: c.status });
  }
  return out;
}

function runc(root: string, verb: 'pause' | 'resume', id: string): boolean {
  try {
    execFileSync('runc', [`--root=${root}`, verb, id], { stdio: 'ignore' });
    return true;
  } catch {
    // stopped or gone meanwhile: nothing to freeze or thaw
    return false;
  }
}

export interface OutageReport {
  processes: number;
  containers: number;
}

/** Takes a member down; idempotent. Throws when the federation is not up. */
export function fail(member: string): OutageReport {
  const state = readState();
  if (!state?.readyAt) throw new Error('the federation is not up (run `pnpm fed up` first)');
  const procs = memberProcesses(state, member);
  // Containers first, while the nodes' stand-ins still run: freezing them is the node's power going off.
  let containers = 0;
  for (const c of containersOf(member))
    if (c.status === 'running' && runc(c.root, 'pause', c.id)) containers++;
  for (const p of procs) signalGroup(p, 'SIGSTOP');
  state.extra = { ...state.extra, failedMembers: [...new Set([...failedMembers(state), member])] };
  writeState(state);
  return { processes: procs.length, containers };
}

/** Brings a failed member back where it stopped; idempotent. */
export function heal(member: string): OutageReport {
  const state = readState();
  if (!state) throw new Error('the federation is not up');
  const procs = memberProcesses(state, member);
  // The control plane before the nodes, and the nodes before their containers, as a cluster powers back on.
  for (const p of procs) signalGroup(p, 'SIGCONT');
  let containers = 0;
  for (const c of containersOf(member))
    if (c.status === 'paused' && runc(c.root, 'resume', c.id)) containers++;
  state.extra = { ...state.extra, failedMembers: failedMembers(state).filter((m) => m !== member) };
  writeState(state);
  return { processes: procs.length, containers };
}

/** Heals every failed member, so `down` can stop processes that a SIGSTOP would keep from handling SIGTERM. */
export function healAll(): void {
  const state = readState();
  for (const m of state ? failedMembers(state) : []) heal(m);
}

/** A workload's placement for Karmada's cluster failover: member1 while it is there, else member2. */
export const failoverPlacement = [
  { affinityName: 'primary', clusterNames: ['member1'] },
  { affinityName: 'backup', clusterNames: ['member2'] },
];

/** A member as Karmada sees it: Ready, and tainted NoExecute for not being Ready (the federation's ClusterTaintPolicy). */
export async function memberSeen(member: string): Promise<{ ready: boolean; noExecute: boolean }> {
  const c = JSON.parse(await kubectl('karmada', ['get', 'cluster', member, '-o', 'json'])) as {
    spec?: { taints?: { key: string; effect: string }[] };
    status?: { conditions?: { type: string; status: string }[] };
  };
  return {
    ready: c.status?.conditions?.find((x) => x.type === 'Ready')?.status === 'True',
    noExecute: (c.spec?.taints ?? []).some(
      (t) => t.key === 'cluster.karmada.io/not-ready' && t.effect === 'NoExecute',
    ),
  };
}

/** When each step of Karmada's failover was first seen, in seconds after the outage began. */
export interface FailoverTimeline {
  notReadyS: number;
  taintedS: number;
  rescheduledS: number;
  readyS: number;
}

/**
 * Karmada's side of an outage of `from` that began at `t0` (Date.now() when `fail` ran), for StatefulSet `name` in
 * `ns`: waits, each step up to `timeoutMs`, until Karmada sees `from` not Ready and taints it NoExecute, the
 * StatefulSet's binding names `to` alone, and all `replicas` are Ready in `to`; answers when it saw each step.
 */
export async function karmadaFailover(o: {
  ns: string;
  name: string;
  replicas: number;
  from: string;
  to: string;
  t0: number;
  timeoutMs: number;
}): Promise<FailoverTimeline> {
  const since = () => (Date.now() - o.t0) / 1000;
  let notReadyS = 0;
  let taintedS = 0;
  await eventually(
    async () => {
      const c = await memberSeen(o.from);
      if (!notReadyS && !c.ready) notReadyS = since();
      if (!taintedS && c.noExecute) taintedS = since();
      return notReadyS && taintedS ? true : undefined;
    },
    o.timeoutMs,
    `Karmada to see ${o.from} not Ready and taint it NoExecute`,
  );
  await eventually(
    async () => {
      const rb = JSON.parse(
        await kubectl('karmada', [
          'get',
          'resourcebinding',
          `${o.name}-statefulset`,
          '-n',
          o.ns,
          '-o',
          'json',
        ]),
      ) as { spec: { clusters?: { name: string }[] } };
      return rb.spec.clusters?.map((c) => c.name).join() === o.to || undefined;
    },
    o.timeoutMs,
    `the binding of ${o.name} to move to ${o.to}`,
  );
  const rescheduledS = since();
  await eventually(
    async () => {
      const ready = await kubectl(o.to, [
        'get',
        'statefulset',
        o.name,
        '-n',
        o.ns,
        '-o',
        'jsonpath={.status.readyReplicas}',
      ]).catch(() => '');
      return Number(ready) === o.replicas || undefined;
    },
    o.timeoutMs,
    `every replica of ${o.name} Ready in ${o.to}`,
  );
  return { notReadyS, taintedS, rescheduledS, readyS: since() };
}

/** `fed <args>` as a user types it (`pnpm fed fail member1`), in its own process, with its exit status and output. */
export const fedCli = (...args: string[]) =>
  spawnSync(process.execPath, [join(repoRoot, 'e2e/dist/fed/cli.js'), ...args], { encoding: 'utf8' });

/**
 * A test's clean-up, and a precondition of a case that needs `member`: healed if a test left it failed, then waited
 * for until Karmada sees it Ready and its apiserver answers /readyz, both for 20 s in a row (two of Karmada's 10 s
 * status periods). Ready once is not enough right after an outage: the resumed apiserver may still time out
 * Karmada's health checks, and the member turns NotReady again (a CI run saw it 10 s before the next case's restore
 * to it, which was then refused TargetClusterNotReady).
 */
export async function healedAndReady(member: string): Promise<void> {
  const state = readState();
  if (state && failedMembers(state).includes(member)) fedCli('heal', member);
  let since = 0;
  await eventually(
    async () => {
      const answers = await kubectl(member, ['get', '--raw', '/readyz']).then(
        () => true,
        () => false,
      );
      if (!answers || !(await memberSeen(member)).ready) return ((since = 0), undefined);
      since ||= Date.now();
      return Date.now() - since >= 20_000 || undefined;
    },
    180_000,
    `${member} Ready and answering for 20 s in a row`,
  );
}
