import { systemClock, type Clock } from './clock.js';
import { isNotFound } from './errors.js';
import type { Logger } from './log.js';
import type { KubeObject } from './object.js';
import type { RestClient } from './rest.js';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  /** A repeat within this long of the last occurrence updates the same Event. @default 600000 (10 min) */
  windowMs?: number;
  /** Causes remembered at once (least recently seen forgotten first), as client-go's LRU. @default 4096 */
  maxKeys?: number;
  /** @default systemClock */
  clock?: Clock;
  /** Events waiting or being written; more are dropped (and logged), as client-go's broadcaster drops past 1000. @default 1000 */
  maxPending?: number;
  /** Events written at once. @default 2 */
  writers?: number;
}

interface Seen {
  namespace: string;
  name: string;
  count: number;
  last: number;
}

/**
 * Records core/v1 Events on objects, de-duplicated as client-go's recorder does: the same cause (source, involved
 * object, type, reason, message) seen again within the window patches the existing Event's count and
 * lastTimestamp instead of creating another, so a cause that repeats on every pass costs one object in etcd, not one
 * per pass. The involved object's resourceVersion is not part of the cause (every status write changes it).
 */
export class EventRecorder {
  readonly #seen = new Map<string, Seen>();
  /** One record at a time per cause, so concurrent repeats never create two Events. */
  readonly #busy = new Map<string, Promise<void>>();
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #clock: Clock;
  readonly #maxPending: number;
  readonly #writers: number;
  /** Events handed to emit, not yet being written. */
  readonly #queue: (() => Promise<void>)[] = [];
  #writing = 0;
  /** flush() callers waiting for the queue to empty. */
  readonly #idle: (() => void)[] = [];
  /** Recorders with Events not yet written, for flushAll. */
  static readonly #live = new Set<EventRecorder>();

  constructor(
    private readonly client: RestClient,
    private readonly component: string,
    private readonly host?: string,
    private readonly log?: Pick<Logger, 'warn'>,
    opts: EventRecorderOptions = {},
  ) {
    this.#windowMs = opts.windowMs ?? 600_000;
    this.#maxKeys = opts.maxKeys ?? 4096;
    this.#clock = opts.clock ?? systemClock;
    this.#maxPending = opts.maxPending ?? 1000;
    this.#writers = opts.writers ?? 2;
  }

  /**
   * Records an Event in the background, and only logs when it cannot: an Event is never worth failing or slowing a
   * reconcile (or an admission answer) for. client-go's recorder is asynchronous for the same reason: a reconcile
   * that waited on its Events held a worker for one more request to a busy apiserver (the hub's placement path, issue
   * 12). Like client-go's broadcaster, Events wait in a bounded queue (maxPending; past it new ones are dropped and
   * logged) and few are written at once (writers; client-go writes one at a time), so a burst of Events never takes
   * the apiserver's concurrency from status writes and Lease renewals. Only what the Event names of the object is
   * kept, copied now.
   */
  emit(obj: KubeObject, type: EventType, reason: string, message: string): void {
    if (this.#queue.length + this.#writing >= this.#maxPending) {
      this.log?.warn(
        { reason, pending: this.#queue.length + this.#writing },
        'event dropped: too many waiting to be written',
      );
      return;
    }
    const m = obj.metadata ?? {};
    const involved: KubeObject = {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      metadata: {
        ...(m.name !== undefined ? { name: m.name } : {}),
        ...(m.namespace !== undefined ? { namespace: m.namespace } : {}),
        ...(m.uid !== undefined ? { uid: m.uid } : {}),
        ...(m.resourceVersion !== undefined ? { resourceVersion: m.resourceVersion } : {}),
      },
    };
    this.#queue.push(() => this.record(involved, type, reason, message));
    EventRecorder.#live.add(this);
    this.#pump();
  }

  #pump(): void {
    while (this.#writing < this.#writers && this.#queue.length > 0) {
      const write = this.#queue.shift()!;
      this.#writing++;
      void write()
        .catch((err: unknown) => this.log?.warn({ err: String(err) }, 'could not record an event'))
        .finally(() => {
          this.#writing--;
          this.#pump();
          if (this.#writing === 0 && this.#queue.length === 0) {
            EventRecorder.#live.delete(this);
            for (const r of this.#idle.splice(0)) r();
          }
        });
    }
  }

  /** Resolves once every Event emitted so far is written or given up on (tests; shutdown: flushAll). */
  flush(): Promise<void> {
    if (this.#writing === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  /**
   * Waits, at most timeoutMs, for the Events of every recorder in this process: a process that exits on SIGTERM
   * right after its last reconcile would otherwise lose the Event that reconcile emitted, and its senders emit only
   * on a change, so no successor emits it again (controller-runtime shuts its broadcaster down for the same reason).
   */
  static async flushAll(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...EventRecorder.#live].map((r) => r.flush())),
      new Promise<void>((r) => (timer = setTimeout(r, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  async record(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const m = obj.metadata ?? {};
    const text = message.slice(0, 1024);
    const key = JSON.stringify([
      this.component,
      this.host ?? '',
      obj.apiVersion,
      obj.kind,
      m.namespace,
      m.name,
      m.uid,
      type,
      reason,
      text,
    ]);
    const before = this.#busy.get(key) ?? Promise.resolve();
    const mine = before.then(() => this.#record(key, obj, type, reason, text));
    const tail = mine.catch(() => undefined);
    this.#busy.set(key, tail);
    void tail.then(() => {
      if (this.#busy.get(key) === tail) this.#busy.delete(key);
    });
    await mine;
  }

  async #record(
    key: string,
    obj: KubeObject,
    type: EventType,
    reason: string,
    message: string,
  ): Promise<void> {
    const now = this.#clock.now();
    const seen = this.#seen.get(key);
    if (seen && now - seen.last <= this.#windowMs && (await this.#bump(key, seen, now))) return;
    const m = obj.metadata ?? {};
    const namespace = m.namespace ?? 'default';
    const iso = new Date(now).toISOString();
    const created = await this.client.request<{ metadata?: { name?: string } }>(
      'POST',
      `/api/v1/namespaces/${namespace}/events`,
      {
        body: {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { generateName: `${m.name ?? 'object'}.`, namespace },
          involvedObject: {
            apiVersion: obj.apiVersion,
            kind: obj.kind,
            name: m.name,
            namespace: m.namespace,
            uid: m.uid,
            resourceVersion: m.resourceVersion,
          },
          type,
          reason,
          message,
          source: { component: this.component, ...(this.host ? { host: this.host } : {}) },
          reportingComponent: this.component,
          reportingInstance: this.host ?? this.component,
          firstTimestamp: iso,
          lastTimestamp: iso,
          count: 1,
        },
      },
    );
    const name = created?.metadata?.name;
    if (name) this.#remember(key, { namespace, name, count: 1, last: now });
  }

  /** Counts one more occurrence on the Event recorded before; false when the apiserver no longer has it (TTL). */
  async #bump(key: string, seen: Seen, now: number): Promise<boolean> {
    try {
      await this.client.request('PATCH', `/api/v1/namespaces/${seen.namespace}/events/${seen.name}`, {
        body: { count: seen.count + 1, lastTimestamp: new Date(now).toISOString() },
      });
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
    this.#remember(key, { ...seen, count: seen.count + 1, last: now });
    return true;
  }

  #remember(key: string, s: Seen): void {
    this.#seen.delete(key);
    this.#seen.set(key, s);
    for (const oldest of this.#seen.keys()) {
      if (this.#seen.size <= this.#maxKeys) break;
      this.#seen.delete(oldest);
    }
  }
}
