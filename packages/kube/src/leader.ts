import { sleep } from './clock.js';
import { isNotFound } from './errors.js';
import type { RestClient } from './rest.js';

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
 */
export class LeaderElector {
  readonly #client: RestClient;
  readonly #o: Required<LeaderElectionOptions>;
  #leading = false;
  #stopped = false;
  #observed: { record: string; at: number } = { record: '', at: 0 };

  constructor(client: RestClient, opts: LeaderElectionOptions) {
    this.#client = client;
    this.#o = { leaseDurationSeconds: 15, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...opts };
  }

  get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.#o.namespace}/leases/${this.#o.name}`;
  }

  isLeader(): boolean {
    return this.#leading;
  }

  /**
   * Waits until this process leads, calls onStarted, then keeps renewing; calls onStopped once if leadership is
   * lost. Resolves when leadership ends or stop() is called.
   */
  async run(onStarted: () => void, onStopped: () => void): Promise<void> {
    while (!this.#stopped && !(await this.#tryAcquireOrRenew())) await sleep(this.#jitter());
    if (this.#stopped) return;
    this.#leading = true;
    onStarted();
    let lastRenew = Date.now();
    while (!this.#stopped) {
      await sleep(this.#o.retryPeriodMs);
      if (this.#stopped) break;
      if (await this.#tryAcquireOrRenew()) lastRenew = Date.now();
      else if (Date.now() - lastRenew > this.#o.renewDeadlineMs) {
        this.#leading = false;
        onStopped();
        return;
      }
    }
  }

  /** Stops and, when leading, frees the lease so a standby takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (!this.#leading) return;
    this.#leading = false;
    try {
      const lease = await this.#client.get<Lease>(this.path);
      if (lease.spec.holderIdentity !== this.#o.identity) return;
      lease.spec = {
        ...lease.spec,
        holderIdentity: null,
        leaseDurationSeconds: 1,
        renewTime: microTime(Date.now()),
      };
      await this.#client.request('PUT', this.path, { body: lease });
    } catch {
      // the lease expires on its own
    }
  }

  /** A renewal that hangs must not outlive the renew deadline, or a standby could lead while we still act. */
  #callTimeoutMs(): number {
    return Math.max(500, Math.floor(this.#o.renewDeadlineMs / 3));
  }

  #jitter(): number {
    return this.#o.retryPeriodMs * (1 + Math.random() * 0.2);
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const now = Date.now();
    const { identity, leaseDurationSeconds } = this.#o;
    try {
      let lease: Lease;
      try {
        lease = await this.#client.get<Lease>(this.path, { timeoutMs: this.#callTimeoutMs() });
      } catch (err) {
        if (!isNotFound(err)) return false;
        await this.#client.request(
          'POST',
          `/apis/coordination.k8s.io/v1/namespaces/${this.#o.namespace}/leases`,
          {
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
        return true;
      }
      const record = JSON.stringify(lease.spec);
      if (record !== this.#observed.record) this.#observed = { record, at: now };
      const holder = lease.spec.holderIdentity ?? '';
      const duration = (lease.spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
      const held = holder !== '' && holder !== identity && this.#observed.at + duration > now;
      if (held) return false;
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
      const updated = await this.#client.request<Lease>('PUT', this.path, {
        body: lease,
        timeoutMs: this.#callTimeoutMs(),
      });
      this.#observed = { record: JSON.stringify(updated.spec), at: now };
      return true;
    } catch {
      // a conflict or an unreachable apiserver: try again next period
      return false;
    }
  }
}
