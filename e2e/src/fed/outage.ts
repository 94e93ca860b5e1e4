import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { memberNodes } from './members.js';
import { fedDir } from './paths.js';
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
