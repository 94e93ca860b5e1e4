import { Backoff } from './backoff.js';
import { systemClock, type Clock } from './clock.js';
import { TerminalError } from './errors.js';

/** The longest delay a Node timer keeps (2^31-1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What reconcile returns: done (undefined), or come back after some time. */
export type Result = { requeueAfterMs: number } | undefined;
export type Reconcile<K> = (key: K) => Promise<Result>;

export interface WorkQueueOptions<K> {
  /** Keys reconciled at once, never the same key twice. @default 2 */
  workers?: number;
  /** @default systemClock */
  clock?: Clock;
  /** @default exponential from 200 ms to 5 min */
  backoff?: Backoff<K>;
  /** Told of every failed reconcile, with the delay before the retry (undefined for terminal errors). */
  onError?: (key: K, err: unknown, retryInMs: number | undefined) => void;
  /**
   * Told as each reconcile starts: how long the key waited since it was (first) added, and the priority it runs at,
   * as controller-runtime's workqueue_queue_duration_seconds. For metrics; what it throws is ignored.
   */
  onStart?: (key: K, waitedMs: number, priority: number) => void;
  /**
   * Workers beyond `workers` that take only keys of at least this priority: what a user waits on (a member's answer
   * to show) starts at once even while every ordinary worker is busy with a burst of bookkeeping, instead of waiting
   * for one of them to finish. They take such keys only when the ordinary workers are all busy.
   */
  reserved?: { priority: number; workers: number };
}

/** A key waiting to run: its priority, when it was first added (its place in any line), and its current entry. */
interface Pending {
  priority: number;
  /** When the key was added: it keeps this place when it moves up to a higher priority. */
  order: number;
  /** Its entry in the lines; an entry with another seq is stale (the key moved up since) and is skipped. */
  seq: number;
  /** The clock's time of its first add since it last ran: what onStart reports it waited from. */
  since: number;
}

/**
 * A controller-runtime style work queue: repeated adds of a key fold into one pending run, a key is never
 * reconciled twice at once (an add during its run schedules one more run after it), and failures back off per key.
 *
 * Keys may be added with a priority (default 0): a higher one runs first, keys of one priority in the order they came,
 * as controller-runtime's priority queue. Adding a waiting key again with a higher priority moves it up, keeping its
 * place by arrival among that priority's keys; with the same or a lower one changes nothing. A retry (after an error
 * or a requested delay) comes back at the priority the key ran at. A controller gives the work a user is waiting on (an object not yet acted on) a higher priority
 * than the status bookkeeping of thousands of others, so a burst of the latter does not hold the former back.
 */
export class WorkQueue<K> {
  /** Lines of waiting keys by priority, each in arrival order; an entry whose seq is no longer its key's is stale. */
  readonly #lines = new Map<number, { key: K; seq: number; order: number }[]>();
  /** Keys to run (again): waiting in a line, or to be lined up when their current run ends. */
  readonly #pending = new Map<K, Pending>();
  #waiting = 0;
  #seq = 0;
  readonly #processing = new Set<K>();
  readonly #timers = new Map<K, { at: number; priority: number; cancel(): void }>();
  readonly #clock: Clock;
  readonly #backoff: Backoff<K>;
  readonly #workers: number;
  readonly #onError: WorkQueueOptions<K>['onError'];
  readonly #onStart: WorkQueueOptions<K>['onStart'];
  readonly #reserved: { priority: number; workers: number };
  /** Runs on reserved workers, counted in #running too. */
  #runningReserved = 0;
  #reconcile: Reconcile<K> | undefined;
  #running = 0;
  #stopped = false;
  #idleWaiters: (() => void)[] = [];

  constructor(opts: WorkQueueOptions<K> = {}) {
    this.#clock = opts.clock ?? systemClock;
    this.#backoff = opts.backoff ?? new Backoff<K>();
    this.#workers = opts.workers ?? 2;
    this.#onError = opts.onError;
    this.#onStart = opts.onStart;
    this.#reserved = opts.reserved ?? { priority: Infinity, workers: 0 };
  }

