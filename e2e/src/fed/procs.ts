import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fedDir, logDir, repoRoot, stateFile } from './paths.js';

export interface ProcRecord {
  name: string;
  pid: number;
  /** The executable it was started as. */
  exe: string;
  /** Its arguments (never secrets: credentials go through files), so it can be restarted. */
  args?: string[];
  /** Start time in clock ticks since boot (/proc/<pid>/stat), to tell our process from a later one that reused the PID. */
  startTicks?: number;
  log: string;
  port?: number;
  /** Where it binds port when that is not 127.0.0.1 (each kubelet at its node's address, ADR 0011 step 2). */
  host?: string;
  /**
   * Set when pid is the supervisor (e2e/scripts/supervise.sh) that runs exe and starts it again when it exits: the
   * file where the supervisor writes the running process's PID and its restart count.
   */
  supervisor?: string;
}

export interface FedState {
  ports: Record<string, number>;
  procs: ProcRecord[];
  /** Set once `up` finished; a state without it is from an interrupted run. */
  readyAt?: string;
  /** Extra values parts of the federation record for others (registry credentials path, ...). */
  extra?: Record<string, unknown>;
}

export function readState(): FedState | undefined {
  if (!existsSync(stateFile)) return undefined;
  return JSON.parse(readFileSync(stateFile, 'utf8')) as FedState;
}

