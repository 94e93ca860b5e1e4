import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { logDir, stateFile } from './paths.js';

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

/** State and start time of a live process, from /proc/<pid>/stat. */
function procStat(pid: number): { state: string; startTicks: number } | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return { state: fields[0] ?? '', startTicks: Number(fields[19]) };
  } catch {
    return undefined;
  }
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

/** Starts a detached process in its own process group, logging to .fed/logs/<name>.log. */
export function startProcess(
  state: FedState,
  name: string,
  exe: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; port?: number; host?: string } = {},
): ProcRecord {
  const log = join(logDir, `${name}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(exe, args, {
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
  };
  state.procs.push(rec);
  writeState(state);
  return rec;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Stops recorded processes (last started first): SIGTERM to the group, SIGKILL after a grace period. */
export async function stopProcesses(procs: ProcRecord[], graceMs = 10_000): Promise<number> {
  const live = procs.filter(isOurs).reverse();
  for (const p of live) signal(p.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && live.some(isOurs)) await sleep(100);
  for (const p of live.filter(isOurs)) signal(p.pid, 'SIGKILL');
  while (live.some(isOurs)) await sleep(50);
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
): Promise<ProcRecord> {
  const i = state.procs.findIndex((p) => p.name === name);
  const old = state.procs[i];
  if (!old?.args) throw new Error(`no restartable process named ${name}`);
  await stopProcesses([old]);
  state.procs.splice(i, 1);
  return startProcess(state, name, old.exe, old.args, {
    env,
    ...(old.port ? { port: old.port } : {}),
    ...(old.host ? { host: old.host } : {}),
  });
}
