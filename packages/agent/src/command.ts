import { spawn } from 'node:child_process';

/** A command that ran out of time; `step` says which (e.g. "buildah add"). Worth retrying: the node may recover. */
export class CommandTimeout extends Error {
  readonly transient = true;
  constructor(
    readonly step: string,
    message: string,
    /** A stable code for Events and metrics. */
    readonly reason = 'CommandTimeout',
  ) {
    super(message);
    this.name = 'CommandTimeout';
  }
}

/**
 * A command that ran and exited non-zero (or was killed by a signal): `detail` is the last line of its stderr, which
 * is what buildah says went wrong (e.g. "Error: ...: image not known"), for callers that must tell answers apart.
 */
export class CommandFailed extends Error {
  constructor(
    readonly step: string,
    readonly detail: string,
  ) {
    // Named Error, as before this class: messages that quote String(err) read as they did.
    super(`${step} failed: ${detail}`);
  }
}

export interface RunOptions {
  /** What the step is, for messages: "buildah add". */
  step: string;
  /** CommandTimeout's reason. @default CommandTimeout */
  reason?: string;
  timeoutMs: number;
  /** Between SIGTERM and SIGKILL. @default 5000 */
  graceMs?: number;
  /** Bytes of stdout kept; more is an error. @default 16 MiB */
  maxBuffer?: number;
}

/**
 * Runs a command with a deadline and returns its stdout. The child gets its own process group, and on timeout the
 * whole group gets SIGTERM, then SIGKILL after the grace period: buildah's helpers (and a shell's children) die
 * with it, where execFile's timeout kills only the direct child and then waits for the pipes its children still
 * hold open. The promise rejects at the deadline with a CommandTimeout naming the step, without waiting for exit.
 */
export function runCommand(command: string, args: string[], o: RunOptions): Promise<string> {
  const { step, timeoutMs, graceMs = 5000, maxBuffer = 16 << 20, reason } = o;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let done = false;
    const signalGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    const stop = (e: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signalGroup('SIGTERM');
      setTimeout(() => signalGroup('SIGKILL'), graceMs).unref();
      child.stdout.destroy();
      child.stderr.destroy();
      reject(e);
    };
    const timer = setTimeout(
      () =>
        stop(
          new CommandTimeout(step, `${step} timed out after ${timeoutMs / 1000} s and was killed`, reason),
        ),
      timeoutMs,
    );
    child.stdout.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBuffer) stop(new Error(`${step} wrote more than ${maxBuffer} bytes of output`));
      else out.push(c);
    });
    child.stderr.on('data', (c: Buffer) => err.length < 256 && err.push(c));
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new Error(`${step}: cannot run ${command} (${e.code ?? e.message})`));
    });
    child.on('close', (code, signal) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (code === 0) return resolve(Buffer.concat(out).toString('utf8').trim());
      const last = Buffer.concat(err).toString('utf8').trim().split('\n').pop();
      reject(new CommandFailed(step, last || (signal ? `killed by ${signal}` : `exit code ${code}`)));
    });
  });
}