export function writeState(state: FedState): void {
  const tmp = `${stateFile}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2));
  renameSync(tmp, stateFile);
}

/** State, process group and start time of a live process, from /proc/<pid>/stat. */
export function procStat(pid: number): { state: string; pgrp: number; startTicks: number } | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return { state: fields[0] ?? '', pgrp: Number(fields[2]), startTicks: Number(fields[19]) };
  } catch {
    return undefined;
  }
}

/**
 * The control-plane processes run under a supervisor, as a node's kubelet restarts its static control-plane pods: a
 * kube-scheduler exits on its own after its apiserver restarted ("scheduler cache is corrupted"), and with nothing to
 * start it again every later case that schedules in that member failed. Not supervised: the hub, the agents and the
 * node stand-ins. Tests crash those on purpose at chosen points (STATEFUL_MIGRATION_CRASH_AFTER), wait for the exit
 * and start them again themselves with restartProcess, which is what the Deployment or systemd unit does in a real
 * install; a supervisor restarting them as well would race those restarts (two hubs, two agents on one port).
 */
export function supervised(name: string): boolean {
  return /^(etcd|registry|karmada-.+|member\d+-(apiserver|kube-controller-manager|kube-scheduler))$/.test(
    name,
  );
}

export const superviseScript = join(repoRoot, 'e2e/scripts/supervise.sh');

function supervisorStatus(p: ProcRecord): { pid: number; restarts: number } | undefined {
  if (!p.supervisor) return undefined;
  try {
    return JSON.parse(readFileSync(p.supervisor, 'utf8')) as { pid: number; restarts: number };
  } catch {
    return undefined; // not written yet
  }
}

/**
 * The PID of the process a record runs (the supervisor's child), while it runs; undefined between two of its runs.
 * A process counts when it is in the record's process group, which no later process can join (a PID that is a group's
 * ID is not handed out again while the group has members), so a reused PID does not count.
 */
export function childPid(p: ProcRecord): number | undefined {
  const pid = supervisorStatus(p)?.pid;
  if (pid === undefined) return undefined;
  const st = procStat(pid);
  return st && st.state !== 'Z' && st.pgrp === p.pid ? pid : undefined;
}

/** The process to measure (RSS, CPU time): the supervised child if there is one, else the recorded process itself. */
export function mainPid(p: ProcRecord): number {
  return childPid(p) ?? p.pid;
}

/** How many times the supervisor started the process again after it exited (kubectl's RESTARTS). */
export function restarts(p: ProcRecord): number {
  return supervisorStatus(p)?.restarts ?? 0;
}

/** The record's process or its supervised child still runs (a child outlives a supervisor killed alone). */
function running(p: ProcRecord): boolean {
  return isOurs(p) || childPid(p) !== undefined;
}

/** True when the recorded process still runs: same PID and same start time (a reused PID does not count). */
export function isOurs(p: ProcRecord): boolean {
  const st = procStat(p.pid);
  if (!st || st.state === 'Z') return false;
  if (p.startTicks !== undefined) return st.startTicks === p.startTicks;
  try {
    return readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0').includes(p.exe);
  } catch {
    return false;
  }
}

export function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** A free loopback port, or the one FED_PORT_<NAME> fixes (to reproduce a clash). */
export async function freePort(name: string): Promise<number> {
  const fixed = process.env[`FED_PORT_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`];
  if (fixed) return Number(fixed);
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** True if something already listens on host:port. */
export function portTaken(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(true));
    srv.listen(port, host, () => srv.close(() => resolve(false)));
  });
}

/**
 * Starts a detached process in its own process group, logging to .fed/logs/<name>.log; a supervised one (see
 * supervised) runs under e2e/scripts/supervise.sh, which is what gets recorded, in the same group.
 */
export function startProcess(
  state: FedState,
  name: string,
  exe: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; port?: number; host?: string } = {},
): ProcRecord {
  const log = join(logDir, `${name}.log`);
  const fd = openSync(log, 'a');
  let supervisor: string | undefined;
  if (supervised(name)) {
    const dir = join(fedDir, 'supervise');
    mkdirSync(dir, { recursive: true });
    supervisor = join(dir, `${name}.json`);
    // A status left by an earlier run of this name would tell its restarts and PID as this one's.
    rmSync(supervisor, { force: true });
  }
  const [cmd, argv] = supervisor ? ['bash', [superviseScript, supervisor, exe, ...args]] : [exe, args];
  const child = spawn(cmd, argv, {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, ...opts.env },
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`${name}: could not start ${exe}`);
  child.unref();
  const startTicks = procStat(child.pid)?.startTicks;
  const rec: ProcRecord = {
    name,
    pid: child.pid,
    exe,
    args,
    log,
    ...(startTicks !== undefined ? { startTicks } : {}),
    ...(opts.port ? { port: opts.port } : {}),
    ...(opts.host ? { host: opts.host } : {}),
    ...(supervisor ? { supervisor } : {}),
  };
  state.procs.push(rec);
  writeState(state);
  return rec;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Stops recorded processes (last started first): SIGTERM to the group, SIGKILL after a grace period. The group holds a
 * supervisor and its child alike; the supervisor takes SIGTERM as a deliberate stop and does not start the child again.
 */
export async function stopProcesses(procs: ProcRecord[], graceMs = 10_000): Promise<number> {
  const live = procs.filter(running).reverse();
  for (const p of live) signal(p.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && live.some(running)) await sleep(100);
  for (const p of live.filter(running)) signal(p.pid, 'SIGKILL');
  while (live.some(running)) await sleep(50);
  return live.length;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

/**
 * Stops one recorded process and starts it again with the same arguments (and extra environment), recording the new
 * PID in place of the old, so `down` still stops it. Tests use it to crash and restart an agent.
 */
export async function restartProcess(
  state: FedState,
  name: string,
  env: NodeJS.ProcessEnv = {},
  /** Flags added to its arguments (a flag given before with the same name is replaced). */
  extraArgs: string[] = [],
): Promise<ProcRecord> {
  const i = state.procs.findIndex((p) => p.name === name);
  const old = state.procs[i];
  if (!old?.args) throw new Error(`no restartable process named ${name}`);
  await stopProcesses([old]);
  state.procs.splice(i, 1);
  const flag = (a: string) => a.split('=')[0];
  const replaced = new Set(extraArgs.map(flag));
  const args = [...old.args.filter((a) => !replaced.has(flag(a))), ...extraArgs];
  return startProcess(state, name, old.exe, args, {
    env,
    ...(old.port ? { port: old.port } : {}),
    ...(old.host ? { host: old.host } : {}),
  });
}
