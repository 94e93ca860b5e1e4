import { readFileSync } from 'node:fs';
import { RestClient } from '@stateful-migration/kube';
import type { Pki } from './certs.js';
import { kubeconfigPath } from './paths.js';
import { isOurs, portTaken, startProcess, writeState, type FedState, type ProcRecord } from './procs.js';

/** A failure of one component, told in one line that names it and its log file. */
export class ComponentError extends Error {
  constructor(component: string, what: string, log?: string) {
    super(`fed: ${component} ${what}${log ? ` (log: ${log})` : ''}`);
    this.name = 'ComponentError';
  }
}

export interface Timing {
  name: string;
  ms: number;
}

/** What every part of `fed up` is given: the state it records into, the PKI, and a way to start processes. */
export class FedContext {
  readonly timings: Timing[] = [];
  readonly #clients = new Map<string, RestClient>();

  constructor(
    readonly state: FedState,
    readonly pki: Pki,
    readonly readyTimeoutMs = Number(process.env.FED_READY_TIMEOUT_MS ?? 90_000),
  ) {}

  /** An admin client of one apiserver: karmada, member1 or member2. */
  client(cluster: string): RestClient {
    let c = this.#clients.get(cluster);
    if (!c) {
      c = RestClient.fromFile(kubeconfigPath(cluster));
      this.#clients.set(cluster, c);
    }
    return c;
  }

  port(name: string): number {
    const p = this.state.ports[name];
    if (p === undefined) throw new Error(`no port recorded for ${name}`);
    return p;
  }

  setPort(name: string, port: number): void {
    this.state.ports[name] = port;
    writeState(this.state);
  }

  /** Starts a process and waits until ready() holds; records its time to ready. */
  async run(
    name: string,
    exe: string,
    args: string[],
    ready: () => Promise<boolean>,
    opts: { env?: NodeJS.ProcessEnv; port?: number; host?: string } = {},
  ): Promise<ProcRecord> {
    if (opts.port !== undefined && (await portTaken(opts.port, opts.host))) {
      throw new ComponentError(
        name,
        `cannot start: port ${opts.host ?? '127.0.0.1'}:${opts.port} is taken by another process`,
      );
    }
    const t0 = Date.now();
    const rec = startProcess(this.state, name, exe, args, opts);
    await this.waitFor(name, ready, rec);
    this.timings.push({ name, ms: Date.now() - t0 });
    return rec;
  }

  /** Polls ready() until it holds; fails when the process exits or the timeout passes. */
  async waitFor(name: string, ready: () => Promise<boolean>, rec?: ProcRecord): Promise<void> {
    const deadline = Date.now() + this.readyTimeoutMs;
    for (;;) {
      if (await ready().catch(() => false)) return;
      if (rec && !isOurs(rec))
        throw new ComponentError(name, `exited before it was ready${hint(rec)}`, rec.log);
      if (Date.now() > deadline) {
        throw new ComponentError(
          name,
          `was not ready after ${this.readyTimeoutMs / 1000}s${hint(rec)}`,
          rec?.log,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Times a step that is not a process (applying CRDs, joining a member). */
  async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const t0 = Date.now();
    const v = await fn();
    this.timings.push({ name, ms: Date.now() - t0 });
    return v;
  }
}

function hint(rec?: ProcRecord): string {
  if (!rec) return '';
  try {
    return bindHint(rec, readFileSync(rec.log, 'utf8'));
  } catch {
    return ''; // no log yet
  }
}

/** What a component's log says about a failed bind, naming the address it was given (or `?` if it had none). */
export function bindHint(rec: Pick<ProcRecord, 'port' | 'host'>, log: string): string {
  if (!/address already in use/i.test(log)) return '';
  return `: port ${rec.port === undefined ? '?' : `${rec.host ?? '127.0.0.1'}:${rec.port}`} is taken`;
}
