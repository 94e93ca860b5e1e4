import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Logger } from '@stateful-migration/kube';
import { addressesToAdd, forwarderArgs, ruleSocket, type ForwardRule } from './forward-rules.js';

const exec = promisify(execFile);
const forwardJs = fileURLToPath(new URL('./forward.js', import.meta.url));

/**
 * The node's half of forwarding through the filesystem (ADR 0011 step 3), in place of kube-proxy: one Unix socket
 * per rule in the host's network namespace, where the stand-in dials the rule's real address for each connection,
 * and one forwarder process per pod inside the pod's namespace (forward.ts) that listens on the addresses the pod is
 * told about. Every pod gets one, as kube-proxy serves every pod; the pod's containers start only once it listens.
 */
export class PodForwarders {
  readonly #servers: net.Server[] = [];
  readonly #pods = new Map<string, ChildProcess>();
  readonly #starting = new Map<string, Promise<void>>();

  constructor(
    private readonly rules: ForwardRule[],
    private readonly socketDir: string,
    private readonly log: Logger,
  ) {}

  get enabled(): boolean {
    return this.rules.length > 0;
  }

  /** The host's half: a Unix socket per rule, each connection dialled on to the rule's target. */
  async listen(): Promise<void> {
    // Sockets of a previous run of this node are stale: nobody listens on them any more.
    rmSync(this.socketDir, { recursive: true, force: true });
    mkdirSync(this.socketDir, { recursive: true, mode: 0o700 });
    await Promise.all(
      this.rules.map(
        (r, i) =>
          new Promise<void>((resolve, reject) => {
            const server = net.createServer((pod) => {
              const real = net.connect(r.target.port, r.target.host);
              pod.on('error', () => real.destroy());
              real.on('error', (err) => {
                this.log.debug(
                  { target: `${r.target.host}:${r.target.port}`, err: err.message },
                  'forwarded dial failed',
                );
                pod.destroy();
              });
              pod.pipe(real).pipe(pod);
            });
            server.once('error', reject);
            server.listen(ruleSocket(this.socketDir, i), () => resolve());
            this.#servers.push(server);
          }),
      ),
    );
  }

  /** Starts the pod's forwarder unless it runs; resolves once it listens. Idempotent, one start at a time per pod. */
  ensure(uid: string, netns: string): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    const running = this.#pods.get(uid);
    if (running && running.exitCode === null && running.signalCode === null) return Promise.resolve();
    let p = this.#starting.get(uid);
    if (!p) {
      p = this.#start(uid, netns).finally(() => this.#starting.delete(uid));
      this.#starting.set(uid, p);
    }
    return p;
  }

  async #start(uid: string, netns: string): Promise<void> {
    const t0 = Date.now();
    // Only those not there yet: a pod whose stand-in restarted has them from its first forwarder.
    const { stdout: onLo } = await exec('nsenter', [
      `--net=${netns}`,
      'ip',
      '-o',
      '-4',
      'addr',
      'show',
      'dev',
      'lo',
    ]);
    for (const a of addressesToAdd(this.rules))
      if (!onLo.includes(` ${a}/32 `))
        await exec('nsenter', [`--net=${netns}`, 'ip', 'addr', 'add', `${a}/32`, 'dev', 'lo']);
    // Not detached: in the stand-in's process group, so `fed down` (which signals the group) ends it too; and its
    // stdin is a pipe from here, so it also ends when the stand-in dies any other way.
    const child = spawn(
      'nsenter',
      [`--net=${netns}`, process.execPath, forwardJs, ...forwarderArgs(this.rules, this.socketDir)],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    this.#pods.set(uid, child);
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('the forwarder did not listen within 20 s')), 20_000);
      child.stdout?.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('ready\n')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the forwarder exited (${signal ?? `code ${code}`}) before it listened`));
      });
    }).catch((err: unknown) => {
      child.kill('SIGKILL');
      this.#pods.delete(uid);
      this.log.warn({ uid, err: String(err) }, 'pod forwarder failed to start');
      throw err;
    });
    this.log.info({ uid, pid: child.pid, ms: Date.now() - t0 }, 'pod forwarder listening');
  }

  /** Ends the pod's forwarder (the pod is being removed); its namespace can go then. */
  stop(uid: string): void {
    const child = this.#pods.get(uid);
    if (!child) return;
    this.#pods.delete(uid);
    child.stdin?.end();
    child.kill('SIGTERM');
  }

  close(): void {
    for (const uid of [...this.#pods.keys()]) this.stop(uid);
    for (const s of this.#servers) s.close();
  }
}
