import { sleep } from './clock.js';
import type { CallOptions, RestClient } from './rest.js';
import { getOrUndefined } from './not-found.js';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  /** Unique per process, e.g. hostname plus pid. */
  identity: string;
  /** @default 15 */
  leaseDurationSeconds?: number;
  /** A leader that cannot renew for this long steps down. @default 10000 */
  renewDeadlineMs?: number;
  /** @default 2000 */
  retryPeriodMs?: number;
}

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * Lease-based leader election in the shape of client-go's: acquire when the lease is free or its holder has not
 * renewed within the lease duration (measured on our own clock, from when we last saw the record change),
 * renew every retry period, and step down when renewals fail for renewDeadline.
 *
 * Safety rests on one inequality: a standby may take over leaseDuration after the last renewal it saw, and that
 * renewal reached the apiserver after this process began it; so a leader that stops acting renewDeadline after it
 * began its last successful renewal (renewDeadline < leaseDuration) has stopped before anyone else can lead. Every
 * call is therefore bounded by that deadline, and a timer, not the end of a call, takes leadership away.
 */
export class LeaderElector {
  readonly #client: RestClient;
  readonly #o: Required<LeaderElectionOptions>;
  #leading = false;
  #stopped = false;
  /** Aborts the calls and the sleep of the current term when it ends. */
  #term = new AbortController();
  #observed: { record: string; at: number } = { record: '', at: 0 };

  constructor(client: RestClient, opts: LeaderElectionOptions) {
    this.#client = client;
    this.#o = { leaseDurationSeconds: 15, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...opts };
    if (this.#o.renewDeadlineMs >= this.#o.leaseDurationSeconds * 1000)
      throw new Error(
        'renewDeadlineMs must be shorter than the lease duration, or two leaders could act at once',
      );
    // client-go's rule (JitterFactor 1.2): a retry, jittered, must come within the renew deadline, or a leader loses
    // its Lease one deadline into every term though the apiserver answers.
    if (this.#o.renewDeadlineMs <= 1.2 * this.#o.retryPeriodMs)
      throw new Error(
        'renewDeadlineMs must be more than 1.2 times retryPeriodMs, or the leader cannot renew in time',
      );
  }

  get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.#o.namespace}/leases/${this.#o.name}`;
  }

  isLeader(): boolean {
    return this.#leading;
  }

  /**
   * Waits until this process leads, calls onStarted, then keeps renewing; calls onStopped once if leadership is
   * lost, as soon as the renew deadline passes (even while a call hangs). Resolves when leadership ends or stop()
   * is called.
   */
  async run(onStarted: () => void, onStopped: () => void): Promise<void> {
    let renewedAt: number | undefined;
    while (
      !this.#stopped &&
      (renewedAt = await this.#tryAcquireOrRenew(Date.now() + this.#o.renewDeadlineMs)) === undefined
    )
      await sleep(this.#jitter());
    if (this.#stopped || renewedAt === undefined) return;
    const term = (this.#term = new AbortController());
    this.#leading = true;
    let timer: NodeJS.Timeout | undefined;
    const lose = () => {
      if (!this.#leading || this.#stopped) return;
      this.#leading = false;
      term.abort(new Error('renew deadline passed'));
      onStopped();
    };
    const arm = (at: number) => {
      clearTimeout(timer);
      timer = setTimeout(lose, Math.max(0, at + this.#o.renewDeadlineMs - Date.now()));
    };
    arm(renewedAt);
    onStarted();
    while (this.#leading && !this.#stopped) {
      await sleepUnless(this.#o.retryPeriodMs, term.signal);
      if (!this.#leading || this.#stopped) break;
      const at = await this.#tryAcquireOrRenew(renewedAt + this.#o.renewDeadlineMs, term.signal);
      if (at !== undefined && this.#leading) arm((renewedAt = at));
    }
    clearTimeout(timer);
  }

  /** Stops and, when leading, frees the lease so a standby takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#term.abort(new Error('stopped'));
    if (!this.#leading) return;
    this.#leading = false;
    const opts = { timeoutMs: this.#o.renewDeadlineMs };
    try {
      const lease = await this.#client.get<Lease>(this.path, opts);
      if (lease.spec.holderIdentity !== this.#o.identity) return;
      lease.spec = {
        ...lease.spec,
        holderIdentity: null,
        leaseDurationSeconds: 1,
        renewTime: microTime(Date.now()),
      };
      await this.#client.request('PUT', this.path, { ...opts, body: lease });
    } catch {
      // the lease expires on its own
    }
  }

  #jitter(): number {
    return this.#o.retryPeriodMs * (1 + Math.random() * 0.2);
  }

  /**
   * One attempt; returns when it began (what the lease's renewTime says) if this process holds the lease after it.
   * Every call of the attempt ends by `until`, so an attempt never outlives the term it would extend.
   */
  async #tryAcquireOrRenew(until: number, signal?: AbortSignal): Promise<number | undefined> {
    const now = Date.now();
    const call = () => callWithin(until, signal);
    const { identity, leaseDurationSeconds } = this.#o;
    try {
      const lease = await getOrUndefined<Lease>(this.#client, this.path, call());
      if (!lease) {
        await this.#client.request(
          'POST',
          `/apis/coordination.k8s.io/v1/namespaces/${this.#o.namespace}/leases`,
          {
            ...call(),
            body: {
              apiVersion: 'coordination.k8s.io/v1',
              kind: 'Lease',
              metadata: { name: this.#o.name, namespace: this.#o.namespace },
              spec: {
                holderIdentity: identity,
                leaseDurationSeconds,
                acquireTime: microTime(now),
                renewTime: microTime(now),
                leaseTransitions: 0,
              },
            },
          },
        );
        return now;
      }
      const record = JSON.stringify(lease.spec);
      if (record !== this.#observed.record) this.#observed = { record, at: now };
      const holder = lease.spec.holderIdentity ?? '';
      const duration = (lease.spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
      const held = holder !== '' && holder !== identity && this.#observed.at + duration > now;
      if (held) return undefined;
      const transition = holder !== identity;
      lease.spec = {
        ...lease.spec,
        holderIdentity: identity,
        leaseDurationSeconds,
        renewTime: microTime(now),
        ...(transition
          ? { acquireTime: microTime(now), leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1 }
          : {}),
      };
      const updated = await this.#client.request<Lease>('PUT', this.path, { ...call(), body: lease });
      this.#observed = { record: JSON.stringify(updated.spec), at: now };
      return now;
    } catch {
      // a conflict, an unreachable or silent apiserver, or the deadline: try again next period
      return undefined;
    }
  }
}

/** Options for one call that must end by `until`; none is made once it has passed. */
function callWithin(until: number, signal: AbortSignal | undefined): CallOptions {
  const timeoutMs = until - Date.now();
  if (timeoutMs <= 0) throw new Error('renew deadline passed');
  return { timeoutMs, ...(signal ? { signal } : {}) };
}

/** Sleeps ms, or less if the signal aborts. */
function sleepUnless(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
