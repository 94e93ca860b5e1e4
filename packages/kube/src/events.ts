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
  /** Events being written at once; more are dropped (and logged), as client-go's broadcaster drops past 1000. @default 1000 */
  maxPending?: number;
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
  /** Events handed to emit and not yet written (or given up on). */
  readonly #pending = new Set<Promise<void>>();

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
  }

  /**
   * Records an Event in the background, and only logs when it cannot: an Event is never worth failing or slowing a
   * reconcile (or an admission answer) for. client-go's recorder is asynchronous for the same reason: a reconcile
   * that waited on its Events held a worker for one more request to a busy apiserver (the hub's placement path, issue
   * 12). Past maxPending Events in flight, new ones are dropped and logged, so an apiserver that stops answering cannot
   * make the process hold an unbounded backlog. The caller's object is copied now, so later changes to it do not leak
   * into the Event.
   */
  emit(obj: KubeObject, type: EventType, reason: string, message: string): void {
    if (this.#pending.size >= this.#maxPending) {
      this.log?.warn(
        { reason, pending: this.#pending.size },
        'event dropped: too many waiting to be written',
      );
      return;
    }
    const copy = { ...obj, metadata: { ...(obj.metadata ?? {}) } };
    const done: Promise<void> = this.record(copy, type, reason, message).then(
      () => undefined,
      (err: unknown) => this.log?.warn({ err: String(err) }, 'could not record an event'),
    );
    this.#pending.add(done);
    void done.then(() => this.#pending.delete(done));
  }

  /** Resolves once every Event emitted so far is written or given up on (shutdown, tests). */
  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
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