  start(reconcile: Reconcile<K>): void {
    this.#reconcile = reconcile;
    this.#pump();
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers.values()) t.cancel();
    this.#timers.clear();
  }

  /** Queues key to run (once, however often it is added before it runs), at a priority (higher runs first). */
  add(key: K, priority = 0): void {
    if (this.#stopped) return;
    const pending = this.#pending.get(key);
    if (pending && pending.priority >= priority) return;
    const seq = ++this.#seq;
    const entry = { priority, seq, order: pending?.order ?? seq, since: pending?.since ?? this.#clock.now() };
    this.#pending.set(key, entry);
    if (!this.#processing.has(key)) this.#line(key, entry, !!pending);
    this.#pump();
  }

  /**
   * Adds key after ms (any length), at a priority; of two pending delays for the same key the earlier wins, at the
   * higher of their priorities.
   */
  addAfter(key: K, ms: number, priority = 0): void {
    if (this.#stopped) return;
    if (ms <= 0) return this.add(key, priority);
    const at = this.#clock.now() + ms;
    const existing = this.#timers.get(key);
    if (existing && existing.at <= at) {
      existing.priority = Math.max(existing.priority, priority);
      return;
    }
    existing?.cancel();
    const entry = { at, priority: Math.max(priority, existing?.priority ?? priority), cancel: () => {} };
    // Node's timers take at most 2^31-1 ms (24.8 days) and fire at once for more, which would turn a yearly cron
    // object's wait into a loop: a longer wait is served in steps.
    const timer = this.#clock.setTimeout(
      () => {
        this.#timers.delete(key);
        const left = at - this.#clock.now();
        if (left > 0) this.addAfter(key, left, entry.priority);
        else this.add(key, entry.priority);
      },
      Math.min(ms, MAX_TIMER_MS),
    );
    entry.cancel = timer.cancel;
    this.#timers.set(key, entry);
  }

  /** Keys waiting to run (not counting delayed ones or those running). */
  depth(): number {
    return this.#waiting;
  }

  /** Reconciles running now (a stopped queue starts no more). */
  inFlight(): number {
    return this.#running;
  }

  /** Resolves when nothing is queued or running (delayed keys do not count). */
  idle(): Promise<void> {
    if (this.#waiting === 0 && this.#running === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Puts a pending key in its priority's line by arrival: at the end, unless it moved up from a lower line (its entry
   * there goes stale) and keeps an earlier place.
   */
  #line(key: K, p: Pending, moved: boolean): void {
    let line = this.#lines.get(p.priority);
    if (!line) this.#lines.set(p.priority, (line = []));
    const entry = { key, seq: p.seq, order: p.order };
    if (!line.length || line.at(-1)!.order <= p.order) line.push(entry);
    else {
      let lo = 0;
      for (let hi = line.length; lo < hi;) {
        const mid = (lo + hi) >> 1;
        if (line[mid]!.order <= p.order) lo = mid + 1;
        else hi = mid;
      }
      line.splice(lo, 0, entry);
    }
    if (!moved) this.#waiting++;
  }

  /** The first waiting key of the highest priority, taken out of line, with that priority. */
  #next(): { key: K; priority: number; since: number } | undefined {
    const priority = this.#topPriority();
    if (priority === -Infinity) return undefined;
    const { key } = this.#lines.get(priority)!.shift()!;
    const p = this.#pending.get(key)!;
    this.#pending.delete(key);
    this.#waiting--;
    return { key, priority, since: p.since };
  }

  /**
   * The priority of the first key waiting, or -Infinity when none waits. Entries a key left when it moved up (their
   * seq is no longer the key's) are dropped on the way, and emptied lines with them.
   */
  #topPriority(): number {
    for (const priority of [...this.#lines.keys()].sort((a, b) => b - a)) {
      const line = this.#lines.get(priority)!;
      while (line.length && this.#pending.get(line[0]!.key)?.seq !== line[0]!.seq) line.shift();
      if (line.length) return priority;
      this.#lines.delete(priority);
    }
    return -Infinity;
  }

  /** Whether the next key runs on a reserved worker (every ordinary one busy), or undefined when none may run now. */
  #slot(): boolean | undefined {
    if (this.#running - this.#runningReserved < this.#workers) return false;
    const free = this.#runningReserved < this.#reserved.workers;
    return free && this.#topPriority() >= this.#reserved.priority ? true : undefined;
  }

  #pump(): void {
    for (;;) {
      if (!this.#reconcile || this.#stopped || this.#waiting === 0) break;
      const reserved = this.#slot();
      if (reserved === undefined) break;
      const { key, priority, since } = this.#next()!;
      try {
        this.#onStart?.(key, Math.max(0, this.#clock.now() - since), priority);
      } catch {
        // A metric that throws (say, on a clock stepped back) must not lose the key it was told of.
      }
      this.#processing.add(key);
      this.#running++;
      if (reserved) this.#runningReserved++;
      void this.#runOne(this.#reconcile, key, priority, reserved);
    }
    if (this.#waiting === 0 && this.#running === 0) {
      for (const w of this.#idleWaiters.splice(0)) w();
    }
  }

  /** One reconcile; a retry or a requested requeue comes back at the priority it ran at, as in controller-runtime. */
  async #runOne(reconcile: Reconcile<K>, key: K, priority: number, reserved: boolean): Promise<void> {
    try {
      const result = await reconcile(key);
      this.#backoff.forget(key);
      if (result) this.addAfter(key, result.requeueAfterMs, priority);
    } catch (err) {
      if (err instanceof TerminalError) {
        this.#backoff.forget(key);
        this.#onError?.(key, err, undefined);
      } else {
        const delay = this.#backoff.next(key);
        this.#onError?.(key, err, delay);
        this.addAfter(key, delay, priority);
      }
    } finally {
      this.#processing.delete(key);
      this.#running--;
      if (reserved) this.#runningReserved--;
      const again = this.#pending.get(key);
      if (again) this.#line(key, again, false);
      this.#pump();
    }
  }
}
