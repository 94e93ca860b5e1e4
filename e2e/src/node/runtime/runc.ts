import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface RuncPaths {
  /** runc's state directory for this node (`runc --root`), so nodes on one machine never see each other's containers. */
  root: string;
  /** The CRIU executable runc runs (e2e/scripts/criu.sh's wrapper). */
  criu: string;
  /** Where conmon writes each container's exit code, a file named by the container ID. */
  exitDir: string;
  /** conmon's attach sockets. */
  socketDir: string;
}

export type RuncStatus = 'created' | 'running' | 'paused' | 'stopped' | 'missing';

export class RuntimeError extends Error {}

/**
 * runc driven as CRI-O drives it: conmon starts each container (`runc create`, then `runc start`) and stays as
 * its monitor, holding the container's stdout and stderr as pipes into a CRI log file and writing its exit code;
 * checkpoints are `runc checkpoint --leave-running`; restores are conmon with --restore. Containers outlive the
 * node stand-in's process, as they outlive a kubelet or CRI-O restart.
 */
export class Runc {
  constructor(private readonly p: RuncPaths) {
    for (const d of [p.root, p.exitDir, p.socketDir]) mkdirSync(d, { recursive: true, mode: 0o700 });
  }

  #global(): string[] {
    return [`--root=${this.p.root}`, `--criu=${this.p.criu}`];
  }

  async #runc(args: string[], timeoutMs = 60_000): Promise<string> {
    const { stdout } = await exec('runc', [...this.#global(), ...args], {
      timeout: timeoutMs,
      maxBuffer: 16 << 20,
    });
    return stdout;
  }

  async #conmon(id: string, bundle: string, logPath: string, extra: string[]): Promise<void> {
    mkdirSync(dirname(logPath), { recursive: true, mode: 0o700 });
    await exec(
      'conmon',
      [
        '--api-version=1',
        `--cid=${id}`,
        `--cuuid=${id}`,
        `--name=${id}`,
        '--runtime=/usr/sbin/runc',
        ...this.#global().flatMap((a) => ['--runtime-arg', a]),
        `--bundle=${bundle}`,
        `--container-pidfile=${join(bundle, 'pid')}`,
        `--conmon-pidfile=${join(bundle, 'conmon.pid')}`,
        `--log-path=k8s-file:${logPath}`,
        `--exit-dir=${this.p.exitDir}`,
        `--socket-dir-path=${this.p.socketDir}`,
        '--log-level=error',
        ...extra,
      ],
      { timeout: 60_000 },
    ).catch((err: { stderr?: string }) => {
      throw new RuntimeError(`conmon: ${(err.stderr ?? String(err)).trim().split('\n').pop()}`);
    });
  }

  /** Creates and starts the container; resolves once it runs. */
  async run(id: string, bundle: string, logPath: string): Promise<void> {
    await this.#conmon(id, bundle, logPath, []);
    // conmon returns once it has forked; runc create goes on behind it.
    await this.#until(id, (s) => s !== 'missing', 'was not created');
    if ((await this.status(id)) === 'created') await this.#runc(['start', id]);
  }

  /** Restores the container from CRIU images (a checkpoint's checkpoint/ directory) in bundle's spec. */
  async restore(id: string, bundle: string, logPath: string, images: string, work: string): Promise<void> {
    mkdirSync(work, { recursive: true, mode: 0o700 });
    await this.#conmon(id, bundle, logPath, [`--restore=${images}`, `--runtime-opt=--work-path=${work}`]);
    try {
      await this.#until(id, (s) => s === 'running' || s === 'stopped', 'was not restored');
    } catch {
      throw new RuntimeError(restoreFailure(work));
    }
    if ((await this.status(id)) !== 'running') throw new RuntimeError(restoreFailure(work));
  }

  async #until(id: string, ok: (s: RuncStatus) => boolean, what: string): Promise<void> {
    for (let i = 0; i < 300; i++) {
      if (ok(await this.status(id))) return;
      if (existsSync(join(this.p.exitDir, id))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new RuntimeError(`container ${id} ${what} within 15 s`);
  }

  async status(id: string): Promise<RuncStatus> {
    try {
      return (JSON.parse(await this.#runc(['state', id])) as { status: RuncStatus }).status;
    } catch {
      return 'missing';
    }
  }

  /** The container's init process as the host sees it, or undefined when it does not run. */
  async pid(id: string): Promise<number | undefined> {
    try {
      const st = JSON.parse(await this.#runc(['state', id])) as { status: RuncStatus; pid?: number };
      return st.status === 'running' && st.pid ? st.pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** `runc exec` as the given user: its exit code and combined output, or 'timeout'. */
  async exec(
    id: string,
    user: string,
    args: string[],
    timeoutMs: number,
  ): Promise<{ code: number; output: string } | 'timeout'> {
    try {
      const { stdout, stderr } = await exec(
        'runc',
        [...this.#global(), 'exec', `--user=${user}`, id, ...args],
        {
          timeout: timeoutMs,
          maxBuffer: 1 << 20,
        },
      );
      return { code: 0, output: stdout + stderr };
    } catch (err) {
      const e = err as { killed?: boolean; code?: number | string; stdout?: string; stderr?: string };
      if (e.killed) return 'timeout';
      return { code: typeof e.code === 'number' ? e.code : 1, output: (e.stdout ?? '') + (e.stderr ?? '') };
    }
  }

  /** The exit code conmon recorded and when, or undefined while the container has not exited. */
  exit(id: string): { code: number; at: Date } | undefined {
    const f = join(this.p.exitDir, id);
    if (!existsSync(f)) return undefined;
    const code = Number(readFileSync(f, 'utf8').trim());
    return { code: Number.isFinite(code) ? code : 255, at: statSync(f).mtime };
  }

  async kill(id: string, signal: 'TERM' | 'KILL'): Promise<void> {
    await this.#runc(['kill', id, signal]).catch(() => undefined);
  }

  async remove(id: string): Promise<void> {
    await this.#runc(['delete', '--force', id]).catch(() => undefined);
  }

  async list(): Promise<string[]> {
    const out = await this.#runc(['list', '--format=json']).catch(() => 'null');
    return ((JSON.parse(out || 'null') as { id: string }[] | null) ?? []).map((c) => c.id);
  }

  /** `runc checkpoint --leave-running`: CRIU images into images/, dump.log and stats-dump into work/. */
  async checkpoint(id: string, images: string, work: string, timeoutMs: number): Promise<void> {
    mkdirSync(images, { recursive: true, mode: 0o700 });
    mkdirSync(work, { recursive: true, mode: 0o700 });
    try {
      await this.#runc(
        ['checkpoint', '--leave-running', `--image-path=${images}`, `--work-path=${work}`, id],
        timeoutMs,
      );
    } catch (err) {
      const e = err as { killed?: boolean; stderr?: string };
      if (e.killed) throw new RuntimeError('context deadline exceeded');
      throw new RuntimeError(criuFailure(join(work, 'dump.log'), e.stderr ?? String(err)));
    }
  }
}

/** The first CRIU error of a log, as CRI-O quotes it in its answer. */
function criuError(log: string): string | undefined {
  if (!existsSync(log)) return undefined;
  const lines = readFileSync(log, 'utf8').split('\n');
  // CRIU 4.1.1 logs a harmless rlimit error on every call here (real-criu.md): the cause is the next one.
  return lines
    .find((l) => /Error \(|^Error/.test(l) && !l.includes('RLIMIT_NOFILE'))
    ?.replace(/^\(\s*[\d.]+\)\s*/, '');
}

function criuFailure(log: string, stderr: string): string {
  const first = criuError(log);
  // runc's message names a log file in the work directory, which is gone by the time anyone reads the answer.
  const runcMsg = (/msg="(.*?)(\\n|")/.exec(stderr)?.[1] ?? stderr.trim().split('\n').pop() ?? '').trim();
  return `failed to checkpoint container: ${runcMsg}${first ? `: CRIU: ${first}` : ''}`;
}

function restoreFailure(work: string): string {
  const first = criuError(join(work, 'restore.log'));
  return `failed to restore container: CRIU restore failed${first ? `: ${first}` : ''}`;
}
